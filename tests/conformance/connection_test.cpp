// Client connections as the SIP edge sees them (sip/sip_stack.hpp, docs/architecture.md "The SIP edge"): the
// edge learns of a close from the transport layer, closes a connection that sent no valid request, and
// disconnects a client that stops reading or stops answering, without anyone else waiting for it. Each case
// waits for an event (a ntc:part, a closed socket, a counter in pchatctl stats); the timeouts are failure bounds.
#include <string>

#include "conformance_support.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;

namespace {

auto equals(long long want) {
  return [want](long long v) { return v == want; };
}
auto at_least(long long want) {
  return [want](long long v) { return v >= want; };
}

// Blocks until the agent's connection is gone (the server closed it); false at the failure bound.
bool wait_disconnected(client::sip_agent& agent) {
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (agent.connected() && std::chrono::steady_clock::now() < deadline)
    agent.wait_info(std::chrono::milliseconds(100)); // returns at once when the connection is gone
  return !agent.connected();
}

} // namespace

TEST_CASE("a client that stops reading is disconnected at sip.max-connection-pending and the others get every post") {
  pchatd_process server({"--sip.max-connection-pending=20"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  auto carol = sign_in(server, "carol@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));
  REQUIRE(carol->join(lobby));

  // Carol's client stops reading: the server's INFOs to her pile up unanswered.
  carol->agent().pause_reading(true);
  const int posts = 40;
  for (int i = 0; i < posts; ++i) {
    auto posted = alice->post(lobby, "post " + std::to_string(i));
    INFO("post " << i << ": " << (posted ? std::string{} : posted.err().message));
    REQUIRE(posted);
  }
  // Bob sees every post, in order, and carol's part: the server closed her connection at 20 unanswered INFOs.
  int seen = 0;
  bool carol_parted = false;
  while (seen < posts || !carol_parted) {
    auto ev = bob->next_event(wait_limit);
    if (!ev)
      break;
    if (is_chat(ev->item, "post " + std::to_string(seen)))
      ++seen;
    else if (is_part_notice(ev->item, lobby, carol->user()))
      carol_parted = true;
  }
  INFO("pchatd log:\n" << server.log());
  CHECK(seen == posts);
  CHECK(carol_parted);
  CHECK(server.wait_stat("pchat_sip_slow_disconnects_total", equals(1)));
  // Nothing she left behind counts against the server-wide bound.
  CHECK(server.wait_stat("pchat_sip_outbound_pending", equals(0)));

  // When carol reads again she finds what the kernel still held, then the closed connection.
  carol->agent().pause_reading(false);
  CHECK(wait_disconnected(carol->agent()));
  require_server_healthy(server, lobby, "dave@example.com");
}

TEST_CASE("a client that stops answering INFOs loses its dialog and connection after sip.request-timeout") {
  pchatd_process server({"--sip.request-timeout=2"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));

  bob->agent().set_info_status(0); // reads, but answers nothing (a hung client)
  REQUIRE(alice->post(lobby, "are you there?"));
  auto part = wait_event(*alice, [&](const xccos::item& it) { return is_part_notice(it, lobby, bob->user()); });
  INFO("pchatd log:\n" << server.log());
  CHECK(part);
  CHECK(wait_disconnected(bob->agent()));
  CHECK(server.wait_stat("pchat_sip_request_timeouts_total", at_least(1)));
  CHECK(server.wait_stat("pchat_sip_outbound_pending", equals(0)));
  require_server_healthy(server, lobby, "carol@example.com");
}

TEST_CASE("a connection that sends only bytes that are not SIP is closed by the server") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));

  auto junk = connect_agent(server, "sip:mallory@example.com");
  // A TLS ClientHello on the plain port: nothing Sofia's parser can frame, so nothing is answered.
  REQUIRE(junk->send_raw_bytes(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 21)).ok());
  CHECK(wait_disconnected(*junk));
  CHECK(junk->disconnect_reason().find("closed by peer") != std::string::npos);
  auto posted = bob->post(lobby, "nothing happened");
  CHECK(posted);
}
