#include "base/attempts.hpp"

#include <algorithm>
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
      if (entries_.size() >= max_keys_)
        entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
          return a.second.since < b.second.since;
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

} // namespace pchat
