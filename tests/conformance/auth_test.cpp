// Conformance: SIP Digest authentication (RFC 3261 §22, RFC 7616 qop=auth, MD5 and SHA-256) and the other
// sip.auth modes, with requests written by hand so that every credential on the wire is the test's own
// (docs/protocol.md "Authentication").
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conformance_support.hpp"
#include "codec/digest.hpp"
#include "base/text.hpp"
#include "base/random.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;
namespace digest = pchat::sip::digest;

namespace {

// A pchatd with --sip.auth=MODE (plus `extra`) and accounts alice (password "wonderland"), bob (disabled) made
// offline with pchatctl before it starts.
std::unique_ptr<pchatd_process> server_with_users(const std::string& mode, std::vector<std::string> extra = {}) {
  extra.push_back("--sip.auth=" + mode);
  auto server = std::make_unique<pchatd_process>(extra);
  REQUIRE(server->ctl("init --demo") == 0);
  REQUIRE(server->ctl("user add alice@example.com --password wonderland --name Alice") == 0);
  REQUIRE(server->ctl("user add bob@example.com --password builder") == 0);
  REQUIRE(server->ctl("user set bob@example.com --disabled true") == 0);
  server->start();
  return server;
}

// Out-of-dialog requests written field by field (one Call-ID per client for REGISTER, as sipe does).
struct raw_client {
  std::unique_ptr<client::sip_agent> agent;
  std::string aor;
  std::string call_id = sip::random_call_id();
  std::string tag = sip::random_tag();
  std::uint32_t cseq = 0;

  raw_client(const pchatd_process& server, std::string user) : agent(connect_agent(server, user)), aor(user) {}

  sip::message request(const std::string& method, const std::string& uri) {
    auto m = sip::message::request(method, uri);
    m.add("Via", "SIP/2.0/TCP " + agent->local_ip() + ":" + std::to_string(agent->local_port()) +
                     ";branch=" + sip::random_branch());
    m.add("Max-Forwards", "70");
    m.add("From", "<" + aor + ">;tag=" + tag);
    m.add("To", "<" + (method == "REGISTER" ? aor : uri) + ">");
    m.add("Call-ID", method == "REGISTER" ? call_id : sip::random_call_id());
    m.add("CSeq", std::to_string(++cseq) + " " + method);
    m.add("Contact", agent->contact());
    if (method == "REGISTER")
      m.add("Expires", "3600");
    return m;
  }

  sip::message send(const sip::message& m) { return answered(agent->send_message(m)); }
};

// The Digest challenges of a 401, in header order.
std::vector<digest::challenge> challenges(const sip::message& r) {
  std::vector<digest::challenge> out;
  for (const auto& v : r.get_all("WWW-Authenticate")) {
    auto c = digest::parse_challenge(v);
    INFO(v);
    REQUIRE(c);
    out.push_back(*c);
  }
  return out;
}

digest::challenge challenge_for(const sip::message& r, digest::algorithm alg) {
  INFO(sip::serialize(r));
  REQUIRE(r.status == 401);
  for (const auto& c : challenges(r))
    if (c.alg == alg)
      return c;
  FAIL("no " << digest::to_string(alg) << " challenge");
  return {};
}

// `m` with an Authorization answering `c` for `username`/`password` with nonce count `nc`.
sip::message with_credentials(sip::message m, const digest::challenge& c, const std::string& username,
                              const std::string& password, std::uint32_t nc, std::string uri = {}) {
  digest::credentials cred;
  cred.alg = c.alg;
  cred.username = username;
  cred.realm = c.realm;
  cred.nonce = c.nonce;
  cred.uri = uri.empty() ? m.uri : uri;
  cred.qop = "auth";
  cred.nc = nc;
  cred.cnonce = random_hex(8);
  cred.response = digest::response(c.alg, digest::ha1(c.alg, username, c.realm, password), c.nonce, digest::nc_text(nc),
                                   cred.cnonce, m.method, cred.uri);
  m.set("Authorization", digest::format(cred));
  return m;
}

// Header names of a response other than the ones every response copies from its request.
std::set<std::string> own_headers(const sip::message& r) {
  std::set<std::string> out;
  for (const auto& h : r.headers)
    if (!iequals(h.name, "Via") && !iequals(h.name, "From") && !iequals(h.name, "To") &&
        !iequals(h.name, "Call-ID") && !iequals(h.name, "CSeq") && !iequals(h.name, "Content-Length"))
      out.insert(ascii_lower(h.name));
  return out;
}

const std::vector<sip::header> provisioning_headers = {
    {"Event", "vnd-microsoft-provisioning-v2"},
    {"Accept", "application/vnd-microsoft-roaming-provisioning-v2+xml"},
    {"Expires", "0"}};

} // namespace

TEST_CASE("auth: without credentials REGISTER, SUBSCRIBE and INVITE get 401 with SHA-256 then MD5, and no data") {
  auto server = server_with_users("digest");
  raw_client alice{*server, "sip:alice@example.com"};

  auto reg = alice.send(alice.request("REGISTER", "sip:example.com"));
  INFO(sip::serialize(reg));
  REQUIRE(reg.status == 401);
  auto offered = challenges(reg);
  REQUIRE(offered.size() == 2);
  CHECK(offered[0].alg == digest::algorithm::sha256); // most preferred first (RFC 8760 §2.4)
  CHECK(offered[1].alg == digest::algorithm::md5);
  for (const auto& c : offered) {
    CHECK(c.realm == "example.com");
    CHECK(c.qop_auth);
    CHECK_FALSE(c.stale);
    CHECK(c.nonce.size() == 64);
  }
  CHECK_FALSE(reg.has("Expires")); // none of the sign-in answer before auth
  CHECK_FALSE(reg.has("Allow-Events"));

  auto sub = alice.request("SUBSCRIBE", "sip:alice@example.com");
  for (const auto& h : provisioning_headers)
    sub.add(h.name, h.value);
  auto sub_answer = alice.send(sub);
  INFO(sip::serialize(sub_answer));
  CHECK(sub_answer.status == 401);
  CHECK(sub_answer.body.empty()); // no provisioning document before auth
  CHECK_FALSE(sub_answer.has("Content-Type"));
  CHECK_FALSE(sub_answer.has("Event"));
  CHECK_FALSE(sub_answer.has("ms-piggyback-cseq"));

  auto invite = alice.agent->invite(service_uri);
  REQUIRE_FALSE(invite);
  CHECK(invite.err().code == client::errc::rejected);
  CHECK(invite.err().status == 401);
}

TEST_CASE("auth: SHA-256 and MD5 credentials both sign in, and later requests reuse the nonce with a higher nc") {
  auto alg = GENERATE(digest::algorithm::sha256, digest::algorithm::md5);
  INFO(digest::to_string(alg));
  auto server = server_with_users("digest");
  raw_client alice{*server, "sip:alice@example.com"};
  auto c = challenge_for(alice.send(alice.request("REGISTER", "sip:example.com")), alg);

  auto reg = alice.send(
      with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland", 1));
  INFO(sip::serialize(reg));
  REQUIRE(reg.status == 200);
  CHECK(reg.get_or("Expires") == "3600");

  auto sub = alice.request("SUBSCRIBE", "sip:alice@example.com");
  for (const auto& h : provisioning_headers)
    sub.add(h.name, h.value);
  auto doc = alice.send(with_credentials(sub, c, "alice@example.com", "wonderland", 2));
  INFO(sip::serialize(doc));
  REQUIRE(doc.status == 200);
  CHECK(doc.body.find("<property name=\"EnablePersistentChat\">true</property>") != std::string::npos);
}

TEST_CASE("auth: an unknown user, a wrong password and a disabled account get the same 403") {
  auto server = server_with_users("digest");
  auto attempt = [&](const std::string& user, const std::string& password) {
    raw_client cl{*server, "sip:" + user};
    auto c = challenge_for(cl.send(cl.request("REGISTER", "sip:example.com")), digest::algorithm::sha256);
    return cl.send(with_credentials(cl.request("REGISTER", "sip:example.com"), c, user, password, 1));
  };
  auto wrong = attempt("alice@example.com", "looking-glass");
  auto unknown = attempt("carol@example.com", "wonderland");
  auto disabled = attempt("bob@example.com", "builder");
  for (const auto* r : {&wrong, &unknown, &disabled}) {
    INFO(sip::serialize(*r));
    CHECK(r->status == 403);
    CHECK_FALSE(r->has("WWW-Authenticate"));
    CHECK_FALSE(r->has("Expires"));
  }
  CHECK(wrong.reason == unknown.reason); // nothing tells which one it was
  CHECK(own_headers(wrong) == own_headers(unknown));
  CHECK(own_headers(wrong) == own_headers(disabled));
  CHECK(attempt("alice@example.com", "wonderland").status == 200); // and the right password still works
}

TEST_CASE("auth: five wrong passwords throttle the user for a minute and the log names the client address") {
  auto server = server_with_users("digest");
  auto attempt = [&](const std::string& user, const std::string& password) {
    raw_client cl{*server, "sip:" + user};
    auto c = challenge_for(cl.send(cl.request("REGISTER", "sip:example.com")), digest::algorithm::sha256);
    return cl.send(with_credentials(cl.request("REGISTER", "sip:example.com"), c, user, password, 1));
  };
  for (int i = 0; i < 5; ++i) {
    auto r = attempt("alice@example.com", "guess-" + std::to_string(i));
    INFO(sip::serialize(r));
    REQUIRE(r.status == 403);
  }
  // Now even the right password is not checked: guessing cannot go on at network speed.
  auto throttled = attempt("alice@example.com", "wonderland");
  INFO(sip::serialize(throttled));
  CHECK(throttled.status == 403); // the same answer as a wrong password: the client learns nothing new
  CHECK(throttled.reason == "Forbidden");
  // Another account from the same address is not affected (twenty failures an address are allowed).
  server->ctl("user add carol@example.com --password carroll");
  CHECK(attempt("carol@example.com", "carroll").status == 200);
  auto log = server->log();
  INFO(log);
  CHECK(log.find("sign-ins throttled for a minute user=sip:alice@example.com address=127.0.0.1") != std::string::npos);
  CHECK(log.find("too many failed sign-ins") != std::string::npos);
  CHECK(server->wait_stat("pchat_sip_sign_ins_throttled_total", [](long long v) { return v == 1; }));
}

TEST_CASE("auth: a replayed nonce count is refused and never executed") {
  auto server = server_with_users("digest");
  raw_client alice{*server, "sip:alice@example.com"};
  auto c = challenge_for(alice.send(alice.request("REGISTER", "sip:example.com")), digest::algorithm::sha256);
  auto first = with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland", 1);
  REQUIRE(alice.send(first).status == 200);

  // The same credentials (nonce, nc, cnonce, response) on a new transaction, as an eavesdropper would send them.
  auto replay = alice.request("REGISTER", "sip:example.com");
  replay.set("Authorization", first.get_or("Authorization"));
  auto refused = alice.send(replay);
  INFO(sip::serialize(refused));
  CHECK(refused.status == 401);
  CHECK_FALSE(refused.has("Expires"));
  auto fresh = challenges(refused);
  REQUIRE_FALSE(fresh.empty());
  CHECK(fresh[0].stale); // a client that meant it starts over without asking for the password again

  // A lower count after a higher one is a replay too; the next higher one is fine.
  REQUIRE(
      alice
          .send(with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland", 5))
          .status == 200);
  CHECK(
      alice
          .send(with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland", 4))
          .status == 401);
  CHECK(
      alice
          .send(with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland", 6))
          .status == 200);
}

TEST_CASE("auth: an expired nonce gets 401 stale=true with a new nonce, a wrong password over it stays 403") {
  // --sip.nonce-lifetime=0: every nonce is stale as soon as it is issued, so no test has to wait for time to pass.
  auto server = server_with_users("digest", {"--sip.nonce-lifetime=0"});
  raw_client alice{*server, "sip:alice@example.com"};
  auto c = challenge_for(alice.send(alice.request("REGISTER", "sip:example.com")), digest::algorithm::md5);
  auto stale = alice.send(
      with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland", 1));
  INFO(sip::serialize(stale));
  REQUIRE(stale.status == 401);
  auto again = challenges(stale);
  REQUIRE(again.size() == 2);
  CHECK(again[0].stale);
  CHECK(again[1].stale);
  CHECK(again[0].nonce != c.nonce);

  auto wrong = alice.send(
      with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "looking-glass", 1));
  CHECK(wrong.status == 403); // stale=true is only for a right password: it must not become a password oracle
}

TEST_CASE("auth: credentials for another Request-URI, without qop, or malformed are refused") {
  auto server = server_with_users("digest");
  raw_client alice{*server, "sip:alice@example.com"};
  auto c = challenge_for(alice.send(alice.request("REGISTER", "sip:example.com")), digest::algorithm::sha256);
  auto other_uri = with_credentials(alice.request("REGISTER", "sip:example.com"), c, "alice@example.com", "wonderland",
                                    1, "sip:elsewhere.example.com");
  CHECK(alice.send(other_uri).status == 400);

  auto no_qop = alice.request("REGISTER", "sip:example.com");
  no_qop.set("Authorization", "Digest username=\"alice@example.com\", realm=\"example.com\", nonce=\"" + c.nonce +
                                  "\", uri=\"sip:example.com\", response=\"" +
                                  digest::hash_hex(digest::algorithm::md5, "x") + "\"");
  CHECK(alice.send(no_qop).status == 400);

  auto broken = alice.request("REGISTER", "sip:example.com");
  broken.set("Authorization", "Digest username=\"alice@example.com\", realm=\"example.com\", nonce=\"x\"");
  CHECK(alice.send(broken).status == 400);

  // Another user's name in the credentials of alice's request: refused even with that user's right password.
  auto someone_else =
      with_credentials(alice.request("REGISTER", "sip:example.com"), c, "bob@example.com", "builder", 2);
  CHECK(alice.send(someone_else).status == 403);
}

TEST_CASE("auth: the client library answers the challenge once, the channel dialog's INFOs need no credentials") {
  auto server = server_with_users("digest");
  client::chat_config cfg;
  cfg.user = "alice@example.com";
  cfg.port = server->port();
  cfg.timeout = wait_limit;
  cfg.password = "wonderland";
  client::chat_client alice{cfg};
  auto e = alice.sign_in();
  INFO(e.message);
  REQUIRE(e.ok());
  auto lobby = alice.resolve_room("Lobby");
  REQUIRE(lobby);
  REQUIRE(alice.join(lobby.value()));
  auto posted = alice.post(lobby.value(), "signed in with Digest");
  REQUIRE(posted);
  CHECK(posted->author == "sip:alice@example.com");

  // Another connection that knows the dialog (Call-ID and tags) still cannot use it.
  auto intruder = connect_agent(*server, "sip:alice@example.com");
  client::dialog d = alice.channel(); // a copy: the intruder's own CSeqs
  auto r = intruder->info(d, cmd_document("77", "getserverinfo", "<sib domain=\"example.com\" infoType=\"123\"/>"));
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK_FALSE(intruder->wait_info(duration{300})); // and no reply came to it
  // Nor can it take the dialog over with a re-INVITE; the owner's own re-INVITE (a session refresh) works.
  auto hijack = intruder->request(d, "INVITE");
  REQUIRE(hijack);
  CHECK(hijack->status == 403);
  // (The intruder's requests used CSeqs alice has not: step past them, as Sofia wants CSeqs to grow.)
  alice.channel().local_cseq = std::max(alice.channel().local_cseq, d.local_cseq) + 1;
  auto refresh = alice.agent().request(alice.channel(), "INVITE");
  REQUIRE(refresh);
  CHECK(refresh->status == 200);
  auto still = alice.post(lobby.value(), "still mine");
  REQUIRE(still);
  CHECK_FALSE(intruder->wait_info(duration{300}));
  alice.sign_out();
}

TEST_CASE("auth: sip.auth=known admits enabled accounts without a password and refuses the others") {
  auto server = server_with_users("known");
  auto reg = [&](const std::string& user) {
    raw_client cl{*server, user};
    return cl.send(cl.request("REGISTER", "sip:example.com")).status;
  };
  CHECK(reg("sip:alice@example.com") == 200);
  CHECK(reg("sip:carol@example.com") == 403); // no account
  CHECK(reg("sip:bob@example.com") == 403);   // disabled
}

TEST_CASE("auth: sip.auth=auto is anonymous on loopback and Digest on any other address") {
  pchatd_process loopback; // the harness listens on 127.0.0.1: auto means anonymous, which every other test uses
  loopback.start();
  raw_client carol{loopback, "sip:carol@example.com"};
  CHECK(carol.send(carol.request("REGISTER", "sip:example.com")).status == 200);

  // Digest over plain TCP off loopback only because the admin says so (docs/security.md).
  pchatd_process wildcard{{"--sip.host=0.0.0.0", "--sip.udp=false", "--sip.plaintext-auth=true"}};
  wildcard.start();
  raw_client dave{wildcard, "sip:dave@example.com"};
  auto r = dave.send(dave.request("REGISTER", "sip:example.com"));
  CHECK(r.status == 401);
  CHECK(wildcard.log().find("sip.auth=auto: digest") != std::string::npos);
  CHECK(loopback.log().find("sip.auth=auto: anonymous") != std::string::npos);
}
