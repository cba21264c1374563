#pragma once
// Deterministic actor-level simulation of a pchat server (docs/architecture.md "Conventions" §3, scaled up).
//
// run_simulation() builds the REAL actors — store writer (on the test scheduler), directory, rooms, one session
// per connected dialog — on CAF 0.17's test_coordinator, over a real RocksDB, with a recording transport in
// place of the SIP ingress. It then plays a seeded random schedule of sign-in, join, part, post, history
// (bccontext), disconnect and server restart (every actor exited, the store closed and reopened). Every action
// is an XCCOS document sent to a session with info_atom, exactly what the SIP ingress would hand it. After each
// action the scheduler runs until idle and everything the transport was asked to send is decoded and compared
// with a model of what a correct server does:
//
//   (a) every dialog joined to a room when a post to it was accepted receives that grpchat exactly once, with
//       the room's next sequence number (msgid), so each dialog sees a room's posts in post order;
//   (b) a dialog never receives a grpchat of a room after parting it, before joining it, or after disconnecting
//       (or losing its session in a restart);
//   (c) each room's history in storage equals the model's accepted posts (seq, author, text), across restarts;
//       bccontext answers the newest N of them;
//   (d) participants: rpl:join lists exactly the distinct users with a joined, connected dialog (or only the
//       joiner above participant_update_limit), ntc:join / ntc:part reach exactly the others when a user's
//       first dialog joins / last dialog leaves, and the room's online count (room stats and the directory's
//       ucnt) equals the model's;
//   (e) every command gets exactly the reply the model predicts (200, or 403 for closed rooms, auditoriums and
//       posts to rooms not joined) and nothing else is sent.
//
// Checks are incremental: each step checks the documents it caused (O(members of the rooms it touched)), the
// stats of the rooms it touched and, for a post, the newest stored record. A full check (online counts of every
// room from the rooms and the directory, last seq of every room) runs every `check_every` steps, after every
// restart and at the end; the complete history of every room is compared after every restart and at the end.
//
// Determinism: one std::mt19937_64 seeded with `seed` is the only source of randomness in the schedule; rooms
// and users are picked by index (storage GUIDs are random and never influence a decision). The same config
// therefore replays the same actions and yields the same counters. The first violated invariant stops the run;
// `failure` names it, the step, the seed and the action that preceded it, plus the pchat-sim command line that
// replays the run up to that step.
//
// Failure modes of the harness itself (reported in `failure`, prefixed "setup:"): the data directory cannot be
// created, is not empty, or the store cannot be opened/reopened (e.g. an actor still holds it after a restart).
// No exceptions escape.
#include <cstdint>
#include <string>

namespace pchat::sim {

// The server's default participant_update_limit (server_options), without pulling CAF into this header.
std::uint32_t server_participant_update_limit();

struct sim_config {
  std::uint32_t users = 40;
  std::uint32_t rooms = 6;
  std::uint64_t steps = 3000;
  std::uint64_t seed = 1;
  // Relative weights of the actions (normalised; they need not sum to 1). An action that needs a connected
  // dialog when none exists becomes a sign-in.
  double p_signin = 0.16;
  double p_join = 0.24;
  double p_part = 0.10;
  double p_post = 0.34;
  double p_history = 0.03;
  double p_disconnect = 0.08;
  double p_restart = 0.002;
  // Full check every this many steps (1 = every step). Per-step incremental checks always run.
  std::uint32_t check_every = 1;
  // A user may hold this many dialogs at once (sign-in from several devices).
  std::uint32_t max_dialogs_per_user = 2;
  // server_options::participant_update_limit (above it rooms stop sending ntc:join/ntc:part and rpl:join lists
  // only the joiner); small values exercise large-room behaviour with few users.
  std::uint32_t participant_update_limit = server_participant_update_limit();
  // RocksDB directory; empty = a fresh temporary directory, removed at the end. A given one must not exist or
  // be empty, and is kept.
  std::string data_dir;
  // Synced history writes (the server's default). Off by default: durability is not what is simulated, and a
  // clean close keeps unsynced writes, so history equality across restarts still holds.
  bool sync_writes = false;
  // Print every action to stderr.
  bool verbose = false;
  // Test hook: when > 0, the transport silently drops the Nth grpchat delivery (1-based), which must make
  // invariant (a) fail. Proves the checks can fail.
  std::uint64_t inject_drop_delivery = 0;
};

struct sim_result {
  bool ok = false;
  std::uint64_t steps_run = 0; // steps completed, including a failing one
  std::string failure;         // empty when ok
  // Counters (deterministic for a given config).
  std::uint64_t signins = 0;
  std::uint64_t joins = 0; // accepted
  std::uint64_t joins_refused = 0;
  std::uint64_t parts = 0;
  std::uint64_t posts_accepted = 0;
  std::uint64_t posts_refused = 0;
  std::uint64_t histories = 0;
  std::uint64_t deliveries = 0; // grpchat documents received by dialogs
  std::uint64_t notices = 0;    // ntc:join / ntc:part received
  std::uint64_t disconnects = 0;
  std::uint64_t restarts = 0;
  std::uint64_t full_checks = 0;
  double seconds = 0; // wall clock (not deterministic)
};

sim_result run_simulation(const sim_config& cfg);

// The pchat-sim command line that replays `cfg` (only options pchat-sim has; `steps` as given).
std::string replay_command(const sim_config& cfg);

// "signins=.. joins=.. ..." (counters only, no timing): equal strings <=> equal counters.
std::string counters_line(const sim_result& r);

} // namespace pchat::sim
