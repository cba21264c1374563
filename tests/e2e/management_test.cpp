// Room management end to end: pchatctl changes a running pchatd (admin socket) and SIP clients see the change at
// once; outsiders are refused on every management path; invitations reach members across sign-ins.
#include <poll.h>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "client/chat_client.hpp"

using namespace pchat;
using namespace pchat::client;
using pchat::test::pchatd_process;
using pchat::test::sign_in;

namespace {

std::vector<std::string> room_names(chat_client& c) {
  auto rooms = c.search("");
  REQUIRE(rooms);
  std::vector<std::string> out;
  for (const auto& r : rooms.value())
    out.push_back(r.name);
  return out;
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

// The next notice with this id, skipping others; nullopt after `ms`.
std::optional<xccos::item> next_notice(chat_client& c, const std::string& id, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto e = c.next_event(duration{200});
    if (e && e->item.id == id)
      return e->item;
  }
  return std::nullopt;
}

std::string uri_of(const std::string& ctl_output) {
  auto tab = ctl_output.find('\t');
  REQUIRE(tab != std::string::npos);
  auto uri = ctl_output.substr(tab + 1);
  while (!uri.empty() && (uri.back() == '\n'))
    uri.pop_back();
  return uri;
}

} // namespace

TEST_CASE("pchatctl changes a running server: rooms, privacy, members, invitations, removal") {
  pchatd_process server;
  REQUIRE(server.ctl("init --demo") == 0);
  server.start();
  auto bob = sign_in(server, "bob@example.com");
  auto mallory = sign_in(server, "mallory@example.com");

  std::string out;
  REQUIRE(server.ctl("room add Ops --category General --privacy closed --description Operations", &out) == 0);
  auto ops = uri_of(out);
  CHECK(has(room_names(*bob), "Ops")); // visible at once, without a restart
  auto refused = bob->join(ops);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().status == 403);

  REQUIRE(server.ctl("category set General --invite true") == 0);
  REQUIRE(server.ctl("member add Ops bob@example.com", &out) == 0);
  CHECK(out.find("invited") != std::string::npos);
  auto ntc = next_notice(*bob, "ntc:inv");
  REQUIRE(ntc);
  CHECK(ntc->data()->child("inv")->attr_or("chanUri") == ops);
  auto invs = bob->get_invitations();
  REQUIRE(invs);
  CHECK(invs->data()->children_named("inv").size() == 1);
  REQUIRE(bob->join(ops));

  // An outsider on every read and write path of the closed room: batch join, history, posting.
  std::vector<std::string> failed;
  auto batch = mallory->bjoin({ops}, &failed);
  REQUIRE(batch);
  CHECK(batch->empty());
  CHECK(failed.size() == 1);
  auto read = mallory->history(ops, 10);
  REQUIRE_FALSE(read);
  CHECK(read.err().status == 403);
  auto posted = mallory->post(ops, "let me in");
  REQUIRE_FALSE(posted);
  CHECK(posted.err().status == 403);
  auto found = mallory->command("histsrch", "<srch text=\"anything\"/><chanib uri=\"" + ops + "\"/>");
  REQUIRE(found);
  CHECK(found->code == 404);

  // An outsider on every management path: settings, roles, creating rooms.
  auto upd = mallory->command("chanupd", "<chanib uri=\"" + ops + "\" topic=\"pwned\"/>");
  REQUIRE(upd);
  CHECK(upd->code == 403);
  auto role = mallory->command("chanrole", "<chanib uri=\"" + ops + "\"/><uib uri=\"sip:mallory@example.com\" roles=\"manager\"/>");
  REQUIRE(role);
  CHECK(role->code == 403);
  REQUIRE(server.ctl("category list", &out) == 0);
  auto general = uri_of(out.substr(0, out.find('\t', out.find('\t') + 1)));
  auto create = mallory->command("chancreate", "<chanib name=\"Mine\" category=\"" + general + "\"/>");
  REQUIRE(create);
  CHECK(create->code == 403);
  REQUIRE(server.ctl("room show Ops", &out) == 0);
  CHECK(out.find("pwned") == std::string::npos);
  CHECK(out.find("mallory") == std::string::npos);

  // Secret: mallory no longer finds it, and management answers as for a room that does not exist.
  REQUIRE(server.ctl("room set Ops --privacy secret --topic Quiet") == 0);
  CHECK_FALSE(has(room_names(*mallory), "Ops"));
  auto hidden = mallory->command("chanupd", "<chanib uri=\"" + ops + "\" topic=\"x\"/>");
  REQUIRE(hidden);
  CHECK(hidden->code == 404);

  // Removal lets the joined member go and the room disappears.
  REQUIRE(server.ctl("room remove Ops") == 0);
  CHECK(next_notice(*bob, "ntc:part"));
  CHECK_FALSE(has(room_names(*bob), "Ops"));
  CHECK(server.ctl("room show Ops") == 1);
  CHECK(server.ctl("room set Nope --topic x", &out) == 1);
  CHECK(out.find("room_not_found") != std::string::npos);
  CHECK(server.ctl("room set Lobby --colour red") == 2);
}

TEST_CASE("an invitation made while the invitee is offline is there at the next sign-in, once") {
  pchatd_process server;
  REQUIRE(server.ctl("init --demo") == 0);
  REQUIRE(server.ctl("category set General --invite true") == 0);
  std::string out;
  REQUIRE(server.ctl("member add Dev carol@example.com", &out) == 0); // pchatd stopped: offline
  CHECK(out.find("invited") != std::string::npos);
  server.start();
  REQUIRE(server.ctl("member add Lobby carol@example.com", &out) == 0); // running: through pchatd
  CHECK(out.find("invited") != std::string::npos);
  {
    auto carol = sign_in(server, "carol@example.com");
    auto invs = carol->get_invitations();
    REQUIRE(invs);
    std::vector<std::string> names;
    for (const auto* inv : invs->data()->children_named("inv"))
      names.push_back(inv->attr_or("name"));
    CHECK(names == std::vector<std::string>{"Dev", "Lobby"});
  }
  server.restart();
  auto carol = sign_in(server, "carol@example.com");
  auto again = carol->get_invitations();
  REQUIRE(again);
  CHECK(again->data()->children_named("inv").empty());
  server.stop();
  CHECK_FALSE(std::filesystem::exists(server.data_dir() + "/pchatd.sock")); // cleaned up on stop
  CHECK(server.ctl("room show Lobby", &out) == 0);                           // offline again
}
