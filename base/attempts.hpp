#pragma once
// Failed sign-in attempts per key ("user sip:alice@example.com", "addr 192.0.2.7") in a sliding minute, so that
// neither one account nor many accounts from one place can be guessed at speed (docs/security.md "Limits").
// Bounded: at most `max_keys` keys are remembered; when full, stale windows go first, then the key with the fewest
// failures (so a flood of one-off keys cannot reset one being guessed at).
// Thread-safe.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace pchat {

class attempt_limiter {
public:
  using clock = std::chrono::steady_clock;
  explicit attempt_limiter(std::chrono::seconds window = std::chrono::seconds(60), std::size_t max_keys = 10000)
    : window_(window), max_keys_(max_keys) {}

  // Whether `key` has fewer than `limit` failures in the current window.
  bool allowed(const std::string& key, unsigned limit, clock::time_point now = clock::now());
  // One more failure for `key`; returns the count in the window.
  unsigned failed(const std::string& key, clock::time_point now = clock::now());
  // allowed() and failed() in one step (so parallel callers cannot slip past the limit): false, and nothing
  // counted, when `key` already has `limit` in the window; otherwise counts one.
  bool admit(const std::string& key, unsigned limit, clock::time_point now = clock::now());
  // Forgets `key` (a success).
  void succeeded(const std::string& key);
  // Takes back one attempt admit() counted for `key`, which turned out not to be a failure (a success from an
  // address whose earlier failures must still count).
  void refund(const std::string& key);

private:
  unsigned count_locked(const std::string& key, clock::time_point now, bool add);
  struct entry {
    unsigned count = 0;
    clock::time_point since;
  };
  std::chrono::seconds window_;
  std::size_t max_keys_;
  std::mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

// The key a client address counts under: an IPv4 address as it is, an IPv6 address by its /64 (one client usually
// has a whole /64), an IPv4-mapped IPv6 address as the IPv4 one.
std::string address_key(const std::string& address);

} // namespace pchat
