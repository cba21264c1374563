// pchat-bench: the fan-out latency benchmark (a tool, never a timed test).
//
//   pchat-bench [--mode sip|actors|both|join-under-search] [--posts N] [--join-rate J]
//   pchat-bench [--mode sip|actors|both] [--rooms K] [--members M] [--posters P] [--rate R] [--duration D]
//               [--size BYTES] [--threads T] [--no-sync] [--json FILE] [--plot FILE.png] [--label TEXT]
//               [--server HOST:PORT --pid PID --room URI...]
//
// sip mode: K*M real SIP clients over loopback TCP (one connection each, full sign-in, M per room), P posters
// posting R posts/s in all for D s; every (post, recipient) pair is timed from the poster's send to the
// recipient's read of the fan-out INFO. By default the bench starts its own pchatd (fresh data directory,
// rooms made with pchatctl, the same binaries as the build) and reports its RSS and CPU; --server uses a
// running one (rooms given with --room, --pid for RSS/CPU).
// actors mode: the same actors in this process with a null transport: what fan-out costs without SIP.
// join-under-search mode: rooms x --posts posts in a fresh store, then join probes (--join-rate per second, a new
// session each) first alone and then while histsrch scans every post (tools/bench/join_search.hpp): does a long
// search hold up joins? Prints the join latency of both phases and the searches' durations.
// Prints p50/p90/p99/p99.9/max, deliveries/s, lost and duplicated deliveries (both must be 0), writes --json and
// a latency plot (--plot, needs gnuplot: apt-get install gnuplot-nox).
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/bench/actor_load.hpp"
#include "tools/bench/join_search.hpp"
#include "tools/bench/latency.hpp"
#include "tools/bench/sip_load.hpp"
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
};

int usage() {
  std::cerr << "usage: pchat-bench --mode join-under-search [--rooms K] [--posts N] [--join-rate J] [--duration D]\n"
               "                   [--threads T] [--json FILE]\n"
               "       pchat-bench [--mode sip|actors|both] [--rooms K] [--members M] [--posters P] [--rate R]\n"
               "                   [--duration SECONDS] [--size BYTES] [--threads T] [--no-sync] [--json FILE]\n"
               "                   [--plot FILE.png] [--label TEXT] [--signin-parallel N] [--server-arg ARG]...\n"
               "                   [--server HOST:PORT --pid PID --room URI...]\n";
  return 2;
}

// --- the pchatd we start ----------------------------------------------------------------------------------------

struct server_process {
  pid_t pid = -1;
  std::string dir;
  std::uint16_t port = 0;
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

bool start_server(const options& o, server_process& srv, std::string& error) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pchat-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    error = "cannot create a temporary directory";
    return false;
  }
  srv.dir = tmpl;
  std::string data = srv.dir + "/data";
  int status = 0;
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
                                   "--web.port=0"};
  args.insert(args.end(), o.server_args.begin(), o.server_args.end());
  auto r = pchat::client::launch_pchatd(o.pchatd, args, srv.dir, srv.dir + "/pchatd.log", std::chrono::seconds(20));
  if (!r.error.empty()) {
    error = r.error;
    return false;
  }
  srv.pid = r.pid;
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
  proc_sample server_before, server_after;
  double client_cpu_seconds = 0;
  std::vector<std::uint32_t> samples; // sorted
};

void print(const mode_report& r, const options& o) {
  std::printf("== %s mode: %u rooms x %u members, %u posters, %.1f posts/s for %.0f s, %u-byte posts\n", r.mode.c_str(),
              o.rooms, o.members, o.posters, o.rate, o.duration, o.size);
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
  std::printf("   fan-out latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f, %zu samples)\n",
              r.latency.p50_ms, r.latency.p90_ms, r.latency.p99_ms, r.latency.p999_ms, r.latency.max_ms,
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
  if (r.server_after.rss_mib > 0) {
    double cpu = r.server_after.cpu_seconds - r.server_before.cpu_seconds;
    std::printf("   pchatd: RSS %.1f MiB (peak %.1f), CPU %.2f s over %.1f s posting (%.0f%% of one core); bench "
                "clients CPU %.2f s\n",
                r.server_after.rss_mib, r.server_after.peak_rss_mib, cpu, r.posting_seconds,
                r.posting_seconds > 0 ? 100.0 * cpu / r.posting_seconds : 0.0, r.client_cpu_seconds);
  }
}

void json_mode(std::ostream& out, const mode_report& r) {
  double span = std::max(r.posting_seconds, r.delivery_seconds);
  out << "{\"mode\":\"" << r.mode << "\",\"ok\":" << (r.ok ? "true" : "false") << ",\"sessions\":" << r.sessions
      << ",\"posts\":" << r.posts << ",\"expected\":" << r.expected << ",\"delivered\":" << r.delivered
      << ",\"lost\":" << r.lost << ",\"duplicates\":" << r.duplicates << ",\"refused\":" << r.refused
      << ",\"deliveries_per_s\":" << (span > 0 ? static_cast<double>(r.delivered) / span : 0)
      << ",\"latency_ms\":{\"p50\":" << r.latency.p50_ms << ",\"p90\":" << r.latency.p90_ms
      << ",\"p99\":" << r.latency.p99_ms << ",\"p999\":" << r.latency.p999_ms << ",\"max\":" << r.latency.max_ms
      << ",\"mean\":" << r.latency.mean_ms << ",\"samples\":" << r.latency.count << "}";
  if (r.join.count > 0)
    out << ",\"join_history_ms\":{\"p50\":" << r.join.p50_ms << ",\"p99\":" << r.join.p99_ms
        << ",\"max\":" << r.join.max_ms << "}";
  if (r.server_after.rss_mib > 0)
    out << ",\"server\":{\"rss_mib\":" << r.server_after.rss_mib << ",\"peak_rss_mib\":" << r.server_after.peak_rss_mib
        << ",\"cpu_seconds\":" << (r.server_after.cpu_seconds - r.server_before.cpu_seconds) << "}"
        << ",\"client_cpu_seconds\":" << r.client_cpu_seconds << ",\"signin_seconds\":" << r.signin_seconds;
  if (!r.error.empty())
    out << ",\"error\":\"" << r.error << "\"";
  out << "}";
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
    std::ofstream out(o.json);
    auto obj = [](const summary& s) {
      std::ostringstream x;
      x << "{\"count\":" << s.count << ",\"p50\":" << s.p50_ms << ",\"p99\":" << s.p99_ms << ",\"max\":" << s.max_ms
        << "}";
      return x.str();
    };
    out << "{\"mode\":\"join-under-search\",\"label\":\"" << o.label << "\",\"rooms\":" << c.rooms
        << ",\"posts\":" << r.posts << ",\"threads\":" << c.threads << ",\"join_rate\":" << c.join_rate
        << ",\"ok\":" << (r.ok ? "true" : "false") << ",\"histsrch_ms\":" << obj(searches)
        << ",\"join_ms_alone\":" << obj(alone) << ",\"join_ms_during_histsrch\":" << obj(during) << "}\n";
    std::printf("   json: %s\n", o.json.c_str());
  }
  return r.ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "pchat-bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--mode")
      o.mode = next();
    else if (a == "--rooms") {
      o.rooms = static_cast<std::uint32_t>(std::stoul(next()));
      o.rooms_given = true;
    } else if (a == "--posts")
      o.posts = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--join-rate")
      o.join_rate = std::stod(next());
    else if (a == "--members")
      o.members = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--posters")
      o.posters = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--rate")
      o.rate = std::stod(next());
    else if (a == "--duration")
      o.duration = std::stod(next());
    else if (a == "--size")
      o.size = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--threads")
      o.threads = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--signin-parallel")
      o.signin_parallel = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--no-sync")
      o.sync = false;
    else if (a == "--json")
      o.json = next();
    else if (a == "--plot")
      o.plot = next();
    else if (a == "--label")
      o.label = next();
    else if (a == "--server")
      o.server = next();
    else if (a == "--pid")
      o.pid = std::stoi(next());
    else if (a == "--room")
      o.room_uris.push_back(next());
    else if (a == "--server-arg")
      o.server_args.push_back(next());
    else if (a == "--pchatd")
      o.pchatd = next();
    else if (a == "--pchatctl")
      o.pchatctl = next();
    else
      return usage();
  }
  if (o.mode == "join-under-search")
    return run_join_under_search(o);
  if ((o.mode != "sip" && o.mode != "actors" && o.mode != "both") || o.rate <= 0 || o.duration <= 0)
    return usage();
  if (o.posters == 0)
    o.posters = 1;
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<mode_report> reports;
  if (o.mode == "actors" || o.mode == "both") {
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
  if (o.mode == "sip" || o.mode == "both") {
    sip_load_config c;
    server_process srv;
    mode_report m;
    m.mode = "sip";
    std::string error;
    if (o.server.empty()) {
      if (!o.sync)
        o.server_args.push_back("--pchat.sync-writes=false");
      o.server_args.push_back("--scheduler.max-threads=" + std::to_string(o.threads));
      if (!start_server(o, srv, error)) {
        std::cerr << "pchat-bench: " << error << "\n";
        return 1;
      }
      c.port = srv.port;
      c.rooms = srv.rooms;
      o.pid = srv.pid;
    } else {
      auto colon = o.server.rfind(':');
      c.host = o.server.substr(0, colon);
      c.port = static_cast<std::uint16_t>(std::stoi(o.server.substr(colon + 1)));
      c.rooms = o.room_uris;
      if (c.rooms.empty()) {
        std::cerr << "pchat-bench: --server needs at least one --room ma-chan://...\n";
        return 2;
      }
    }
    c.members = o.members;
    c.posters = o.posters;
    c.rate = o.rate;
    c.duration = o.duration;
    c.size = o.size;
    c.signin_parallel = std::max<std::uint32_t>(1, o.signin_parallel);
    c.on_posting_start = [&m, &o] { m.server_before = sample(o.pid); }; // sign-in CPU is not counted
    auto r = run_sip_load(c);
    m.server_after = sample(o.pid);
    m.ok = r.ok && r.lost == 0 && r.duplicates == 0 && r.signin_failures == 0;
    m.error = r.error.empty() && r.signin_failures ? std::to_string(r.signin_failures) + " sign-in failures" : r.error;
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
  if (reports.size() == 2 && reports[0].latency.p50_ms > 0)
    std::printf("== sip/actors latency ratio: p50 %.2fx, p99 %.2fx\n", reports[1].latency.p50_ms / reports[0].latency.p50_ms,
                reports[1].latency.p99_ms / reports[0].latency.p99_ms);
  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << "{\"label\":\"" << o.label << "\",\"rooms\":" << o.rooms << ",\"members\":" << o.members
        << ",\"posters\":" << o.posters << ",\"rate\":" << o.rate << ",\"duration\":" << o.duration
        << ",\"size\":" << o.size << ",\"threads\":" << o.threads << ",\"sync\":" << (o.sync ? "true" : "false")
        << ",\"results\":[";
    for (std::size_t i = 0; i < reports.size(); ++i) {
      if (i)
        out << ",";
      json_mode(out, reports[i]);
    }
    out << "]}\n";
    std::printf("   json: %s\n", o.json.c_str());
  }
  if (!o.plot.empty())
    plot(reports, o);
  for (const auto& r : reports)
    if (!r.ok)
      return 1;
  return 0;
}
