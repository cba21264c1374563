#include "base/metrics.hpp"

#include <cstdio>

namespace pchat {

int latency_histogram::bucket_of(std::uint64_t us) {
  if (us < (1u << sub_bits))
    return static_cast<int>(us);
  int exp = 63 - __builtin_clzll(us); // us >= 8, so exp >= 3
  int sub = static_cast<int>((us >> (exp - sub_bits)) & ((1u << sub_bits) - 1));
  int b = ((exp - sub_bits + 1) << sub_bits) + sub;
  return b < buckets ? b : buckets - 1;
}

std::uint64_t latency_histogram::largest_value_of(int b) {
  if (b < (1 << sub_bits))
    return static_cast<std::uint64_t>(b);
  int exp = (b >> sub_bits) + sub_bits - 1;
  std::uint64_t sub = static_cast<std::uint64_t>(b & ((1 << sub_bits) - 1));
  return (((std::uint64_t{1} << sub_bits) + sub + 1) << (exp - sub_bits)) - 1;
}

void latency_histogram::record_us(std::uint64_t us) {
  counts_[static_cast<std::size_t>(bucket_of(us))].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(us, std::memory_order_relaxed);
  auto prev = max_.load(std::memory_order_relaxed);
  while (us > prev && !max_.compare_exchange_weak(prev, us, std::memory_order_relaxed)) {
  }
}

std::uint64_t latency_histogram::quantile_us(double q) const {
  std::uint64_t total = 0;
  for (const auto& c : counts_)
    total += c.load(std::memory_order_relaxed);
  if (total == 0)
    return 0;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
  if (rank >= total)
    rank = total - 1;
  std::uint64_t seen = 0;
  for (int b = 0; b < buckets; ++b) {
    seen += counts_[static_cast<std::size_t>(b)].load(std::memory_order_relaxed);
    if (seen > rank)
      return std::min(largest_value_of(b), max_us());
  }
  return max_us();
}

std::string render_prometheus(const metrics& m) {
  std::string out;
  char line[256];
  auto add = [&](const char* help, const char* type, const char* name, double value) {
    std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
    out += line;
  };
  add("Chat dialogs open.", "gauge", "pchat_sessions", static_cast<double>(m.sessions.load()));
  add("Room actors running.", "gauge", "pchat_rooms_live", static_cast<double>(m.rooms_live.load()));
  add("Posts accepted, stored and fanned out.", "counter", "pchat_posts_total", static_cast<double>(m.posts.load()));
  add("Fan-out INFOs handed to the SIP stack.", "counter", "pchat_deliveries_total",
      static_cast<double>(m.deliveries.load()));
  add("XCCOS commands handled.", "counter", "pchat_commands_total", static_cast<double>(m.commands.load()));
  out += "# HELP pchat_rejections_total Requests refused, by reason.\n# TYPE pchat_rejections_total counter\n";
  for (std::size_t i = 1; i < m.rejections.size(); ++i) {
    const char* label = describe(static_cast<pchat_errc>(i)).metric;
    if (*label == '\0')
      continue; // not counted
    std::snprintf(line, sizeof line, "pchat_rejections_total{reason=\"%s\"} %llu\n", label,
                  static_cast<unsigned long long>(m.rejections[i].load()));
    out += line;
  }
  out += "# HELP pchat_fanout_latency_seconds Post accepted by its room to the last member's INFO handed to the "
         "SIP stack.\n# TYPE pchat_fanout_latency_seconds summary\n";
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    std::snprintf(line, sizeof line, "pchat_fanout_latency_seconds{quantile=\"%g\"} %.6f\n", q,
                  static_cast<double>(m.fanout.quantile_us(q)) / 1e6);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "pchat_fanout_latency_seconds_sum %.6f\npchat_fanout_latency_seconds_count %llu\n"
                "# HELP pchat_fanout_latency_seconds_max Largest fan-out latency seen.\n"
                "# TYPE pchat_fanout_latency_seconds_max gauge\npchat_fanout_latency_seconds_max %.6f\n",
                static_cast<double>(m.fanout.sum_us()) / 1e6, static_cast<unsigned long long>(m.fanout.count()),
                static_cast<double>(m.fanout.max_us()) / 1e6);
  out += line;
  return out;
}

} // namespace pchat
