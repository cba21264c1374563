// Conformance: sign-out the way pidgin-sipe 1.25 really does it (seen in tests/interop's SIP trace): BYE on the
// channel dialog, the in-dialog un-SUBSCRIBE and REGISTER with Expires: 0 written back to back, and the TCP
// connection closed at once, before any answer can arrive. pchatd's 200s then have nowhere to go (Sofia tries the
// Via address and gives up). The others must see the user leave exactly once, and the server must carry on.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conformance_support.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;

TEST_CASE("sipe's sign-out burst (BYE, un-SUBSCRIBE, REGISTER Expires 0, then close) parts the user once") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));

  // alice signs in step by step, so that the test holds the subscription's tags for the un-SUBSCRIBE.
  auto alice = connect_agent(server, "sip:alice@example.com");
  REQUIRE(answered(alice->register_user("sip:example.com", 3600)).status == 200);
  auto sub = alice->subscribe("sip:alice@example.com", "vnd-microsoft-provisioning-v2",
                              "application/vnd-microsoft-roaming-provisioning-v2+xml",
                              "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/"
                              "provisioninggrouplist\"><provisioningGroup name=\"persistentChatConfiguration\"/>"
                              "</provisioningGroupList>",
                              {{"Proxy-Require", "ms-benotify"}, {"Expires", "0"}});
  REQUIRE(sub);
  REQUIRE(sub->status == 200);
  auto channel = alice->invite(service_uri);
  REQUIRE(channel);
  auto joined = send_command(*alice, channel.value(), "11", "join", chanid_of(lobby));
  REQUIRE(joined);
  REQUIRE(joined->item.code == 200);
  REQUIRE(wait_event(*bob, [](const xccos::item& it) { return it.kind == xccos::item_kind::ntc && it.id == "ntc:join"; }));

  auto from_tag = sip::header_param(sub->get_or("From"), "tag");
  auto to_tag = sip::header_param(sub->get_or("To"), "tag");
  REQUIRE(from_tag);
  REQUIRE(to_tag);
  std::string via = "Via: SIP/2.0/tcp " + alice->local_ip() + ":" + std::to_string(alice->local_port());
  std::string burst = branchless_request(*alice, channel.value(), "BYE", ++channel->local_cseq);
  burst += raw_message({
      "SUBSCRIBE sip:alice@example.com SIP/2.0",
      via,
      "Max-Forwards: 70",
      "From: <sip:alice@example.com>;tag=" + *from_tag,
      "To: <sip:alice@example.com>;tag=" + *to_tag,
      "Call-ID: " + sub->get_or("Call-ID"),
      "CSeq: 2 SUBSCRIBE",
      "Contact: " + alice->contact(),
      "Event: vnd-microsoft-provisioning-v2",
      "Expires: 0",
  });
  burst += raw_message({
      "REGISTER sip:example.com SIP/2.0",
      via + ";branch=z9hG4bKsignout" + *from_tag,
      "Max-Forwards: 70",
      "From: <sip:alice@example.com>;tag=" + *from_tag,
      "To: <sip:alice@example.com>",
      "Call-ID: signout-" + *from_tag,
      "CSeq: 3 REGISTER",
      "Contact: " + alice->contact(),
      "Expires: 0",
  });
  REQUIRE(alice->send_raw_bytes(burst).ok());
  alice->close();

  // The BYE and the closed connection both end alice's dialog; bob hears about it once.
  auto part = wait_event(*bob, [&](const xccos::item& it) { return is_part_notice(it, lobby, "sip:alice@example.com"); });
  INFO("pchatd log:\n" << server.log());
  REQUIRE(part);
  auto again = wait_event(
      *bob, [&](const xccos::item& it) { return is_part_notice(it, lobby, "sip:alice@example.com"); },
      duration{1500});
  CHECK_FALSE(again);

  auto posted = bob->post(lobby, "alice has signed out");
  REQUIRE(posted);
  require_server_healthy(server, lobby, "carol@example.com");
}
