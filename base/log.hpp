#pragma once
// A minimal structured logger: one line per event to stderr, a message and then context as logfmt key=value pairs
// ("post accepted room=\"Launch plan\" user=sip:alice@example.com call-id=..."): a value with a space, a quote, an
// '=' or a control character, or an empty one, is written quoted through q() (docs/operations.md "Logs").
// Thread-safe (one write(2) per line). CAF's own logger is compiled out of Debian's libcaf, so pchat logs through
// this. Three formats (pchat.log-format): text (a timestamp, the level, [component], the line), json (one object
// per line: ts, level, component, msg, and every key=value), and under systemd's journal the text without the
// timestamp and with the level as a syslog priority prefix, which journald records as the entry's priority.
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>

namespace pchat::log {

enum class level { error = 0, warning = 1, info = 2, debug = 3 };

// Lines above this level are dropped. Set once at start-up (pchatd --log-level), read everywhere.
void set_level(level l);
level current_level();
bool parse_level(std::string_view s, level& out);

enum class format { text, json, journal };
void set_format(format f);
bool parse_format(std::string_view s, format& out); // "text", "json", "auto" (journal when stderr is the journal)

void write(level l, std::string_view component, const std::string& text);

// A logfmt value: written as is when it is a plain token, else in double quotes with \" \\ \n \r \t and \xNN.
struct quoted {
  std::string_view value;
};
inline quoted q(std::string_view v) {
  return {v};
}
inline quoted q(const char* v) { // null: an empty value
  return {v ? std::string_view{v} : std::string_view{}};
}
inline quoted q(const std::string& v) {
  return {v};
}
std::ostream& operator<<(std::ostream& os, const quoted& v);

// The line `text` (as written by line) in JSON, for pchat.log-format=json; exposed for the tests.
std::string to_json(std::string_view timestamp, level l, std::string_view component, std::string_view text);

// log::line(level::info, "room") << "post accepted room=" << name << " seq=" << seq;
class line {
public:
  line(level l, std::string_view component) : level_(l), component_(component), on_(l <= current_level()) {}
  ~line() {
    if (on_)
      write(level_, component_, out_.str());
  }
  line(const line&) = delete;
  line& operator=(const line&) = delete;

  template <class T>
  line& operator<<(const T& x) {
    if (on_)
      out_ << x;
    return *this;
  }

private:
  level level_;
  std::string_view component_;
  bool on_;
  std::ostringstream out_;
};

} // namespace pchat::log
