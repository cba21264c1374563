#pragma once
// The compliance queue: the durable private queue and compliance store of Lync's pipeline in one RocksDB
// database of its own (a directory such as <data-dir>/compliance), apart from the chat store so that a full or
// failing archive disk never stalls history writes and vice versa.
//
// Contract
// - enqueue() returns ok only once its events are on disk (one WriteBatch, WAL fsynced): an event it accepted
//   survives kill -9. On failure nothing of the call is written and the events are left as they were.
// - Events get ids 1, 2, 3, ... in enqueue order, without gaps, continuing across restarts, and each carries
//   its link of the hash chain (event.hpp) computed when it was enqueued.
// - Batches: take() hands out the oldest events as a batch with an id. Until done(id) that same batch (same id,
//   same events, same chain start) is what every take() returns, also after a restart, so an adapter that
//   names its output after the batch id overwrites rather than duplicates when a batch is retried. done(id)
//   deletes the batch's events and moves the archived end of the chain; batch ids then continue with id + 1.
// - Not thread-safe: one owner (the compliance actor, or pchatctl with pchatd stopped). A second process
//   opening the same directory gets errc::busy.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compliance/event.hpp"
#include "storage/store.hpp"

namespace pchat::compliance {

using storage::errc;
using storage::status;

// A point of the chain: an event id and its hash (id 0 and the zero digest before the first event).
struct chain_point {
  std::uint64_t id = 0;
  digest hash{};
};

struct batch {
  std::uint64_t id = 0;      // 0: nothing to archive
  std::vector<event> events; // ascending ids, contiguous
  digest prev{};             // hash of the event before events.front() (the chain start of this batch)
  bool empty() const { return events.empty(); }
};

struct queue_counts {
  std::uint64_t pending = 0;    // enqueued and not yet done
  std::uint64_t next_id = 1;    // id of the next enqueued event
  std::uint64_t next_batch = 1; // id of the next new batch
  std::uint64_t open_batch = 0; // id of the batch handed out and not yet done, 0 if none
  chain_point archived;         // the last event done()
};

class queue {
public:
  virtual ~queue() = default;

  // Opens (or creates) the queue in `dir`. errc::busy when another process holds it.
  static status open(const std::string& dir, std::unique_ptr<queue>& out);
  // The archived end of the queue in `dir`, read without taking the lock (works while pchatd runs): what
  // `pchatctl compliance verify` checks the output's end against. errc::not_found when there is no queue.
  static status archived_end(const std::string& dir, chain_point& out);

  // Appends `events` in order; on ok each has its id and hash set (and text fields made XML-safe).
  virtual status enqueue(std::vector<event>& events) = 0;
  // The open batch if there is one, else a new batch of the oldest pending events, at most `max` (>= 1). An
  // empty batch (id 0) when nothing is pending.
  virtual status take(std::size_t max, batch& out) = 0;
  // The adapter wrote batch `batch_id`: its events are deleted. invalid_argument unless it is the open batch.
  virtual status done(std::uint64_t batch_id) = 0;
  virtual queue_counts counts() const = 0;
  // A consistent copy of the queue in `dir` (must not exist), taken while it stays in use: the backup's.
  virtual status checkpoint(const std::string& dir) = 0;
};

} // namespace pchat::compliance
