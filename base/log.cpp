#include "base/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <sys/stat.h>
#include <utility>
#include <vector>
#include <unistd.h>

namespace pchat::log {

namespace {
std::atomic<int> level_{static_cast<int>(level::info)};
const char* names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
} // namespace

namespace {
std::atomic<int> format_{static_cast<int>(format::text)};

bool plain(std::string_view v) {
  if (v.empty())
    return false;
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
      return false;
  return true;
}

void escape_into(std::string& out, std::string_view v) {
  for (unsigned char c : v) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
}

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}
} // namespace

void set_format(format f) { format_.store(static_cast<int>(f), std::memory_order_relaxed); }

bool parse_format(std::string_view s, format& out) {
  if (s == "text")
    out = format::text;
  else if (s == "json")
    out = format::json;
  else if (s == "auto") {
    // systemd sets JOURNAL_STREAM to "dev:inode" of the journal's stream when stderr is connected to it.
    out = format::text;
    if (const char* js = std::getenv("JOURNAL_STREAM")) {
      struct stat st {};
      unsigned long long dev = 0, ino = 0;
      if (std::sscanf(js, "%llu:%llu", &dev, &ino) == 2 && ::fstat(2, &st) == 0 &&
          static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino)
        out = format::journal;
    }
  } else {
    return false;
  }
  return true;
}

std::ostream& operator<<(std::ostream& os, const quoted& v) {
  if (plain(v.value))
    return os << v.value;
  std::string out = "\"";
  escape_into(out, v.value);
  out += '"';
  return os << out;
}

std::string to_json(std::string_view timestamp, level l, std::string_view component, std::string_view text) {
  // The message is the text before the first key=value; each pair after it becomes a member; words that are no
  // pair (", 3 failures") are kept, in order, in "detail".
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string msg;
  std::string detail;
  std::size_t i = 0;
  auto token_is_pair = [&](std::size_t at) {
    std::size_t k = at;
    while (k < text.size() && key_char(text[k]))
      ++k;
    return k > at && k < text.size() && text[k] == '=' && (text[at] < '0' || text[at] > '9');
  };
  bool seen_pair = false;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    if ((i == 0 || text[i - 1] == ' ') && token_is_pair(i)) {
      std::size_t eq = text.find('=', i);
      std::string key{text.substr(i, eq - i)};
      std::string value;
      std::size_t j = eq + 1;
      if (j < text.size() && text[j] == '"') {
        ++j;
        while (j < text.size() && text[j] != '"') {
          if (text[j] == '\\' && j + 1 < text.size()) {
            char e = text[j + 1];
            value += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            j += 2;
          } else {
            value += text[j++];
          }
        }
        ++j;
      } else {
        while (j < text.size() && text[j] != ' ')
          value += text[j++];
        // "peer=tcp/1.2.3.4:5060:" ends a clause: the colon is the text's, not the value's.
        if (!value.empty() && value.back() == ':' && j < text.size()) {
          value.pop_back();
        }
      }
      pairs.emplace_back(std::move(key), std::move(value));
      seen_pair = true;
      i = j;
      continue;
    }
    std::size_t end = text.find(' ', i);
    if (end == std::string_view::npos)
      end = text.size();
    std::string& into = seen_pair ? detail : msg;
    if (!into.empty())
      into += ' ';
    into.append(text.substr(i, end - i));
    i = end;
  }
  std::string out = "{\"ts\":\"";
  escape_into(out, timestamp);
  out += "\",\"level\":\"";
  out += l == level::error ? "error" : l == level::warning ? "warning" : l == level::info ? "info" : "debug";
  out += "\",\"component\":\"";
  escape_into(out, component);
  out += "\",\"msg\":\"";
  escape_into(out, msg);
  out += '"';
  for (const auto& [k, v] : pairs) {
    if (k == "ts" || k == "level" || k == "component" || k == "msg")
      continue;
    out += ",\"";
    escape_into(out, k);
    out += "\":\"";
    escape_into(out, v);
    out += '"';
  }
  if (!detail.empty()) {
    out += ",\"detail\":\"";
    escape_into(out, detail);
    out += '"';
  }
  out += '}';
  return out;
}

void set_level(level l) { level_.store(static_cast<int>(l), std::memory_order_relaxed); }

level current_level() { return static_cast<level>(level_.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view s, level& out) {
  for (int i = 0; i < 4; ++i) {
    std::string_view n = names[i];
    if (s.size() == n.size()) {
      bool same = true;
      for (size_t k = 0; k < s.size(); ++k)
        same = same && (s[k] == n[k] || s[k] == n[k] + ('a' - 'A'));
      if (same) {
        out = static_cast<level>(i);
        return true;
      }
    }
  }
  if (s == "warning") {
    out = level::warning;
    return true;
  }
  return false;
}

void write(level l, std::string_view component, const std::string& text) {
  using namespace std::chrono;
  std::string out;
  out.reserve(text.size() + 64);
  auto f = static_cast<format>(format_.load(std::memory_order_relaxed));
  if (f == format::journal) {
    // "<3>" error, "<4>" warning, "<6>" info, "<7>" debug: journald takes the prefix as the priority and adds
    // the time itself.
    static const char* const priority[] = {"<3>", "<4>", "<6>", "<7>"};
    out += priority[static_cast<int>(l)];
    out += '[';
    out.append(component);
    out += "] ";
    out += text;
  } else {
    auto now = system_clock::now();
    std::time_t secs = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[40];
    std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms));
    if (f == format::json) {
      out = to_json(stamp, l, component, text);
    } else {
      char head[96];
      std::snprintf(head, sizeof head, "%s %-5s [%.*s] ", stamp, names[static_cast<int>(l)],
                    static_cast<int>(component.size()), component.data());
      out += head;
      out += text;
    }
  }
  out += '\n';
  // One write per line keeps lines whole when several threads log at once.
  ssize_t rc = ::write(2, out.data(), out.size());
  (void) rc;
}

} // namespace pchat::log
