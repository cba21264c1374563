// Deterministic tests of the session, room, directory and store-writer actors (join/part/post/fan-out/history).
#include "fixture.hpp"

#include <algorithm>
#include <set>

using namespace pchat;
using namespace pchat::test;

namespace {

std::vector<std::string> chat_texts(const std::vector<std::string>& docs) {
  std::vector<std::string> out;
  for (const auto& d : docs) {
    auto it = single_item(d);
    if (it.kind == xccos::item_kind::grpchat)
      out.push_back(it.element.child("chat")->text);
  }
  return out;
}

std::vector<std::string> uibs(const xccos::item& rpl) {
  std::vector<std::string> out;
  for (const auto* u : rpl.data()->children_named("uib"))
    out.push_back(u->attr_or("uri"));
  return out;
}

// The store writer's state, read on the test thread (the test scheduler runs every actor there, only on demand).
store_writer_state& writer_state(const writer_actor& w) {
  return dynamic_cast<writer_actor::stateful_pointer<store_writer_state>>(caf::actor_cast<caf::abstract_actor*>(w))
      ->state;
}

} // namespace

TEST_CASE_METHOD(fixture, "requri and getserverinfo reply with commandid, resp and data") {
  auto a = connect("sip:alice@example.com");
  auto r = ask(a, cmd("7", "requri"));
  CHECK(r.id == "rpl:requri");
  CHECK(r.cmd_envid == "7");
  CHECK(r.cmd_seqid == "1");
  CHECK(r.code == 200);
  CHECK(r.token == "SUCCESS_OK");
  CHECK(r.data()->child("uib")->attr_or("uri") == "sip:pchat@example.com");

  auto s = ask(a, cmd("8", "getserverinfo", "<sib domain=\"example.com\" infoType=\"123\"/>"));
  CHECK(s.id == "rpl:getserverinfo");
  const auto* sib = s.data()->child("sib");
  REQUIRE(sib);
  CHECK(sib->attr_or("infoType") == "123");
  CHECK(sib->attr_or("messageSizeLimit") == "8000");
  CHECK(sib->attr_or("searchLimit") == "999");
  CHECK(sib->attr_or("storySizeLimit") == "80000");
  CHECK(sib->attr_or("rootUri") == opts.root_uri);
  CHECK(sib->attr_or("dbVersion") == db->db_version());
  CHECK(xccos::parse_ts(sib->attr_or("serverTime")));

  auto g = ask(a, cmd("9", "getinv", "<inv inviteId=\"1\" domain=\"example.com\"/>"));
  CHECK(g.id == "rpl:getinv");
  CHECK(g.code == 200);
}

TEST_CASE_METHOD(fixture, "join lists participants and tells the others, a post reaches every member once") {
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");

  auto ja = join(a, lobby);
  CHECK(ja.id == "rpl:join");
  CHECK(ja.code == 200);
  CHECK(uibs(ja) == std::vector<std::string>{"sip:alice@example.com"});
  CHECK(ja.data()->child("chanib")->attr_or("uri") == uri(lobby));
  CHECK(ja.data()->child("chanib")->attr_or("name") == "Lobby");

  auto jb = join(b, lobby, "11");
  CHECK(uibs(jb) == std::vector<std::string>{"sip:alice@example.com", "sip:bob@example.com"});
  auto aib = jb.data()->child("chanib")->child("aib");
  REQUIRE(aib);
  CHECK(aib->attr_or("key") == "3984");
  CHECK(aib->attr_or("value") == "0,1");
  // Alice heard that Bob joined (docs/xccos.md §4 ntc:join shape).
  auto na = take(a);
  REQUIRE(na.size() == 1);
  auto ntc = single_item(na[0]);
  CHECK(ntc.kind == xccos::item_kind::ntc);
  CHECK(ntc.id == "ntc:join");
  CHECK(ntc.data()->child("uib")->attr_or("uri") == "sip:bob@example.com");
  CHECK(ntc.data()->child("uib")->child("aib")->attr_or("value") == lobby.guid);

  // Bob posts; both receive the same document, text byte-identical; the sender gets it too.
  info(b, grpchat("20", uri(lobby), "sip:mallory@example.com", "a &amp; b&#13;&#10;&lt;c&gt;"));
  auto to_a = take(a);
  auto to_b = take(b);
  REQUIRE(to_a.size() == 1);
  REQUIRE(to_b.size() == 1);
  CHECK(to_a[0] == to_b[0]);
  auto g = single_item(to_a[0]);
  CHECK(g.kind == xccos::item_kind::grpchat);
  CHECK(g.element.attr_or("chanUri") == uri(lobby));
  CHECK(g.element.attr_or("author") == "sip:bob@example.com"); // the session's user, not the claimed author
  CHECK(g.element.attr_or("msgid") == "1");
  CHECK(g.element.child("chat")->text == "a & b\r\n<c>");
  CHECK(xccos::parse_ts(g.element.attr_or("ts")));
  // Durable before fan-out: it is in the store.
  auto stored = db->last(lobby.id, 10);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].text == "a & b\r\n<c>");
  CHECK(stored[0].author == "sip:bob@example.com");
}

TEST_CASE_METHOD(fixture, "posts fan out in order and history returns the newest N oldest first") {
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(a, lobby);
  join(b, lobby);
  take(a);
  for (int i = 1; i <= 40; ++i)
    caf::anon_send(sessions.at(i % 2 ? a : b), info_atom::value,
                   grpchat(std::to_string(100 + i), uri(lobby), "", "m" + std::to_string(i)));
  sched.run();
  auto ta = chat_texts(take(a));
  auto tb = chat_texts(take(b));
  REQUIRE(ta.size() == 40);
  CHECK(ta == tb);
  // Each session's own posts keep their order; the room's order is the seq order both saw.
  std::vector<int> from_a;
  for (auto& t : ta)
    if (std::stoi(t.substr(1)) % 2)
      from_a.push_back(std::stoi(t.substr(1)));
  CHECK(std::is_sorted(from_a.begin(), from_a.end()));

  auto h = ask(a, cmd("200", "bccontext", "<chanib uri=\"" + uri(lobby) + "\"/><bcq><last cnt=\"25\"/></bcq>"));
  CHECK(h.id == "rpl:bccontext");
  auto msgs = h.data()->child("chanib")->children_named("msg");
  REQUIRE(msgs.size() == 25);
  CHECK(msgs.front()->child("chat")->text == ta[15]);
  CHECK(msgs.back()->child("chat")->text == ta[39]);
  CHECK(msgs.front()->attr_or("msgid") == "16");
  CHECK(msgs.back()->attr_or("msgid") == "40");
  // Every post is in the store (that they share synced batches is the next test's).
  auto stored = db->last(lobby.id, 100);
  CHECK(stored.size() == 40);
}

TEST_CASE_METHOD(fixture, "group commit: posts to several rooms queued behind a busy writer are one synced batch") {
  std::vector<storage::room> rooms{make_room("Red"), make_room("Green"), make_room("Blue")};
  std::vector<dialog_id> d;
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    d.push_back(connect("sip:user" + std::to_string(i) + "@example.com"));
    join(d[i], rooms[i]);
    take(d[i]);
  }
  auto& w = writer_state(writer);
  auto batches = w.batches;
  auto records = w.records;
  // One window: a post in each room while the writer is busy. Every actor but the writer runs until idle, so the
  // three appends wait in the writer's mailbox as they do in pchatd while a synced write is running.
  for (std::size_t i = 0; i < rooms.size(); ++i)
    caf::anon_send(sessions.at(d[i]), info_atom::value,
                   grpchat(std::to_string(200 + i), uri(rooms[i]), "", "post " + std::to_string(i)));
  auto* busy = dynamic_cast<caf::resumable*>(caf::actor_cast<caf::abstract_actor*>(writer));
  sched.run_jobs_filtered([busy](caf::resumable* job) { return job != busy; });
  CHECK(w.batches == batches);
  for (std::size_t i = 0; i < rooms.size(); ++i)
    CHECK(take(d[i]).empty()); // nothing is fanned out before it is durable
  // The writer runs: ONE synced WriteBatch holds the posts of all three rooms.
  sched.run();
  CHECK(w.batches == batches + 1);
  CHECK(w.records == records + rooms.size());
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    INFO("room " << rooms[i].name);
    // Each room got its own "durable up to seq 1": it fanned its post out with that seq.
    auto out = take(d[i]);
    REQUIRE(out.size() == 1);
    auto g = single_item(out[0]);
    CHECK(g.element.attr_or("chanUri") == uri(rooms[i]));
    CHECK(g.element.attr_or("msgid") == "1");
    CHECK(g.element.child("chat")->text == "post " + std::to_string(i));
    auto stored = db->last(rooms[i].id, 10);
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].seq == 1);
    CHECK(stored[0].text == "post " + std::to_string(i));
  }
}

TEST_CASE_METHOD(fixture, "a post with ack=\"true\" is answered with its seq once fanned out, one without is not") {
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  join(a, lobby);
  take(a);
  info(a, grpchat("400", uri(lobby), "", "plain"));
  auto plain = take(a);
  REQUIRE(plain.size() == 1); // the fan-out only
  CHECK(single_item(plain[0]).kind == xccos::item_kind::grpchat);
  auto acked = env("401", "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"" + uri(lobby) +
                            "\" author=\"\" ts=\"2024-05-01T10:00:00Z\" ack=\"true\"><chat>acked</chat></grpchat>");
  info(a, acked);
  auto out = take(a);
  REQUIRE(out.size() == 2); // the fan-out and the acknowledgement
  std::optional<xccos::item> rpl;
  for (const auto& body : out)
    if (auto it = single_item(body); it.kind == xccos::item_kind::rpl)
      rpl = it;
  REQUIRE(rpl);
  CHECK(rpl->id == "rpl:grpchat");
  CHECK(rpl->code == 200);
  CHECK(rpl->cmd_envid == "401");
  REQUIRE(rpl->data()->child("chanib"));
  CHECK(rpl->data()->child("chanib")->attr_or("seq") == "2");
  CHECK(rpl->data()->child("chanib")->attr_or("uri") == uri(lobby));
  // A refused acknowledged post is answered once, with the refusal.
  info(a, env("402", "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"" + uri(lobby) +
                       "\" ack=\"true\"><chat>" + std::string(9000, 'x') + "</chat></grpchat>"));
  auto refused = take(a);
  REQUIRE(refused.size() == 1);
  CHECK(single_item(refused[0]).code == 413);
}

TEST_CASE_METHOD(fixture, "history beyond the in-memory cache comes from the store") {
  opts.history_cache = 5;
  restart();
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  join(a, lobby);
  for (int i = 1; i <= 12; ++i)
    info(a, grpchat(std::to_string(i), uri(lobby), "", "n" + std::to_string(i)));
  take(a);
  auto h = ask(a, cmd("300", "bccontext", "<chanib uri=\"" + uri(lobby) + "\"/><bcq><last cnt=\"10\"/></bcq>"));
  auto msgs = h.data()->child("chanib")->children_named("msg");
  REQUIRE(msgs.size() == 10);
  CHECK(msgs.front()->child("chat")->text == "n3");
  CHECK(msgs.back()->child("chat")->text == "n12");

  // Scrolling back: below a seq, from the cache (seqs 8..12 are in it) and from the store.
  auto texts = [&](const std::string& last) {
    auto r = ask(a, cmd("301", "bccontext", "<chanib uri=\"" + uri(lobby) + "\"/><bcq>" + last + "</bcq>"));
    REQUIRE(r.code == 200);
    std::vector<std::string> out;
    for (const auto* m : r.data()->child("chanib")->children_named("msg"))
      out.push_back(m->child("chat")->text);
    return out;
  };
  CHECK(texts("<last cnt=\"3\" before=\"12\"/>") == std::vector<std::string>{"n9", "n10", "n11"});
  CHECK(texts("<last cnt=\"4\" before=\"6\"/>") == std::vector<std::string>{"n2", "n3", "n4", "n5"});
  CHECK(texts("<last cnt=\"10\" before=\"3\"/>") == std::vector<std::string>{"n1", "n2"});
  CHECK(texts("<last cnt=\"10\" before=\"1\"/>").empty());
  CHECK(texts("<last cnt=\"2\" before=\"99\"/>") == std::vector<std::string>{"n11", "n12"}); // beyond: the newest
}

TEST_CASE_METHOD(fixture, "part tells the others and stops delivery to the leaver") {
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(a, lobby);
  join(b, lobby);
  take(a);
  auto p = ask(b, cmd("30", "part", "<chanib uri=\"" + uri(lobby) + "\"/>"));
  CHECK(p.id == "rpl:part");
  CHECK(p.code == 200);
  CHECK(p.data()->child("chanib")->attr_or("uri") == uri(lobby));
  auto na = take(a);
  REQUIRE(na.size() == 1);
  auto ntc = single_item(na[0]);
  CHECK(ntc.id == "ntc:part");
  CHECK(ntc.data()->child("chanib")->attr_or("uri") == uri(lobby));
  CHECK(ntc.data()->child("chanib")->child("uib")->attr_or("uri") == "sip:bob@example.com");

  info(a, grpchat("31", uri(lobby), "", "after part"));
  CHECK(chat_texts(take(a)) == std::vector<std::string>{"after part"});
  auto to_b = take(b); // bob follows Lobby since he joined it: one new-content notice, not the post
  REQUIRE(to_b.size() == 1);
  CHECK(single_item(to_b[0]).id == "ntc:newcontent");
  // Posting into a room one has left is refused with no fan-out.
  auto r = ask(b, grpchat("32", uri(lobby), "", "ghost"));
  CHECK(r.id == "rpl:grpchat");
  CHECK(r.code == 403);
  CHECK(r.token == "NOT_JOINED");
  CHECK(take(a).empty());
}

TEST_CASE_METHOD(fixture, "a closed dialog parts every room it was in") {
  auto r1 = make_room("One");
  auto r2 = make_room("Two");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(a, r1);
  join(a, r2);
  join(b, r1);
  join(b, r2);
  take(a);
  close(b);
  auto na = take(a);
  REQUIRE(na.size() == 2);
  for (auto& d : na)
    CHECK(single_item(d).id == "ntc:part");
  info(a, grpchat("40", uri(r1), "", "alone"));
  CHECK(take(a).size() == 1);
  CHECK(rec->sent[b].empty());
}

TEST_CASE_METHOD(fixture, "the same user on two dialogs is one participant") {
  auto lobby = make_room("Lobby");
  auto a1 = connect("sip:alice@example.com");
  auto a2 = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(b, lobby);
  join(a1, lobby);
  CHECK(take(b).size() == 1); // ntc:join for alice's first dialog
  auto j2 = join(a2, lobby);
  CHECK(uibs(j2).size() == 2);
  CHECK(take(b).empty()); // no second ntc:join
  info(b, grpchat("50", uri(lobby), "", "hi"));
  CHECK(take(a1).size() == 1);
  CHECK(take(a2).size() == 1);
  CHECK(take(b).size() == 1); // the sender's own copy
  close(a1);
  CHECK(take(b).empty()); // alice is still there on a2
  close(a2);
  CHECK(take(b).size() == 1); // now ntc:part
}

TEST_CASE_METHOD(fixture, "join then post without waiting for rpl:join keeps the order") {
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  caf::anon_send(sessions.at(a), info_atom::value, cmd("60", "join", chanid("example.com", lobby.guid)));
  caf::anon_send(sessions.at(a), info_atom::value, grpchat("61", uri(lobby), "", "right away"));
  sched.run();
  auto docs = take(a);
  REQUIRE(docs.size() == 2);
  std::vector<std::string> ids;
  for (auto& d : docs)
    ids.push_back(single_item(d).id);
  CHECK(ids == std::vector<std::string>{"rpl:join", "grpchat"});
}

TEST_CASE_METHOD(fixture, "a joiner gets its rpl:join before any of the room's traffic however the actors interleave") {
  // The room answers the join to the session, which writes rpl:join; posts and notices go from the room to the
  // transport directly. Every interleaving of a join with another member's post and a third user's join is
  // tried by running k scheduler steps before the others act: the joiner's first document is always its reply.
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  join(a, lobby);
  for (int k = 0; k < 40; ++k) {
    INFO("scheduler steps before the others act: " << k);
    auto b = connect("sip:bob" + std::to_string(k) + "@example.com");
    auto c = connect("sip:carol" + std::to_string(k) + "@example.com");
    take(a);
    caf::anon_send(sessions.at(b), info_atom::value, cmd("70", "join", chanid("example.com", lobby.guid)));
    for (int i = 0; i < k; ++i)
      if (!sched.try_run_once())
        break;
    caf::anon_send(sessions.at(a), info_atom::value, grpchat("71", uri(lobby), "", "during a join"));
    caf::anon_send(sessions.at(c), info_atom::value, cmd("72", "join", chanid("example.com", lobby.guid)));
    sched.run();
    for (auto d : {b, c}) {
      auto docs = take(d);
      REQUIRE_FALSE(docs.empty());
      CHECK(single_item(docs.front()).id == "rpl:join");
      // The post reached each joiner at most once: live if it was accepted after the join, not at all before.
      CHECK(chat_texts(docs).size() <= 1);
    }
    close(b);
    close(c);
    take(b); // the next pair reuses these dialog ids
    take(c);
  }
}

TEST_CASE_METHOD(fixture, "bjoin joins the good rooms and reports the bad ones as fib") {
  auto r1 = make_room("One");
  auto r2 = make_room("Two");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(b, r1);
  auto r = ask(a, env("70", "<cmd id=\"cmd:bjoin\" seqid=\"1\"><data>"
                            "<chanid key=\"0\" domain=\"example.com\" value=\"" + r1.guid + "\"/>"
                            "<chanid key=\"1\" domain=\"example.com\" value=\"no-such-guid\"/>"
                            "<chanid key=\"2\" domain=\"example.com\" value=\"" + r2.guid + "\"/>"
                            "<chanid key=\"3\" domain=\"elsewhere.org\" value=\"" + r2.guid + "\"/>"
                            "</data></cmd>"));
  CHECK(r.id == "rpl:bjoin");
  CHECK(r.code == 200);
  auto chanibs = r.data()->children_named("chanib");
  auto fibs = r.data()->children_named("fib");
  REQUIRE(chanibs.size() == 2);
  REQUIRE(fibs.size() == 2);
  CHECK(chanibs[0]->attr_or("uri") == uri(r1));
  CHECK(chanibs[1]->attr_or("uri") == uri(r2));
  CHECK(fibs[0]->attr_or("key") == "OPERATION_FAILED");
  CHECK(fibs[0]->attr_or("value") == "no-such-guid");
  CHECK(fibs[1]->attr_or("domain") == "elsewhere.org");
  // uib ids are unique across the whole reply (sipe builds one map from all of them).
  std::set<std::string> ids;
  for (const auto* u : r.data()->children_named("uib"))
    CHECK(ids.insert(u->attr_or("id")).second);
  CHECK(ids.size() == 3); // bob + alice in One, alice in Two
  // Both joins are live: bob hears about alice, and alice receives posts in Two.
  CHECK(take(b).size() == 1);
  info(a, grpchat("71", uri(r2), "", "in two"));
  CHECK(chat_texts(take(a)) == std::vector<std::string>{"in two"});
}

TEST_CASE_METHOD(fixture, "bad input gets a clear error and changes nothing") {
  auto lobby = make_room("Lobby");
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(a, lobby);
  join(b, lobby);
  take(a);
  take(b);

  SECTION("unknown room") {
    storage::room ghost;
    ghost.guid = "00000000-0000-0000-0000-000000000000";
    auto r = join(a, ghost, "80");
    CHECK(r.id == "rpl:join");
    CHECK(r.code == 404);
    CHECK(r.token == "CHANNEL_NOT_FOUND");
    auto h = ask(a, cmd("81", "bccontext", "<chanib uri=\"ma-chan://example.com/nope\"/>"));
    CHECK(h.code == 404);
  }
  SECTION("unknown command") {
    auto r = ask(a, cmd("82", "frobnicate"));
    CHECK(r.id == "rpl:frobnicate");
    CHECK(r.code == 501);
    CHECK(r.token == "UNKNOWN_COMMAND");
    CHECK(r.cmd_envid == "82");
  }
  SECTION("missing arguments") {
    auto r = ask(a, cmd("83", "join"));
    CHECK(r.code == 400);
    CHECK(r.token == "INVALID_ARGUMENT");
  }
  SECTION("malformed XML still gets a reply referencing the command") {
    auto r = ask(a, "<xccos ver=\"1\" envid=\"84\"><cmd id=\"cmd:join\" seqid=\"1\"><data><chanid");
    CHECK(r.id == "rpl:join");
    CHECK(r.code == 400);
    CHECK(r.token == "MALFORMED_XML");
    CHECK(r.cmd_envid == "84");
    auto n = ask(a, "<html/>");
    CHECK(n.code == 400);
    CHECK(n.token == "NOT_XCCOS");
  }
  SECTION("chat text over messageSizeLimit") {
    auto r = ask(a, grpchat("85", uri(lobby), "", std::string(8001, 'x')));
    CHECK(r.id == "rpl:grpchat");
    CHECK(r.code == 413);
    CHECK(r.token == "MESSAGE_TOO_LARGE");
    auto ok = std::string(8000, 'y');
    info(a, grpchat("86", uri(lobby), "", ok));
    CHECK(chat_texts(take(a)) == std::vector<std::string>{ok});
    CHECK(chat_texts(take(b)) == std::vector<std::string>{ok});
  }
  SECTION("characters no client could parse") {
    auto r = ask(a, grpchat("87", uri(lobby), "", "bell &#1; here"));
    CHECK(r.id == "rpl:grpchat");
    CHECK(r.code == 400);
    CHECK((r.token == "INVALID_CHARACTERS" || r.token == "MALFORMED_XML"));
  }
  SECTION("grpchat to a room of another domain") {
    auto r = ask(a, grpchat("88", "ma-chan://elsewhere.org/" + lobby.guid, "", "x"));
    CHECK(r.code == 403);
  }
  // Whatever was refused, nothing was fanned out and nothing stored; the room still works.
  CHECK(take(b).empty());
  auto stored_before = db->last(lobby.id, 100).size();
  info(a, grpchat("89", uri(lobby), "", "still fine"));
  CHECK(chat_texts(take(b)) == std::vector<std::string>{"still fine"});
  CHECK(db->last(lobby.id, 100).size() == stored_before + 1);
}

TEST_CASE_METHOD(fixture, "chansrch lists visible rooms and matches name or description") {
  auto dev = make_room("Dev");
  auto ops = make_room("Ops");
  auto a = connect("sip:alice@example.com");
  join(a, dev);
  auto all = ask(a, cmd("90", "chansrch", "<qib qtype=\"BYNAME\" criteria=\"\" extended=\"false\"/>"));
  CHECK(all.id == "rpl:chansrch");
  auto rooms = all.data()->children_named("chanib");
  REQUIRE(rooms.size() == 2);
  CHECK(rooms[0]->attr_or("name") == "Dev");
  std::map<std::string, std::string> info_of;
  for (const auto& n : rooms[0]->children)
    info_of[n.attr_or("id")] = n.text;
  CHECK(info_of["urn:parlano:ma:info:ucnt"] == "1");
  CHECK(info_of["urn:parlano:ma:info:visibilty"] == "public");
  auto some = ask(a, cmd("91", "chansrch", "<qib qtype=\"BYNAME\" criteria=\"OPS ROOM\" extended=\"false\"/>"));
  auto found = some.data() ? some.data()->children_named("chanib") : std::vector<const xccos::node*>{};
  REQUIRE(found.size() == 1);
  CHECK(found[0]->attr_or("uri") == uri(ops));
}

TEST_CASE_METHOD(fixture, "secret rooms are invisible to outsiders, closed rooms refuse them") {
  auto secret = make_room("Secret", storage::privacy::secret);
  auto closed = make_room("Closed", storage::privacy::closed);
  REQUIRE(db->set_roles(secret.id, "sip:bob@example.com", storage::role::member).ok());
  REQUIRE(db->set_roles(closed.id, "sip:bob@example.com", storage::role::member).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");

  auto list = ask(a, cmd("95", "chansrch", "<qib qtype=\"BYNAME\" criteria=\"\"/>"));
  std::vector<std::string> names;
  if (list.data())
    for (const auto* c : list.data()->children_named("chanib"))
      names.push_back(c->attr_or("name"));
  CHECK(names == std::vector<std::string>{"Closed"});
  // Joining the secret room looks exactly like joining a room that does not exist.
  auto js = join(a, secret);
  CHECK(js.code == 404);
  CHECK(js.token == "CHANNEL_NOT_FOUND");
  auto jc = join(a, closed);
  CHECK(jc.code == 403);
  CHECK(jc.token == "ACCESS_DENIED");
  // Members get in.
  CHECK(join(b, secret).code == 200);
  CHECK(join(b, closed).code == 200);
}

TEST_CASE_METHOD(fixture, "in an auditorium only presenters post") {
  auto hall = make_room("Hall", storage::privacy::open, storage::room_type::auditorium);
  REQUIRE(db->set_roles(hall.id, "sip:pres@example.com", storage::role::presenter).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto p = connect("sip:pres@example.com");
  join(a, hall);
  join(p, hall);
  take(a);
  auto r = ask(a, grpchat("97", uri(hall), "", "heckle"));
  CHECK(r.code == 403);
  CHECK(r.token == "ACCESS_DENIED");
  CHECK(take(p).empty());
  info(p, grpchat("98", uri(hall), "", "keynote"));
  CHECK(chat_texts(take(a)) == std::vector<std::string>{"keynote"});
  CHECK(db->last(hall.id, 10).size() == 1);
}

TEST_CASE_METHOD(fixture, "history and follows survive a restart, getassoc lists member, manager, followed") {
  auto lobby = make_room("Lobby");
  auto team = make_room("Team");
  REQUIRE(db->set_roles(team.id, "sip:alice@example.com", storage::role::member | storage::role::manager).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  join(a, lobby);
  for (int i = 1; i <= 3; ++i)
    info(a, grpchat(std::to_string(i), uri(lobby), "", "before restart " + std::to_string(i)));
  take(a);
  restart();
  a = connect("sip:alice@example.com");
  auto assoc = ask(a, cmd("99", "getassoc"));
  CHECK(assoc.id == "rpl:getassoc");
  auto groups = assoc.data()->children_named("assoc");
  REQUIRE(groups.size() == 3);
  CHECK(groups[0]->attr_or("type") == "member");
  CHECK(groups[1]->attr_or("type") == "manager");
  CHECK(groups[2]->attr_or("type") == "follow");
  REQUIRE(groups[0]->children_named("chanib").size() == 1);
  CHECK(groups[0]->child("chanib")->attr_or("name") == "Team");
  CHECK(groups[0]->child("chanib")->attr_or("followed") == "false");
  CHECK(groups[1]->child("chanib")->attr_or("name") == "Team");
  REQUIRE(groups[2]->children_named("chanib").size() == 1);
  CHECK(groups[2]->child("chanib")->attr_or("name") == "Lobby"); // followed by joining it
  CHECK(groups[2]->child("chanib")->attr_or("followed") == "true");

  join(a, lobby);
  auto h = ask(a, cmd("100", "bccontext", "<chanib uri=\"" + uri(lobby) + "\"/><bcq><last cnt=\"10\"/></bcq>"));
  auto msgs = h.data()->child("chanib")->children_named("msg");
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0]->child("chat")->text == "before restart 1");
  CHECK(msgs[2]->child("chat")->text == "before restart 3");
  // Sequence numbers continue after the restart.
  info(a, grpchat("101", uri(lobby), "", "after restart"));
  auto g = single_item(take(a).at(0));
  CHECK(g.element.attr_or("msgid") == "4");
}

TEST_CASE_METHOD(fixture, "a failed store write is refused and not fanned out") {
  // Drop the store's directory contents out from under it by closing RocksDB's files is not portable; instead
  // the writer is replaced by one on a read-only store, which refuses every append.
  auto lobby = make_room("Lobby");
  std::unique_ptr<storage::store> ro;
  storage::open_options o;
  o.read_only = true;
  REQUIRE(storage::store::open(dir.path.string(), o, ro).ok());
  std::shared_ptr<storage::store> ro_shared = std::move(ro);
  caf::anon_send_exit(dir_actor, caf::exit_reason::user_shutdown);
  sched.run();
  auto bad_writer = spawn_store_writer(sys, ro_shared, false);
  dir_actor = sys.spawn(directory, db, bad_writer, opts);
  sched.run();
  auto a = connect("sip:alice@example.com");
  join(a, lobby);
  auto r = ask(a, grpchat("110", uri(lobby), "", "lost?"));
  CHECK(r.id == "rpl:grpchat");
  CHECK(r.code == 503);
  CHECK(r.token == "STORE_UNAVAILABLE");
  CHECK(db->last(lobby.id, 10).empty());
  caf::anon_send_exit(bad_writer, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "above the participant update limit joins are not pushed and rosters are not sent") {
  opts.participant_update_limit = 3;
  restart();
  auto lobby = make_room("Lobby");
  std::vector<dialog_id> d;
  for (int i = 0; i < 5; ++i)
    d.push_back(connect("sip:u" + std::to_string(i) + "@example.com"));
  for (int i = 0; i < 3; ++i)
    join(d[static_cast<size_t>(i)], lobby);
  // u0 heard u1 and u2 join, u1 heard u2 (the room stayed within the limit).
  CHECK(take(d[0]).size() == 2);
  CHECK(take(d[1]).size() == 1);
  CHECK(take(d[2]).empty());
  // The fourth user takes the room over the limit: nobody is told, and the roster holds only the joiner.
  auto j4 = join(d[3], lobby);
  REQUIRE(j4.code == 200);
  auto uib4 = j4.data()->children_named("uib");
  REQUIRE(uib4.size() == 1);
  CHECK(uib4[0]->attr_or("uri") == "sip:u3@example.com");
  join(d[4], lobby);
  for (auto x : d)
    CHECK(take(x).empty());
  // Posts still reach everyone.
  info(d[4], grpchat("120", uri(lobby), "", "all of you"));
  for (auto x : d)
    CHECK(take(x).size() == 1);
  // Leaving while the room is large is silent too.
  close(d[4]);
  for (int i = 0; i < 4; ++i)
    CHECK(take(d[static_cast<size_t>(i)]).empty());
}

TEST_CASE_METHOD(fixture, "catchup returns what each room got after the client's last seq, in one reply") {
  opts.history_cache = 4; // so older catch-ups are served from the store
  restart();
  auto one = make_room("One");
  auto two = make_room("Two");
  auto closed = make_room("Closed", storage::privacy::closed);
  auto a = connect("sip:alice@example.com");
  join(a, one);
  join(a, two);
  for (int i = 1; i <= 10; ++i)
    info(a, grpchat(std::to_string(i), uri(one), "", "one-" + std::to_string(i)));
  for (int i = 1; i <= 3; ++i)
    info(a, grpchat(std::to_string(20 + i), uri(two), "", "two-" + std::to_string(i)));
  take(a);
  auto b = connect("sip:bob@example.com");
  auto r = ask(b, cmd("30", "catchup",
                      "<chanib uri=\"" + uri(one) + "\" seq=\"3\"/><chanib uri=\"" + uri(two) + "\" seq=\"1\"/>"
                      "<chanib uri=\"ma-chan://example.com/missing\" seq=\"0\"/><chanib uri=\"" + uri(closed)
                        + "\" seq=\"0\"/>"));
  CHECK(r.id == "rpl:catchup");
  CHECK(r.code == 200);
  auto ibs = r.data()->children_named("chanib");
  REQUIRE(ibs.size() == 2);
  auto texts = [](const xccos::node* ib) {
    std::vector<std::string> out;
    for (const auto* m : ib->children_named("msg"))
      out.push_back(m->child("chat")->text);
    return out;
  };
  CHECK(ibs[0]->attr_or("uri") == uri(one));
  CHECK(ibs[0]->attr_or("more") == "false");
  CHECK(texts(ibs[0]) == std::vector<std::string>{"one-4", "one-5", "one-6", "one-7", "one-8", "one-9", "one-10"});
  CHECK(ibs[0]->children_named("msg").front()->attr_or("msgid") == "4");
  CHECK(texts(ibs[1]) == std::vector<std::string>{"two-2", "two-3"});
  // The unknown room and the closed one (bob is no member) come back as failures, not as silence.
  auto fibs = r.data()->children_named("fib");
  REQUIRE(fibs.size() == 2);
  CHECK(fibs[0]->attr_or("value") == "missing");
  CHECK(fibs[1]->attr_or("value") == closed.guid);
  // Caught up: nothing after the newest seq.
  auto none = ask(b, cmd("31", "catchup", "<chanib uri=\"" + uri(one) + "\" seq=\"10\"/>"));
  REQUIRE(none.data()->children_named("chanib").size() == 1);
  CHECK(none.data()->child("chanib")->children_named("msg").empty());
}

TEST_CASE_METHOD(fixture, "follow and unfollow change what getassoc offers for rejoining") {
  auto one = make_room("One");
  auto two = make_room("Two");
  auto secret = make_room("Secret", storage::privacy::secret);
  auto a = connect("sip:alice@example.com");
  auto followed = [&] {
    std::vector<std::string> names;
    auto r = ask(a, cmd("50", "getassoc"));
    for (const auto* g : r.data()->children_named("assoc"))
      for (const auto* ch : g->children_named("chanib"))
        if (ch->attr_or("followed") == "true")
          names.push_back(ch->attr_or("name"));
    std::sort(names.begin(), names.end());
    return names;
  };
  join(a, one); // joining follows
  CHECK(followed() == std::vector<std::string>{"One"});

  auto f = ask(a, cmd("51", "follow",
                      "<chanib uri=\"" + uri(two) + "\"/><chanib uri=\"" + uri(secret)
                        + "\"/><chanib uri=\"ma-chan://example.com/nope\"/><chanib uri=\"ma-chan://other.org/"
                        + two.guid + "\"/>"));
  CHECK(f.id == "rpl:follow");
  CHECK(f.code == 200);
  REQUIRE(f.data()->children_named("chanib").size() == 1);
  CHECK(f.data()->child("chanib")->attr_or("uri") == uri(two));
  auto fibs = f.data()->children_named("fib");
  REQUIRE(fibs.size() == 3); // the secret room looks exactly like the unknown one
  CHECK(fibs[0]->attr_or("value") == secret.guid);
  CHECK(followed() == std::vector<std::string>{"One", "Two"});

  auto u = ask(a, cmd("52", "unfollow", "<chanib uri=\"" + uri(one) + "\"/>"));
  CHECK(u.id == "rpl:unfollow");
  CHECK(u.code == 200);
  CHECK(followed() == std::vector<std::string>{"Two"});

  // A follow and an unfollow of the same room in one envelope end as the last one said, whether or not the
  // writer puts them in one batch.
  take(a);
  info(a, env("53", "<cmd id=\"cmd:follow\" seqid=\"1\"><data><chanib uri=\"" + uri(one) + "\"/></data></cmd>"
                    "<cmd id=\"cmd:unfollow\" seqid=\"2\"><data><chanib uri=\"" + uri(one) + "\"/></data></cmd>"));
  CHECK(take(a).size() == 2);
  CHECK(followed() == std::vector<std::string>{"Two"});
  CHECK(db->follows("sip:alice@example.com").size() == 1);
}
