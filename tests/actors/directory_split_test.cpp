// The directory's split (actors/directory.hpp): a history search runs in a search worker, out of the registry's
// mailbox, so a join is answered while the search still waits; prefs and invitations answer from their workers
// in the order asked. Deterministic: the test coordinator runs every actor but the ones held back.
#include <caf/resumable.hpp>

#include "fixture.hpp"

using namespace pchat;
using namespace pchat::test;

namespace {

bool named(caf::resumable* job, const char* name) {
  auto* a = dynamic_cast<caf::local_actor*>(job);
  return a != nullptr && std::string{a->name()} == name;
}

struct split_fixture : fixture {
  // Runs every actor with mail except the search workers, until only they have any.
  void run_all_but_search() {
    sched.run_jobs_filtered([](caf::resumable* job) { return !named(job, "search_worker"); });
  }
  std::size_t search_jobs() const {
    std::size_t n = 0;
    for (auto* job : sched.jobs)
      n += named(job, "search_worker") ? 1 : 0;
    return n;
  }
};

} // namespace

TEST_CASE_METHOD(split_fixture, "a join is answered while a history search is still waiting in its search worker") {
  auto lobby = make_room("Lobby");
  auto team = make_room("Team");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(a, lobby);
  info(a, grpchat("1", uri(lobby), "", "deploy on friday"));
  take(a);

  caf::anon_send(sessions.at(a), info_atom::value, cmd("2", "histsrch", "<srch text=\"deploy\"/>"));
  run_all_but_search();
  // The registry has handed the search on: it sits in a search worker's mailbox, not run, not answered.
  CHECK(search_jobs() == 1);
  CHECK(take(a).empty());

  caf::anon_send(sessions.at(b), info_atom::value, cmd("3", "join", chanid("example.com", team.guid)));
  run_all_but_search();
  auto joined = take(b);
  REQUIRE(joined.size() == 1);
  auto rpl = single_item(joined.front());
  CHECK(rpl.id == "rpl:join");
  CHECK(rpl.code == 200);
  CHECK(search_jobs() == 1);
  CHECK(take(a).empty()); // the search is still not answered

  sched.run();
  CHECK(search_jobs() == 0);
  auto found = take(a);
  REQUIRE(found.size() == 1);
  auto hits = single_item(found.front());
  CHECK(hits.id == "rpl:histsrch");
  CHECK(hits.code == 200);
  REQUIRE(hits.data());
  auto msgs = hits.data()->children_named("msg");
  REQUIRE(msgs.size() == 1);
  CHECK(msgs.front()->child("chat")->text == "deploy on friday");
  CHECK(msgs.front()->attr_or("chanUri") == uri(lobby));
}

TEST_CASE_METHOD(split_fixture, "two history searches go to two search workers, and secret rooms stay out of both") {
  auto lobby = make_room("Lobby");
  auto hidden = make_room("Hidden", storage::privacy::secret);
  REQUIRE(db->set_roles(hidden.id, "sip:alice@example.com", storage::role::member).ok());
  auto a = connect("sip:alice@example.com");
  auto m = connect("sip:mallory@example.com");
  join(a, lobby);
  join(a, hidden);
  info(a, grpchat("1", uri(lobby), "", "release notes"));
  info(a, grpchat("2", uri(hidden), "", "secret release"));
  take(a);

  caf::anon_send(sessions.at(a), info_atom::value, cmd("3", "histsrch", "<srch text=\"release\"/>"));
  caf::anon_send(sessions.at(m), info_atom::value, cmd("4", "histsrch", "<srch text=\"release\"/>"));
  run_all_but_search();
  CHECK(search_jobs() == 2); // one each: the second does not queue behind the first

  // A search naming the secret room is refused by the registry itself, like an unknown room.
  caf::anon_send(sessions.at(m), info_atom::value,
                 cmd("5", "histsrch", "<srch text=\"release\"/><chanib uri=\"" + uri(hidden) + "\"/>"));
  sched.run();
  auto texts = [](const std::string& body) {
    std::vector<std::string> out;
    auto rpl = single_item(body);
    if (rpl.data())
      for (const auto* msg : rpl.data()->children_named("msg"))
        out.push_back(msg->child("chat")->text);
    return out;
  };
  auto alice = take(a);
  REQUIRE(alice.size() == 1);
  CHECK(texts(alice.front()) == std::vector<std::string>{"secret release", "release notes"});
  auto mallory = take(m);
  REQUIRE(mallory.size() == 2);
  CHECK(texts(mallory[0]) == std::vector<std::string>{"release notes"});
  CHECK(single_item(mallory[1]).code == 404);
}

TEST_CASE_METHOD(split_fixture, "setpref and getpref are answered by the prefs worker, each after the one before") {
  auto a = connect("sip:alice@example.com");
  caf::anon_send(sessions.at(a), info_atom::value, cmd("1", "setpref", "<pref label=\"x\" content=\"b25l\"/>"));
  caf::anon_send(sessions.at(a), info_atom::value, cmd("2", "getpref", "<pref label=\"x\"/>"));
  caf::anon_send(sessions.at(a), info_atom::value, cmd("3", "setpref", "<pref label=\"x\" content=\"dHdv\"/>"));
  caf::anon_send(sessions.at(a), info_atom::value, cmd("4", "getpref", "<pref label=\"x\"/>"));
  sched.run();
  auto replies = take(a);
  REQUIRE(replies.size() == 4);
  CHECK(single_item(replies[0]).code == 200);
  CHECK(replies[1].find("b25l") != std::string::npos);
  CHECK(single_item(replies[2]).code == 200);
  CHECK(replies[3].find("dHdv") != std::string::npos);
  CHECK(db->pref("sip:alice@example.com", "x") == std::string{"dHdv"});
}
