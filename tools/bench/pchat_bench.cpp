// pchat-bench: the fan-out latency benchmark (a tool, never a timed test).
//
//   pchat-bench [--mode sip|actors|both|join-under-search] [--posts N] [--join-rate J]
//   pchat-bench [--mode sip|actors|both] [--rooms K] [--members M] [--posters P] [--rate R] [--duration D]
//               [--size BYTES] [--threads T] [--no-sync] [--json FILE] [--plot FILE.png] [--label TEXT]
//               [--stalled N [--stall-seconds S]] [--sip-threads T]
//               [--server HOST:PORT --pid PID --room URI...]
//   pchat-bench --help
//
// sip mode: K*M real SIP clients over loopback TCP (one connection each, full sign-in, M per room), P posters
// posting R posts/s in all for D s; every (post, recipient) pair is timed from the poster's send to the
// recipient's read of the fan-out INFO. By default the bench starts its own pchatd (fresh data directory,
// rooms made with pchatctl, the same binaries as the build) and reports its RSS and CPU; --server uses a
// running one (rooms given with --room, --pid for RSS/CPU). --stalled N: N members who never post stop reading
// their connection when posting starts (socket open, no recv) for --stall-seconds (default: until everyone else
// has their deliveries), then read again; their deliveries are reported apart from the latency figures, with how
// many of them pchatd disconnected and pchatd's RSS through the run: does one reader who hangs slow the others
// down or grow the server's memory? --sip-threads T starts pchatd with --sip.threads=T (only when given).
// actors mode: the same actors in this process with a null transport: what fan-out costs without SIP.
// join-under-search mode: rooms x --posts posts in a fresh store, then join probes (--join-rate per second, a new
// session each) first alone and then while histsrch scans every post (tools/bench/join_search.hpp): does a long
// search hold up joins? Prints the join latency of both phases and the searches' durations.
// Prints p50/p90/p99/p99.9/max, deliveries/s, lost and duplicated deliveries (both must be 0), writes --json and
// a latency plot (--plot, needs gnuplot: apt-get install gnuplot-nox). Exit status: 0 all delivered, 1 a run
// failed, 2 bad arguments.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/version.hpp"
#include "codec/ntlm.hpp"
#include "tools/bench/actor_load.hpp"
#include "tools/bench/join_search.hpp"
#include "tools/bench/latency.hpp"
#include "tools/bench/sip_load.hpp"
#include "tools/bench/web_load.hpp"
#include "client/launcher.hpp"

using namespace pchat::bench;

namespace {

struct options {
  std::string mode = "sip";
  std::uint32_t rooms = 1;
  bool rooms_given = false;
  std::uint32_t posts = 500;    // join-under-search: posts per room
  double join_rate = 100;       // join-under-search: join probes per second
  std::uint32_t members = 100;
  std::uint32_t posters = 10;
  double rate = 10;
  double duration = 10;
  std::uint32_t size = 200;
  std::uint32_t threads = 2;
  std::uint32_t signin_parallel = 200;
  bool sync = true;
  std::string json;
  std::string plot;
  std::string label;
  std::string server; // host:port of a running pchatd
  int pid = 0;
  std::vector<std::string> room_uris;
  std::string pchatd = PCHATD_PATH;
  std::string pchatctl = PCHATCTL_PATH;
  std::vector<std::string> server_args; // --server-arg X, passed to the pchatd we start
  std::uint32_t stalled = 0;   // sip: members who stop reading when posting starts
  double stall_seconds = -1;   // sip: how long; < 0: until the others have their deliveries
  std::uint32_t sip_threads = 0; // sip: pchatd's --sip.threads; 0: not given, pchatd's default
};

int usage() {
  std::cerr << "pchat-bench: see pchat-bench --help\n";
  return 2;
}

// --- option values: a clear message and exit status 2 for anything that is not a number of the right kind -------

[[noreturn]] void bad_value(const std::string& opt, const std::string& value, const std::string& wanted) {
  std::cerr << "pchat-bench: " << opt << " '" << value << "': expected " << wanted << " (pchat-bench --help)\n";
  std::exit(2);
}

std::uint32_t count_arg(const std::string& opt, const std::string& value, std::uint32_t min = 0) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || v < min)
    bad_value(opt, value, min > 0 ? "a whole number >= " + std::to_string(min) : "a whole number");
  return v;
}


// --- the pchatd we start ----------------------------------------------------------------------------------------

struct server_process {
  pid_t pid = -1;
  std::string dir;
  std::uint16_t port = 0;
  std::uint16_t web_port = 0; // from its ready line ("web=http://127.0.0.1:PORT")
  std::vector<std::string> rooms;

  ~server_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL); // the benchmark is over; a clean shutdown would only time client BYEs
      ::waitpid(pid, nullptr, 0);
    }
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

std::string run_capture(const std::string& cmd, int& status) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  if (!p) {
    status = -1;
    return out;
  }
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  status = ::pclose(p);
  return out;
}

// The last `n` lines of a file, each on its own line after "  pchatd: ".
std::string log_tail(const std::string& path, std::size_t n) {
  std::ifstream log(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(log, line);)
    lines.push_back(line);
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += "\n  pchatd: " + lines[i];
  return out;
}

// A pchatd we started that is gone before the end: how it ended, and it is reaped. Empty while it runs.
std::string server_gone(server_process& srv) {
  int status = 0;
  if (srv.pid <= 0 || ::waitpid(srv.pid, &status, WNOHANG) != srv.pid)
    return {};
  srv.pid = -1;
  return WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                             : "exited with status " + std::to_string(WEXITSTATUS(status));
}

bool start_server(const options& o, server_process& srv, std::string& error) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pchat-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    error = "cannot create a temporary directory";
    return false;
  }
  srv.dir = tmpl;
  std::string data = srv.dir + "/data";
  int status = 0;
  run_capture(o.pchatctl + " --data " + data + " init 2>&1", status);
  run_capture(o.pchatctl + " --data " + data + " category add Bench 2>&1", status);
  for (std::uint32_t r = 0; r < o.rooms; ++r) {
    auto out = run_capture(o.pchatctl + " --data " + data + " room add bench-" + std::to_string(r)
                             + " --category Bench 2>&1",
                           status);
    auto tab = out.find('\t');
    if (status != 0 || tab == std::string::npos) {
      error = "pchatctl failed: " + out;
      return false;
    }
    auto uri = out.substr(tab + 1);
    while (!uri.empty() && (uri.back() == '\n' || uri.back() == '\r'))
      uri.pop_back();
    srv.rooms.push_back(uri);
  }
  srv.port = pchat::client::free_loopback_port();
  std::vector<std::string> args = {"--pchat.data-dir=" + data, "--sip.port=" + std::to_string(srv.port),
                                   "--pchat.log-level=warning", "--sip.max-pending=1000000",
                                   // every bench client connects from 127.0.0.1
                                   "--sip.max-connections-per-address=1000000", "--web.port=0"};
  args.insert(args.end(), o.server_args.begin(), o.server_args.end());
  auto log_path = srv.dir + "/pchatd.log";
  auto r = pchat::client::launch_pchatd(o.pchatd, args, srv.dir, log_path, std::chrono::seconds(20));
  if (!r.error.empty()) {
    // The log goes with the temporary directory: show its end here (e.g. an option this pchatd does not know).
    error = "pchatd";
    for (const auto& arg : args)
      error += " " + arg;
    error += ": " + r.error.substr(0, r.error.find("; see")) + log_tail(log_path, 10);
    return false;
  }
  srv.pid = r.pid;
  if (auto at = r.output.find(" web=http://"); at != std::string::npos) {
    auto colon = r.output.find(':', at + 12);
    if (colon != std::string::npos)
      srv.web_port = static_cast<std::uint16_t>(std::atoi(r.output.c_str() + colon + 1));
  }
  return true;
}

// --- /proc ---------------------------------------------------------------------------------------------------------

struct proc_sample {
  double cpu_seconds = 0;
  double rss_mib = 0;
  double peak_rss_mib = 0;
};

proc_sample sample(int pid) {
  proc_sample s;
  if (pid <= 0)
    return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto rp = line.rfind(')');
  if (rp != std::string::npos) {
    std::istringstream rest(line.substr(rp + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field)
      f.push_back(field);
    // fields after the name: state(0) ... utime(11) stime(12)
    if (f.size() > 12)
      s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      s.rss_mib = std::stod(line.substr(6)) / 1024.0;
    else if (line.rfind("VmHWM:", 0) == 0)
      s.peak_rss_mib = std::stod(line.substr(6)) / 1024.0;
  }
  return s;
}

// pchatd's RSS through the run, from posting start to the end: VmRSS every 200 ms (its peak is what the run
// cost; VmHWM also holds the sign-in burst), one value per second kept for the JSON.
class rss_sampler {
public:
  ~rss_sampler() { stop(); }
  void start(int pid) {
    if (pid <= 0 || thread_.joinable())
      return;
    thread_ = std::thread([this, pid] { loop(pid); });
  }
  // Joins the sampling thread; peak_mib and per_second are read after this.
  void stop() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }
  double peak_mib = 0;
  std::vector<double> per_second;

private:
  void loop(int pid) {
    auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lk(mutex_);
    while (!stop_) {
      auto rss = sample(pid).rss_mib;
      peak_mib = std::max(peak_mib, rss);
      if (std::chrono::steady_clock::now() - start >= std::chrono::seconds(per_second.size()))
        per_second.push_back(rss);
      cv_.wait_for(lk, std::chrono::milliseconds(200), [this] { return stop_; });
    }
  }
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// --- report ----------------------------------------------------------------------------------------------------

struct mode_report {
  std::string mode;
  bool ok = false;
  std::string error;
  std::uint32_t sessions = 0;
  std::uint64_t posts = 0, expected = 0, delivered = 0, lost = 0, duplicates = 0, refused = 0;
  double posting_seconds = 0, delivery_seconds = 0;
  summary latency;
  summary join;
  double signin_seconds = 0;
  proc_sample server_idle;      // right after it started, before any sign-in
  proc_sample server_signed_in; // once the measured members are signed in and joined
  proc_sample server_before, server_after;
  double client_cpu_seconds = 0;
  std::vector<std::uint32_t> samples; // sorted
  // sip mode
  double rss_peak_sampled_mib = 0;       // VmRSS sampled from posting start to the end
  std::vector<double> rss_per_second;    // from posting start
  proc_sample server_at_resume;          // when the stalled members resumed reading
  std::uint32_t others_disconnected = 0;
  stalled_report stalled;
  summary stalled_latency;               // their backlog, read after the resume
};

void print(const mode_report& r, const options& o) {
  std::string extra;
  if (r.mode == "sip" && o.stalled > 0)
    extra += ", " + std::to_string(o.stalled) + " stalled";
  if (r.mode == "sip" && o.sip_threads > 0)
    extra += ", --sip-threads " + std::to_string(o.sip_threads);
  std::printf("== %s mode: %u rooms x %u members, %u posters, %.1f posts/s for %.0f s, %u-byte posts%s\n",
              r.mode.c_str(), o.rooms, o.members, o.posters, o.rate, o.duration, o.size, extra.c_str());
  if (!r.ok) {
    std::string why = r.error;
    if (why.empty() && r.lost > 0)
      why = std::to_string(r.lost) + " deliveries lost (not received within the drain time)";
    if (why.empty() && r.duplicates > 0)
      why = std::to_string(r.duplicates) + " deliveries duplicated";
    std::printf("   FAILED: %s\n", why.c_str());
    if (r.posts == 0)
      return;
  }
  std::printf("   sessions %u%s\n", r.sessions,
              r.signin_seconds > 0 ? (" (signed in and joined in " + std::to_string(r.signin_seconds) + " s)").c_str()
                                   : "");
  std::string who = r.stalled.members > 0
                      ? " (the " + std::to_string(r.sessions - r.stalled.members) + " members who kept reading)"
                      : "";
  std::printf("   fan-out latency ms%s: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f, %zu samples)\n",
              who.c_str(), r.latency.p50_ms, r.latency.p90_ms, r.latency.p99_ms, r.latency.p999_ms, r.latency.max_ms,
              r.latency.mean_ms, r.latency.count);
  double span = std::max(r.posting_seconds, r.delivery_seconds);
  std::printf("   posts %llu, deliveries %llu of %llu expected (%.0f/s), lost %llu, duplicated %llu, refused %llu\n",
              static_cast<unsigned long long>(r.posts), static_cast<unsigned long long>(r.delivered),
              static_cast<unsigned long long>(r.expected), span > 0 ? static_cast<double>(r.delivered) / span : 0.0,
              static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.duplicates),
              static_cast<unsigned long long>(r.refused));
  if (r.join.count > 0)
    std::printf("   join + last 30 messages ms (%zu probes while posting): p50 %.3f  p99 %.3f  max %.3f\n",
                r.join.count, r.join.p50_ms, r.join.p99_ms, r.join.max_ms);
  if (r.others_disconnected > 0)
    std::printf("   %u members who kept reading lost their connection after sign-in\n", r.others_disconnected);
  const auto& st = r.stalled;
  if (st.members > 0) {
    std::printf("   stalled: %u members stopped reading at posting start for %.1f s (%s), then read again\n",
                st.members, st.stalled_seconds,
                st.until_others_served ? "until every other member had its deliveries" : "--stall-seconds");
    std::printf("     disconnected by pchatd: %u of %u", st.disconnected, st.members);
    if (st.disconnected > 0)
      std::printf(" (%u visible during the stall; the first %.1f s after posting start)", st.disconnected_during_stall,
                  st.first_disconnect_seconds);
    std::printf("\n     at the resume: %.1f KiB unread in their receive buffers, ", st.unread_bytes / 1024.0);
    if (st.server_queue_known)
      std::printf("%.1f KiB in pchatd's kernel send queues to them\n", st.server_queued_bytes / 1024.0);
    else
      std::printf("pchatd's kernel send queues not visible here\n");
    std::printf("     their deliveries (not in the figures above): %llu of %llu read after the resume, %llu never "
                "arrived",
                static_cast<unsigned long long>(st.delivered), static_cast<unsigned long long>(st.expected),
                static_cast<unsigned long long>(st.expected > st.delivered ? st.expected - st.delivered : 0));
    if (r.stalled_latency.count > 0)
      std::printf("; post -> read p50 %.0f ms, max %.0f ms", r.stalled_latency.p50_ms, r.stalled_latency.max_ms);
    std::printf("\n");
  }
  if (r.server_after.rss_mib > 0) {
    double cpu = r.server_after.cpu_seconds - r.server_before.cpu_seconds;
    std::printf("   pchatd: RSS %.1f MiB at the end (peak %.1f while posting, sampled every 0.2 s; %.1f at posting "
                "start",
                r.server_after.rss_mib, r.rss_peak_sampled_mib, r.server_before.rss_mib);
    if (r.server_at_resume.rss_mib > 0)
      std::printf("; %.1f when the stalled resumed", r.server_at_resume.rss_mib);
    std::printf("; VmHWM %.1f, sign-in included)\n", r.server_after.peak_rss_mib);
    std::printf("   pchatd CPU %.2f s over %.1f s posting (%.0f%% of one core, %.2f us per delivery); bench clients "
                "CPU %.2f s\n",
                cpu, r.posting_seconds, r.posting_seconds > 0 ? 100.0 * cpu / r.posting_seconds : 0.0,
                r.delivered > 0 ? cpu * 1e6 / static_cast<double>(r.delivered) : 0.0, r.client_cpu_seconds);
    if (r.server_idle.rss_mib > 0 && r.server_signed_in.rss_mib > 0 && r.sessions > 0)
      std::printf("   pchatd memory per %s member: %.1f KiB (RSS %.1f MiB before sign-in, %.1f MiB with %u members "
                  "signed in and joined)\n",
                  r.mode.c_str(), (r.server_signed_in.rss_mib - r.server_idle.rss_mib) * 1024.0 / r.sessions,
                  r.server_idle.rss_mib, r.server_signed_in.rss_mib, r.sessions);
  }
}

// One mode's results as JSON (nlohmann-json: names and error texts are escaped, numbers written as numbers).
nlohmann::json json_mode(const mode_report& r) {
  using nlohmann::json;
  double span = std::max(r.posting_seconds, r.delivery_seconds);
  json out = {{"mode", r.mode},
              {"ok", r.ok},
              {"sessions", r.sessions},
              {"posts", r.posts},
              {"expected", r.expected},
              {"delivered", r.delivered},
              {"lost", r.lost},
              {"duplicates", r.duplicates},
              {"refused", r.refused},
              {"deliveries_per_s", span > 0 ? static_cast<double>(r.delivered) / span : 0},
              {"latency_ms",
               {{"p50", r.latency.p50_ms},
                {"p90", r.latency.p90_ms},
                {"p99", r.latency.p99_ms},
                {"p999", r.latency.p999_ms},
                {"max", r.latency.max_ms},
                {"mean", r.latency.mean_ms},
                {"samples", r.latency.count}}}};
  if (r.join.count > 0)
    out["join_history_ms"] = {{"p50", r.join.p50_ms}, {"p99", r.join.p99_ms}, {"max", r.join.max_ms}};
  if (r.mode == "sip") {
    const auto& st = r.stalled;
    out["others_disconnected"] = r.others_disconnected;
    out["stalled"] = {{"members", st.members},
                      {"stalled_seconds", st.stalled_seconds},
                      {"until_others_served", st.until_others_served},
                      {"disconnected", st.disconnected},
                      {"disconnected_during_stall", st.disconnected_during_stall},
                      {"first_disconnect_seconds", st.first_disconnect_seconds},
                      {"expected", st.expected},
                      {"delivered", st.delivered},
                      {"unread_bytes_at_resume", st.unread_bytes},
                      {"server_queued_bytes_at_resume", st.server_queue_known ? json(st.server_queued_bytes) : json()},
                      {"latency_ms",
                       {{"p50", r.stalled_latency.p50_ms},
                        {"max", r.stalled_latency.max_ms},
                        {"samples", r.stalled_latency.count}}}};
  }
  if (r.server_after.rss_mib > 0) {
    // rss_mib: at the end; peak_rss_mib: VmHWM (sign-in included); peak_rss_sampled_mib: VmRSS's peak from posting
    // start on; rss_mib_per_second: from posting start.
    json server = {{"rss_mib", r.server_after.rss_mib},
                   {"peak_rss_mib", r.server_after.peak_rss_mib},
                   {"rss_at_posting_start_mib", r.server_before.rss_mib},
                   {"peak_rss_sampled_mib", r.rss_peak_sampled_mib},
                   {"rss_mib_per_second", r.rss_per_second},
                   {"cpu_seconds", r.server_after.cpu_seconds - r.server_before.cpu_seconds}};
    if (r.delivered > 0)
      server["cpu_us_per_delivery"] =
        (r.server_after.cpu_seconds - r.server_before.cpu_seconds) * 1e6 / static_cast<double>(r.delivered);
    if (r.server_idle.rss_mib > 0 && r.server_signed_in.rss_mib > 0 && r.sessions > 0) {
      server["rss_before_signin_mib"] = r.server_idle.rss_mib;
      server["rss_signed_in_mib"] = r.server_signed_in.rss_mib;
      server["kib_per_member"] = (r.server_signed_in.rss_mib - r.server_idle.rss_mib) * 1024.0 / r.sessions;
    }
    if (r.server_at_resume.rss_mib > 0)
      server["rss_at_stall_end_mib"] = r.server_at_resume.rss_mib;
    out["server"] = std::move(server);
    out["client_cpu_seconds"] = r.client_cpu_seconds;
    out["signin_seconds"] = r.signin_seconds;
  }
  if (!r.error.empty())
    out["error"] = r.error;
  return out;
}

// Writes `doc` to `path`, one line; says where.
void write_json(const std::string& path, const nlohmann::json& doc) {
  std::ofstream out(path);
  out << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  std::printf("   json: %s%s\n", path.c_str(), out ? "" : " (could not be written)");
}

// A CDF of the latency samples (log x) through gnuplot.
void plot(const std::vector<mode_report>& reports, const options& o) {
  std::string dat = o.plot + ".dat";
  std::ofstream d(dat);
  std::string cmd = "set terminal pngcairo size 900,540; set output '" + o.plot
                    + "'; set logscale x; set grid; set key bottom right; set xlabel 'fan-out latency (ms)';"
                      " set ylabel 'fraction of deliveries'; set title 'pchat fan-out: "
                    + std::to_string(o.rooms) + " x " + std::to_string(o.members) + " members, "
                    + std::to_string(static_cast<int>(o.rate)) + " posts/s" + (o.label.empty() ? "" : ", " + o.label)
                    + "'; plot ";
  int block = 0;
  for (const auto& r : reports) {
    if (r.samples.empty())
      continue;
    // At most ~2000 points per curve.
    std::size_t step = std::max<std::size_t>(1, r.samples.size() / 2000);
    for (std::size_t i = 0; i < r.samples.size(); i += step)
      d << std::max(0.001, r.samples[i] / 1000.0) << " " << static_cast<double>(i + 1) / static_cast<double>(r.samples.size())
        << "\n";
    d << r.samples.back() / 1000.0 << " 1\n\n\n";
    cmd += std::string(block ? ", " : "") + "'" + dat + "' index " + std::to_string(block) + " with lines lw 2 title '"
           + r.mode + "'";
    ++block;
  }
  d.close();
  int status = 0;
  auto out = run_capture("gnuplot -e \"" + cmd + "\" 2>&1", status);
  if (status != 0)
    std::cerr << "pchat-bench: no plot (is gnuplot installed? apt-get install gnuplot-nox): " << out << "\n";
  else
    std::printf("   plot: %s\n", o.plot.c_str());
}

// --mode ntlm-sign: what NTLM adds to each delivery on a signed connection (docs/performance.md "NTLM signing"):
// the work the SIP edge does per INFO before writing it (the dialog's signed fields with this CSeq, the signature
// string, HMAC-MD5 and RC4 over it, the Authentication-Info header), on one thread, --posts times.
int run_ntlm_sign(const options& o) {
  namespace ntlm = pchat::sip::ntlm;
  std::string why;
  if (!ntlm::available(why)) {
    std::cerr << "pchat-bench: NTLM is not available here: " << why << "\n";
    return 1;
  }
  ntlm::signed_fields dialog_fields;
  dialog_fields.call_id = "D357gCB52aF5AAiD146m6970tF412bFE36x85B3x";
  dialog_fields.from_url = "sip:pchat@example.com";
  dialog_fields.from_tag = "5e2Z0UUSrUv9Q";
  dialog_fields.to_url = "sip:bob@example.com";
  dialog_fields.to_tag = "2214636039";
  const ntlm::signer signer{std::string(16, '\x11'), std::string(16, '\x22')}; // a session's, as the edge keeps it
  const std::uint64_t n = std::max<std::uint64_t>(1000, o.posts);
  std::size_t bytes = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    ntlm::signed_fields f = dialog_fields;
    f.cseq = std::to_string(i + 2);
    f.method = "INFO";
    f.rand = "28848f1e";
    f.num = std::to_string(i + 15);
    f.realm = "SIP Communications Service";
    f.target_name = "example.com";
    auto rspauth = signer.signature_hex(ntlm::signature_text(f, 4));
    auto header = "Authentication-Info: NTLM rspauth=\"" + rspauth + "\", srand=\"" + f.rand + "\", snum=\"" + f.num +
                  "\", opaque=\"3b712b83\", qop=\"auth\", targetname=\"" + f.target_name + "\", realm=\"" + f.realm +
                  "\"\r\n";
    bytes += header.size();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double us = seconds * 1e6 / static_cast<double>(n);
  std::printf("== ntlm-sign: %llu INFO signatures on one thread: %.2f us each (%.0f per second), %zu header bytes each\n",
              static_cast<unsigned long long>(n), us, 1e6 / us, bytes / n);
  if (!o.json.empty())
    write_json(o.json, {{"mode", "ntlm-sign"}, {"label", o.label}, {"signatures", n}, {"us_per_signature", us},
                        {"header_bytes", bytes / n}});
  return 0;
}

// --mode join-under-search (tools/bench/join_search.hpp).
int run_join_under_search(const options& o) {
  join_search_config c;
  if (o.rooms_given)
    c.rooms = o.rooms;
  c.posts_per_room = o.posts;
  c.join_rate = o.join_rate;
  c.search_seconds = o.duration;
  c.threads = o.threads;
  if (o.join_rate <= 0 || o.duration <= 0)
    return usage();
  auto r = run_join_search(c);
  std::printf("== join-under-search: %u rooms x %u posts = %llu posts (filled in %.1f s), %u scheduler threads, "
              "%.0f joins/s\n",
              c.rooms, c.posts_per_room, static_cast<unsigned long long>(r.posts), r.fill_seconds, c.threads,
              c.join_rate);
  if (!r.ok)
    std::printf("   FAILED: %s%s\n", r.error.c_str(),
                r.unanswered ? (" (" + std::to_string(r.unanswered) + " joins unanswered)").c_str() : "");
  auto searches = summarize(r.search_us);
  auto alone = summarize(r.baseline_join_us);
  auto during = summarize(r.search_join_us);
  std::printf("   histsrch \"alpha beta\" over every room (no hits, every post visited): %zu searches, p50 %.1f ms, "
              "max %.1f ms\n",
              searches.count, searches.p50_ms, searches.max_ms);
  std::printf("   join ms, no search running (%zu probes): p50 %.3f  p99 %.3f  max %.3f\n", alone.count, alone.p50_ms,
              alone.p99_ms, alone.max_ms);
  std::printf("   join ms, histsrch in flight (%zu probes): p50 %.3f  p99 %.3f  max %.3f\n", during.count,
              during.p50_ms, during.p99_ms, during.max_ms);
  if (!o.json.empty()) {
    auto obj = [](const summary& x) {
      return nlohmann::json{{"count", x.count}, {"p50", x.p50_ms}, {"p99", x.p99_ms}, {"max", x.max_ms}};
    };
    write_json(o.json, {{"mode", "join-under-search"}, {"label", o.label}, {"rooms", c.rooms}, {"posts", r.posts},
                        {"threads", c.threads}, {"join_rate", c.join_rate}, {"ok", r.ok},
                        {"histsrch_ms", obj(searches)}, {"join_ms_alone", obj(alone)},
                        {"join_ms_during_histsrch", obj(during)}});
  }
  return r.ok ? 0 : 1;
}

} // namespace

// --mode web / sip+web: --rooms x --members browser members (web_load.hpp) in a fresh pchatd, and --posters SIP
// clients (one room member each, spread over the rooms) posting as in sip mode; what is timed is each post's way to
// the browser members. Adds the "web" report; false when the server could not be started.
bool run_with_web(options& o, std::vector<mode_report>& reports) {
  server_process srv;
  mode_report m;
  m.mode = "web";
  std::string error;
  auto args = o.server_args;
  o.server_args.push_back("--web.max-connections-per-address=1000000"); // as for SIP in start_server
  o.server_args.push_back("--web.chat-max-tabs=1000000");
  bool started = start_server(o, srv, error);
  o.server_args = std::move(args);
  if (!started || srv.web_port == 0) {
    std::cerr << "pchat-bench: " << (started ? "pchatd did not say its web port" : error) << "\n";
    return false;
  }
  o.pid = srv.pid;
  m.server_idle = sample(o.pid);
  web_load_config wc;
  wc.port = srv.web_port;
  wc.rooms = srv.rooms;
  wc.members = o.members;
  wc.signin_parallel = std::min<std::uint32_t>(o.signin_parallel, 32);
  wc.planned_posts = static_cast<std::size_t>(o.rate * o.duration) + 1;
  web_members web{wc};
  if (!web.start(error)) {
    m.error = error;
    print(m, o);
    reports.push_back(std::move(m));
    return true;
  }
  m.server_signed_in = sample(o.pid);

  sip_load_config c;
  c.port = srv.port;
  c.rooms = srv.rooms;
  c.members = (o.posters + static_cast<std::uint32_t>(srv.rooms.size()) - 1) / static_cast<std::uint32_t>(srv.rooms.size());
  c.posters = o.posters;
  c.rate = o.rate;
  c.duration = o.duration;
  c.size = o.size;
  c.join_probes = 0;
  c.progress = false;
  rss_sampler rss;
  c.on_posting_start = [&m, &o, &rss] {
    m.server_before = sample(o.pid);
    rss.start(o.pid);
  };
  c.on_post = [&web](std::size_t post, std::size_t room, std::int64_t sent_ns) { web.posted(post, room, sent_ns); };
  auto posters = run_sip_load(c);
  auto r = web.finish(10);
  m.server_after = sample(o.pid);
  rss.stop();
  m.rss_peak_sampled_mib = std::max(rss.peak_mib, m.server_after.rss_mib);
  m.rss_per_second = std::move(rss.per_second);
  m.ok = r.ok && posters.ok && posters.signin_failures == 0 && posters.posts_refused == 0;
  m.error = !r.error.empty() ? r.error : !posters.error.empty() ? "the SIP posters: " + posters.error : "";
  if (m.error.empty() && r.disconnected > 0)
    m.error = std::to_string(r.disconnected) + " event streams ended during the run";
  if (auto gone = server_gone(srv); !gone.empty()) {
    m.ok = false;
    m.error = "pchatd " + gone + " during the run" + (m.error.empty() ? "" : "; " + m.error);
    std::cerr << "pchat-bench: pchatd " << gone << "; the end of its log:" << log_tail(srv.dir + "/pchatd.log", 20)
              << "\n";
  }
  m.sessions = r.sessions;
  m.signin_seconds = r.signin_seconds;
  m.posts = posters.posts;
  m.refused = posters.posts_refused;
  m.expected = r.expected;
  m.delivered = r.delivered;
  m.lost = r.lost;
  m.duplicates = r.duplicates;
  m.posting_seconds = posters.posting_seconds;
  m.delivery_seconds = r.delivery_seconds;
  m.client_cpu_seconds = posters.client_cpu_seconds;
  m.samples = std::move(r.latency_us);
  m.latency = summarize(m.samples);
  print(m, o);
  reports.push_back(std::move(m));
  return true;
}

int main(int argc, char** argv) {
  options o;
  // CLI11 (docs/operations.md "Command-line programs"): every number typed and range-checked, --help on stdout.
  CLI::App app{"pchat-bench: fan-out latency of pchat, real SIP clients against pchatd (docs/performance.md)",
               "pchat-bench"};
  app.set_version_flag("--version", std::string{"pchat-bench "} + pchat::version());
  const auto at_least_1 = CLI::Range(1u, UINT32_MAX);
  const auto positive = CLI::Range(1e-9, 1e12);
  const auto non_negative = CLI::Range(0.0, 1e12);
  app.add_option("--mode", o.mode,
                 "sip: real SIP clients against pchatd; actors: the same actors in this process, no SIP; both "
                 "(actors and sip); web: browser members (the chat API's event streams) with SIP posters; sip+web: "
                 "sip, then web, side by side; join-under-search: join latency while histsrch runs; ntlm-sign: "
                 "the cost of signing one INFO")
    ->check(CLI::IsMember({"sip", "actors", "both", "web", "sip+web", "join-under-search", "ntlm-sign"}))
    ->capture_default_str();
  auto* rooms = app.add_option("--rooms", o.rooms, "rooms")->check(at_least_1)->capture_default_str();
  app.add_option("--members", o.members, "members per room")->check(at_least_1)->capture_default_str();
  app.add_option("--posters", o.posters, "posters in all")->capture_default_str();
  app.add_option("--rate", o.rate, "posts per second, all posters together")->check(positive)->capture_default_str();
  app.add_option("--duration", o.duration, "seconds of posting")->check(positive)->capture_default_str();
  app.add_option("--size", o.size, "bytes of chat text per post")->capture_default_str();
  app.add_option("--threads", o.threads, "CAF scheduler threads, in this process or pchatd's")
    ->check(at_least_1)
    ->capture_default_str();
  app.add_option("--signin-parallel", o.signin_parallel, "SIP clients signing in at once")
    ->check(at_least_1)
    ->capture_default_str();
  app.add_option("--stalled", o.stalled,
                 "sip: members who never post stop reading their connection once posting starts, then read again; "
                 "reported apart, with how many pchatd disconnected and its RSS through the run");
  app.add_option("--stall-seconds", o.stall_seconds,
                 "sip: how long they stop reading, from posting start (default: until every other member has its "
                 "deliveries)")
    ->check(non_negative);
  app.add_option("--sip-threads", o.sip_threads, "sip: start pchatd with --sip.threads=T")->check(at_least_1);
  bool no_sync = false;
  app.add_flag("--no-sync", no_sync, "pchatd without fsync before fan-out");
  app.add_option("--json", o.json, "write the results as JSON to FILE");
  app.add_option("--plot", o.plot, "a latency CDF as PNG (gnuplot)");
  app.add_option("--label", o.label, "names the run in the JSON");
  app.add_option("--server", o.server, "use a running pchatd at HOST:PORT (with --room and --pid)");
  app.add_option("--pid", o.pid, "the running pchatd's process, for RSS and CPU")->check(CLI::Range(1, INT32_MAX));
  app.add_option("--room", o.room_uris, "a room of the running pchatd (repeatable)");
  app.add_option("--server-arg", o.server_args, "one more argument for the pchatd the bench starts (repeatable)");
  app.add_option("--pchatd", o.pchatd, "the pchatd to start")->capture_default_str();
  app.add_option("--pchatctl", o.pchatctl, "the pchatctl that makes its rooms")->capture_default_str();
  app.add_option("--posts", o.posts, "join-under-search: posts per room; ntlm-sign: signatures")
    ->check(at_least_1)
    ->capture_default_str();
  app.add_option("--join-rate", o.join_rate, "join-under-search: join probes per second")
    ->check(positive)
    ->capture_default_str();
  app.footer("Exit status: 0 every delivery arrived, 1 a run failed (lost or duplicated deliveries, sign-in "
             "failures), 2 bad arguments.");
  // "--server-arg --x=y": the value is pchatd's option, which CLI11 would take for one of ours; pass it as
  // "--server-arg=--x=y".
  std::vector<std::string> words(argv + 1, argv + argc);
  for (std::size_t i = 0; i + 1 < words.size(); ++i)
    if (words[i] == "--server-arg") {
      words[i] += "=" + words[i + 1];
      words.erase(words.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
  std::reverse(words.begin(), words.end()); // CLI11 takes a vector in reverse order
  try {
    app.parse(words);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e); // stdout, 0
  } catch (const CLI::ParseError& e) {
    std::cerr << "pchat-bench: " << e.what() << " (pchat-bench --help)\n";
    return 2;
  }
  o.rooms_given = rooms->count() > 0;
  o.sync = !no_sync;
  if (!o.server.empty()) {
    auto colon = o.server.rfind(':');
    if (colon == std::string::npos || colon == 0)
      bad_value("--server", o.server, "HOST:PORT");
    if (count_arg("--server", o.server.substr(colon + 1), 1) > 65535)
      bad_value("--server", o.server, "HOST:PORT with a port up to 65535");
  }
  const bool run_actors = o.mode == "actors" || o.mode == "both";
  const bool run_sip = o.mode == "sip" || o.mode == "both" || o.mode == "sip+web";
  const bool run_web = o.mode == "web" || o.mode == "sip+web";
  if (!run_sip && (o.stalled > 0 || o.stall_seconds >= 0 || o.sip_threads > 0)) {
    std::cerr << "pchat-bench: --stalled, --stall-seconds and --sip-threads are for --mode sip, both or sip+web\n";
    return 2;
  }
  if (o.stall_seconds >= 0 && o.stalled == 0) {
    std::cerr << "pchat-bench: --stall-seconds needs --stalled N\n";
    return 2;
  }
  if (o.mode == "join-under-search")
    return run_join_under_search(o);
  if (o.mode == "ntlm-sign")
    return run_ntlm_sign(o);
  if (!run_actors && !run_sip && !run_web) {
    std::cerr << "pchat-bench: unknown --mode " << o.mode << "\n";
    return usage();
  }
  if (run_web && !o.server.empty()) {
    std::cerr << "pchat-bench: --mode " << o.mode << " starts its own pchatd (no --server)\n";
    return 2;
  }
  if (o.posters == 0)
    o.posters = 1;
  {
    // Stalled members never post: they come from the members who do not.
    std::uint64_t total = static_cast<std::uint64_t>(o.rooms) * o.members;
    std::uint64_t readers = total - std::min<std::uint64_t>(o.posters, total);
    if (o.stalled > readers) {
      std::cerr << "pchat-bench: --stalled " << o.stalled << ": only " << readers << " of the " << total
                << " members do not post\n";
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<mode_report> reports;
  if (run_actors) {
    actor_load_config c;
    c.rooms = o.rooms;
    c.members = o.members;
    c.posters = o.posters;
    c.rate = o.rate;
    c.duration = o.duration;
    c.size = o.size;
    c.threads = o.threads;
    c.sync = o.sync;
    auto r = run_actor_load(c);
    mode_report m;
    m.mode = "actors";
    m.ok = r.ok && r.lost == 0 && r.duplicates == 0;
    m.error = r.error;
    m.sessions = r.sessions;
    m.posts = r.posts;
    m.expected = r.expected;
    m.delivered = r.delivered;
    m.lost = r.lost;
    m.duplicates = r.duplicates;
    m.posting_seconds = r.posting_seconds;
    m.delivery_seconds = r.delivery_seconds;
    m.samples = std::move(r.latency_us);
    m.latency = summarize(m.samples);
    print(m, o);
    reports.push_back(std::move(m));
  }
  if (o.server.empty()) {
    if (!o.sync)
      o.server_args.push_back("--pchat.sync-writes=false");
    o.server_args.push_back("--scheduler.max-threads=" + std::to_string(o.threads));
    if (o.sip_threads > 0) // only when asked: a pchatd without the option would refuse to start
      o.server_args.push_back("--sip.threads=" + std::to_string(o.sip_threads));
  }
  if (run_sip) {
    sip_load_config c;
    server_process srv;
    mode_report m;
    m.mode = "sip";
    std::string error;
    if (o.server.empty()) {
      if (!start_server(o, srv, error)) {
        std::cerr << "pchat-bench: " << error << "\n";
        return 1;
      }
      c.port = srv.port;
      c.rooms = srv.rooms;
      o.pid = srv.pid;
      m.server_idle = sample(o.pid);
    } else {
      auto colon = o.server.rfind(':');
      c.host = o.server.substr(0, colon);
      c.port = static_cast<std::uint16_t>(std::stoul(o.server.substr(colon + 1))); // checked when parsed
      c.rooms = o.room_uris;
      if (c.rooms.empty()) {
        std::cerr << "pchat-bench: --server needs at least one --room ma-chan://...\n";
        return 2;
      }
      if (o.sip_threads > 0)
        std::cerr << "pchat-bench: --sip-threads " << o.sip_threads
                  << ": the server is not started by the bench, so it is only recorded in the results; start it "
                     "with --sip.threads="
                  << o.sip_threads << " yourself\n";
    }
    c.members = o.members;
    c.posters = o.posters;
    c.rate = o.rate;
    c.duration = o.duration;
    c.size = o.size;
    c.signin_parallel = std::max<std::uint32_t>(1, o.signin_parallel);
    c.stalled = o.stalled;
    c.stall_seconds = o.stall_seconds;
    rss_sampler rss;
    c.on_posting_start = [&m, &o, &rss] {
      m.server_before = sample(o.pid); // sign-in CPU is not counted
      m.server_signed_in = m.server_before;
      rss.start(o.pid);
    };
    c.on_stall_end = [&m, &o] { m.server_at_resume = sample(o.pid); };
    auto r = run_sip_load(c);
    m.server_after = sample(o.pid);
    rss.stop();
    m.rss_peak_sampled_mib = std::max(rss.peak_mib, m.server_after.rss_mib);
    m.rss_per_second = std::move(rss.per_second);
    m.others_disconnected = r.others_disconnected;
    m.stalled = std::move(r.stalled);
    m.stalled_latency = summarize(m.stalled.latency_us);
    m.stalled.latency_us.clear();
    // A stalled member's losses are reported, not failed on; a member who kept reading must lose nothing.
    m.ok = r.ok && r.lost == 0 && r.duplicates == 0 && r.signin_failures == 0 && r.others_disconnected == 0;
    m.error = r.error;
    if (auto gone = server_gone(srv); !gone.empty()) {
      // Every connection lost at once is then no mystery; its log goes with the temporary directory.
      m.ok = false;
      m.error = "pchatd " + gone + " during the run" + (m.error.empty() ? "" : "; " + m.error);
      std::cerr << "pchat-bench: pchatd " << gone << "; the end of its log:" << log_tail(srv.dir + "/pchatd.log", 20)
                << "\n";
    }
    if (m.error.empty() && r.signin_failures)
      m.error = std::to_string(r.signin_failures) + " sign-in failures";
    if (m.error.empty() && r.others_disconnected)
      m.error = std::to_string(r.others_disconnected) + " members who kept reading lost their connection";
    m.sessions = r.sessions;
    m.signin_seconds = r.signin_seconds;
    m.posts = r.posts;
    m.expected = r.expected;
    m.delivered = r.delivered;
    m.lost = r.lost;
    m.duplicates = r.duplicates;
    m.refused = r.posts_refused;
    m.posting_seconds = r.posting_seconds;
    m.delivery_seconds = r.delivery_seconds;
    m.client_cpu_seconds = r.client_cpu_seconds;
    m.samples = std::move(r.latency_us);
    m.latency = summarize(m.samples);
    m.join = summarize(r.join_us);
    print(m, o);
    reports.push_back(std::move(m));
  }
  if (run_web && !run_with_web(o, reports))
    return 1;
  if (reports.size() == 2 && reports[0].latency.p50_ms > 0 && reports[0].latency.p99_ms > 0)
    std::printf("== %s/%s latency ratio: p50 %.2fx, p99 %.2fx\n", reports[1].mode.c_str(), reports[0].mode.c_str(),
                reports[1].latency.p50_ms / reports[0].latency.p50_ms,
                reports[1].latency.p99_ms / reports[0].latency.p99_ms);
  if (!o.json.empty()) {
    nlohmann::json results = nlohmann::json::array();
    for (const auto& r : reports)
      results.push_back(json_mode(r));
    write_json(o.json, {{"label", o.label},
                        {"rooms", o.rooms},
                        {"members", o.members},
                        {"posters", o.posters},
                        {"rate", o.rate},
                        {"duration", o.duration},
                        {"size", o.size},
                        {"threads", o.threads},
                        {"sync", o.sync},
                        {"stalled", o.stalled},
                        // null: until the others were served; pchatd's default
                        {"stall_seconds", o.stall_seconds >= 0 ? nlohmann::json(o.stall_seconds) : nlohmann::json()},
                        {"sip_threads", o.sip_threads > 0 ? nlohmann::json(o.sip_threads) : nlohmann::json()},
                        {"results", std::move(results)}});
  }
  if (!o.plot.empty())
    plot(reports, o);
  for (const auto& r : reports)
    if (!r.ok)
      return 1;
  return 0;
}
