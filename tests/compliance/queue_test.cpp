// The durable queue: ids and chain links, batches handed out until done, and everything after a reopen.
#include <catch2/catch.hpp>

#include "compliance/queue.hpp"
#include "support.hpp"

using namespace pchat::compliance;
using namespace pchat::test;

TEST_CASE("queue: enqueue assigns contiguous ids and chain links, take/done hands out the oldest first") {
  temp_dir tmp;
  auto q = open_queue(tmp.str());
  batch b;
  REQUIRE(q->take(10, b).ok());
  CHECK(b.empty());
  CHECK(b.id == 0);

  auto events = chats(5);
  REQUIRE(q->enqueue(events).ok());
  digest prev{};
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].id == i + 1);
    CHECK(events[i].hash == chain_hash(prev, events[i]));
    prev = events[i].hash;
  }
  CHECK(q->counts().pending == 5);

  REQUIRE(q->take(3, b).ok());
  CHECK(b.id == 1);
  REQUIRE(b.events.size() == 3);
  CHECK(b.events[0] == events[0]);
  CHECK(b.events[2] == events[2]);
  CHECK(b.prev == digest{});
  // Until done, the same batch comes back, whatever the limit and whatever was enqueued since.
  auto more = chats(2, "n");
  REQUIRE(q->enqueue(more).ok());
  CHECK(more[0].id == 6);
  batch again;
  REQUIRE(q->take(100, again).ok());
  CHECK(again.id == 1);
  CHECK(again.events.size() == 3);
  CHECK(q->done(2).code == errc::invalid_argument);
  REQUIRE(q->done(1).ok());
  CHECK(q->done(1).code == errc::invalid_argument);
  CHECK(q->counts().archived.id == 3);
  CHECK(q->counts().archived.hash == events[2].hash);

  REQUIRE(q->take(100, b).ok());
  CHECK(b.id == 2);
  REQUIRE(b.events.size() == 4);
  CHECK(b.events.front().id == 4);
  CHECK(b.prev == events[2].hash);
  REQUIRE(q->done(2).ok());
  REQUIRE(q->take(100, b).ok());
  CHECK(b.empty());
  CHECK(q->counts().pending == 0);
}

TEST_CASE("queue: reopen keeps pending events, the open batch, and continues event and batch ids") {
  temp_dir tmp;
  std::vector<event> first = chats(4);
  {
    auto q = open_queue(tmp.str());
    REQUIRE(q->enqueue(first).ok());
    batch b;
    REQUIRE(q->take(2, b).ok());
    REQUIRE(q->done(b.id).ok());
    REQUIRE(q->take(1, b).ok()); // batch 2 = event 3, handed out, not done: the process dies here
    CHECK(b.id == 2);
  }
  auto q = open_queue(tmp.str());
  auto c = q->counts();
  CHECK(c.pending == 2);
  CHECK(c.next_id == 5);
  CHECK(c.open_batch == 2);
  CHECK(c.archived.id == 2);
  batch b;
  REQUIRE(q->take(100, b).ok());
  CHECK(b.id == 2); // the same batch again: its output is overwritten, not duplicated
  REQUIRE(b.events.size() == 1);
  CHECK(b.events[0] == first[2]);
  CHECK(b.prev == first[1].hash);
  REQUIRE(q->done(2).ok());

  auto later = chats(1, "later");
  REQUIRE(q->enqueue(later).ok());
  CHECK(later[0].id == 5);
  CHECK(later[0].hash == chain_hash(first[3].hash, later[0])); // the chain goes on across the restart
  REQUIRE(q->take(100, b).ok());
  CHECK(b.id == 3);
  CHECK(b.events.size() == 2);
}

TEST_CASE("queue: a second open of the same directory is busy") {
  temp_dir tmp;
  auto q = open_queue(tmp.str());
  std::unique_ptr<queue> other;
  CHECK(queue::open(tmp.str(), other).code == errc::busy);
}

TEST_CASE("queue: the archived end can be read while the queue is open, and not without a queue") {
  temp_dir tmp;
  auto q = open_queue(tmp.str());
  chain_point end;
  REQUIRE(queue::archived_end(tmp.str(), end).ok());
  CHECK(end.id == 0);
  auto events = chats(3);
  REQUIRE(q->enqueue(events).ok());
  batch b;
  REQUIRE(q->take(2, b).ok());
  REQUIRE(q->done(b.id).ok());
  REQUIRE(queue::archived_end(tmp.str(), end).ok());
  CHECK(end.id == 2);
  CHECK(end.hash == events[1].hash);
  CHECK(queue::archived_end(tmp.str("nothing"), end).code == errc::not_found);
}
