#include "base/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace pchat::log {

namespace {
std::atomic<int> level_{static_cast<int>(level::info)};
const char* names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
} // namespace

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
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out;
  out.reserve(text.size() + 64);
  char head[96];
  std::snprintf(head, sizeof head, "%s.%03dZ %-5s [%.*s] ", stamp, static_cast<int>(ms),
                names[static_cast<int>(l)], static_cast<int>(component.size()), component.data());
  out += head;
  out += text;
  out += '\n';
  // One write per line keeps lines whole when several threads log at once.
  ssize_t rc = ::write(2, out.data(), out.size());
  (void) rc;
}

} // namespace pchat::log
