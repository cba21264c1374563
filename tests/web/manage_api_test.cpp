// The web server over real HTTP against a real pchatd: health and metrics, the page and its headers, sign-in
// with SIP's credentials, and the room-management API enforcing the room model with clear errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "support/web_client.hpp"

using json = nlohmann::json;
using pchat::test::body_of;
using pchat::test::code;
using pchat::test::pchatd_process;
using pchat::test::web_client;

namespace {

// Sends `request` as it is over a fresh connection and returns everything the server sends until it closes.
std::string raw_request(std::uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  timeval limit{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      answer.append(buf, static_cast<std::size_t>(n));
  INFO("recv: " << (n < 0 ? std::strerror(errno) : "closed"));
  CHECK(!answer.empty());
  ::close(fd);
  return answer;
}

std::string guid_of(const std::string& ctl_output) {
  auto slash = ctl_output.rfind('/');
  REQUIRE(slash != std::string::npos);
  auto guid = ctl_output.substr(slash + 1);
  while (!guid.empty() && guid.back() == '\n')
    guid.pop_back();
  return guid;
}

} // namespace

TEST_CASE("web: /healthz, /metrics, the built-in page and its security headers") {
  pchatd_process server;
  REQUIRE(server.ctl("init --demo") == 0);
  server.start();
  web_client web{server};

  auto health = web.get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == "ok\n");

  auto metrics = web.get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(metrics->body.find("# TYPE pchat_posts_total counter") != std::string::npos);
  CHECK(metrics->body.find("pchat_sip_registers_total") != std::string::npos);

  auto page = web.get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(page->body.find("<script src=\"/app.js\" defer></script>") != std::string::npos);
  CHECK(page->get_header_value("Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  CHECK(page->get_header_value("X-Content-Type-Options") == "nosniff");
  auto script = web.get("/app.js");
  REQUIRE(script);
  CHECK(script->status == 200);
  CHECK(script->get_header_value("Content-Type") == "text/javascript; charset=utf-8");

  auto missing = web.get("/no/such/page");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(body_of(missing)["error"] == "not_found");
}

TEST_CASE("web: /metrics carries the compliance service's counters when compliance is on") {
  pchatd_process server{{"--compliance.enabled=true"}};
  REQUIRE(server.ctl("init --demo") == 0);
  server.start();
  web_client web{server};
  auto metric = [&](const std::string& name) {
    auto r = web.get("/metrics");
    REQUIRE(r);
    auto at = r->body.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stoull(r->body.substr(at + name.size() + 2));
  };
  CHECK(metric("pchat_compliance_events_total") == 0);
  auto alice = pchat::test::sign_in(server, "alice@example.com");
  auto lobby = alice->resolve_room("Lobby");
  REQUIRE(lobby);
  REQUIRE(alice->join(lobby.value()));
  REQUIRE(alice->post(lobby.value(), "archived"));
  CHECK(metric("pchat_compliance_events_total") >= 2); // the join and the post
  CHECK(metric("pchat_compliance_durable_total") >= 1);  // the post is durable before it was acknowledged
  CHECK(metric("pchat_compliance_degraded") == 0);
}

TEST_CASE("web sign-in uses SIP's accounts: wrong password, unknown and disabled users, throttling, sign-out") {
  pchatd_process server{{"--sip.auth=digest"}};
  REQUIRE(server.ctl("init --demo") == 0);
  REQUIRE(server.ctl("user add alice@example.com --password 'right one'") == 0);
  REQUIRE(server.ctl("user add carol@example.com --password 'carols'") == 0);
  REQUIRE(server.ctl("user set carol@example.com --disabled true") == 0);
  server.start();

  web_client web{server};
  auto me = body_of(web.get("/api/me"));
  CHECK(me["user"].is_null());
  CHECK(me["signIn"] == "password");
  CHECK(code(web.get("/api/rooms")) == 401);

  // The same answer for a wrong password, an unknown user and a disabled account.
  auto wrong = web.send("POST", "/api/signin", {{"user", "alice@example.com"}, {"password", "wrong"}});
  CHECK(wrong->status == 403);
  CHECK(body_of(wrong)["message"] == "Unknown user or wrong password");
  auto unknown = web.send("POST", "/api/signin", {{"user", "mallory@example.com"}, {"password", "right one"}});
  CHECK(unknown->status == 403);
  CHECK(body_of(unknown)["message"] == body_of(wrong)["message"]);
  CHECK(web.sign_in("carol@example.com", "carols") == 403);
  CHECK(web.cookie().empty());
  CHECK(web.sign_in("", "x") == 400);

  auto ok = web.send("POST", "/api/signin", {{"user", "Alice@Example.com"}, {"password", "right one"}});
  REQUIRE(ok->status == 200);
  CHECK(body_of(ok)["user"] == "sip:alice@example.com");
  auto cookie_attrs = ok->get_header_value("Set-Cookie");
  CHECK(cookie_attrs.find("HttpOnly") != std::string::npos);
  CHECK(cookie_attrs.find("SameSite=Strict") != std::string::npos);
  CHECK(body_of(web.get("/api/me"))["user"] == "sip:alice@example.com");
  CHECK(code(web.get("/api/rooms")) == 200);

  // Signed out, the old cookie is worth nothing.
  auto old = web.cookie();
  REQUIRE(code(web.send("POST", "/api/signout", json::object())) == 200);
  web.cookie() = old;
  CHECK(code(web.get("/api/rooms")) == 401);
  web.cookie() = "pchat_session=0000";
  CHECK(code(web.get("/api/rooms")) == 401);

  // Five failures in a minute: even the right password has to wait.
  web_client guesser{server};
  for (int i = 0; i < 5; ++i)
    CHECK(guesser.sign_in("alice@example.com", "guess " + std::to_string(i)) == 403);
  auto throttled = guesser.send("POST", "/api/signin", {{"user", "alice@example.com"}, {"password", "right one"}});
  CHECK(throttled->status == 429);
  CHECK(guesser.cookie().empty());

  // Successes do not count against the address (an office behind one address signs in at nine): 30 in a row.
  REQUIRE(server.ctl("user add dave@example.com --password 'daves'") == 0);
  for (int i = 0; i < 30; ++i) {
    web_client colleague{server};
    INFO(i);
    REQUIRE(colleague.sign_in("dave@example.com", "daves") == 200);
  }
}

TEST_CASE("web sign-in with sip.auth=known: enabled accounts only, no password") {
  pchatd_process server{{"--sip.auth=known"}};
  REQUIRE(server.ctl("init --demo") == 0);
  REQUIRE(server.ctl("user add alice@example.com --password unused") == 0);
  server.start();
  web_client web{server};
  CHECK(body_of(web.get("/api/me"))["signIn"] == "known");
  CHECK(web.sign_in("mallory@example.com") == 403);
  CHECK(web.sign_in("alice@example.com") == 200);
}

TEST_CASE("web management API: the room model's rules with clear errors") {
  pchatd_process server; // anonymous on loopback: users are who they say
  REQUIRE(server.ctl("init") == 0);
  REQUIRE(server.ctl("category add Teams --creators sip:alice@example.com,sip:mallory@example.com "
                     "--deny sip:eve@example.com") == 0);
  REQUIRE(server.ctl("category add Board") == 0);
  std::string out;
  REQUIRE(server.ctl("room add Existing --category Teams --privacy open", &out) == 0);
  REQUIRE(server.ctl("room add Vault --category Teams --privacy secret", &out) == 0);
  auto vault = guid_of(out);
  server.start();

  web_client alice{server};
  REQUIRE(alice.sign_in("alice@example.com") == 200);
  auto listed = body_of(alice.get("/api/rooms"));
  CHECK(listed.at("rooms").is_array());
  CHECK(listed.at("rooms").empty());
  REQUIRE(listed["categories"].size() == 1);
  CHECK(listed["categories"][0]["name"] == "Teams");

  // Creating: only in a category where one is a creator; names are unique; fields are checked.
  auto board = alice.send("POST", "/api/rooms", {{"category", "Board"}, {"name", "Secret plans"}});
  CHECK(board->status == 403);
  CHECK(body_of(board)["message"] == "You may not do that: not a creator in category Board");
  auto taken = alice.send("POST", "/api/rooms", {{"category", "Teams"}, {"name", "existing"}});
  CHECK(taken->status == 409);
  CHECK(body_of(taken)["error"] == "name_taken");
  CHECK(code(alice.send("POST", "/api/rooms", {{"name", "No category"}})) == 400);
  CHECK(code(alice.send("POST", "/api/rooms", {{"category", "Nowhere"}, {"name", "X"}})) == 404);
  auto bad_privacy = alice.send("POST", "/api/rooms", {{"category", "Teams"}, {"name", "X"}, {"privacy", "hidden"}});
  CHECK(bad_privacy->status == 400);
  CHECK(body_of(bad_privacy)["message"].get<std::string>().find("open, closed or secret") != std::string::npos);
  auto created = alice.send("POST", "/api/rooms", {{"category", "Teams"},
                                                    {"name", "Design"},
                                                    {"privacy", "closed"},
                                                    {"type", "auditorium"},
                                                    {"topic", "Mockups"}});
  REQUIRE(created->status == 201);
  auto design = body_of(created);
  CHECK(design["privacy"] == "closed");
  CHECK(design["type"] == "auditorium");
  CHECK(design["roles"][0]["user"] == "sip:alice@example.com");
  CHECK(design["roles"][0]["roles"] == json({"member", "manager"}));
  std::string room = "/api/rooms/" + design["id"].get<std::string>();
  REQUIRE(server.ctl("room show Design", &out) == 0);
  CHECK(out.find("Mockups") != std::string::npos); // stored, as pchatctl sees it

  // Bad requests: each named.
  auto unknown = alice.send("PATCH", room, {{"owner", "me"}});
  CHECK(unknown->status == 400);
  CHECK(body_of(unknown)["message"] == "unknown field owner");
  CHECK(body_of(alice.send("PATCH", room, {{"category", "Board"}}))["message"] == "unknown field category");
  CHECK(code(alice.send("PATCH", room, {{"disabled", "yes"}})) == 400);
  CHECK(code(alice.send("PATCH", room, {{"name", std::string(300, 'x')}})) == 400);
  CHECK(code(alice.send_raw("PATCH", room, "{\"topic\":", "application/json")) == 400);
  CHECK(code(alice.send_raw("PATCH", room, "topic=x", "application/x-www-form-urlencoded")) == 415);
  auto huge = alice.send_raw("PATCH", room, "{\"topic\":\"" + std::string(70000, 'a') + "\"}", "application/json");
  CHECK(huge->status == 413);
  CHECK(code(alice.send("PUT", room + "/roles", {{"user", "bob@example.com"}, {"roles", {"owner"}}})) == 400);
  CHECK(code(alice.send("PUT", room + "/roles", {{"user", ""}, {"roles", {"member"}}})) == 400);
  auto renamed = alice.send("PATCH", room, {{"name", "Existing"}});
  CHECK(renamed->status == 409);

  // Roles: only inside the category's scope.
  auto eve = alice.send("PUT", room + "/roles", {{"user", "eve@example.com"}, {"roles", {"member"}}});
  CHECK(eve->status == 403);
  CHECK(body_of(eve)["message"].get<std::string>().find("outside the scope of category Teams") != std::string::npos);
  auto bob = alice.send("PUT", room + "/roles", {{"user", "Bob@Example.com"}, {"roles", {"member", "presenter"}}});
  REQUIRE(bob->status == 200);
  CHECK(body_of(bob)["invited"] == false); // Teams has invitations off
  REQUIRE(server.ctl("member list Design", &out) == 0);
  CHECK(out.find("sip:bob@example.com") != std::string::npos);

  // Another creator is not a manager of this room: settings and roles are refused, the secret room is unknown.
  web_client mallory{server};
  REQUIRE(mallory.sign_in("mallory@example.com") == 200);
  CHECK(body_of(mallory.get("/api/rooms")).at("rooms") == json::array());
  CHECK(code(mallory.get(room)) == 403);
  auto takeover = mallory.send("PUT", room + "/roles", {{"user", "mallory@example.com"}, {"roles", {"manager"}}});
  CHECK(takeover->status == 403);
  CHECK(code(mallory.send("PATCH", room, {{"topic", "pwned"}})) == 403);
  auto hidden = mallory.get("/api/rooms/" + vault);
  CHECK(hidden->status == 404);
  CHECK(body_of(hidden)["error"] == "room_not_found");
  CHECK(mallory.get("/api/rooms/" + vault)->body == mallory.get("/api/rooms/no-such-room")->body);
  REQUIRE(server.ctl("room show Design", &out) == 0);
  CHECK(out.find("pwned") == std::string::npos);

  // Alice makes her room secret and gives up managing it: it is gone from her list, unknown to Mallory.
  REQUIRE(code(alice.send("PATCH", room, {{"privacy", "secret"}})) == 200);
  CHECK(code(mallory.get(room)) == 404);
  auto resign = alice.send("PUT", room + "/roles", {{"user", "alice@example.com"}, {"roles", {"member"}}});
  REQUIRE(resign->status == 200);
  CHECK(body_of(resign).at("room").is_null());
  CHECK(body_of(alice.get("/api/rooms")).at("rooms") == json::array());
  CHECK(code(alice.get(room)) == 403);
}

TEST_CASE("web hardening: wrong JSON types, control characters, bodies without length, host names, old sign-ins") {
  pchatd_process server{{"--sip.auth=digest"}};
  REQUIRE(server.ctl("init") == 0);
  REQUIRE(server.ctl("category add Teams --creators sip:alice@example.com") == 0);
  REQUIRE(server.ctl("user add alice@example.com --password pw") == 0);
  std::string out;
  REQUIRE(server.ctl("room add Vault --category Teams --privacy secret", &out) == 0);
  auto vault = guid_of(out);
  server.start();
  web_client alice{server};

  // Fields of the wrong type are a 400 naming the field, not a server error.
  auto typed = alice.send("POST", "/api/signin", {{"user", 5}, {"password", "pw"}});
  CHECK(code(typed) == 400);
  CHECK(body_of(typed)["message"] == "user must be a string");
  CHECK(code(alice.send("POST", "/api/signin", {{"user", "alice@example.com"}, {"password", {1, 2}}})) == 400);
  CHECK(code(alice.send("POST", "/api/signin", {{"user", std::string(300, 'a') + "@example.com"}})) == 400);
  REQUIRE(alice.sign_in("alice@example.com", "pw") == 200);

  // Text that could not travel in XCCOS is refused (a control character in a topic would break every chansrch).
  auto bell = alice.send("POST", "/api/rooms", {{"category", "Teams"}, {"name", "Bell"}, {"topic", "ding\a\x01"}});
  CHECK(code(bell) == 400);
  CHECK(body_of(bell)["message"].get<std::string>().find("topic holds a character") != std::string::npos);
  auto made = alice.send("POST", "/api/rooms", {{"category", "Teams"}, {"name", "Zed"}});
  REQUIRE(code(made) == 201);
  CHECK(code(alice.send("PUT", "/api/rooms/Zed/roles", {{"user", "bob\x01@example.com"}, {"roles", {"member"}}})) ==
        400);

  // A room named by its old name can be renamed (the answer shows it under the new one).
  auto renamed = alice.send("PATCH", "/api/rooms/Zed", {{"name", "Zed2"}});
  REQUIRE(code(renamed) == 200);
  CHECK(body_of(renamed)["name"] == "Zed2");

  // A secret room and a missing one answer the same to changes too.
  CHECK(body_of(alice.send("PATCH", "/api/rooms/" + vault, {{"topic", "x"}})) ==
        body_of(alice.send("PATCH", "/api/rooms/no-such-room", {{"topic", "x"}})));
  CHECK(body_of(alice.send("PUT", "/api/rooms/" + vault + "/roles", {{"user", "a@example.com"}, {"roles", {}}})) ==
        body_of(alice.send("PUT", "/api/rooms/no-such-room/roles", {{"user", "a@example.com"}, {"roles", {}}})));

  // Chunked bodies and bodies without a length are refused before any of the body is read (the requests below
  // send their headers only, and the answer comes anyway); so are other host names.
  auto host = "Host: 127.0.0.1:" + std::to_string(server.web_port()) + "\r\n";
  auto chunked = raw_request(server.web_port(), "POST /api/signin HTTP/1.1\r\n" + host +
                                                "Content-Type: application/json\r\nTransfer-Encoding: Chunked\r\n\r\n");
  CHECK(chunked.rfind("HTTP/1.1 411", 0) == 0);
  auto lengthless = raw_request(server.web_port(), "POST /api/signin HTTP/1.1\r\n" + host +
                                                   "Content-Type: application/json\r\n\r\n");
  CHECK(lengthless.rfind("HTTP/1.1 411", 0) == 0);
  CHECK(lengthless.find("Connection: close") != std::string::npos);
  httplib::Client rebound{"127.0.0.1", server.web_port()};
  auto wrong_host = rebound.Post("/api/signin", {{"Host", "evil.example"}}, R"({"user":"alice@example.com","password":"pw"})",
                                 "application/json");
  CHECK(code(wrong_host) == 421);
  CHECK(code(rebound.Get("/healthz", {{"Host", "evil.example"}})) == 200); // only /api is bound to our names

  // Disabling the account ends its web sign-ins at once.
  CHECK(code(alice.get("/api/rooms")) == 200);
  REQUIRE(server.ctl("user set alice@example.com --disabled true") == 0);
  CHECK(code(alice.get("/api/rooms")) == 401);
  CHECK(body_of(alice.get("/api/me"))["user"].is_null());

  // Sign-out only as JSON (a cross-site form cannot sign anyone out).
  CHECK(code(alice.send_raw("POST", "/api/signout", "", "text/plain")) == 415);
}

TEST_CASE("web: pchatd refuses a password-less web sign-in that others could reach") {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pchat-web-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  pchatd_process::init_store(tmpl + "/data");
  auto port = std::to_string(pchatd_process::free_port());
  std::string out;
  // sip.auth=auto on loopback is anonymous; a published page (public-url) or another web.host may not inherit it.
  int rc = pchatd_process::run_capture(pchat::test::tests_pchatd() + " --pchat.data-dir=" + tmpl + "/data --sip.port=" +
                                         port + " --web.port=0 --web.public-url=https://chat.example.com",
                                       out);
  CHECK(rc == 2);
  CHECK(out.find("web sign-in would need no password") != std::string::npos);
  rc = pchatd_process::run_capture(pchat::test::tests_pchatd() + " --pchat.data-dir=" + tmpl + "/data --sip.port=" +
                                     port + " --web.port=0 --web.host=0.0.0.0 --sip.auth=known",
                                   out);
  CHECK(rc == 2);
  std::filesystem::remove_all(tmpl);
}
