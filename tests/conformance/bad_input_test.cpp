// Conformance: SIP- and XCCOS-level bad input (sip_stack.hpp "What it answers"; docs/xccos.md §2.2, §3, §6 vector 18).
// Every case ends with the same check: the server keeps running, and another client can still sign in and post.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conformance_support.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;

namespace {

// ENV(envid) cmd:requri padded with blanks inside the root to exactly `size` bytes.
std::string requri_of_size(const std::string& envid, std::size_t size) {
  std::string head = "<xccos ver=\"1\" envid=\"" + envid +
                     "\" xmlns=\"urn:parlano:xml:ns:xccos\">"
                     "<cmd id=\"cmd:requri\" seqid=\"1\"><data/></cmd>";
  std::string tail = "</xccos>";
  REQUIRE(size >= head.size() + tail.size());
  return head + std::string(size - head.size() - tail.size(), ' ') + tail;
}

// After a connection-level failure: a 400 came back on it, or the server closed it. (Waiting on the stray
// queue returns at once when the connection is gone.)
void require_refused_or_closed(client::sip_agent& agent, const std::string& what) {
  auto stray = agent.wait_stray_response(wait_limit);
  INFO(what << ": "
            << (stray
                    ? sip::serialize(*stray)
                    : "no response; connected=" + std::to_string(agent.connected()) + " " + agent.disconnect_reason()));
  CHECK(((stray && stray->status == 400) || !agent.connected()));
}

} // namespace

TEST_CASE("an INFO outside any dialog gets 481") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");

  // No To-tag: not part of any dialog the server holds.
  auto r = answered(agent->request("INFO", service_uri, cmd_document("1", "requri"), "text/plain"));
  INFO(sip::serialize(r));
  CHECK(r.status == 481);
  require_server_healthy(server, lobby, "bob@example.com");
}

TEST_CASE("an INFO body over --sip.max-body gets 413 and the dialog keeps working") {
  pchatd_process server({"--sip.max-body=4096"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  auto big = answered(agent->info(d.value(), requri_of_size("31", 4097)));
  INFO(sip::serialize(big));
  CHECK(big.status == 413);

  // The limit itself is allowed, and the same dialog still gets its replies.
  auto at_limit = answered(agent->info(d.value(), requri_of_size("32", 4096)));
  CHECK(at_limit.status == 200);
  std::vector<client::incoming> before;
  auto rpl = wait_item(
      *agent, [](const xccos::item& it) { return it.kind == xccos::item_kind::rpl && it.cmd_envid == "32"; },
      wait_limit, &before);
  REQUIRE(rpl);
  CHECK(rpl->item.code == 200);
  // The refused document never reached a session: nothing answered it.
  for (const auto& in : before)
    CHECK(in.body.find("envid=\"31\"") == std::string::npos);
  require_server_healthy(server, lobby, "bob@example.com");
}

TEST_CASE("an INFO with Content-Type image/png gets 415 with an Accept header") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  auto r = answered(agent->info(d.value(), std::string("\x89PNG\r\n\x1a\n", 8), "image/png"));
  INFO(sip::serialize(r));
  CHECK(r.status == 415);
  CHECK(r.has("Accept")); // RFC 3261 §21.4.13
  auto rpl = send_command(*agent, d.value(), "41", "requri");
  REQUIRE(rpl);
  CHECK(rpl->item.code == 200);
  require_server_healthy(server, lobby, "bob@example.com");
}

TEST_CASE("vector 18: an INFO over --sip.max-pending gets 503 with Retry-After and Ms-diagnostics") {
  // max-pending=0: every command-carrying INFO finds the sessions "full".
  pchatd_process server({"--sip.max-pending=0"});
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  auto r = answered(agent->info(d.value(), cmd_document("51", "requri")));
  INFO(sip::serialize(r));
  CHECK(r.status == 503);
  CHECK(r.has("Retry-After"));
  // What a real OCS sent (docs/xccos.md §2.2): Ms-diagnostics: 20000;reason="Chat service busy";component="GroupChat".
  auto diag = r.get("Ms-diagnostics");
  REQUIRE(diag);
  CHECK(diag->rfind("20000", 0) == 0);
  CHECK(sip::header_param(*diag, "component").value_or("") == "GroupChat");

  // With every INFO refused nobody can post here; "healthy" means every other request is still served.
  REQUIRE(server.running());
  CHECK(answered(agent->update(d.value())).status == 200);
  auto other = connect_agent(server, "sip:bob@example.com");
  CHECK(answered(other->register_user("sip:example.com", 3600)).status == 200);
  auto od = other->invite(service_uri);
  REQUIRE(od);
  CHECK(answered(other->info(od.value(), cmd_document("52", "requri"))).status == 503);
}

// Sofia's stream parser answers nothing to bytes that are not SIP and would keep the connection open; pchatd
// closes it when nta reports garbage, and tport closes connections whose message stays incomplete for 5 s
// (sip/sip_stack.cpp). A request without Call-ID gets Sofia's own 400.
TEST_CASE("garbage bytes on their own TCP connection are refused or closed and other connections are unaffected") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  // Bob is in the room before the garbage arrives and must not notice anything.
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));

  SECTION("binary noise") {
    auto junk = connect_agent(server, "sip:mallory@example.com");
    REQUIRE(junk->send_raw_bytes(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 21)).ok());
    require_refused_or_closed(*junk, "binary noise");
  }
  SECTION("a text line that is no SIP start line") {
    auto junk = connect_agent(server, "sip:mallory@example.com");
    REQUIRE(junk->send_raw_bytes("HELLO THERE\r\nfoo: bar\r\nContent-Length: 0\r\n\r\n").ok());
    require_refused_or_closed(*junk, "text line");
  }
  SECTION("a request without Call-ID") {
    auto junk = connect_agent(server, "sip:mallory@example.com");
    std::string req = raw_message({
        "OPTIONS " + service_uri + " SIP/2.0",
        "Via: SIP/2.0/TCP 127.0.0.1:" + std::to_string(junk->local_port()) + ";branch=z9hG4bKnocallid",
        "Max-Forwards: 70",
        "From: <sip:mallory@example.com>;tag=1",
        "To: <" + service_uri + ">",
        "CSeq: 1 OPTIONS",
    });
    REQUIRE(junk->send_raw_bytes(req).ok());
    require_refused_or_closed(*junk, "no Call-ID");
  }

  auto posted = bob->post(lobby, "nothing happened");
  INFO((posted ? "" : posted.err().message));
  CHECK(posted);
  require_server_healthy(server, lobby, "carol@example.com");
}

TEST_CASE("malformed XML in an in-dialog INFO gets SIP 200, then rpl with resp 400 MALFORMED_XML naming its envid") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  // <data> is never closed.
  std::string broken =
      "<xccos ver=\"1\" envid=\"4242\" xmlns=\"urn:parlano:xml:ns:xccos\"><cmd id=\"cmd:requri\" seqid=\"1\"><data>"
      "</cmd></xccos>";
  auto ok = answered(agent->info(d.value(), broken));
  CHECK(ok.status == 200);
  auto rpl = wait_reply(*agent, "4242");
  REQUIRE(rpl);
  CHECK(rpl->item.kind == xccos::item_kind::rpl);
  CHECK(rpl->item.cmd_seqid == "1");
  CHECK(rpl->item.code == 400);
  CHECK(rpl->item.token == "MALFORMED_XML");

  // The dialog survives its bad document.
  auto next = send_command(*agent, d.value(), "4243", "requri");
  REQUIRE(next);
  CHECK(next->item.code == 200);
  require_server_healthy(server, lobby, "bob@example.com");
}

TEST_CASE("an unknown command id gets rpl with resp 501 UNKNOWN_COMMAND") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  auto rpl = send_command(*agent, d.value(), "4343", "frobnicate", "<x y=\"z\"/>");
  REQUIRE(rpl);
  CHECK(rpl->item.id == "rpl:frobnicate");
  CHECK(rpl->item.cmd_envid == "4343");
  CHECK(rpl->item.code == 501);
  CHECK(rpl->item.token == "UNKNOWN_COMMAND");
  require_server_healthy(server, lobby, "bob@example.com");
}

TEST_CASE("an unknown method gets 405 with Allow and the connection stays usable") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");

  auto foo = answered(agent->request("FOOBARBAZ", service_uri));
  INFO(sip::serialize(foo));
  CHECK(foo.status == 405);
  CHECK(foo.get_or("Allow").find("INFO") != std::string::npos);

  auto d = agent->invite(service_uri);
  REQUIRE(d);
  auto rpl = send_command(*agent, d.value(), "81", "requri");
  REQUIRE(rpl);
  CHECK(rpl->item.code == 200);
  require_server_healthy(server, lobby, "bob@example.com");
}
