#include "base/metrics.hpp"

#include <dirent.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

std::uint64_t latency_histogram::count_at_most_us(std::uint64_t bound_us) const {
  std::uint64_t n = 0;
  for (int b = 0; b < buckets && largest_value_of(b) <= bound_us; ++b)
    n += counts_[static_cast<std::size_t>(b)].load(std::memory_order_relaxed);
  return n;
}

namespace {
// The shortest of %.15g, %.16g, %.17g that reads back as the same double ("0.0005", not "0.00050000000000000001").
std::string number(double v) {
  char buf[40];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}
} // namespace

void prometheus_text::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  out_.append(type).append("\n");
}

void prometheus_text::sample(std::string_view name, std::string_view labels, double value) {
  out_.append(name);
  if (!labels.empty())
    out_.append("{").append(labels).append("}");
  out_.append(" ").append(number(value)).append("\n");
}

void prometheus_text::counter(std::string_view name, std::string_view help, double value) {
  family(name, "counter", help);
  sample(name, {}, value);
}

void prometheus_text::gauge(std::string_view name, std::string_view help, double value) {
  family(name, "gauge", help);
  sample(name, {}, value);
}

void prometheus_text::histogram_seconds(std::string_view name, std::string_view help, const latency_histogram& h,
                                        const std::vector<double>& bounds) {
  family(name, "histogram", help);
  std::string bucket = std::string{name} + "_bucket";
  // Recorded while we read: each bucket is read after the one below it, so they never decrease; the total is
  // counted apart and may lag the buckets by a recording in flight, so +Inf and _count take the larger.
  std::uint64_t below = 0;
  for (double le : bounds) {
    below = std::max(below, h.count_at_most_us(static_cast<std::uint64_t>(le * 1e6 + 0.5)));
    sample(bucket, "le=\"" + number(le) + "\"", static_cast<double>(below));
  }
  const auto total = static_cast<double>(std::max(below, h.count()));
  sample(bucket, "le=\"+Inf\"", total);
  sample(std::string{name} + "_sum", {}, static_cast<double>(h.sum_us()) / 1e6);
  sample(std::string{name} + "_count", {}, total);
}

std::string prometheus_text::label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void render_prometheus(const metrics& m, prometheus_text& out) {
  out.gauge("pchat_sessions", "Chat dialogs open.", static_cast<double>(m.sessions.load()));
  out.gauge("pchat_rooms_live", "Room actors running.", static_cast<double>(m.rooms_live.load()));
  out.counter("pchat_posts_total", "Posts accepted, stored and fanned out.", static_cast<double>(m.posts.load()));
  out.counter("pchat_deliveries_total", "Fan-out INFOs handed to the SIP stack.",
              static_cast<double>(m.deliveries.load()));
  out.counter("pchat_commands_total", "XCCOS commands handled.", static_cast<double>(m.commands.load()));
  out.family("pchat_rejections_total", "counter", "Requests refused, by reason.");
  for (std::size_t i = 1; i < m.rejections.size(); ++i) {
    const char* label = describe(static_cast<pchat_errc>(i)).metric;
    if (*label == '\0')
      continue; // not counted
    out.sample("pchat_rejections_total", std::string{"reason=\""} + label + "\"",
               static_cast<double>(m.rejections[i].load()));
  }
  // A histogram, so rates and quantiles can be taken over any window and across servers
  // (histogram_quantile(0.99, rate(pchat_fanout_latency_seconds_bucket[5m]))).
  out.histogram_seconds("pchat_fanout_latency_seconds",
                        "Post accepted by its room to the last member's INFO handed to the SIP stack.", m.fanout,
                        fanout_buckets());
  // Since start-up, at the histogram's finer resolution: what pchatctl stats shows at a glance.
  out.family("pchat_fanout_latency_since_start_seconds", "gauge",
             "Fan-out latency quantiles since pchatd started (buckets of about 9 %).");
  for (double q : {0.5, 0.9, 0.99, 0.999})
    out.sample("pchat_fanout_latency_since_start_seconds", "quantile=\"" + number(q) + "\"",
               static_cast<double>(m.fanout.quantile_us(q)) / 1e6);
  out.gauge("pchat_fanout_latency_max_seconds", "Largest fan-out latency since pchatd started.",
            static_cast<double>(m.fanout.max_us()) / 1e6);
}

std::string render_prometheus(const metrics& m) {
  prometheus_text out;
  render_prometheus(m, out);
  return out.take();
}

void render_process(prometheus_text& out) {
  // Open descriptors: the entries of /proc/self/fd (the directory stream's own descriptor not counted).
  std::size_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++fds;
    ::closedir(d);
    fds = fds > 0 ? fds - 1 : 0;
  }
  out.gauge("process_open_fds", "Number of open file descriptors.", static_cast<double>(fds));
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0)
    out.gauge("process_max_fds", "Maximum number of open file descriptors.", static_cast<double>(files.rlim_cur));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (std::FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name (which may hold spaces, so start after its closing parenthesis): state is
    // field 3, utime 14, stime 15, starttime 22, vsize 23, rss 24.
    if (const char* p = std::strrchr(buf, ')')) {
      unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
      long long rss = 0;
      if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                      &utime, &stime, &start, &vsize, &rss) == 5) {
        out.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                    static_cast<double>(utime + stime) / ticks);
        out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", static_cast<double>(vsize));
        out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", static_cast<double>(rss) * page);
        // starttime counts from boot: now minus the time since boot gives the boot time without /proc/stat,
        // which the systemd unit's ProcSubset=pid hides.
        timespec since_boot{}, wall{};
        if (::clock_gettime(CLOCK_BOOTTIME, &since_boot) == 0 && ::clock_gettime(CLOCK_REALTIME, &wall) == 0) {
          double boot = static_cast<double>(wall.tv_sec - since_boot.tv_sec) +
                        static_cast<double>(wall.tv_nsec - since_boot.tv_nsec) / 1e9;
          out.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                    boot + static_cast<double>(start) / ticks);
        }
      }
    }
  }
}

} // namespace pchat
