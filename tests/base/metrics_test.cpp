// The live metrics: histogram quantiles and the Prometheus rendering pchatctl stats shows.
#include "base/metrics.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace pchat;

TEST_CASE("the latency histogram reports quantiles within its bucket resolution") {
  latency_histogram h;
  CHECK(h.quantile_us(0.5) == 0);
  for (std::uint64_t us = 1; us <= 10000; ++us)
    h.record_us(us);
  CHECK(h.count() == 10000);
  CHECK(h.max_us() == 10000);
  CHECK(h.sum_us() == 10000ull * 10001 / 2);
  // Log buckets with 8 sub-buckets per octave: within 12.5% above the true value, never below it.
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    auto truth = static_cast<double>(q * 10000);
    auto got = static_cast<double>(h.quantile_us(q));
    CHECK(got >= truth);
    CHECK(got <= truth * 1.125 + 1);
  }
  CHECK(h.quantile_us(1.0) == 10000);
  latency_histogram small;
  for (int i = 0; i < 100; ++i)
    small.record_us(3);
  small.record_us(5'000'000);
  CHECK(small.quantile_us(0.5) == 3); // values below 8 have exact buckets
  CHECK(small.quantile_us(0.999) == 5'000'000);
  latency_histogram huge;
  huge.record_us(~0ull); // clamps into the last bucket instead of overflowing
  CHECK(huge.count() == 1);
}

TEST_CASE("metrics render as Prometheus text with every rejection reason") {
  metrics m;
  m.posts = 3;
  m.deliveries = 30;
  m.reject(pchat_errc::not_joined);
  m.reject(pchat_errc::room_not_found);
  m.reject(pchat_errc::server_error);
  m.reject(static_cast<pchat_errc>(250)); // outside the enum: counted as a server error
  m.reject(static_cast<pchat_errc>(0));   // so is 0
  m.fanout.record_us(1500);
  auto text = render_prometheus(m);
  CHECK(text.find("pchat_posts_total 3\n") != std::string::npos);
  CHECK(text.find("pchat_deliveries_total 30\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"NOT_JOINED\"} 1\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"CHANNEL_NOT_FOUND\"} 1\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"SERVER_ERROR\"} 3\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"sip_503_overload\"} 0\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_count 1\n") != std::string::npos);
  CHECK(text.find("# TYPE pchat_fanout_latency_seconds histogram") != std::string::npos);
}

TEST_CASE("the fan-out latency is a Prometheus histogram with cumulative buckets that never count a sample too low") {
  metrics m;
  for (std::uint64_t us : {50, 90, 300, 1500, 1500, 40000, 9000000})
    m.fanout.record_us(us);
  auto text = render_prometheus(m);
  INFO(text);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"0.0001\"} 2\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"0.0005\"} 3\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"0.001\"} 3\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"0.0025\"} 5\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"0.05\"} 6\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"5\"} 6\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_bucket{le=\"+Inf\"} 7\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_count 7\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_sum 9.04344\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_max_seconds 9\n") != std::string::npos);
  // Cumulative: every bucket holds at least the one before it.
  double last = -1;
  std::size_t at = 0;
  while ((at = text.find("pchat_fanout_latency_seconds_bucket{", at)) != std::string::npos) {
    auto value = std::stod(text.substr(text.find("} ", at) + 2));
    CHECK(value >= last);
    last = value;
    ++at;
  }
}

TEST_CASE("process metrics come from proc with Prometheus's standard names") {
  prometheus_text out;
  render_process(out);
  const auto& text = out.text();
  for (const char* name : {"process_open_fds ", "process_max_fds ", "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ", "process_cpu_seconds_total ", "process_start_time_seconds "})
    CHECK(text.find(std::string{"\n"} + name) != std::string::npos);
  auto rss_at = text.find("\nprocess_resident_memory_bytes ");
  REQUIRE(rss_at != std::string::npos);
  CHECK(std::stod(text.substr(rss_at + 31)) > 1e6); // a test binary holds more than a megabyte
}

TEST_CASE("the error table: every code has a name and a metric label of its own, XCCOS answers have a token") {
  std::set<std::string> names, labels;
  for (std::size_t i = 1; i < static_cast<std::size_t>(pchat_errc::count_); ++i) {
    const auto& d = describe(static_cast<pchat_errc>(i));
    CHECK(names.insert(d.name).second);
    if (*d.metric != '\0')
      CHECK(labels.insert(d.metric).second);
    if (d.xccos_code != 0 || d.sip_status != 0) // what the session and the SIP edge refuse is counted
      CHECK(*d.metric != '\0');
    if (d.xccos_code != 0)
      CHECK(std::string{d.xccos_token}.size() > 0);
    CHECK((d.xccos_code != 0 || d.sip_status != 0 || d.http_status != 0)); // every code surfaces somewhere
  }
  CHECK(describe(pchat_errc::room_not_found).xccos_token == std::string{"CHANNEL_NOT_FOUND"});
  CHECK(describe(pchat_errc::room_not_found).http_status == 404);
  CHECK(describe(pchat_errc::sip_overloaded).sip_status == 503);
  CHECK(describe(static_cast<pchat_errc>(0)).name == std::string{"server_error"});
}
