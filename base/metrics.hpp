#pragma once
// Live server metrics: counters and the fan-out latency histogram, shared by the actors and the SIP thread.
// Everything is a relaxed atomic: recording is a few nanoseconds on the hot path and never blocks; readers get
// a consistent-enough snapshot for monitoring. pchatd renders them as Prometheus text (render_prometheus), which
// `pchatctl stats` prints and /metrics serves.
#include <array>
#include <vector>
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
  // Samples whose bucket lies wholly at or below `bound_us` (a Prometheus bucket's cumulative count: exact to
  // this histogram's resolution, never counting a sample above the bound).
  std::uint64_t count_at_most_us(std::uint64_t bound_us) const;

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

// The one writer of Prometheus text (exposition format 0.0.4) in pchat: every metric pchatd exports, whichever part
// of it counts them, goes through this, so names, HELP/TYPE lines and number formats are written one way.
class prometheus_text {
public:
  void counter(std::string_view name, std::string_view help, double value);
  void gauge(std::string_view name, std::string_view help, double value);
  // A labelled family: its HELP and TYPE once, then one sample per label set ("reason=\"full\"").
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::string_view labels, double value);
  // A histogram in seconds from a microsecond latency histogram, with the given upper bounds (seconds), +Inf,
  // _sum and _count.
  void histogram_seconds(std::string_view name, std::string_view help, const latency_histogram& h,
                         const std::vector<double>& bounds);
  // Escapes a label value (\ " and newline).
  static std::string label_value(std::string_view v);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

// The Prometheus bounds of the fan-out latency histogram, in seconds (100 µs to 5 s).
inline std::vector<double> fanout_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

// The live metrics as Prometheus text.
void render_prometheus(const metrics& m, prometheus_text& out);
std::string render_prometheus(const metrics& m);

// This process, from /proc (Linux), with Prometheus's standard names: process_open_fds, process_max_fds,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
// process_start_time_seconds.
void render_process(prometheus_text& out);

} // namespace pchat
