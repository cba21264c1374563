// The browser's chat API over real HTTP against a real pchatd (docs/web.md "Chat API"): a web tab is a member like
// a SIP dialog (posts both ways, joins and parts, the room's sequence numbers), its event stream resumes exactly
// after the last event it got, and every route checks sign-in, tab ownership, CSRF and its input.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "client/web_chat.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "support/web_client.hpp"

using json = nlohmann::json;
using pchat::client::web_chat;
using pchat::client::web_chat_config;
using pchat::client::web_event;
using pchat::test::body_of;
using pchat::test::code;
using pchat::test::pchatd_process;
using pchat::test::web_client;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<web_chat> web_member(const pchatd_process& server, const std::string& user) {
  web_chat_config cfg;
  cfg.port = server.web_port();
  cfg.user = user;
  auto w = std::make_unique<web_chat>(cfg);
  auto e = w->sign_in();
  INFO(user << ": " << e.message);
  REQUIRE(e.ok());
  auto c = w->connect();
  INFO(c.message);
  REQUIRE(c.ok());
  return w;
}

// The next event of `type` (others before it are skipped); fails the test when none comes within 10 s.
web_event next_of(web_chat& w, const std::string& type) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ev = w.next_event(std::chrono::duration_cast<pchat::client::duration>(deadline - std::chrono::steady_clock::now()));
    if (!ev)
      break;
    if (ev->data.value("type", "") == type)
      return *ev;
  }
  FAIL("no " << type << " event within 10 s");
  return {};
}

json joined(web_chat& w, const std::string& room, json extra = json::object()) {
  extra["room"] = room;
  auto r = w.call("POST", "/join", extra);
  INFO(r.err().message);
  REQUIRE(r);
  return r.value();
}

// A browser member and a SIP poster in room Dev of a pchatd keeping `replay` events per tab; the browser has seen
// one post ("before the cut") and its stream is then cut: `last` is the last event it read.
struct cut_stream {
  pchatd_process server;
  std::string dev;
  std::unique_ptr<web_chat> alice;
  std::unique_ptr<pchat::client::chat_client> bob;
  std::uint64_t last = 0;

  explicit cut_stream(int replay) : server{{"--web.chat-replay=" + std::to_string(replay)}} {
    dev = server.add_room("Dev");
    server.start();
    alice = web_member(server, "alice@example.com");
    joined(*alice, dev);
    bob = pchat::test::sign_in(server, "bob@example.com");
    REQUIRE(bob->join(dev));
    REQUIRE(bob->post(dev, "before the cut"));
    CHECK(next_of(*alice, "post").data["text"] == "before the cut");
    last = alice->last_event();
    alice->disconnect();
  }
};

} // namespace

TEST_CASE("web chat: a browser tab and a SIP client in one room see each other's posts, joins and parts") {
  pchatd_process server;
  const auto lobby = server.add_room("Lobby");
  server.start();

  auto alice = web_member(server, "alice@example.com");
  auto j = joined(*alice, lobby);
  CHECK(j["room"]["name"] == "Lobby");
  CHECK(j["online"] == 1);
  REQUIRE(j["participants"].size() == 1);
  CHECK(j["participants"][0]["uri"] == "sip:alice@example.com");

  auto bob = pchat::test::sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));
  auto bob_joined = next_of(*alice, "join");
  CHECK(bob_joined.data["user"] == "sip:bob@example.com");
  CHECK(bob_joined.data["room"] == lobby);

  // SIP -> web: the post with its sequence number, text as posted (markup is text).
  auto from_bob = bob->post(lobby, "hello <b>web</b> & \"friends\"");
  REQUIRE(from_bob);
  auto seen = next_of(*alice, "post");
  CHECK(seen.data["text"] == "hello <b>web</b> & \"friends\"");
  CHECK(seen.data["author"] == "sip:bob@example.com");
  CHECK(seen.data["seq"] == from_bob->seq);
  CHECK(seen.data["room"] == lobby);

  // web -> SIP: the answer carries the seq the SIP client sees.
  auto seq = alice->post(lobby, "hi bob, <i>from</i> the browser");
  INFO(seq.err().message);
  REQUIRE(seq);
  CHECK(seq.value() == from_bob->seq + 1);
  auto line = bob->next_chat(10000ms);
  REQUIRE(line);
  CHECK(line->text == "hi bob, <i>from</i> the browser");
  CHECK(line->author == "sip:alice@example.com");
  CHECK(line->seq == seq.value());
  CHECK(next_of(*alice, "post").data["seq"] == seq.value()); // the sender gets its own post too

  // History over the API is the same posts in order.
  auto h = alice->call("GET", "/history?room=" + lobby + "&n=10");
  REQUIRE(h);
  REQUIRE(h->at("messages").size() == 2);
  CHECK(h->at("messages")[0]["seq"] == from_bob->seq);
  CHECK(h->at("messages")[1]["text"] == "hi bob, <i>from</i> the browser");

  // Scrolling back: the posts below a seq.
  auto older = alice->call("GET", "/history?room=" + lobby + "&n=5&before=" + std::to_string(seq.value()));
  REQUIRE(older);
  REQUIRE(older->at("messages").size() == 1);
  CHECK(older->at("messages")[0]["seq"] == from_bob->seq);
  auto none = alice->call("GET", "/history?room=" + lobby + "&n=5&before=" + std::to_string(from_bob->seq));
  REQUIRE(none);
  CHECK(none->at("messages").empty());

  REQUIRE(bob->part(lobby).ok());
  auto parted = next_of(*alice, "part");
  CHECK(parted.data["user"] == "sip:bob@example.com");

  // Another browser joins and sees the history a newcomer gets.
  auto carol = web_member(server, "carol@example.com");
  auto cj = joined(*carol, lobby, {{"history", 1}});
  REQUIRE(cj["messages"].size() == 1);
  CHECK(cj["messages"][0]["seq"] == seq.value());
  CHECK(cj["online"] == 2);
  CHECK(next_of(*alice, "join").data["user"] == "sip:carol@example.com");
}

TEST_CASE("web chat: a cut stream resumes with exactly the events it missed, once") {
  cut_stream cut{8};
  const auto& dev = cut.dev;
  auto& alice = cut.alice;
  auto& bob = cut.bob;
  const auto last = cut.last;
  std::vector<std::uint64_t> missed;
  for (int i = 1; i <= 3; ++i) {
    auto p = bob->post(dev, "missed " + std::to_string(i));
    REQUIRE(p);
    missed.push_back(p->seq);
  }
  REQUIRE(alice->connect(last).ok());
  for (int i = 1; i <= 3; ++i) {
    auto ev = next_of(*alice, "post");
    CHECK(ev.data["text"] == "missed " + std::to_string(i));
    CHECK(ev.data["seq"] == missed[static_cast<std::size_t>(i - 1)]);
    CHECK(ev.id == last + static_cast<std::uint64_t>(i));
  }
  CHECK_FALSE(alice->next_event(500ms)); // nothing twice

  // Cut for longer than the tab keeps events (8 here): the stream says reset, and the page catches up by seq.
  const auto have = missed.back();
  alice->disconnect();
  for (int i = 1; i <= 12; ++i)
    REQUIRE(bob->post(dev, "long gap " + std::to_string(i)));
  REQUIRE(alice->connect(alice->last_event()).ok());
  auto first = alice->next_event(10000ms);
  REQUIRE(first);
  CHECK(first->data["type"] == "reset");
  CHECK_FALSE(alice->next_event(500ms));
  auto caught = joined(*alice, dev, {{"after", have}});
  REQUIRE(caught["messages"].size() == 12);
  CHECK(caught["messages"][0]["text"] == "long gap 1");
  CHECK(caught["messages"][11]["seq"] == have + 12);
  CHECK(caught["more"] == false);
}

TEST_CASE("web chat: a resume whose replay would be more than half a stream's limit gets reset instead") {
  cut_stream cut{1000};
  const auto& dev = cut.dev;
  auto& alice = cut.alice;
  auto& bob = cut.bob;
  const auto last = cut.last;
  for (int i = 0; i < 80; ++i) // 80 x 7,900 bytes: over half of the 1 MiB a stream may fall behind
    REQUIRE(bob->post(dev, std::to_string(i) + std::string(7900, 'z')));
  REQUIRE(alice->connect(last).ok());
  auto first = alice->next_event(10000ms);
  REQUIRE(first);
  CHECK(first->data["type"] == "reset"); // not a replay that would end the stream at once, on every reconnect
  REQUIRE(bob->post(dev, "live again"));
  CHECK(next_of(*alice, "post").data["text"] == "live again");
}

TEST_CASE("web chat: sign-in, tab ownership and CSRF are checked on every route") {
  pchatd_process server;
  const auto lobby = server.add_room("Lobby");
  server.start();

  web_client anon{server};
  CHECK(code(anon.send("POST", "/api/chat/tabs", json::object())) == 401);

  web_client alice{server};
  REQUIRE(alice.sign_in("alice@example.com") == 200);
  REQUIRE(!alice.csrf().empty());
  CHECK(body_of(alice.get("/api/me"))["csrf"] == alice.csrf());
  auto opened = alice.send("POST", "/api/chat/tabs", json::object());
  REQUIRE(code(opened) == 201);
  const std::string tab = body_of(opened)["tab"];
  const std::string base = "/api/chat/tabs/" + tab;
  CHECK(code(anon.get(base + "/rooms")) == 401);
  CHECK(code(anon.get(base + "/events")) == 401);
  auto metrics = anon.get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("\npchat_web_chat_tabs 1\n") != std::string::npos);
  CHECK(metrics->body.find("\npchat_web_streams_open 0\n") != std::string::npos);

  // Every route of a tab: 401 without a sign-in; Bob, signed in, cannot use Alice's tab (it does not exist for him).
  web_client bob{server};
  REQUIRE(bob.sign_in("bob@example.com") == 200);
  const std::string q = "?room=" + lobby + "&text=x";
  for (const char* route : {"/events", "/rooms", "/assoc", "/history", "/roster", "/invitations", "/search"}) {
    INFO(route);
    CHECK(code(anon.get(base + route + q)) == 401);
    CHECK(code(bob.get(base + route + q)) == 404);
  }
  const json bodies[] = {{{"room", lobby}}, {{"room", lobby}, {"text", "as alice"}}, {{"room", lobby}, {"on", true}},
                         {{"room", lobby}, {"upload", true}, {"name", "x.txt"}}};
  const std::pair<const char*, int> posts[] = {{"/join", 0}, {"/part", 0}, {"/post", 1}, {"/follow", 2}, {"/file-token", 3}};
  for (const auto& [route, body] : posts) {
    INFO(route);
    CHECK(code(anon.send("POST", base + route, bodies[body])) == 401);
    CHECK(code(bob.send("POST", base + route, bodies[body])) == 404);
  }
  CHECK(code(bob.del(base)) == 200); // closing someone else's tab closes nothing
  CHECK(code(alice.get(base + "/assoc")) == 200);

  // Without the CSRF token (or with Bob's) nothing that changes anything is done.
  const auto token = alice.csrf();
  for (const std::string& wrong : {std::string{}, bob.csrf()}) {
    alice.csrf() = wrong;
    CHECK(code(alice.send("POST", base + "/join", {{"room", lobby}})) == 403);
    CHECK(code(alice.send("POST", "/api/chat/tabs", json::object())) == 403);
    CHECK(code(alice.del(base)) == 403);
    CHECK(code(alice.send("PATCH", "/api/rooms/Lobby", {{"topic", "csrf"}})) == 403);
    CHECK(code(alice.send("POST", "/api/signout", json::object())) == 403);
  }
  alice.csrf() = token;
  auto roster = body_of(alice.get(base + "/roster?room=" + lobby));
  CHECK(roster["total"] == 0); // the refused join did not happen
  CHECK(code(alice.get(base + "/assoc")) == 200); // still signed in, the tab still open

  // Signing out ends the sign-in's tabs.
  REQUIRE(code(alice.send("POST", "/api/signout", json::object())) == 200);
  REQUIRE(alice.sign_in("alice@example.com") == 200);
  CHECK(code(alice.get(base + "/assoc")) == 404);
}

TEST_CASE("web chat: bad input gets a clear 4xx and changes nothing") {
  pchatd_process server{{"--web.chat-tabs=2"}};
  const auto lobby = server.add_room("Lobby");
  const auto secret = server.add_room("Hideout", "--privacy secret");
  server.start();

  auto alice = web_member(server, "alice@example.com");
  auto call_status = [&](const std::string& method, const std::string& path, const json& body) {
    auto r = alice->call(method, path, body);
    return r ? 200 : r.err().status;
  };
  CHECK(call_status("POST", "/join", {{"room", 5}}) == 400);
  CHECK(call_status("POST", "/join", {{"room", "Lobby"}}) == 400);
  CHECK(call_status("POST", "/join", {{"room", lobby}, {"history", -1}}) == 400);
  CHECK(call_status("POST", "/join", {{"room", lobby}, {"history", "ten"}}) == 400);
  CHECK(call_status("POST", "/join", {{"room", lobby}, {"history", 1001}}) == 400);
  CHECK(call_status("POST", "/join", {{"room", lobby}, {"colour", "red"}}) == 400);
  CHECK(call_status("POST", "/join", {{"room", "ma-chan://example.com/00000000-0000-0000-0000-000000000000"}}) == 404);
  CHECK(call_status("POST", "/join", {{"room", secret}}) == 404); // an outsider cannot tell it exists
  CHECK(call_status("POST", "/post", {{"room", lobby}, {"text", "not joined"}}) == 403);
  CHECK(call_status("POST", "/post", {{"room", lobby}, {"text", ""}}) == 400);
  CHECK(call_status("POST", "/post", {{"room", lobby}, {"text", json::array()}}) == 400);
  CHECK(call_status("POST", "/post", {{"room", lobby}, {"text", "bell \x07"}}) == 400);
  CHECK(call_status("POST", "/follow", {{"room", lobby}, {"on", "yes"}}) == 400);
  CHECK(call_status("GET", "/history?room=" + lobby + "&n=x", {}) == 400);
  CHECK(call_status("GET", "/history?room=" + secret, {}) == 404);
  CHECK(call_status("GET", "/roster?room=" + lobby + "&count=99999", {}) == 400);
  auto search = alice->call("GET", "/rooms?q=Hide");
  REQUIRE(search);
  CHECK(search->at("rooms").empty()); // secret rooms are not found by outsiders

  joined(*alice, lobby);
  CHECK(call_status("POST", "/post", {{"room", lobby}, {"text", std::string(9000, 'x')}}) == 413);

  web_client raw{server};
  REQUIRE(raw.sign_in("alice@example.com") == 200);
  auto tab = body_of(raw.send("POST", "/api/chat/tabs", json::object()));
  const std::string base = "/api/chat/tabs/" + tab["tab"].get<std::string>();
  CHECK(code(raw.send_raw("POST", base + "/post", "room=x&text=y", "application/x-www-form-urlencoded")) == 415);
  CHECK(code(raw.send_raw("POST", base + "/post", "[1,2]", "application/json")) == 400);
  CHECK(code(raw.send_raw("POST", base + "/post", std::string(70000, ' '), "application/json")) == 413);
  CHECK(code(raw.get(base + "/events?after=minus")) == 400);
  // HEAD on the stream is refused (it would replace the tab's stream).
  httplib::Client head_client{"127.0.0.1", server.web_port()};
  auto head = head_client.Head((base + "/events").c_str(), {{"Cookie", raw.cookie()}});
  REQUIRE(head);
  CHECK(head->status == 400);
  // The user's tab limit (2 here, over all their sign-ins: alice's other tab counts): refused until one closes.
  CHECK(code(raw.send("POST", "/api/chat/tabs", json::object())) == 503);
  web_client again{server};
  REQUIRE(again.sign_in("alice@example.com") == 200);
  CHECK(code(again.send("POST", "/api/chat/tabs", json::object())) == 503); // signing in again is no way around it
  CHECK(code(raw.del(base)) == 200);
  CHECK(code(again.send("POST", "/api/chat/tabs", json::object())) == 201);

  // Nothing above posted anything.
  auto h = alice->call("GET", "/history?room=" + lobby);
  REQUIRE(h);
  CHECK(h->at("messages").empty());
}

TEST_CASE("web chat: invitations, history search and room files through a tab") {
  pchatd_process server;
  REQUIRE(server.ctl("init") == 0);
  REQUIRE(server.ctl("category add Teams --invite true") == 0);
  std::string out;
  REQUIRE(server.ctl("room add Design --category Teams --privacy closed", &out) == 0);
  const auto design = out.substr(out.find('\t') + 1, out.find_first_of("\r\n") - out.find('\t') - 1);
  REQUIRE(server.ctl("member add Design bob@example.com --role manager") == 0);
  server.start();

  auto alice = web_member(server, "alice@example.com");
  CHECK(alice->call("POST", "/join", {{"room", design}}).err().status == 403); // closed: members only

  // Bob, a manager, adds Alice from the management page: her tab is told at once and getinv lists it.
  web_client bob{server};
  REQUIRE(bob.sign_in("bob@example.com") == 200);
  REQUIRE(code(bob.send("PUT", "/api/rooms/Design/roles", {{"user", "alice@example.com"}, {"roles", {"member"}}})) == 200);
  auto invited = next_of(*alice, "invitation");
  CHECK(invited.data["room"] == design);
  CHECK(invited.data["name"] == "Design");
  CHECK(invited.data["inviter"] == "sip:bob@example.com");
  auto listed = alice->call("GET", "/invitations");
  REQUIRE(listed);
  REQUIRE(listed->at("invitations").size() == 1);
  CHECK(listed->at("invitations")[0]["room"] == design);

  joined(*alice, design);
  REQUIRE(alice->post(design, "deploy on friday"));
  REQUIRE(alice->post(design, "lunch"));
  auto found = alice->call("GET", "/search?text=Friday");
  REQUIRE(found);
  REQUIRE(found->at("messages").size() == 1);
  CHECK(found->at("messages")[0]["text"] == "deploy on friday");
  CHECK(found->at("messages")[0]["room"] == design);
  CHECK(alice->call("GET", "/search?text=").err().status == 400);

  // A file: a token for the upload, the bytes with it, the link posted; a token for the download.
  auto up = alice->call("POST", "/file-token", {{"room", design}, {"upload", true}, {"name", "notes <1>.txt"}});
  INFO(up.err().message);
  REQUIRE(up);
  const std::string url = up->at("url");
  REQUIRE(url.rfind(server.web_url(), 0) == 0);
  httplib::Client http{"127.0.0.1", server.web_port()};
  auto put = http.Put(url.substr(server.web_url().size()).c_str(), {{"Authorization", "Bearer " + up->at("token").get<std::string>()}},
                      "hello file", "text/plain");
  REQUIRE(put);
  REQUIRE(put->status == 201);
  const std::string link = json::parse(put->body)["link"];
  REQUIRE(alice->post(design, "see " + link));
  auto down = alice->call("POST", "/file-token", {{"room", design}, {"upload", false}, {"link", link}});
  REQUIRE(down);
  auto got = http.Get((down->at("url").get<std::string>().substr(server.web_url().size()) + "?token=" +
                       down->at("token").get<std::string>()).c_str());
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == "hello file");
  CHECK(alice->call("POST", "/file-token", {{"room", design}, {"upload", "yes"}, {"name", "x"}}).err().status == 400);

  web_client carol{server}; // not a member: no token for the closed room
  REQUIRE(carol.sign_in("carol@example.com") == 200);
  auto tab = body_of(carol.send("POST", "/api/chat/tabs", json::object()))["tab"].get<std::string>();
  CHECK(code(carol.send("POST", "/api/chat/tabs/" + tab + "/file-token",
                        {{"room", design}, {"upload", false}, {"link", link}})) == 403);
}
