// pchat-sim: runs the deterministic actor-level simulation (tools/sim/simulation.hpp) from the command line.
//
//   pchat-sim [--users N] [--rooms N] [--steps N] [--seed N] [--restart-rate P] [--check-every N] [--data DIR]
//             [--verbose] [--p-signin W] [--p-join W] [--p-part W] [--p-post W] [--p-history W]
//             [--p-disconnect W] [--max-dialogs N] [--participant-limit N] [--sync] [--inject-drop N]
//
// Exit codes: 0 every invariant held, 1 an invariant was violated (the failure names the step, the seed and the
// command that replays it), 2 usage error.
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tools/sim/simulation.hpp"

namespace {

int usage(const char* why) {
  std::cerr << "pchat-sim: " << why << "\n"
            << "usage: pchat-sim [--users N] [--rooms N] [--steps N] [--seed N] [--restart-rate P]\n"
            << "                 [--check-every N] [--data DIR] [--verbose] [--p-signin W] [--p-join W]\n"
            << "                 [--p-part W] [--p-post W] [--p-history W] [--p-disconnect W]\n"
            << "                 [--max-dialogs N] [--participant-limit N] [--sync]\n"
            << "                 [--inject-drop N]\n"
            << "defaults: --users 1000 --rooms 100 --steps 10000 --seed 1 --check-every 1000\n";
  return 2;
}

bool to_u64(const char* s, std::uint64_t& out) {
  if (!s || !*s || *s == '-')
    return false;
  errno = 0;
  char* end = nullptr;
  auto v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  out = v;
  return true;
}

bool to_double(const char* s, double& out) {
  if (!s || !*s)
    return false;
  errno = 0;
  char* end = nullptr;
  auto v = std::strtod(s, &end);
  if (errno != 0 || *end != '\0' || v < 0)
    return false;
  out = v;
  return true;
}

} // namespace

int main(int argc, char** argv) {
  pchat::sim::sim_config cfg;
  cfg.users = 1000;
  cfg.rooms = 100;
  cfg.steps = 10000;
  cfg.check_every = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    std::uint64_t n = 0;
    double p = 0;
    auto u32 = [&](std::uint32_t& out) {
      if (!to_u64(v, n) || n > UINT32_MAX)
        return false;
      out = static_cast<std::uint32_t>(n);
      ++i;
      return true;
    };
    auto u64 = [&](std::uint64_t& out) {
      if (!to_u64(v, n))
        return false;
      out = n;
      ++i;
      return true;
    };
    auto weight = [&](double& out) {
      if (!to_double(v, p))
        return false;
      out = p;
      ++i;
      return true;
    };
    bool ok = true;
    if (a == "--users")
      ok = u32(cfg.users) && cfg.users > 0;
    else if (a == "--rooms")
      ok = u32(cfg.rooms) && cfg.rooms > 0;
    else if (a == "--steps")
      ok = u64(cfg.steps);
    else if (a == "--seed")
      ok = u64(cfg.seed);
    else if (a == "--check-every")
      ok = u32(cfg.check_every) && cfg.check_every > 0;
    else if (a == "--max-dialogs")
      ok = u32(cfg.max_dialogs_per_user) && cfg.max_dialogs_per_user > 0;
    else if (a == "--participant-limit")
      ok = u32(cfg.participant_update_limit);
    else if (a == "--inject-drop")
      ok = u64(cfg.inject_drop_delivery);
    else if (a == "--restart-rate")
      ok = weight(cfg.p_restart);
    else if (a == "--p-signin")
      ok = weight(cfg.p_signin);
    else if (a == "--p-join")
      ok = weight(cfg.p_join);
    else if (a == "--p-part")
      ok = weight(cfg.p_part);
    else if (a == "--p-post")
      ok = weight(cfg.p_post);
    else if (a == "--p-history")
      ok = weight(cfg.p_history);
    else if (a == "--p-disconnect")
      ok = weight(cfg.p_disconnect);
    else if (a == "--data") {
      ok = v != nullptr && *v != '\0';
      if (ok) {
        cfg.data_dir = v;
        ++i;
      }
    } else if (a == "--verbose")
      cfg.verbose = true;
    else if (a == "--sync")
      cfg.sync_writes = true;
    else if (a == "--help" || a == "-h") {
      usage("deterministic simulation of pchat's actors");
      return 0;
    } else
      return usage(("unknown option " + a).c_str());
    if (!ok)
      return usage(("bad or missing value for " + a).c_str());
  }
  if (cfg.p_signin + cfg.p_join + cfg.p_part + cfg.p_post + cfg.p_history + cfg.p_disconnect + cfg.p_restart <= 0)
    return usage("all action weights are zero");

  auto r = pchat::sim::run_simulation(cfg);
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "pchat-sim %s: %llu of %llu steps, seed=%llu, %u users, %u rooms, %.1f s (%.0f steps/s), peak RSS %.1f MB. "
      "%s.\n",
      r.ok ? "ok" : "FAILED", static_cast<unsigned long long>(r.steps_run), static_cast<unsigned long long>(cfg.steps),
      static_cast<unsigned long long>(cfg.seed), cfg.users, cfg.rooms, r.seconds,
      r.seconds > 0 ? static_cast<double>(r.steps_run) / r.seconds : 0.0, static_cast<double>(ru.ru_maxrss) / 1024.0,
      pchat::sim::counters_line(r).c_str());
  if (!r.ok) {
    std::printf("%s\n", r.failure.c_str());
    return 1;
  }
  return 0;
}
