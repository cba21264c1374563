#pragma once
// Latency samples and what the benchmark reports about them. Samples are kept whole (microseconds, one per
// delivery): a 16,000-member room at 10 posts/s for 30 s is 4.8 M samples, 19 MB — cheaper than being wrong
// about a p99.9 from a bucketed histogram.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace pchat::bench {

struct summary {
  std::size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, mean_ms = 0;
};

// Nearest-rank percentiles; sorts `us` in place.
inline summary summarize(std::vector<std::uint32_t>& us) {
  summary s;
  s.count = us.size();
  if (us.empty())
    return s;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us.size())));
    return us[std::min(us.size() - 1, rank == 0 ? 0 : rank - 1)] / 1000.0;
  };
  s.p50_ms = at(0.50);
  s.p90_ms = at(0.90);
  s.p99_ms = at(0.99);
  s.p999_ms = at(0.999);
  s.max_ms = us.back() / 1000.0;
  double sum = 0;
  for (auto v : us)
    sum += v;
  s.mean_ms = sum / static_cast<double>(us.size()) / 1000.0;
  return s;
}

// Per (post, recipient) bookkeeping: every recipient must see every post of its room exactly once.
struct delivery_ledger {
  // counts[recipient][post] over the posts of the recipient's room
  std::vector<std::vector<std::uint8_t>> counts;
  std::uint64_t duplicates = 0;

  void resize(std::size_t recipients, std::size_t posts) {
    counts.assign(recipients, std::vector<std::uint8_t>(posts, 0));
  }
  // Returns false for a duplicate.
  bool record(std::size_t recipient, std::size_t post) {
    auto& c = counts[recipient][post];
    if (c == 255)
      return false;
    if (++c > 1) {
      ++duplicates;
      return false;
    }
    return true;
  }
};

} // namespace pchat::bench
