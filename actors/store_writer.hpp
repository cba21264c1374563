#pragma once
// The store writer: group commit for history (docs/architecture.md "The path of a post", step 3).
//
// Every `append` is queued; the first append of a batch sends the writer a `flush` message, which lands behind
// every append already in its mailbox. So one flush writes everything that queued up while the previous synced
// write was running — posts from many rooms in one synced WriteBatch — and only then answers each append.
// No timer, no added latency when idle: a lone post is written at once.
//
// In pchatd the writer runs detached (its own thread), so an fsync never blocks a scheduler thread; tests spawn
// it on the test scheduler for determinism.
#include <memory>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

struct store_writer_state {
  static inline const char* name = "store_writer";

  std::shared_ptr<storage::store> store;
  storage::write_set batch;
  std::vector<caf::typed_response_promise<std::uint64_t>> waiting;
  bool flush_queued = false;
  bool sync = true;
  std::size_t max_batch = 4096;
  std::uint64_t batches = 0;
  std::uint64_t records = 0;
};

writer_actor::behavior_type store_writer(writer_actor::stateful_pointer<store_writer_state> self,
                                         std::shared_ptr<storage::store> store, bool sync);

// Spawns the writer, detached (own thread) unless `detached` is false (deterministic tests).
writer_actor spawn_store_writer(caf::actor_system& sys, std::shared_ptr<storage::store> store, bool detached,
                                bool sync = true);

} // namespace pchat
