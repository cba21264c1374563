#include "base/attempts.hpp"

#include <algorithm>
#include <iterator>

namespace pchat {

bool attempt_limiter::allowed(const std::string& key, unsigned limit, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key);
  if (i == entries_.end())
    return true;
  if (now - i->second.since > window_) {
    entries_.erase(i);
    return true;
  }
  return i->second.count < limit;
}

unsigned attempt_limiter::failed(const std::string& key, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key);
  if (i != entries_.end() && now - i->second.since > window_) {
    entries_.erase(i);
    i = entries_.end();
  }
  if (i == entries_.end()) {
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
  return ++i->second.count;
}

void attempt_limiter::succeeded(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase(key);
}

} // namespace pchat
