// The deterministic simulation harness (tools/sim) in a small configuration: the real session, room, directory
// and store-writer actors under a seeded random schedule with restarts, every invariant checked after every
// step. A failure prints the seed and the pchat-sim command that replays it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "tools/sim/simulation.hpp"

using namespace pchat::sim;

namespace {

sim_config small(std::uint64_t seed, std::uint64_t steps = 3000) {
  sim_config c;
  c.users = 40;
  c.rooms = 6; // rooms 4 and 5 are closed and auditorium: refused joins and posts
  c.steps = steps;
  c.seed = seed;
  c.p_restart = 0.002;
  c.check_every = 1;
  return c;
}

void require_ok(const sim_result& r) {
  INFO(r.failure);
  INFO(counters_line(r));
  REQUIRE(r.ok);
  REQUIRE(r.failure.empty());
}

} // namespace

TEST_CASE("simulation: small configurations hold every invariant after every step", "[sim]") {
  for (std::uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    INFO("seed=" << seed);
    auto r = run_simulation(small(seed));
    require_ok(r);
    CHECK(r.steps_run == 3000);
    CHECK(r.signins > 0);
    CHECK(r.joins > 0);
    CHECK(r.joins_refused > 0);
    CHECK(r.parts > 0);
    CHECK(r.posts_accepted > 0);
    CHECK(r.posts_refused > 0);
    CHECK(r.histories > 0);
    CHECK(r.deliveries > r.posts_accepted); // fan-out reached more than the posters
    CHECK(r.notices > 0);
    CHECK(r.disconnects > 0);
    CHECK(r.restarts > 0);
    CHECK(r.full_checks >= 3000);
  }
}

TEST_CASE("simulation: rooms above the participant update limit", "[sim]") {
  // With a limit of 3, most rooms cross it: rpl:join lists only the joiner and ntc:join/ntc:part stop.
  auto c = small(11, 2000);
  c.rooms = 3;
  c.participant_update_limit = 3;
  auto r = run_simulation(c);
  require_ok(r);
  CHECK(r.posts_accepted > 0);
  CHECK(r.restarts > 0);
}

TEST_CASE("simulation: the same seed replays the same run", "[sim]") {
  auto a = run_simulation(small(7, 1500));
  auto b = run_simulation(small(7, 1500));
  require_ok(a);
  require_ok(b);
  CHECK(counters_line(a) == counters_line(b));
  auto c = run_simulation(small(8, 1500));
  require_ok(c);
  CHECK(counters_line(a) != counters_line(c));
}

TEST_CASE("simulation: a dropped delivery violates invariant (a) and names the seed", "[sim]") {
  auto c = small(3);
  c.inject_drop_delivery = 5;
  auto r = run_simulation(c);
  INFO(r.failure);
  REQUIRE_FALSE(r.ok);
  CHECK(r.failure.find("invariant (a)") != std::string::npos);
  CHECK(r.failure.find("did not receive grpchat") != std::string::npos);
  CHECK(r.failure.find("seed=3") != std::string::npos);
  CHECK(r.failure.find("--inject-drop 5") != std::string::npos);
  REQUIRE(r.steps_run < c.steps);

  // Replaying up to the failing step fails the same way.
  auto again = c;
  again.steps = r.steps_run;
  auto r2 = run_simulation(again);
  CHECK_FALSE(r2.ok);
  CHECK(r2.steps_run == r.steps_run);
  CHECK(r2.failure == r.failure);
}

TEST_CASE("simulation: refuses a data directory that is not empty", "[sim]") {
  auto dir = std::filesystem::temp_directory_path() / ("pchat-sim-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "something");
  auto c = small(1, 10);
  c.data_dir = dir.string();
  auto r = run_simulation(c);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  CHECK_FALSE(r.ok);
  CHECK(r.failure.find("setup:") == 0);
  CHECK(r.failure.find("not empty") != std::string::npos);
}
