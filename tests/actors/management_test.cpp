// Room management, invitations, preferences and category scope as clients see them: XCCOS commands through real
// sessions, the directory, rooms and RocksDB, deterministically (test_coordinator).
#include "fixture.hpp"

using namespace pchat;
using namespace pchat::test;

namespace {

std::vector<std::string> names_in(const xccos::item& rpl, const char* element = "chanib") {
  std::vector<std::string> out;
  if (rpl.data())
    for (const auto* c : rpl.data()->children_named(element))
      out.push_back(c->attr_or("name"));
  return out;
}

std::string chanib_attrs(const storage::room& r, const std::string& attrs) {
  return "<chanib uri=\"ma-chan://example.com/" + r.guid + "\" " + attrs + "/>";
}

struct mgmt_fixture : fixture {
  // Sets a category's fields straight in the store and restarts so the directory loads them.
  void set_general(const std::function<void(storage::category&)>& change) {
    auto c = *db->category_by_id(general.id);
    change(c);
    REQUIRE(db->update_category(c).ok());
    general = c;
    restart();
  }
};

} // namespace

TEST_CASE_METHOD(mgmt_fixture, "a manager changes settings with chanupd, members and outsiders are refused") {
  auto team = make_room("Team");
  auto secret = make_room("Hidden", storage::privacy::secret);
  REQUIRE(db->set_roles(team.id, "sip:alice@example.com", storage::role::manager).ok());
  REQUIRE(db->set_roles(team.id, "sip:bob@example.com", storage::role::member).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  auto m = connect("sip:mallory@example.com");

  auto ok = ask(a, cmd("1", "chanupd", chanib_attrs(team, "topic=\"Release train\" description=\"We ship\"")));
  CHECK(ok.code == 200);
  CHECK(names_in(ok) == std::vector<std::string>{"Team"});
  CHECK(db->room_by_id(team.id)->topic == "Release train");
  auto joined = join(b, team);
  CHECK(joined.data()->child("chanib")->attr_or("topic") == "Release train");

  auto member = ask(b, cmd("2", "chanupd", chanib_attrs(team, "topic=\"mine\"")));
  CHECK(member.code == 403);
  CHECK(member.token == "ACCESS_DENIED");
  auto outsider = ask(m, cmd("3", "chanupd", chanib_attrs(team, "privacy=\"open\"")));
  CHECK(outsider.code == 403);
  auto hidden = ask(m, cmd("4", "chanupd", chanib_attrs(secret, "topic=\"x\"")));
  CHECK(hidden.code == 404); // exactly what an unknown room answers
  CHECK(hidden.token == "CHANNEL_NOT_FOUND");
  auto roles = ask(m, cmd("5", "chanrole", chanib_attrs(team, "") + "<uib uri=\"sip:mallory@example.com\" roles=\"manager\"/>"));
  CHECK(roles.code == 403);
  CHECK(db->roles_of(team.id, "sip:mallory@example.com") == 0);
  auto bad = ask(a, cmd("6", "chanupd", chanib_attrs(team, "privacy=\"nobody\"")));
  CHECK(bad.code == 400);
  CHECK(db->room_by_id(team.id)->privacy_mode == storage::privacy::open);
  auto nothing = ask(a, cmd("7", "chanupd", chanib_attrs(team, "")));
  CHECK(nothing.code == 400);
  CHECK(db->room_by_id(team.id)->topic == "Release train");
}

TEST_CASE_METHOD(mgmt_fixture, "closing a room lets go of online non-members at once") {
  auto lobby = make_room("Lobby");
  REQUIRE(db->set_roles(lobby.id, "sip:alice@example.com", storage::role::manager | storage::role::member).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto g = connect("sip:guest@example.com");
  join(a, lobby);
  join(g, lobby);
  take(a);
  take(g);
  info(a, cmd("1", "chanupd", chanib_attrs(lobby, "privacy=\"closed\"")));
  auto to_guest = take(g);
  REQUIRE(to_guest.size() == 1);
  auto part = single_item(to_guest[0]);
  CHECK(part.id == "ntc:part");
  CHECK(part.data()->child("chanib")->child("uib")->attr_or("uri") == "sip:guest@example.com");
  std::vector<std::string> told; // the guest leaving and the manager's own reply, in either order
  for (const auto& doc : take(a))
    told.push_back(single_item(doc).id);
  std::sort(told.begin(), told.end());
  CHECK(told == std::vector<std::string>{"ntc:part", "rpl:chanupd"});
  auto post = ask(g, grpchat("2", uri(lobby), "", "still here?"));
  CHECK(post.code == 403);
  CHECK(post.token == "NOT_JOINED");
  CHECK(join(g, lobby).code == 403);
  info(a, grpchat("3", uri(lobby), "", "members only now"));
  CHECK(take(g).empty());
  // The guest's session forgot the room: once it is open again, the guest (who follows it since joining) is told
  // about new posts instead of being treated as still inside.
  info(a, cmd("4", "chanupd", chanib_attrs(lobby, "privacy=\"open\"")));
  take(g);
  info(a, grpchat("5", uri(lobby), "", "open again"));
  std::vector<std::string> ids;
  for (const auto& doc : take(g))
    ids.push_back(single_item(doc).id);
  CHECK(ids == std::vector<std::string>{"ntc:newcontent"});
}

TEST_CASE_METHOD(mgmt_fixture, "invitations: chanrole adds a member, the online invitee is told, getinv returns it once") {
  set_general([](storage::category& c) { c.invite = true; });
  auto team = make_room("Team", storage::privacy::closed);
  REQUIRE(db->set_roles(team.id, "sip:alice@example.com", storage::role::manager).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  take(b);

  auto added = ask(a, cmd("1", "chanrole",
                          chanib_attrs(team, "") + "<uib uri=\"Bob &lt;sip:Bob@Example.com&gt;\" roles=\"member\"/>"
                            + "<uib uri=\"sip:carol@example.com\" roles=\"member presenter\"/>"));
  REQUIRE(added.code == 200);
  auto items = added.data()->children_named("uib");
  REQUIRE(items.size() == 2);
  CHECK(items[0]->attr_or("invited") == "true");
  CHECK(db->roles_of(team.id, "sip:bob@example.com") == storage::role::member);
  CHECK(db->roles_of(team.id, "sip:carol@example.com") == (storage::role::member | storage::role::presenter));

  auto pushed = take(b);
  REQUIRE(pushed.size() == 1);
  auto ntc = single_item(pushed[0]);
  CHECK(ntc.id == "ntc:inv");
  const auto* inv = ntc.data()->child("inv");
  REQUIRE(inv);
  CHECK(inv->attr_or("chanUri") == uri(team));
  CHECK(inv->attr_or("name") == "Team");
  CHECK(inv->attr_or("inviter") == "sip:alice@example.com");

  auto first = ask(b, cmd("2", "getinv", "<inv inviteId=\"1\" domain=\"example.com\"/>"));
  CHECK(first.code == 200);
  REQUIRE(first.data()->children_named("inv").size() == 1);
  auto second = ask(b, cmd("3", "getinv", "<inv inviteId=\"1\" domain=\"example.com\"/>"));
  CHECK(second.data()->children_named("inv").empty());
  CHECK(join(b, team).code == 200); // the invitation made bob a member

  // Carol was offline: her invitation waits across a restart until she asks.
  restart();
  auto c = connect("sip:carol@example.com");
  auto hers = ask(c, cmd("4", "getinv"));
  REQUIRE(hers.data()->children_named("inv").size() == 1);
  CHECK(hers.data()->child("inv")->attr_or("chanUri") == uri(team));
}

TEST_CASE_METHOD(mgmt_fixture, "chancreate by a category creator, nodespermcreatechild lists where one may create") {
  set_general([](storage::category& c) { c.creators = {"sip:alice@example.com"}; });
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  auto cat_uri = "ma-cat://example.com/" + general.guid;

  auto perm_a = ask(a, cmd("1", "nodespermcreatechild"));
  CHECK(perm_a.code == 200);
  REQUIRE(perm_a.data()->children_named("cat").size() == 1);
  CHECK(perm_a.data()->child("cat")->attr_or("uri") == cat_uri);
  auto perm_b = ask(b, cmd("2", "nodespermcreatechild"));
  CHECK(perm_b.code == 200);
  CHECK(perm_b.data()->children_named("cat").empty());

  auto made = ask(a, cmd("3", "chancreate",
                         "<chanib name=\"Plans\" description=\"Roadmap\" privacy=\"secret\" category=\"" + cat_uri + "\"/>"));
  REQUIRE(made.code == 200);
  CHECK(names_in(made) == std::vector<std::string>{"Plans"});
  auto plans = db->room_by_name("Plans");
  REQUIRE(plans);
  CHECK(plans->privacy_mode == storage::privacy::secret);
  CHECK(db->roles_of(plans->id, "sip:alice@example.com") == (storage::role::member | storage::role::manager));
  auto assoc = ask(a, cmd("4", "getassoc"));
  bool listed_as_manager = false;
  for (const auto* g : assoc.data()->children_named("assoc"))
    if (g->attr_or("type") == "manager")
      listed_as_manager = !g->children_named("chanib").empty();
  CHECK(listed_as_manager);
  // The new secret room is invisible to bob; bob may not create rooms.
  CHECK(names_in(ask(b, cmd("5", "chansrch", "<qib qtype=\"BYNAME\" criteria=\"Plans\"/>"))).empty());
  auto refused = ask(b, cmd("6", "chancreate", "<chanib name=\"Bobs\" category=\"" + cat_uri + "\"/>"));
  CHECK(refused.code == 403);
  CHECK_FALSE(db->room_by_name("Bobs"));
  auto taken = ask(a, cmd("7", "chancreate", "<chanib name=\"plans\" category=\"" + cat_uri + "\"/>"));
  CHECK(taken.code == 409);
  CHECK(taken.token == "NAME_TAKEN");
  auto nowhere = ask(a, cmd("8", "chancreate", "<chanib name=\"X\" category=\"ma-cat://example.com/nope\"/>"));
  CHECK(nowhere.code == 404);
  CHECK(nowhere.token == "CATEGORY_NOT_FOUND");
}

TEST_CASE_METHOD(mgmt_fixture, "category scope: users outside it find nothing and join nothing") {
  auto lobby = make_room("Lobby");
  set_general([](storage::category& c) {
    c.allow = {"example.com"};
    c.deny = {"sip:mallory@example.com"};
  });
  auto a = connect("sip:alice@example.com");
  auto g = connect("sip:guest@partner.org");
  auto m = connect("sip:mallory@example.com");
  auto all = "<qib qtype=\"BYNAME\" criteria=\"\"/>";
  CHECK(names_in(ask(a, cmd("1", "chansrch", all))) == std::vector<std::string>{"Lobby"});
  CHECK(names_in(ask(g, cmd("2", "chansrch", all))).empty());
  CHECK(names_in(ask(m, cmd("3", "chansrch", all))).empty());
  CHECK(join(a, lobby).code == 200);
  CHECK(join(g, lobby).code == 404);
  CHECK(join(m, lobby).code == 404);
  auto history = ask(m, cmd("4", "bccontext", "<chanib uri=\"" + uri(lobby) + "\"/><bcq><last cnt=\"5\"/></bcq>"));
  CHECK(history.code == 404);
}

TEST_CASE_METHOD(mgmt_fixture, "getpref and setpref keep per-user values") {
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  auto missing = ask(a, cmd("1", "getpref", "<pref label=\"kedzie.GroupChannels\" seqid=\"71\" createdefault=\"false\"/>"));
  CHECK(missing.code == 404);
  CHECK(missing.token == "PREF_NOT_FOUND");
  auto created = ask(a, cmd("2", "getpref", "<pref label=\"kedzie.GroupChannels\" seqid=\"71\" createdefault=\"true\"/>"));
  CHECK(created.code == 200);
  CHECK(created.data()->child("pref")->attr_or("content", "absent") == "");
  auto set = ask(a, cmd("3", "setpref",
                        "<pref label=\"kedzie.GroupChannels\" seqid=\"72\" createdefault=\"false\" content=\"aGVsbG8=\"/>"));
  CHECK(set.code == 200);
  CHECK(set.data()->child("pref")->attr_or("seqid") == "72");
  auto got = ask(a, cmd("4", "getpref", "<pref label=\"kedzie.GroupChannels\" seqid=\"73\"/>"));
  CHECK(got.data()->child("pref")->attr_or("content") == "aGVsbG8=");
  CHECK(ask(b, cmd("5", "getpref", "<pref label=\"kedzie.GroupChannels\"/>")).code == 404); // per user
  auto huge = ask(a, cmd("6", "setpref", "<pref label=\"x\" content=\"" + std::string(70000, 'A') + "\"/>"));
  CHECK(huge.code == 413);
  CHECK(ask(a, cmd("7", "setpref", "<pref content=\"x\"/>")).code == 400);
  CHECK(db->pref("sip:alice@example.com", "kedzie.GroupChannels") == std::string{"aGVsbG8="});
}

TEST_CASE_METHOD(mgmt_fixture, "histsrch finds posts by words and author across the rooms the user may read") {
  auto lobby = make_room("Lobby");
  auto team = make_room("Team", storage::privacy::closed);
  REQUIRE(db->set_roles(team.id, "sip:alice@example.com", storage::role::member).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  join(a, lobby);
  join(a, team);
  join(b, lobby);
  info(a, grpchat("1", uri(lobby), "", "Deploy on Friday?"));
  info(a, grpchat("2", uri(team), "", "secret deploy plan"));
  info(b, grpchat("3", uri(lobby), "", "no deploy on friday, please"));
  info(a, grpchat("4", uri(lobby), "", "coffee"));
  take(a);
  take(b);
  auto texts = [](const xccos::item& rpl) {
    std::vector<std::string> out;
    if (rpl.data())
      for (const auto* m : rpl.data()->children_named("msg"))
        out.push_back(m->child("chat")->text);
    return out;
  };
  auto alice_sees = ask(a, cmd("5", "histsrch", "<srch text=\"deploy\"/>"));
  CHECK(alice_sees.code == 200);
  CHECK(texts(alice_sees)
        == std::vector<std::string>{"no deploy on friday, please", "secret deploy plan", "Deploy on Friday?"});
  // bob is no member of the closed room: its post never shows.
  CHECK(texts(ask(b, cmd("6", "histsrch", "<srch text=\"deploy\"/>")))
        == std::vector<std::string>{"no deploy on friday, please", "Deploy on Friday?"});
  CHECK(texts(ask(b, cmd("7", "histsrch", "<srch text=\"DEPLOY friday\" author=\"alice@example.com\"/>")))
        == std::vector<std::string>{"Deploy on Friday?"});
  CHECK(texts(ask(a, cmd("8", "histsrch", "<srch text=\"deploy\" limit=\"1\"/>")))
        == std::vector<std::string>{"no deploy on friday, please"});
  CHECK(texts(ask(a, cmd("9", "histsrch", "<srch text=\"deploy\"/><chanib uri=\"" + uri(team) + "\"/>")))
        == std::vector<std::string>{"secret deploy plan"});
  auto refused = ask(b, cmd("10", "histsrch", "<srch text=\"deploy\"/><chanib uri=\"" + uri(team) + "\"/>"));
  CHECK(refused.code == 404);
  CHECK(texts(refused).empty());
  CHECK(ask(b, cmd("11", "histsrch", "<srch/>")).code == 400);
  CHECK(ask(b, cmd("12", "histsrch", "<srch text=\"x\" from=\"yesterday\"/>")).code == 400);
  // A time range after every post finds nothing; one that covers them all finds the lot.
  CHECK(texts(ask(a, cmd("13", "histsrch", "<srch text=\"deploy\" from=\"2999-01-01T00:00:00Z\"/>"))).empty());
  CHECK(texts(ask(a, cmd("14", "histsrch", "<srch from=\"2000-01-01T00:00:00Z\"/><chanib uri=\"" + uri(lobby) + "\"/>"))).size()
        == 3);
  auto coffee = ask(a, cmd("15", "histsrch", "<srch text=\"coffee\"/>"));
  const auto* hit = coffee.data()->child("msg");
  REQUIRE(hit);
  CHECK(hit->attr_or("chanUri") == uri(lobby));
  CHECK(hit->attr_or("author") == "sip:alice@example.com");
}

TEST_CASE_METHOD(mgmt_fixture, "new-content notices: one per followed room not joined, again after a join and part") {
  auto lobby = make_room("Lobby");
  auto vault = make_room("Vault", storage::privacy::secret);
  REQUIRE(db->follow("sip:alice@example.com", lobby.id).ok());
  REQUIRE(db->follow("sip:alice@example.com", vault.id).ok()); // followed once, membership since taken away
  REQUIRE(db->set_roles(vault.id, "sip:bob@example.com", storage::role::member).ok());
  restart();
  auto a = connect("sip:alice@example.com");
  auto b = connect("sip:bob@example.com");
  auto c = connect("sip:carol@example.com");
  join(b, lobby);
  join(b, vault);
  take(a);
  auto notices = [&](dialog_id d) {
    std::vector<std::string> out;
    for (const auto& doc : take(d)) {
      auto it = single_item(doc);
      if (it.id == "ntc:newcontent")
        out.push_back(it.data()->child("chanib")->attr_or("name") + "#" + it.data()->child("chanib")->attr_or("seq"));
    }
    return out;
  };
  info(b, grpchat("1", uri(lobby), "", "one"));
  info(b, grpchat("2", uri(lobby), "", "two"));
  info(b, grpchat("3", uri(vault), "", "hidden"));
  CHECK(notices(a) == std::vector<std::string>{"Lobby#1"}); // once, and nothing about the secret room
  CHECK(notices(c).empty());                                 // carol follows nothing
  join(a, lobby);
  take(a);
  info(b, grpchat("4", uri(lobby), "", "three"));
  CHECK(notices(a).empty()); // in the room: the post itself arrives, no notice
  ask(a, cmd("5", "part", "<chanib uri=\"" + uri(lobby) + "\"/>"));
  info(b, grpchat("6", uri(lobby), "", "four"));
  info(b, grpchat("7", uri(lobby), "", "five"));
  CHECK(notices(a) == std::vector<std::string>{"Lobby#4"});
  // Unfollowing stops them.
  ask(a, cmd("8", "unfollow", "<chanib uri=\"" + uri(lobby) + "\"/>"));
  join(a, lobby);
  ask(a, cmd("9", "part", "<chanib uri=\"" + uri(lobby) + "\"/>"));
  ask(a, cmd("10", "unfollow", "<chanib uri=\"" + uri(lobby) + "\"/>")); // joining followed it again
  info(b, grpchat("11", uri(lobby), "", "six"));
  CHECK(notices(a).empty());
}

TEST_CASE_METHOD(mgmt_fixture, "roster: the full list of who is online, a page at a time, for rooms above the limit") {
  opts.participant_update_limit = 2;
  auto big = make_room("Big");
  auto closed = make_room("Closed", storage::privacy::closed);
  restart();
  std::vector<dialog_id> ds;
  for (const char* u : {"sip:dan@example.com", "sip:bea@example.com", "sip:cal@example.com", "sip:abe@example.com"}) {
    ds.push_back(connect(u));
    join(ds.back(), big);
  }
  auto last = join(ds.back(), big);
  CHECK(last.data()->children_named("uib").size() == 1); // above the limit rpl:join lists only the joiner
  auto users = [](const xccos::item& rpl) {
    std::vector<std::string> out;
    for (const auto* u : rpl.data()->child("chanib")->children_named("uib"))
      out.push_back(u->attr_or("uri"));
    return out;
  };
  auto all = ask(ds[0], cmd("1", "roster", "<chanib uri=\"" + uri(big) + "\"/>"));
  REQUIRE(all.code == 200);
  CHECK(all.data()->child("chanib")->attr_or("total") == "4");
  CHECK(users(all) == std::vector<std::string>{"sip:abe@example.com", "sip:bea@example.com", "sip:cal@example.com",
                                               "sip:dan@example.com"});
  auto page = ask(ds[0], cmd("2", "roster", "<chanib uri=\"" + uri(big) + "\"/><page start=\"1\" count=\"2\"/>"));
  CHECK(users(page) == std::vector<std::string>{"sip:bea@example.com", "sip:cal@example.com"});
  auto beyond = ask(ds[0], cmd("3", "roster", "<chanib uri=\"" + uri(big) + "\"/><page start=\"9\"/>"));
  CHECK(users(beyond).empty());
  CHECK(ask(ds[0], cmd("4", "roster", "<chanib uri=\"" + uri(closed) + "\"/>")).code == 403);
  CHECK(ask(ds[0], cmd("5", "roster", "<chanib uri=\"ma-chan://example.com/nope\"/>")).code == 404);
  CHECK(ask(ds[0], cmd("6", "roster", "<chanib uri=\"" + uri(big) + "\"/><page count=\"x\"/>")).code == 400);
}

TEST_CASE_METHOD(mgmt_fixture, "a member whose category later denies them loses the room at once, roles or not") {
  auto team = make_room("Team", storage::privacy::closed);
  REQUIRE(db->set_roles(team.id, "sip:mallory@evil.com", storage::role::member | storage::role::manager).ok());
  restart();
  auto m = connect("sip:mallory@evil.com");
  auto a = connect("sip:alice@example.com");
  REQUIRE(join(m, team).code == 200);
  take(m);
  auto admin = principal::administrator();
  auto general_ref = general.name;
  caf::scoped_actor self{sys};
  self->send(dir_actor, update_atom::value, admin, category_atom::value, general_ref, patch{{"deny", "evil.com"}});
  sched.run();
  auto let_go = take(m);
  REQUIRE(let_go.size() == 1);
  CHECK(single_item(let_go[0]).id == "ntc:part");
  CHECK(ask(m, grpchat("1", uri(team), "", "still here")).token == "NOT_JOINED");
  CHECK(join(m, team).code == 404); // denied: the room is as good as missing to them
  CHECK(ask(m, cmd("2", "chanupd", "<chanib uri=\"" + uri(team) + "\" topic=\"mine\"/>")).code == 404);
  CHECK(ask(m, cmd("3", "histsrch", "<srch author=\"bob\"/>")).code == 400); // not a user: refused, not "anyone"
  (void)a;
}

TEST_CASE_METHOD(mgmt_fixture, "a room that lets a joiner go while its join is in flight: rpl:join first, then ntc:part") {
  // The room closes (the joiner has no role) at every point of the join: whenever the room let the user go
  // before the session wrote rpl:join, the client still reads rpl:join first and then the ntc:part, never the
  // reverse, and a later post is refused as not joined (the session forgot the room too).
  auto lobby = make_room("Lobby");
  restart();
  auto admin = principal::administrator();
  std::string ref = lobby.name;
  caf::scoped_actor self{sys};
  int let_go_during_join = 0;
  for (int k = 0; k < 30; ++k) {
    INFO("scheduler steps before the room closes: " << k);
    self->send(dir_actor, update_atom::value, admin, ref, patch{{"privacy", "open"}});
    sched.run();
    auto b = connect("sip:bob" + std::to_string(k) + "@example.com");
    take(b);
    caf::anon_send(sessions.at(b), info_atom::value, cmd("70", "join", chanid("example.com", lobby.guid)));
    for (int i = 0; i < k; ++i)
      if (!sched.try_run_once())
        break;
    self->send(dir_actor, update_atom::value, admin, ref, patch{{"privacy", "closed"}});
    sched.run();
    auto docs = take(b);
    REQUIRE_FALSE(docs.empty());
    auto first = single_item(docs.front());
    if (first.id == "rpl:join" && first.code == 200) {
      // In the room at some point: it must also have been let go, after the reply.
      REQUIRE(docs.size() == 2);
      CHECK(single_item(docs[1]).id == "ntc:part");
      ++let_go_during_join;
    } else {
      CHECK(first.id == "rpl:join"); // refused: the room was closed before the join reached it
      CHECK(docs.size() == 1);
    }
    CHECK(ask(b, grpchat("71", uri(lobby), "", "still here?")).token == "NOT_JOINED");
    close(b);
    take(b);
  }
  CHECK(let_go_during_join > 0);
}
