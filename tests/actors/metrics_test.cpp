// The live metrics: histogram quantiles and the Prometheus rendering pchatctl stats shows.
#include "base/metrics.hpp"

#include <catch2/catch.hpp>

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
  m.reject(reject_reason::not_joined);
  m.reject(reason_of_token("CHANNEL_NOT_FOUND"));
  m.reject(reason_of_token("SOMETHING_ELSE"));
  m.fanout.record_us(1500);
  auto text = render_prometheus(m);
  CHECK(text.find("pchat_posts_total 3\n") != std::string::npos);
  CHECK(text.find("pchat_deliveries_total 30\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"NOT_JOINED\"} 1\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"CHANNEL_NOT_FOUND\"} 1\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"SERVER_ERROR\"} 1\n") != std::string::npos);
  CHECK(text.find("pchat_rejections_total{reason=\"sip_503_overload\"} 0\n") != std::string::npos);
  CHECK(text.find("pchat_fanout_latency_seconds_count 1\n") != std::string::npos);
  CHECK(text.find("# TYPE pchat_fanout_latency_seconds summary") != std::string::npos);
}
