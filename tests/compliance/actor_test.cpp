// The compliance actor on CAF's test scheduler (docs/architecture.md "Conventions" §3): group commit, archive replies once durable,
// adapter retries with capped exponential backoff, exactly-once output, and both store failure policies.
#include <chrono>
#include <optional>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <catch2/catch.hpp>

#include "actors/compliance_actor.hpp"
#include "compliance/verify.hpp"
#include "compliance/xml_adapter.hpp"
#include "support.hpp"

using namespace pchat;
using namespace pchat::compliance;
using namespace pchat::test;
using namespace std::chrono_literals;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    register_types(*this);
    set("scheduler.policy", caf::atom("testing"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

struct fixture {
  temp_dir tmp;
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  compliance_options opts;
  std::shared_ptr<failing_queue> queue;
  std::shared_ptr<failing_adapter> adapter;
  compliance_actor svc;

  fixture() {
    opts.enabled = true;
    opts.dir = tmp.str("queue");
    opts.output_dir = tmp.str("out");
    opts.run_interval = 10s;
    opts.retry_min = 1s;
    opts.retry_max = 4s;
  }

  ~fixture() { stop(); }

  void start() {
    if (!queue)
      queue = std::make_shared<failing_queue>(open_queue(opts.dir));
    adapter = std::make_shared<failing_adapter>(std::make_shared<xml_adapter>(opts.xml()));
    svc = spawn_compliance(sys, opts, queue, adapter, false);
    sched.run();
  }

  void stop() {
    if (svc) {
      caf::anon_send_exit(svc, caf::exit_reason::user_shutdown);
      sched.run();
      svc = nullptr;
    }
  }

  void record(event e) {
    caf::anon_send(svc, record_atom::value, std::move(e));
    sched.run();
  }

  // archive(e) from a client actor that first sends `before` as records (so all land in one mailbox drain);
  // the reply, and the queue's pending count at the moment it arrived.
  struct archive_reply {
    std::optional<bool> value;
    std::optional<caf::error> error;
    std::uint64_t pending_at_reply = 0;
  };
  archive_reply archive(event e, std::vector<event> before = {}) {
    auto out = std::make_shared<archive_reply>();
    auto q = queue;
    sys.spawn([=](caf::event_based_actor* self) {
      for (const auto& b : before)
        self->send(svc, record_atom::value, b);
      self->request(svc, caf::infinite, archive_atom::value, e)
          .then(
              [=](bool durable) {
                out->value = durable;
                out->pending_at_reply = q->counts().pending;
              },
              [=](caf::error& err) { out->error = std::move(err); });
    });
    sched.run();
    return *out;
  }

  template <class Atom>
  compliance_stats ask_stats(Atom atom) {
    auto out = std::make_shared<compliance_stats>();
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(svc, caf::infinite, atom).then([=](compliance_stats& s) { *out = std::move(s); });
    });
    sched.run();
    return *out;
  }

  bool accepting() {
    auto out = std::make_shared<bool>(false);
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(svc, caf::infinite, status_atom::value).then([=](bool b) { *out = b; });
    });
    sched.run();
    return *out;
  }

  void advance(caf::timespan d) {
    sched.advance_time(d);
    sched.run();
  }
};

std::vector<std::string> contents(const std::vector<archived>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(x.type + ":" + x.content);
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "compliance actor: one mailbox drain is one synced queue write, archive answers once durable") {
  start();
  auto r = archive(make_event(event_kind::chat, "lobby", "alice", "post"), chats(5));
  REQUIRE(r.value);
  CHECK(*r.value); // durable
  CHECK(r.pending_at_reply == 6);
  CHECK(queue->enqueues == 1);
  auto s = ask_stats(stats_atom::value);
  CHECK(s.recorded == 6);
  CHECK(s.durable == 6);
  CHECK(s.pending == 6);
  CHECK(s.accepting);
  CHECK_FALSE(s.degraded);
  CHECK(adapter->calls == 0); // nothing before RunInterval
  advance(10s);
  CHECK(adapter->calls == 1);
  CHECK(read_output(tmp.path / "out").size() == 6);
  CHECK(ask_stats(stats_atom::value).pending == 0);
}

TEST_CASE_METHOD(fixture,
                 "compliance actor: an adapter failing 4 times is retried after 1, 2, 4, 4 s, each event once") {
  opts.batch_max = 4;
  start();
  for (auto& e : chats(10))
    caf::anon_send(svc, record_atom::value, e);
  sched.run();
  adapter->fail_next(4);

  advance(10s); // RunInterval: first attempt
  CHECK(adapter->calls == 1);
  CHECK(ask_stats(stats_atom::value).retry_ms == 1000);
  advance(999ms);
  CHECK(adapter->calls == 1); // not before the backoff
  advance(1ms);
  CHECK(adapter->calls == 2);
  CHECK(ask_stats(stats_atom::value).retry_ms == 2000);
  advance(2s);
  CHECK(adapter->calls == 3);
  CHECK(ask_stats(stats_atom::value).retry_ms == 4000);
  advance(3999ms);
  CHECK(adapter->calls == 3);
  advance(1ms);
  CHECK(adapter->calls == 4);
  CHECK(ask_stats(stats_atom::value).retry_ms == 4000); // capped at retry_max
  CHECK(output_files(tmp.path / "out").empty());
  // Success: batch 1, then at once batches 2 and 3 (ids 1-4, 5-8, 9-10).
  advance(4s);
  CHECK(adapter->calls == 7);
  CHECK(adapter->batch_ids == std::vector<std::uint64_t>{1, 1, 1, 1, 1, 2, 3});
  auto s = ask_stats(stats_atom::value);
  CHECK(s.retry_ms == 0);
  CHECK(s.adapter_failures == 4);
  CHECK(s.batches == 3);
  CHECK(s.archived == 10);
  CHECK(s.pending == 0);
  CHECK(s.last_error.find("injected adapter failure") != std::string::npos);

  auto out = read_output(tmp.path / "out");
  REQUIRE(out.size() == 10);
  std::vector<std::uint64_t> ids;
  for (const auto& a : out)
    ids.push_back(a.id);
  std::sort(ids.begin(), ids.end());
  for (std::size_t i = 0; i < ids.size(); ++i)
    CHECK(ids[i] == i + 1);
  verify_options vo;
  vo.expect_end = queue->counts().archived;
  auto report = verify_dir(opts.output_dir, vo);
  INFO(to_string(report));
  CHECK(report.ok());
  // Back to RunInterval, and an empty queue does not call the adapter.
  advance(10s);
  CHECK(adapter->calls == 7);
}

TEST_CASE_METHOD(fixture,
                 "compliance actor: a batch written but not marked done before a crash is rewritten, not duplicated") {
  {
    auto q = open_queue(opts.dir);
    auto events = chats(3);
    REQUIRE(q->enqueue(events).ok());
    batch b;
    REQUIRE(q->take(100, b).ok());
    REQUIRE(xml_adapter{opts.xml()}.write(b).ok());
    // crash: done() never ran
  }
  start();
  auto more = chats(2, "after");
  for (auto& e : more)
    record(e);
  auto s = ask_stats(drain_atom::value);
  CHECK(s.pending == 0);
  CHECK(adapter->batch_ids == std::vector<std::uint64_t>{1, 2});
  CHECK(contents(read_output(tmp.path / "out")) ==
        std::vector<std::string>{"CHAT:after0", "CHAT:after1", "CHAT:m0", "CHAT:m1", "CHAT:m2"});
  CHECK(verify_dir(opts.output_dir).ok());
}

TEST_CASE_METHOD(fixture, "compliance actor: policy refuse refuses posts while the queue fails, keeps the rest") {
  opts.on_store_failure = store_failure_policy::refuse;
  start();
  queue->down = true;
  record(make_event(event_kind::join, "lobby", "alice"));
  auto r = archive(make_event(event_kind::chat, "lobby", "alice", "refused post"));
  REQUIRE(r.error);
  CHECK(r.error->category() == pchat_error_category);
  CHECK(r.error->code() == static_cast<std::uint8_t>(pchat_errc::store_failed));
  CHECK_FALSE(accepting());
  auto s = ask_stats(stats_atom::value);
  CHECK(s.degraded);
  CHECK(s.held == 1); // the join waits in memory
  CHECK(s.refused == 1);
  CHECK(s.store_failures == 2);

  queue->down = false;
  record(make_event(event_kind::part, "lobby", "alice"));
  CHECK(accepting());
  s = ask_stats(drain_atom::value);
  CHECK(s.held == 0);
  CHECK(s.pending == 0);
  CHECK_FALSE(s.degraded);
  CHECK(contents(read_output(tmp.path / "out")) == std::vector<std::string>{"JOIN:", "PART:"});
}

TEST_CASE_METHOD(fixture, "compliance actor: policy queue holds events in memory up to hold_max, then refuses") {
  opts.on_store_failure = store_failure_policy::queue;
  opts.hold_max = 3;
  start();
  queue->down = true;
  auto r = archive(make_event(event_kind::chat, "lobby", "alice", "p3"), chats(3, "p"));
  REQUIRE(r.error); // the fourth event does not fit
  CHECK(r.error->code() == static_cast<std::uint8_t>(pchat_errc::store_failed));
  r = archive(make_event(event_kind::chat, "lobby", "alice", "p4"));
  REQUIRE(r.error);
  auto s = ask_stats(stats_atom::value);
  CHECK(s.held == 3);
  CHECK(s.degraded);
  CHECK_FALSE(s.accepting);

  queue->down = false;
  r = archive(make_event(event_kind::chat, "lobby", "alice", "p5"));
  REQUIRE(r.value);
  CHECK(*r.value);
  CHECK(accepting());
  s = ask_stats(drain_atom::value);
  CHECK(s.durable == 4);
  CHECK(s.refused == 2);
  CHECK(contents(read_output(tmp.path / "out")) ==
        std::vector<std::string>{"CHAT:p0", "CHAT:p1", "CHAT:p2", "CHAT:p5"});

  // Held, not refused: an archive while degraded with room left answers false.
  queue->down = true;
  r = archive(make_event(event_kind::chat, "lobby", "alice", "p6"));
  REQUIRE(r.value);
  CHECK_FALSE(*r.value);
  queue->down = false;
  advance(10s); // the run retries the held event first
  CHECK(ask_stats(stats_atom::value).held == 0);
  CHECK(read_output(tmp.path / "out").size() == 5);
}
