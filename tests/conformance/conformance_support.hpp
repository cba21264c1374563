#pragma once
// Shared helpers for the conformance tests: each TEST_CASE checks one vector of docs/xccos.md §6
// (or one SIP-level rule of §2 / docs/pidgin-sipe.md §2) against a real pchatd over loopback TCP.
//
// Contract: everything here is black-box (the client library on the wire, pchatd_process for the server) and
// synchronises on events: responses, server INFOs, BYEs. Timeouts are failure bounds only; a helper that runs
// out of time returns nullopt (or fails the test with REQUIRE where it says so), it never sleeps.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "support/pchatd_process.hpp"
#include "client/chat_client.hpp"
#include "client/sip_agent.hpp"
#include "base/text.hpp"

namespace pchat::conformance {

using client::duration;

// How long any single expected event may take before the test fails. Generous: ctest runs tests in parallel
// on two shared cores.
inline constexpr duration wait_limit{10000};

// The chat service URI the provisioning document names (docs/xccos.md §2.1) with the default --pchat.domain.
inline const std::string service_uri = "sip:pchat@example.com";

// A sip_agent for `aor` connected to the server (no REGISTER: the server keys dialogs on INVITE's From only).
// Fails the test when the connection cannot be made.
inline std::unique_ptr<client::sip_agent> connect_agent(const test::pchatd_process& server, const std::string& aor) {
  client::agent_config cfg;
  cfg.aor = aor;
  cfg.request_timeout = wait_limit;
  cfg.connect_timeout = wait_limit;
  auto agent = std::make_unique<client::sip_agent>(cfg);
  auto e = agent->connect("127.0.0.1", server.port());
  INFO(aor << ": " << e.message);
  REQUIRE(e.ok());
  return agent;
}

// The final response of a request that had to be answered: a transport error or timeout fails the test.
inline sip::message answered(client::result<sip::message> r) {
  INFO("no response: " << (r ? std::string{} : r.err().message));
  REQUIRE(r);
  return std::move(r).value();
}

// A chat_client that went through the whole sipe sign-in (REGISTER, provisioning SUBSCRIBE, lookup dialog with
// cmd:requri, channel dialog). Fails the test otherwise.
inline std::unique_ptr<client::chat_client> sign_in(const test::pchatd_process& server, const std::string& user) {
  client::chat_config cfg;
  cfg.user = user;
  cfg.port = server.port();
  cfg.timeout = wait_limit;
  auto c = std::make_unique<client::chat_client>(cfg);
  auto e = c->sign_in();
  INFO(user << ": " << e.message);
  REQUIRE(e.ok());
  return c;
}

// ENV(envid) <cmd id="cmd:NAME" seqid="1"><data>DATA</data></cmd>, as sipe writes commands (docs/xccos.md §3).
inline std::string cmd_document(const std::string& envid, const std::string& name, const std::string& data = {}) {
  return "<xccos ver=\"1\" envid=\"" + envid + "\" xmlns=\"urn:parlano:xml:ns:xccos\"><cmd id=\"cmd:" + name +
         "\" seqid=\"1\"><data>" + data + "</data></cmd></xccos>";
}

// <chanid key="0" domain=D value=GUID/> for a ma-chan:// URI (the cmd:join argument, docs/xccos.md §6 vector 7).
inline std::string chanid_of(const std::string& room_uri) {
  auto c = xccos::parse_chan_uri(room_uri);
  REQUIRE(c);
  return "<chanid key=\"0\" domain=\"" + c->domain + "\" value=\"" + c->guid + "\"/>";
}

// One XCCOS item out of a server INFO, with the INFO it came in (for its SIP headers).
struct received_item {
  xccos::item item;
  client::incoming info;
};

// Waits for a server INFO holding an item for which `pred(item)` is true. INFOs before it are consumed and
// dropped from the queue (they go to `skipped` when given, for checks on what came before). nullopt on timeout or when
// the connection is gone; an unparsable server document fails the test.
template <class Pred>
std::optional<received_item> wait_item(client::sip_agent& agent, Pred pred, duration timeout = wait_limit,
                                       std::vector<client::incoming>* skipped = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    auto in = agent.wait_info(left);
    if (!in)
      return std::nullopt;
    auto parsed = xccos::parse(in->body);
    INFO("server INFO body: " << in->body);
    REQUIRE(std::holds_alternative<xccos::envelope>(parsed));
    for (auto& it : std::get<xccos::envelope>(parsed).items)
      if (pred(it))
        return received_item{std::move(it), std::move(*in)};
    if (skipped)
      skipped->push_back(std::move(*in));
  }
}

// The rpl whose <commandid envid> names `envid` (docs/xccos.md §3: replies point back at the command's envelope).
inline std::optional<received_item> wait_reply(client::sip_agent& agent, const std::string& envid,
                                               duration timeout = wait_limit) {
  return wait_item(
      agent, [&](const xccos::item& it) { return it.kind == xccos::item_kind::rpl && it.cmd_envid == envid; }, timeout);
}

// Sends ENV(envid) cmd:NAME as an in-dialog INFO, requires SIP 200 (every client INFO first gets 200, docs/xccos.md
// §6) and returns the rpl that references it (nullopt if none came in time).
inline std::optional<received_item> send_command(client::sip_agent& agent, client::dialog& d, const std::string& envid,
                                                 const std::string& name, const std::string& data = {}) {
  auto r = agent.info(d, cmd_document(envid, name, data));
  INFO("cmd:" << name << ": " << (r ? "" : r.err().message));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return wait_reply(agent, envid);
}

// Next pushed event of a chat_client for which `pred(item)` is true; events before it are dropped.
template <class Pred>
std::optional<xccos::item> wait_event(client::chat_client& c, Pred pred, duration timeout = wait_limit) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    auto ev = c.next_event(left);
    if (!ev)
      return std::nullopt;
    if (pred(ev->item))
      return std::move(ev->item);
  }
}

// ntc:part for `user` in `room`: <chanib uri=room><uib uri=user/></chanib> (docs/xccos.md §6 vector 12).
inline bool is_part_notice(const xccos::item& it, const std::string& room, const std::string& user) {
  if (it.kind != xccos::item_kind::ntc || it.id != "ntc:part" || !it.data())
    return false;
  for (const auto* ch : it.data()->children_named("chanib"))
    if (ch->attr_or("uri") == room)
      for (const auto* u : ch->children_named("uib"))
        if (iequals(u->attr_or("uri"), user))
          return true;
  return false;
}

// A grpchat item carrying `text`.
inline bool is_chat(const xccos::item& it, const std::string& text) {
  return it.kind == xccos::item_kind::grpchat && it.element.child("chat") && it.element.child("chat")->text == text;
}

// The URI of a name-addr header value (From, To, Contact); empty when it does not parse.
inline std::string uri_of(const std::string& value) {
  auto na = sip::parse_name_addr(value);
  return na ? na->uri : std::string{};
}

// Raw SIP text: the start line and header lines as given (no checks, no reordering, no compact-name expansion),
// then Content-Length for `body`, the blank line and the body. For requests the client library would not write.
inline std::string raw_message(const std::vector<std::string>& lines, const std::string& body = {}) {
  std::string text;
  for (const auto& l : lines)
    text += l + "\r\n";
  return text + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// An in-dialog request written the way pidgin-sipe writes it (docs/pidgin-sipe.md §2): `Via: SIP/2.0/tcp ip:port`
// with no branch and a lowercase transport, the remote target as Request-URI, CSeq `cseq` (the caller passes
// ++d.local_cseq, or the INVITE's number for an ACK). Send it with sip_agent::send_raw_request (matched by
// Call-ID + CSeq), or send_raw_bytes for an ACK.
inline std::string branchless_request(const client::sip_agent& agent, const client::dialog& d,
                                      const std::string& method, std::uint32_t cseq, const std::string& body = {},
                                      const std::string& content_type = {}) {
  std::vector<std::string> lines = {
      method + " " + d.remote_target + " SIP/2.0",
      "Via: SIP/2.0/tcp " + agent.local_ip() + ":" + std::to_string(agent.local_port()),
      "Max-Forwards: 70",
      "From: <" + agent.aor() + ">;tag=" + d.local_tag,
      "To: <" + d.peer_uri + ">;tag=" + d.remote_tag,
      "Call-ID: " + d.call_id,
      "CSeq: " + std::to_string(cseq) + " " + method,
  };
  if (!content_type.empty())
    lines.push_back("Content-Type: " + content_type);
  return raw_message(lines, body);
}

// "The server keeps running and another client can still sign in and post afterwards": a fresh `user` signs in,
// joins `room`, posts, and gets its own post back (the sender is included in the fan-out, docs/xccos.md §6 vector 10).
inline void require_server_healthy(const test::pchatd_process& server, const std::string& room,
                                   const std::string& user) {
  REQUIRE(server.running());
  auto c = sign_in(server, user);
  auto joined = c->join(room);
  INFO(user << " join: " << (joined ? "" : joined.err().message));
  REQUIRE(joined);
  std::string text = "still alive, says " + user;
  auto posted = c->post(room, text);
  INFO(user << " post: " << (posted ? "" : posted.err().message));
  REQUIRE(posted);
  CHECK(posted->text == text);
  c->sign_out();
}

} // namespace pchat::conformance
