// Retention (docs/operations.md "Retention"): the retention actor applies each room's rule — its own, else its
// category's — through the directory: a live room's actor deletes and its cache follows, a room without an actor
// is cleared without spawning one; every clear is archived as CLEAR. Real RocksDB, deterministic scheduler.
#include "fixture.hpp"

#include "actors/retention.hpp"
#include "base/time.hpp"

using namespace pchat;
using namespace pchat::test;

namespace {

constexpr std::int64_t day = 86'400 * ticks_per_second;

struct retention_fixture : fixture {
  std::shared_ptr<std::vector<compliance::event>> archived = std::make_shared<std::vector<compliance::event>>();

  retention_fixture() {
    opts.live = std::make_shared<metrics>(); // counts room actors: an idle room must not get one
    auto sink = archived;
    opts.compliance = caf::actor_cast<compliance_actor>(sys.spawn([sink](caf::event_based_actor*) -> caf::behavior {
      return {[sink](record_atom, const compliance::event& e) { sink->push_back(e); },
              [sink](archive_atom, const compliance::event& e) {
                sink->push_back(e);
                return true;
              }};
    }));
    restart();
  }

  // Posts straight into the store: `old` of them 40 days ago, then `fresh` now.
  void seed(const storage::room& r, int old, int fresh) {
    std::vector<storage::message> batch;
    auto now = now_ticks();
    for (int i = 0; i < old + fresh; ++i)
      batch.push_back({r.id, static_cast<std::uint64_t>(i + 1), "sip:alice@example.com",
                       (i < old ? now - 40 * day : now) + i, "post " + std::to_string(i + 1)});
    REQUIRE(db->append(batch, true).ok());
  }

  std::uint64_t sweep() {
    auto keeper = sys.spawn(retention, db, dir_actor, std::chrono::seconds(0), std::chrono::seconds(0));
    caf::scoped_actor self{sys};
    self->send(keeper, sweep_atom::value);
    sched.run();
    std::uint64_t deleted = 0;
    self->receive([&](std::uint64_t n) { deleted = n; },
                  [&](caf::error& err) { FAIL("sweep failed: " << sys.render(err)); });
    caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
    sched.run();
    return deleted;
  }
};

} // namespace

TEST_CASE_METHOD(retention_fixture, "retention: a category's keep-days and a room's keep-posts, live and idle rooms") {
  auto idle = make_room("Archive");
  auto busy = make_room("Busy");
  auto forever = make_room("Forever");
  seed(idle, 6, 4);
  seed(forever, 6, 4);
  // The category keeps 30 days; Busy keeps its newest 3 posts instead; Forever keeps everything.
  auto c = *db->category_by_id(general.id);
  c.keep.days = 30;
  REQUIRE(db->update_category(c).ok());
  auto b = *db->room_by_id(busy.id);
  b.keep = storage::retention{0, 3};
  REQUIRE(db->update_room(b).ok());
  auto f = *db->room_by_id(forever.id);
  f.keep = storage::retention{};
  REQUIRE(db->update_room(f).ok());
  restart();

  auto a = connect("sip:alice@example.com");
  REQUIRE(join(a, busy).code == 200);
  for (int i = 1; i <= 5; ++i)
    info(a, grpchat(std::to_string(i), uri(busy), "sip:alice@example.com", "busy " + std::to_string(i)));
  REQUIRE(db->last_seq(busy.id) == 5);

  REQUIRE(opts.live->rooms_live.load() == 1); // Busy only
  CHECK(sweep() == 6 + 2);
  CHECK(opts.live->rooms_live.load() == 1); // Archive and Forever were cleared without spawning their actors
  CHECK(db->cleared_up_to(idle.id) == 6); // the 40-day-old posts, not a fresh one
  CHECK(db->after(idle.id, 0, 100).size() == 4);
  CHECK(db->cleared_up_to(forever.id) == 0);
  CHECK(db->after(forever.id, 0, 100).size() == 10);
  CHECK(db->cleared_up_to(busy.id) == 2);
  // The live room's cache followed: history through the session shows only what is kept.
  auto h = ask(a, cmd("9", "bccontext", "<chanib uri=\"" + uri(busy) + "\"/><bcq><last cnt=\"10\"/></bcq>"));
  auto msgs = h.data()->child("chanib")->children_named("msg");
  REQUIRE(msgs.size() == 3);
  CHECK(msgs.front()->attr_or("msgid") == "3");

  // Archived as CLEAR with what went and why.
  std::vector<std::string> clears;
  for (const auto& e : *archived)
    if (e.kind == compliance::event_kind::clear)
      clears.push_back(e.room_name + ": " + e.content);
  REQUIRE(clears.size() == 2);
  CHECK(std::find(clears.begin(), clears.end(),
                  "Archive: posts #1 to #6 deleted (retention: 30 days (its category's rule))") != clears.end());
  CHECK(std::find(clears.begin(), clears.end(),
                  "Busy: posts #1 to #2 deleted (retention: newest 3 posts (the room's rule))") != clears.end());

  // A second pass finds nothing new, archives nothing, and a post goes on after the cleared ones.
  archived->clear();
  CHECK(sweep() == 0);
  CHECK(archived->empty());
  info(a, grpchat("20", uri(busy), "sip:alice@example.com", "busy 6"));
  CHECK(db->last_seq(busy.id) == 6);
}

TEST_CASE_METHOD(retention_fixture, "retention rules: only administrators set them, bad values are refused") {
  auto lobby = make_room("Lobby");
  auto admin = principal::administrator();
  caf::scoped_actor self{sys};
  auto update = [&](const principal& who, const patch& fields) {
    self->send(dir_actor, update_atom::value, who, lobby.name, fields);
    sched.run();
    caf::error out;
    self->receive([&](room_view&) {}, [&](caf::error& err) { out = err; });
    return out;
  };
  REQUIRE(db->set_roles(lobby.id, "sip:mgr@example.com", storage::role::member | storage::role::manager).ok());
  restart();
  CHECK(update(principal::of("sip:mgr@example.com"), {{"keep-days", "1"}}) == make_error(pchat_errc::forbidden));
  CHECK(update(admin, {{"keep-days", "-1"}}) != caf::none);
  CHECK(update(admin, {{"keep-days", "100001"}}) != caf::none);
  CHECK(update(admin, {{"keep-posts", "x"}}) != caf::none);
  CHECK(!db->room_by_id(lobby.id)->keep);
  CHECK(update(admin, {{"keep-days", "30"}}) == caf::none);
  CHECK(db->room_by_id(lobby.id)->keep == storage::retention{30, 0});
  CHECK(update(admin, {{"keep", "inherit"}}) == caf::none);
  CHECK(!db->room_by_id(lobby.id)->keep);
}

TEST_CASE_METHOD(fixture, "retention of an idle room that gets an actor while compliance archives: its cache forgets") {
  // A compliance service that answers archive requests only when told (flush), so that a member can join the room
  // between the record and the deletion.
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  opts.compliance = caf::actor_cast<compliance_actor>(sys.spawn([held](caf::event_based_actor* self) -> caf::behavior {
    return {[](record_atom, const compliance::event&) {},
            [held, self](archive_atom, const compliance::event&) -> caf::result<bool> {
              held->push_back(self->make_response_promise());
              return caf::delegated<bool>{};
            },
            [held](flush_atom) {
              for (auto& rp : *held)
                rp.deliver(true);
              held->clear();
            }};
  }));
  restart();
  auto idle = make_room("Quiet");
  std::vector<storage::message> batch;
  auto now = now_ticks();
  for (int i = 0; i < 10; ++i)
    batch.push_back({idle.id, static_cast<std::uint64_t>(i + 1), "sip:alice@example.com",
                     (i < 6 ? now - 40 * day : now) + i, "post " + std::to_string(i + 1)});
  REQUIRE(db->append(batch, true).ok());
  auto c = *db->category_by_id(general.id);
  c.keep.days = 30;
  REQUIRE(db->update_category(c).ok());
  restart();

  auto keeper = sys.spawn(retention, db, dir_actor, std::chrono::seconds(0), std::chrono::seconds(0));
  caf::scoped_actor self{sys};
  self->send(keeper, sweep_atom::value);
  sched.run();
  REQUIRE(held->size() == 1);                 // the CLEAR record is on its way, nothing deleted yet
  CHECK(db->cleared_up_to(idle.id) == 0);
  auto a = connect("sip:alice@example.com"); // the room gets an actor, which loads all ten posts
  REQUIRE(join(a, idle).code == 200);
  self->send(opts.compliance, flush_atom::value);
  sched.run();
  CHECK(db->cleared_up_to(idle.id) == 6);
  // Five asked: fewer than the ten the actor loaded, so they would come from its cache.
  auto h = ask(a, cmd("9", "bccontext", "<chanib uri=\"" + uri(idle) + "\"/><bcq><last cnt=\"5\"/></bcq>"));
  auto msgs = h.data()->child("chanib")->children_named("msg");
  REQUIRE(msgs.size() == 4);
  CHECK(msgs.front()->attr_or("msgid") == "7");
  caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
  sched.run();
}
