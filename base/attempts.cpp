#include "base/attempts.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace pchat {

bool attempt_limiter::allowed(const std::string& key, unsigned limit, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  return count_locked(key, now, false) < limit;
}

unsigned attempt_limiter::failed(const std::string& key, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  return count_locked(key, now, true);
}

bool attempt_limiter::admit(const std::string& key, unsigned limit, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (count_locked(key, now, false) >= limit)
    return false;
  count_locked(key, now, true);
  return true;
}

// The failures of `key` in the current window, one more first when `add`; mtx_ held.
unsigned attempt_limiter::count_locked(const std::string& key, clock::time_point now, bool add) {
  auto i = entries_.find(key);
  if (i != entries_.end() && now - i->second.since > window_) {
    entries_.erase(i);
    i = entries_.end();
  }
  if (i == entries_.end()) {
    if (!add)
      return 0;
    if (entries_.size() >= max_keys_) {
      for (auto j = entries_.begin(); j != entries_.end();)
        j = now - j->second.since > window_ ? entries_.erase(j) : std::next(j);
      // Still full: the key with the fewest failures goes (the oldest of those), so that flooding the table with
      // one-off names cannot push out a key that is being guessed at and reset its count.
      if (entries_.size() >= max_keys_)
        entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
          return a.second.count != b.second.count ? a.second.count < b.second.count : a.second.since < b.second.since;
        }));
    }
    i = entries_.emplace(key, entry{0, now}).first;
  }
  return add ? ++i->second.count : i->second.count;
}

void attempt_limiter::succeeded(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase(key);
}

void attempt_limiter::refund(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = entries_.find(key); i != entries_.end() && i->second.count > 0)
    --i->second.count;
}

std::string address_key(const std::string& address) {
  std::string bare = address.size() > 2 && address.front() == '[' ? address.substr(1, address.size() - 2) : address;
  in6_addr a{};
  if (bare.find(':') == std::string::npos || ::inet_pton(AF_INET6, bare.c_str(), &a) != 1)
    return address;
  if (IN6_IS_ADDR_V4MAPPED(&a)) {
    char v4[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, a.s6_addr + 12, v4, sizeof v4);
    return v4;
  }
  std::memset(a.s6_addr + 8, 0, 8);
  char text[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, &a, text, sizeof text);
  return std::string{text} + "/64";
}

} // namespace pchat
