// Conformance: the room-session dialog (docs/xccos.md §2.2, §6 vectors 3, 4, 15, 16; docs/pidgin-sipe.md §2): how it is
// opened, refreshed and addressed, how XCCOS replies come back on it, and when the server gives it up.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conformance_support.hpp"
#include "base/text.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;

namespace {

// Content-Type without parameters.
std::string media_type(const std::string& value) {
  return std::string{sip::trim(std::string_view{value}.substr(0, value.find(';')))};
}

} // namespace

TEST_CASE("vector 3: INVITE with m=message sip null gets 200 with a To-tag and a Contact, and an in-dialog UPDATE "
          "gets 200") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");

  // sip_agent::invite sends sipe's SDP (application/sdp, m=message 5060 sip null) and the ACK.
  auto d = agent->invite(service_uri);
  INFO((d ? sip::serialize(d->response) : d.err().message));
  REQUIRE(d);
  CHECK(d->response.status == 200);
  CHECK(!d->remote_tag.empty());
  // sipe uses the Contact as the Request-URI of every later in-dialog request.
  auto contact = d->response.get("Contact");
  REQUIRE(contact);
  CHECK(uri_of(*contact).rfind("sip:", 0) == 0);
  // Session-Expires is optional; when present sipe refreshes with UPDATE before it runs out.
  if (auto se = d->response.get("Session-Expires"))
    CHECK(std::stol(*se) > 0);

  auto up = answered(agent->update(d.value()));
  INFO(sip::serialize(up));
  CHECK(up.status == 200);
  // The refreshed dialog still carries commands.
  auto rpl = send_command(*agent, d.value(), "11", "requri");
  REQUIRE(rpl);
  CHECK(rpl->item.code == 200);
}

TEST_CASE("vector 3: branch-less INVITE, ACK, INFO and BYE as pidgin-sipe sends them are accepted") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");

  // sipe puts no branch on dialog requests and writes the transport in lowercase (docs/pidgin-sipe.md §2); the
  // server must match transactions by Call-ID + CSeq. The INVITE is raw too, so no request of this dialog
  // carries a branch.
  client::dialog d;
  d.call_id = sip::random_call_id();
  d.local_tag = sip::random_tag();
  d.peer_uri = service_uri;
  d.remote_target = service_uri;
  std::string sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                    "m=message 5060 sip null\r\na=accept-types:text/plain text/html\r\n";
  std::string invite = raw_message(
      {
          "INVITE " + service_uri + " SIP/2.0",
          "Via: SIP/2.0/tcp 127.0.0.1:" + std::to_string(agent->local_port()),
          "Max-Forwards: 70",
          "From: <sip:alice@example.com>;tag=" + d.local_tag,
          "To: <" + service_uri + ">",
          "Call-ID: " + d.call_id,
          "CSeq: 1 INVITE",
          "Contact: " + agent->contact() + ";proxy=replace",
          "Supported: ms-sender",
          "Content-Type: application/sdp",
      },
      sdp);
  auto ok = answered(agent->send_raw_request(invite));
  INFO(sip::serialize(ok));
  REQUIRE(ok.status == 200);
  // Responses copy the Via (docs/pidgin-sipe.md §2). Sofia normalises the transport to TCP and adds rport=, which sipe
  // does not mind; the protocol and sent-by must survive.
  std::string sent_by = "SIP/2.0/tcp 127.0.0.1:" + std::to_string(agent->local_port());
  CHECK(iequals(ok.get_or("Via").substr(0, sent_by.size()), sent_by));
  d.remote_tag = sip::header_param(ok.get_or("To"), "tag").value_or("");
  REQUIRE(!d.remote_tag.empty());
  d.remote_target = uri_of(ok.get_or("Contact"));
  REQUIRE(!d.remote_target.empty());
  REQUIRE(agent->send_raw_bytes(branchless_request(*agent, d, "ACK", 1)).ok());

  // sipe sends its first INFO right after the ACK.
  auto info = answered(agent->send_raw_request(
      branchless_request(*agent, d, "INFO", ++d.local_cseq, cmd_document("21", "requri"), "text/plain")));
  INFO(sip::serialize(info));
  CHECK(info.status == 200);
  CHECK(info.body.empty());
  auto rpl = wait_reply(*agent, "21");
  REQUIRE(rpl);
  CHECK(rpl->item.id == "rpl:requri");
  CHECK(rpl->item.code == 200);
  CHECK(rpl->info.call_id == d.call_id);

  auto bye = answered(agent->send_raw_request(branchless_request(*agent, d, "BYE", ++d.local_cseq)));
  CHECK(bye.status == 200);
}

TEST_CASE("vector 4: cmd:requri envid 7 gets SIP 200, then rpl:requri in a server INFO on the same dialog from the "
          "invited URI") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  auto ok = answered(agent->info(d.value(), cmd_document("7", "requri")));
  CHECK(ok.status == 200);
  CHECK(ok.body.empty()); // the XCCOS result travels in its own INFO

  auto rpl = wait_reply(*agent, "7");
  REQUIRE(rpl);
  const auto& req = rpl->info.request;
  INFO(sip::serialize(req));
  // sipe finds the session by the From URI (it must equal the URI it INVITEd) and then checks the Call-ID.
  CHECK(rpl->info.call_id == d->call_id);
  CHECK(iequals(uri_of(req.get_or("From")), service_uri));
  CHECK(sip::header_param(req.get_or("From"), "tag").value_or("") == d->remote_tag);
  CHECK(sip::header_param(req.get_or("To"), "tag").value_or("") == d->local_tag);
  CHECK(media_type(rpl->info.content_type) == "text/plain");

  const auto& it = rpl->item;
  CHECK(it.id == "rpl:requri");
  CHECK(it.cmd_seqid == "1");
  CHECK(it.cmd_envid == "7");
  CHECK(it.code == 200);
  CHECK(it.token == "SUCCESS_OK");
  REQUIRE(it.data());
  const auto* uib = it.data()->child("uib");
  REQUIRE(uib);
  CHECK(uib->attr_or("uri").rfind("sip:", 0) == 0);
}

TEST_CASE("vector 15: after the client answers an INFO with 487 the server drops that dialog and sends it no more "
          "posts") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));

  // Alice plays a sipe that reconnected: the old Call-ID is unknown to it, so it answers 487.
  auto& a = alice->agent();
  const auto old_call = alice->channel().call_id;
  a.set_info_status(487, old_call);
  REQUIRE(bob->post(lobby, "first"));

  // The server gives the dialog up: it ends it, and the room tells Bob that Alice left.
  CHECK(a.wait_dialog_ended(old_call, wait_limit));
  CHECK(wait_event(*bob, [&](const xccos::item& it) { return is_part_notice(it, lobby, alice->user()); }));

  // From here on, anything sent on the old dialog would be accepted and seen.
  a.set_info_status(200, old_call);
  // Alice rejoins on a fresh dialog over the same connection. Room fan-out is ordered and both dialogs share one
  // TCP connection, so once "third" arrives on the fresh dialog, a "second" on the old one would have arrived
  // before it.
  auto fresh = a.invite(service_uri);
  REQUIRE(fresh);
  auto rejoined = send_command(a, fresh.value(), "9001", "join", chanid_of(lobby));
  REQUIRE(rejoined);
  REQUIRE(rejoined->item.code == 200);
  REQUIRE(bob->post(lobby, "second"));
  REQUIRE(bob->post(lobby, "third"));
  std::vector<client::incoming> before;
  auto third = wait_item(
      a, [](const xccos::item& it) { return is_chat(it, "third"); }, wait_limit, &before);
  REQUIRE(third);
  CHECK(third->info.call_id == fresh->call_id);
  bool second_on_fresh = false;
  for (const auto& in : before) {
    INFO("INFO before \"third\" on call-id " << in.call_id << ": " << in.body);
    CHECK(in.call_id != old_call);
    second_on_fresh =
        second_on_fresh || (in.call_id == fresh->call_id && in.body.find(">second<") != std::string::npos);
  }
  CHECK(second_on_fresh);

  // The server stays healthy: it logged the refusal, and others still sign in and post.
  CHECK(server.log().find("failed 487") != std::string::npos);
  require_server_healthy(server, lobby, "carol@example.com");
}

TEST_CASE("vector 16: UPDATE and INFO on a dialog the server has forgotten get 481") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto d = agent->invite(service_uri);
  REQUIRE(d);

  SECTION("a made-up Call-ID and To-tag") {
    client::dialog fake = d.value();
    fake.call_id = sip::random_call_id();
    fake.remote_tag = sip::random_tag();
    CHECK(answered(agent->update(fake)).status == 481);
    CHECK(answered(agent->info(fake, cmd_document("61", "requri"))).status == 481);
  }

  SECTION("the right Call-ID with a made-up To-tag") {
    client::dialog fake = d.value();
    fake.remote_tag = sip::random_tag();
    CHECK(answered(agent->update(fake)).status == 481);
    CHECK(answered(agent->info(fake, cmd_document("62", "requri"))).status == 481);
    // The real dialog is untouched.
    CHECK(answered(agent->update(d.value())).status == 200);
  }

  SECTION("after a pchatd restart; the client then starts over with BYE and a fresh INVITE") {
    server.restart();
    // The old connection died with the old process; sipe reconnects and refreshes its session on the new one.
    auto again = connect_agent(server, "sip:alice@example.com");
    CHECK(answered(again->update(d.value())).status == 481);
    CHECK(answered(again->info(d.value(), cmd_document("63", "requri"))).status == 481);
    auto bye = answered(again->bye(d.value()));
    CHECK(bye.status >= 200);
    auto fresh = again->invite(service_uri);
    REQUIRE(fresh);
    auto rpl = send_command(*again, fresh.value(), "64", "requri");
    REQUIRE(rpl);
    CHECK(rpl->item.code == 200);
  }
}

TEST_CASE("a TCP connection that closes without BYE parts its user: the other members get ntc:part") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));
  REQUIRE(server.wait_stat("pchat_sip_connections", [](long long v) { return v == 2; }));
  long long closed_before = server.stat("pchat_sip_connections_closed_total");
  long long sessions_before = server.stat("pchat_sessions");

  // Abrupt: no BYE, no un-SUBSCRIBE, just the socket going away (a crashed or killed client).
  alice->agent().close();
  auto part = wait_event(*bob, [&](const xccos::item& it) { return is_part_notice(it, lobby, alice->user()); });
  INFO("pchatd log:\n" << server.log());
  CHECK(part);
  // The transport reported the close (sip/sip_stack.cpp: tport_pend): the connection and its dialog are gone.
  CHECK(server.wait_stat("pchat_sip_connections_closed_total", [&](long long v) { return v >= closed_before + 1; }));
  CHECK(server.wait_stat("pchat_sip_connections", [](long long v) { return v == 1; }));
  CHECK(server.wait_stat("pchat_sessions", [&](long long v) { return v == sessions_before - 1; }));

  // Bob's own session is unaffected.
  auto posted = bob->post(lobby, "after alice left");
  REQUIRE(posted);
  require_server_healthy(server, lobby, "carol@example.com");
}
