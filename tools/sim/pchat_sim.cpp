// pchat-sim: runs the deterministic actor-level simulation (tools/sim/simulation.hpp) from the command line.
//
//   pchat-sim [--users N] [--rooms N] [--steps N] [--seed N] [--restart-rate P] [--check-every N] [--data DIR]
//             [--verbose] [--p-signin W] [--p-join W] [--p-part W] [--p-post W] [--p-history W]
//             [--p-disconnect W] [--max-dialogs N] [--participant-limit N] [--sync] [--inject-drop N]
//
// Exit codes: 0 every invariant held, 1 an invariant was violated (the failure names the step, the seed and the
// command that replays it), 2 usage error.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "base/version.hpp"
#include "tools/sim/simulation.hpp"

int main(int argc, char** argv) {
  pchat::sim::sim_config cfg;
  cfg.users = 1000;
  cfg.rooms = 100;
  cfg.steps = 10000;
  cfg.check_every = 1000;
  // CLI11 (docs/operations.md "Command-line programs"): typed options with ranges, help on stdout.
  CLI::App app{"pchat-sim: pchat's real actors on CAF's deterministic scheduler under a seeded random schedule, "
               "checked against a model after every step (README \"Simulation\")",
               "pchat-sim"};
  app.set_version_flag("--version", std::string{"pchat-sim "} + pchat::version());
  auto positive = CLI::Range(1u, UINT32_MAX);
  auto weight = CLI::Range(0.0, 1e9);
  app.add_option("--users", cfg.users, "simulated users")->check(positive)->capture_default_str();
  app.add_option("--rooms", cfg.rooms, "rooms")->check(positive)->capture_default_str();
  app.add_option("--steps", cfg.steps, "actions to run")->capture_default_str();
  app.add_option("--seed", cfg.seed, "the schedule's seed: the same seed replays the same run")->capture_default_str();
  app.add_option("--check-every", cfg.check_every, "steps between full checks of every room")
    ->check(positive)
    ->capture_default_str();
  app.add_option("--max-dialogs", cfg.max_dialogs_per_user, "dialogs per user")->check(positive)->capture_default_str();
  app.add_option("--participant-limit", cfg.participant_update_limit, "the server's participant update limit")
    ->capture_default_str();
  app.add_option("--inject-drop", cfg.inject_drop_delivery, "test hook: the transport loses this delivery (1-based)");
  app.add_option("--restart-rate", cfg.p_restart, "chance of a server restart per step")->check(weight)
    ->capture_default_str();
  app.add_option("--p-signin", cfg.p_signin, "weight of sign-ins")->check(weight)->capture_default_str();
  app.add_option("--p-join", cfg.p_join, "weight of joins")->check(weight)->capture_default_str();
  app.add_option("--p-part", cfg.p_part, "weight of parts")->check(weight)->capture_default_str();
  app.add_option("--p-post", cfg.p_post, "weight of posts")->check(weight)->capture_default_str();
  app.add_option("--p-history", cfg.p_history, "weight of history reads")->check(weight)->capture_default_str();
  app.add_option("--p-disconnect", cfg.p_disconnect, "weight of disconnects")->check(weight)->capture_default_str();
  app.add_option("--data", cfg.data_dir, "keep the database here (default: a temporary directory)");
  app.add_flag("--sync", cfg.sync_writes, "synced history writes");
  app.add_flag("--verbose", cfg.verbose, "print every action");
  app.footer("Exit status: 0 every invariant held, 1 an invariant was violated (the failure names the step, the "
             "seed and the command that replays it), 2 usage.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e); // stdout, 0
  } catch (const CLI::ParseError& e) {
    std::cerr << "pchat-sim: " << e.what() << " (pchat-sim --help)\n";
    return 2;
  }
  if (cfg.p_signin + cfg.p_join + cfg.p_part + cfg.p_post + cfg.p_history + cfg.p_disconnect + cfg.p_restart <= 0) {
    std::cerr << "pchat-sim: all action weights are zero\n";
    return 2;
  }

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
