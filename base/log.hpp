#pragma once
// A minimal structured logger: one line per event to stderr, with context as key=value pairs
// ("room=lobby user=sip:alice@example.com call-id=..."). Thread-safe (one write(2) per line).
// CAF's own logger is compiled out of Debian's libcaf, so pchat logs through this.
#include <sstream>
#include <string>
#include <string_view>

namespace pchat::log {

enum class level { error = 0, warning = 1, info = 2, debug = 3 };

// Lines above this level are dropped. Set once at start-up (pchatd --log-level), read everywhere.
void set_level(level l);
level current_level();
bool parse_level(std::string_view s, level& out);

void write(level l, std::string_view component, const std::string& text);

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
