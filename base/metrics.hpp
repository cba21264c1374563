#pragma once
// Live server metrics: counters and the fan-out latency histogram, shared by the actors and the SIP thread.
// Everything is a relaxed atomic: recording is a few nanoseconds on the hot path and never blocks; readers get
// a consistent-enough snapshot for monitoring. pchatd renders them as Prometheus text (render_prometheus), which
// `pchatctl stats` prints and the web issue's /metrics will serve.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace pchat {

// Log-bucketed latency histogram: 8 sub-buckets per power of two of microseconds (~9% resolution), 1 µs to
// about 4 hours. A quantile is reported as the largest value its bucket holds (never below the true value).
class latency_histogram {
public:
  static constexpr int sub_bits = 3;
  static constexpr int buckets = 32 << sub_bits;

  void record_us(std::uint64_t us);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  std::uint64_t max_us() const { return max_.load(std::memory_order_relaxed); }
  std::uint64_t sum_us() const { return sum_.load(std::memory_order_relaxed); }
  // The largest value of the bucket that holds the q-quantile sample (0 when empty).
  std::uint64_t quantile_us(double q) const;

private:
  static int bucket_of(std::uint64_t us);
  static std::uint64_t largest_value_of(int bucket);
  std::array<std::atomic<std::uint64_t>, buckets> counts_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> max_{0};
};

// Refusals are counted by their pchat_errc (base/error.hpp), labelled by the table's metric column.

struct metrics {
  std::atomic<std::int64_t> sessions{0};  // chat dialogs open
  std::atomic<std::int64_t> rooms_live{0}; // room actors running
  std::atomic<std::uint64_t> posts{0};      // accepted, durable and fanned out
  std::atomic<std::uint64_t> deliveries{0}; // INFOs handed to the transport for fan-out
  std::atomic<std::uint64_t> commands{0};   // XCCOS commands handled
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(pchat_errc::count_)> rejections{};
  // Post accepted by its room -> the last member's INFO handed to Sofia.
  latency_histogram fanout;

  void reject(pchat_errc e) {
    auto i = static_cast<std::size_t>(e);
    rejections[i >= 1 && i < rejections.size() ? i : static_cast<std::size_t>(pchat_errc::server_error)].fetch_add(
      1, std::memory_order_relaxed);
  }
};

// Prometheus text exposition format (version 0.0.4).
std::string render_prometheus(const metrics& m);

} // namespace pchat
