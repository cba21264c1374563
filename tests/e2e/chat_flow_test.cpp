// End-to-end: a real pchatd on a loopback port, driven over real SIP/TCP by the client library (docs/architecture.md "Conventions" §10).
// Synchronised on events (replies, fan-out INFOs), with timeouts only as failure bounds.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "client/chat_client.hpp"

using namespace pchat::client;
using pchat::test::pchatd_process;
using pchat::test::sign_in;

namespace {

std::vector<std::string> texts(const std::vector<chat_line>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    out.push_back(l.text);
  return out;
}

// Reads grpchats until `n` arrived (or fails after the timeout).
std::vector<chat_line> receive(chat_client& c, size_t n) {
  std::vector<chat_line> out;
  while (out.size() < n) {
    auto l = c.next_chat(duration{10000});
    INFO(c.user() << " got " << out.size() << " of " << n);
    REQUIRE(l);
    out.push_back(*l);
  }
  return out;
}

} // namespace

TEST_CASE("two users sign in, join, post, and both receive every post") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby", "--description 'Say hello'");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");

  // The provisioning document named the pool, and requri answered with the channel URI.
  CHECK(alice->pool_uri() == "sip:pchat@example.com");
  auto info = alice->get_server_info();
  REQUIRE(info);
  CHECK(info->message_size_limit == 8000);
  CHECK(info->root_uri.rfind("ma-cat://example.com/", 0) == 0);

  auto rooms = alice->search("");
  REQUIRE(rooms);
  REQUIRE(rooms->size() == 1);
  CHECK(rooms->at(0).name == "Lobby");
  CHECK(rooms->at(0).uri == lobby);
  CHECK(rooms->at(0).description == "Say hello");

  auto ja = alice->join(lobby);
  REQUIRE(ja);
  CHECK(ja->participants == std::vector<std::string>{"sip:alice@example.com"});
  auto jb = bob->join(lobby);
  REQUIRE(jb);
  CHECK(jb->participants.size() == 2);
  // Alice is told that Bob joined.
  auto ev = alice->next_event(duration{10000});
  REQUIRE(ev);
  CHECK(ev->item.id == "ntc:join");

  const std::string tricky = "a & b < c > d \"q\" 'a'\r\nline two\ttab ünï ✓";
  auto posted = bob->post(lobby, tricky);
  INFO(posted.err().message);
  REQUIRE(posted);
  CHECK(posted->text == tricky);
  CHECK(posted->author == "sip:bob@example.com");
  CHECK(posted->seq == 1);
  auto got = alice->next_chat(duration{10000});
  REQUIRE(got);
  CHECK(got->text == tricky); // byte-identical after the round trip through XML twice
  CHECK(got->seq == 1);
  CHECK(got->ts == posted->ts);

  auto a2 = alice->post(lobby, "hi bob");
  REQUIRE(a2);
  CHECK(a2->seq == 2);
  auto b2 = bob->next_chat(duration{10000});
  REQUIRE(b2);
  CHECK(b2->text == "hi bob");

  // bccontext returns both, oldest first.
  auto h = bob->history(lobby, 25);
  REQUIRE(h);
  CHECK(texts(h.value()) == std::vector<std::string>{tricky, "hi bob"});

  // Bob parts; Alice hears ntc:part and Bob no longer receives posts.
  REQUIRE(bob->part(lobby).ok());
  std::optional<event> part;
  while ((part = alice->next_event(duration{10000})) && part->item.id != "ntc:part") {
  }
  REQUIRE(part);
  REQUIRE(alice->post(lobby, "bob is gone"));
  REQUIRE(bob->post(lobby, "can I still post?").err().status == 403);
  auto late = bob->next_chat(duration{300}); // bounded wait for something that must not come
  CHECK_FALSE(late);

  alice->sign_out();
  bob->sign_out();
  CHECK(server.running());
}

TEST_CASE("history survives a restart in order, and sequence numbers continue") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    for (int i = 1; i <= 40; ++i)
      REQUIRE(alice->post(lobby, "message " + std::to_string(i)));
    alice->sign_out();
  }
  CHECK(server.stop() == 0); // clean shutdown
  server.start();

  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));
  auto h = bob->history(lobby, 30);
  REQUIRE(h);
  REQUIRE(h->size() == 30);
  for (size_t i = 0; i < 30; ++i) {
    CHECK(h->at(i).text == "message " + std::to_string(i + 11));
    CHECK(h->at(i).seq == i + 11);
  }
  auto next = bob->post(lobby, "after restart");
  REQUIRE(next);
  CHECK(next->seq == 41);
}

TEST_CASE("every acknowledged post survives kill -9") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  std::vector<std::string> acknowledged;
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    for (int i = 1; i <= 60; ++i) {
      auto p = alice->post(lobby, "durable " + std::to_string(i));
      REQUIRE(p);
      acknowledged.push_back(p->text);
    }
    // A burst nobody waits for: whatever the server fanned out before the crash must be stored too.
    for (int i = 61; i <= 120; ++i)
      REQUIRE(alice->post_async(lobby, "durable " + std::to_string(i)).ok());
    auto first_burst = alice->next_chat(duration{10000});
    REQUIRE(first_burst);
    acknowledged.push_back(first_burst->text);
    server.kill9();
  }
  server.start();
  auto bob = sign_in(server, "bob@example.com");
  auto h = bob->history(lobby, 1000);
  REQUIRE(h);
  auto stored = texts(h.value());
  REQUIRE(stored.size() >= acknowledged.size());
  // Stored history is a gap-free prefix of what was sent, and contains everything acknowledged.
  for (size_t i = 0; i < stored.size(); ++i)
    CHECK(stored[i] == "durable " + std::to_string(i + 1));
  for (const auto& a : acknowledged)
    CHECK(std::find(stored.begin(), stored.end(), a) != stored.end());
}

TEST_CASE("the sign-in flow rejoins followed rooms with bjoin and reads their history") {
  pchatd_process server;
  auto one = server.add_room("One");
  auto two = server.add_room("Two");
  auto team = server.add_room("Team", "--privacy closed");
  REQUIRE(server.ctl("member add Team carol@example.com --role member --role manager") == 0);
  server.start();
  {
    auto carol = sign_in(server, "carol@example.com");
    REQUIRE(carol->join(one));
    REQUIRE(carol->join(two));
    REQUIRE(carol->post(two, "remember me"));
    carol->sign_out();
  }
  auto carol = sign_in(server, "carol@example.com");
  // getserverinfo -> getassoc (member rooms, then manager rooms) -> bjoin followed -> bccontext -> getinv.
  REQUIRE(carol->get_server_info());
  auto assoc = carol->get_assoc();
  REQUIRE(assoc);
  REQUIRE(assoc->member.size() == 1);
  CHECK(assoc->member[0].uri == team);
  REQUIRE(assoc->manager.size() == 1);
  CHECK(assoc->manager[0].uri == team);
  auto followed = assoc->followed();
  std::set<std::string> followed_uris;
  for (const auto& r : followed)
    followed_uris.insert(r.uri);
  CHECK(followed_uris == std::set<std::string>{one, two});
  std::vector<std::string> uris(followed_uris.begin(), followed_uris.end());
  uris.push_back("ma-chan://example.com/00000000-dead-beef-0000-000000000000");
  std::vector<std::string> failed;
  auto joined = carol->bjoin(uris, &failed);
  REQUIRE(joined);
  CHECK(joined->size() == 2);
  CHECK(failed == std::vector<std::string>{"00000000-dead-beef-0000-000000000000"});
  auto h = carol->history(two, 30);
  REQUIRE(h);
  CHECK(texts(h.value()) == std::vector<std::string>{"remember me"});
  auto inv = carol->get_invitations();
  REQUIRE(inv);
  CHECK(inv->code == 200);
}

TEST_CASE("twenty members receive every post exactly once, in the same order") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  constexpr int n = 20;
  std::vector<std::unique_ptr<chat_client>> users;
  for (int i = 0; i < n; ++i) {
    users.push_back(sign_in(server, "user" + std::to_string(i) + "@example.com"));
    REQUIRE(users.back()->join(lobby));
  }
  for (int i = 0; i < n; ++i) // everyone posts without waiting for the echo
    REQUIRE(users[static_cast<size_t>(i)]->post_async(lobby, "from " + std::to_string(i)).ok());
  std::vector<std::string> reference;
  for (auto& u : users) {
    auto got = receive(*u, n);
    std::vector<std::string> t = texts(got);
    std::set<std::string> unique(t.begin(), t.end());
    CHECK(unique.size() == static_cast<size_t>(n)); // no duplicates, nothing missing
    std::vector<std::uint64_t> seqs;
    for (const auto& l : got)
      seqs.push_back(l.seq);
    CHECK(std::is_sorted(seqs.begin(), seqs.end())); // room order
    if (reference.empty())
      reference = t;
    CHECK(t == reference);
    CHECK_FALSE(u->next_chat(duration{0}));
  }
}

TEST_CASE("refused commands get clear XCCOS errors and lose nothing") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  auto closed = server.add_room("Closed", "--privacy closed");
  auto secret = server.add_room("Secret", "--privacy secret");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(alice->post(lobby, "before"));

  auto unknown = alice->join("ma-chan://example.com/no-such-room");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.err().status == 404);
  CHECK(unknown.err().message.find("CHANNEL_NOT_FOUND") != std::string::npos);
  // An outsider cannot tell a secret room from one that does not exist, and a closed room refuses them.
  auto s = alice->join(secret);
  REQUIRE_FALSE(s);
  CHECK(s.err().status == 404);
  auto c = alice->join(closed);
  REQUIRE_FALSE(c);
  CHECK(c.err().status == 403);
  auto rooms = alice->search("");
  REQUIRE(rooms);
  for (const auto& r : rooms.value())
    CHECK(r.name != "Secret");

  auto big = alice->post(lobby, std::string(8001, 'x'));
  REQUIRE_FALSE(big);
  CHECK(big.err().status == 413);
  auto cmd = alice->command("nosuchthing", "");
  REQUIRE(cmd);
  CHECK(cmd->code == 501);
  CHECK(cmd->token == "UNKNOWN_COMMAND");
  auto bad = alice->send_document("<xccos ver=\"1\" envid=\"999\"><cmd id=\"cmd:join\"");
  REQUIRE(bad);
  CHECK(bad->status == 200);
  auto r = alice->wait_reply("999");
  REQUIRE(r);
  CHECK(r->code == 400);
  CHECK(r->token == "MALFORMED_XML");

  // Nothing that was accepted is lost; the room still works.
  REQUIRE(alice->post(lobby, "after"));
  auto h = alice->history(lobby, 10);
  REQUIRE(h);
  CHECK(texts(h.value()) == std::vector<std::string>{"before", "after"});
  CHECK(server.running());
}

TEST_CASE("the pchat command line client talks to pchatd") {
  pchatd_process server;
  server.add_room("Lobby");
  server.start();
  auto run = [&](const std::string& args, std::string& out) { return server.pchat(args, out); };
  std::string out;
  REQUIRE(run("--user alice@example.com rooms", out) == 0);
  CHECK(out.find("Lobby") != std::string::npos);
  REQUIRE(run("--user alice@example.com post Lobby hello from the CLI", out) == 0);
  CHECK(out.find("posted #1") != std::string::npos);
  REQUIRE(run("--user bob@example.com history Lobby 5", out) == 0);
  CHECK(out.find("sip:alice@example.com: hello from the CLI") != std::string::npos);
  REQUIRE(run("--user carol@example.com search CLI Hello", out) == 0);
  CHECK(out.find("sip:alice@example.com: hello from the CLI") != std::string::npos);
  REQUIRE(run("--user carol@example.com search nowhere", out) == 0);
  CHECK(out.empty());
  REQUIRE(run("--user bob@example.com unfollow Lobby", out) == 0);
  CHECK(out.find("no longer following Lobby") != std::string::npos);
  REQUIRE(run("--user bob@example.com follow Lobby", out) == 0);
  CHECK(out.find("following Lobby") != std::string::npos);
  REQUIRE(run("--user bob@example.com signin", out) == 0);
  CHECK(out.find("following 1 room(s)") != std::string::npos);
  CHECK(out.find("== Lobby") != std::string::npos); // rejoined with bjoin, history shown
  CHECK(run("--user bob@example.com join NoSuchRoom", out) == 1);
  CHECK(out.find("no room named NoSuchRoom") != std::string::npos);
  CHECK(run("rooms", out) == 2); // usage
}

TEST_CASE("pchatctl stats shows the running server's counters and fan-out latency") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));
  REQUIRE(alice->post(lobby, "one"));
  REQUIRE(alice->post(lobby, "two"));
  REQUIRE_FALSE(alice->join("ma-chan://example.com/nope"));
  // pchatd rewrites the stats once a second: wait (bounded) for a version that has seen both posts.
  server.wait_stat("pchat_posts_total", [](long long v) { return v == 2; });
  std::string out;
  server.ctl("stats", &out);
  INFO(out);
  CHECK(out.find("pchat_posts_total 2\n") != std::string::npos);
  CHECK(out.find("pchat_deliveries_total 4\n") != std::string::npos);
  CHECK(out.find("pchat_sessions 2\n") != std::string::npos);
  CHECK(out.find("pchat_rooms_live 1\n") != std::string::npos);
  CHECK(out.find("pchat_rejections_total{reason=\"CHANNEL_NOT_FOUND\"} 1\n") != std::string::npos);
  CHECK(out.find("pchat_fanout_latency_seconds_count 2\n") != std::string::npos);
  CHECK(out.find("pchat_fanout_latency_since_start_seconds{quantile=\"0.99\"}") != std::string::npos);
  CHECK(out.find("pchat_fanout_latency_seconds_bucket{le=\"+Inf\"} 2\n") != std::string::npos);
  // The process and its disks.
  for (const char* name : {"process_open_fds ", "process_resident_memory_bytes ", "process_cpu_seconds_total ",
                           "pchat_store_bytes ", "pchat_file_store_bytes ", "pchat_disk_free_bytes{dir=\"data\"} ",
                           "pchat_build_info{version="})
    CHECK(out.find(std::string{"\n"} + name) != std::string::npos);
  auto store_at = out.find("\npchat_store_bytes ");
  REQUIRE(store_at != std::string::npos);
  CHECK(std::stod(out.substr(store_at + 19)) > 0);
}

TEST_CASE("a client that reconnects catches up on every followed room in one round trip") {
  pchatd_process server;
  auto one = server.add_room("One");
  auto two = server.add_room("Two");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  REQUIRE(alice->join(one));
  REQUIRE(alice->join(two));
  auto seen_one = alice->post(one, "before 1");
  REQUIRE(seen_one);
  auto seen_two = alice->post(two, "before 2");
  REQUIRE(seen_two);
  alice->sign_out();

  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(one));
  REQUIRE(bob->join(two));
  for (int i = 1; i <= 3; ++i)
    REQUIRE(bob->post(one, "while away " + std::to_string(i)));
  REQUIRE(bob->post(two, "also while away"));

  auto back = sign_in(server, "alice@example.com");
  std::vector<std::string> failed;
  auto got = back->catch_up({{one, seen_one->seq}, {two, seen_two->seq}}, &failed);
  REQUIRE(got);
  CHECK(failed.empty());
  REQUIRE(got->size() == 2);
  CHECK(texts(got->at(0).lines) == std::vector<std::string>{"while away 1", "while away 2", "while away 3"});
  CHECK(got->at(0).lines.front().seq == seen_one->seq + 1);
  CHECK(texts(got->at(1).lines) == std::vector<std::string>{"also while away"});
  CHECK_FALSE(got->at(0).more);
}
