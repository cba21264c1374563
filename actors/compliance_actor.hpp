#pragma once
// The compliance pipeline actor (docs/compliance.md "Pipeline"):
//
//   rooms, sessions --record / archive--> [held: next group commit] --enqueue (synced)--> queue (RocksDB)
//   every RunInterval: queue.take(batch_max) --> adapter.write(batch) --ok--> queue.done(batch)
//
// - Group commit as in the store writer: the first event of a commit sends the actor a `flush`, which lands
//   behind every event already in its mailbox, so one synced write takes all that queued up meanwhile.
// - archive(event) is answered only after that write (true), so a post acknowledged after its archive reply
//   is in the archive even after kill -9. record(event) is never answered.
// - Adapter failure: the batch stays in the queue and is retried after retry_min, doubling up to retry_max;
//   a success resets the backoff, deletes the batch's events and, while more are pending, starts the next
//   batch at once (through the mailbox, so events keep flowing in between).
// - Queue failure: see store_failure_policy (options.hpp). Held events are retried with every commit and run.
// - Nothing throws out of a handler: adapter exceptions become failures.
//
// In pchatd the actor runs detached (its own thread): queue fsyncs and adapter file I/O never block a
// scheduler thread. Tests spawn it on the test scheduler for determinism.
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "actors/protocol.hpp"
#include "compliance/adapter.hpp"
#include "compliance/options.hpp"
#include "compliance/queue.hpp"

namespace pchat {

struct compliance_state {
  static inline const char* name = "compliance";

  compliance::compliance_options opts;
  std::shared_ptr<compliance::queue> queue;
  std::shared_ptr<compliance::adapter> adapter;
  // Events not yet in the queue, oldest first: those of the next commit, and after a failed commit those
  // waiting for the queue to work again.
  std::vector<compliance::event> held;
  // The archive requests among them: (index in `held`, promise).
  std::vector<std::pair<std::size_t, caf::typed_response_promise<bool>>> waiting;
  bool flush_queued = false;
  bool store_ok = true;    // the last queue write succeeded
  std::uint64_t timer = 0; // generation of the one run timer that counts
  std::chrono::milliseconds backoff{0};
  compliance_stats stats;
};

compliance_actor::behavior_type compliance_service(compliance_actor::stateful_pointer<compliance_state> self,
                                                   compliance::compliance_options opts,
                                                   std::shared_ptr<compliance::queue> queue,
                                                   std::shared_ptr<compliance::adapter> adapter);

// Spawns the service over an open queue and an adapter; detached (own thread) unless `detached` is false.
compliance_actor spawn_compliance(caf::actor_system& sys, compliance::compliance_options opts,
                                  std::shared_ptr<compliance::queue> queue,
                                  std::shared_ptr<compliance::adapter> adapter, bool detached = true);

// pchatd's entry point: opens the queue in opts.dir, makes the XML adapter from opts, spawns detached.
// Fails (and spawns nothing) when the queue cannot be opened, e.g. errc::busy. `queue_out` (when given) shares
// the queue, for the backup's checkpoint (RocksDB is safe to checkpoint while the service writes).
storage::status start_compliance(caf::actor_system& sys, const compliance::compliance_options& opts,
                                 compliance_actor& out, std::shared_ptr<compliance::queue>* queue_out = nullptr);

} // namespace pchat
