#pragma once
// The retention actor (docs/operations.md "Retention"): applies every room's retention rule — its own, else its
// category's (storage::retention) — in the background.
//
// A pass reads the catalog from the store, then asks the directory to clear one room at a time, each request
// waiting for the last: a live room's actor deletes (it owns its cache of recent posts), a room without an actor
// is cleared by the directory without spawning one. So a pass never floods a mailbox: rooms and sessions see at
// most one short clear between their own messages, and a room with nothing new to delete costs a few seeks.
// Deletions are range deletes (storage::store::clear_history), archived as CLEAR when compliance is on.
//
// Passes never overlap: a timer that fires during a pass is dropped, and a `sweep` request during one is
// answered when it ends. The first timed pass runs `first_delay` after spawn, then every `interval`.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

struct retention_state {
  static inline const char* name = "retention";

  struct job {
    std::uint64_t room_id = 0;
    std::string room;
    std::int64_t before_ticks = 0; // posts made before this go (0: no age limit)
    std::uint64_t keep_posts = 0;  // all but the newest this many go (0: no count limit)
    std::string why;
  };

  std::shared_ptr<storage::store> store;
  directory_actor directory;
  std::chrono::seconds interval{0}; // 0: no timer, passes only on request
  bool running = false;
  std::deque<job> jobs;
  std::uint64_t deleted = 0; // sequence numbers deleted by the pass running
  std::size_t rooms_cleared = 0;
  std::vector<caf::typed_response_promise<std::uint64_t>> waiting;
};

retention_actor::behavior_type retention(retention_actor::stateful_pointer<retention_state> self,
                                         std::shared_ptr<storage::store> store, directory_actor directory,
                                         std::chrono::seconds interval, std::chrono::seconds first_delay);

// "30 days, newest 1000 posts": a rule in words (logs, compliance records).
std::string describe(const storage::retention& keep);

} // namespace pchat
