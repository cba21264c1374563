// File tokens (docs/protocol.md "Room files") through a real session and directory on CAF's test scheduler:
// getfutok/getfdtok answered with rpl:getftok or the refusal the room's rules call for, and redeem (what the web
// server does with a token) single-use for uploads, reusable until expiry for downloads, bound to its room and
// file, with the rules checked again. Expiry uses the test clock (advance_time), never a sleep.
#include "fixture.hpp"

#include "storage/file_store.hpp"
#include "base/text.hpp"

using namespace pchat;
using namespace pchat::test;

namespace {

struct files_fixture : fixture {
  std::shared_ptr<file_service> files = std::make_shared<file_service>();
  files_fixture() {
    files->set_url("http://files.test");
    opts.files = files;
  }

  std::string ftdb(const storage::room& r, const std::string& file_url) {
    std::string esc;
    append_xml_attr(esc, file_url);
    return "<ftdb channelUri=\"" + uri(r) + "\" fileUrl=\"" + esc + "\"/>";
  }
  xccos::item getfutok(dialog_id d, const storage::room& r, const std::string& name) {
    return ask(d, cmd("20", "getfutok", ftdb(r, name)));
  }
  xccos::item getfdtok(dialog_id d, const storage::room& r, const std::string& link) {
    return ask(d, cmd("21", "getfdtok", ftdb(r, link)));
  }
  static std::string token_of(const xccos::item& it) {
    REQUIRE(it.data());
    const auto* t = it.data()->child("token");
    REQUIRE(t);
    return t->attr_or("token");
  }

  // What the web server does: redeem(token, upload, room guid, name or file id).
  caf::expected<file_grant> redeem(const std::string& token, bool upload, const std::string& guid,
                                   const std::string& item) {
    caf::scoped_actor self{sys};
    auto answer = self->request(dir_actor, caf::infinite, redeem_atom::value, token, upload, guid, item);
    sched.run(); // the directory runs on the test scheduler; its reply is then waiting for the handle
    caf::expected<file_grant> out{caf::sec::request_timeout};
    answer.receive([&](file_grant& g) { out = std::move(g); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  storage::file_record stored_file(const storage::room& r, const std::string& name) {
    storage::file_record f;
    f.room_id = r.id;
    f.id = "0f8fad5b-d9cb-469f-a165-" + std::to_string(100000000000 + r.id);
    f.name = name;
    f.content_type = "text/plain";
    f.size = 3;
    f.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    f.uploader = "sip:alice@example.com";
    REQUIRE(db->put_file(f).ok());
    return f;
  }
  std::string link_of(const storage::room& r, const storage::file_record& f) {
    return xccos::format_file_link({"example.com", r.guid, f.id, f.name});
  }
};

pchat_errc code_of(const caf::error& e) { return static_cast<pchat_errc>(e.code()); }

} // namespace

TEST_CASE_METHOD(files_fixture, "getfutok gives members a token for one name, with the URL to upload it to") {
  auto closed = make_room("Team", storage::privacy::closed);
  REQUIRE(db->set_roles(closed.id, "sip:alice@example.com", storage::role::member).ok());
  auto a = connect("sip:alice@example.com");
  auto rpl = getfutok(a, closed, "Report Q1 & notes.txt");
  CHECK(rpl.id == "rpl:getftok");
  CHECK(rpl.code == 200);
  CHECK(rpl.cmd_envid == "20");
  auto token = token_of(rpl);
  CHECK(token.size() == 36);
  CHECK(token[14] == '4'); // a version-4 GUID
  CHECK(rpl.data()->child("token")->attr_or("serveruri") ==
        "http://files.test/files/" + closed.guid + "/Report%20Q1%20%26%20notes.txt");
  CHECK(token_of(getfutok(a, closed, "Report Q1 & notes.txt")) != token); // every request gets its own

  auto g = redeem(token, true, closed.guid, "Report Q1 & notes.txt");
  REQUIRE(g);
  CHECK(g->user == "sip:alice@example.com");
  CHECK(g->room.id == closed.id);
  CHECK(g->room.uri == uri(closed));
  CHECK(g->name == "Report Q1 & notes.txt");
  auto again = redeem(token, true, closed.guid, "Report Q1 & notes.txt");
  REQUIRE_FALSE(again);
  CHECK(code_of(again.error()) == pchat_errc::token_invalid); // one upload per token
}

TEST_CASE_METHOD(files_fixture, "file tokens are refused to outsiders, in secret rooms as if they did not exist") {
  auto closed = make_room("Team", storage::privacy::closed);
  auto secret = make_room("Hidden", storage::privacy::secret);
  auto open = make_room("Lobby");
  auto m = connect("sip:mallory@example.com");
  auto f = stored_file(closed, "plan.txt");
  auto c1 = getfutok(m, closed, "x.txt");
  CHECK(c1.code == 403);
  CHECK(c1.token == "ACCESS_DENIED");
  CHECK(getfdtok(m, closed, link_of(closed, f)).code == 403);
  auto s1 = getfutok(m, secret, "x.txt");
  CHECK(s1.code == 404);
  CHECK(s1.token == "CHANNEL_NOT_FOUND");
  CHECK(getfutok(m, open, "x.txt").code == 200); // open rooms: anyone in scope may join, so may transfer
  // Unknown rooms, other domains, bad names, links to other rooms' files or to nothing.
  storage::room ghost;
  ghost.guid = "00000000-0000-4000-8000-000000000000";
  CHECK(getfutok(m, ghost, "x.txt").token == "CHANNEL_NOT_FOUND");
  CHECK(ask(m, cmd("22", "getfutok", "<ftdb channelUri=\"ma-chan://other.org/" + open.guid + "\" fileUrl=\"x\"/>"))
          .token == "CHANNEL_NOT_FOUND");
  for (const char* bad : {"../etc/passwd", "a/b", "..", "tab\there"}) {
    auto r = getfutok(m, open, bad);
    CHECK(r.code == 400);
    CHECK(r.token == "INVALID_ARGUMENT");
  }
  auto other = getfdtok(m, open, link_of(closed, f)); // a link into another room
  CHECK(other.code == 404);
  CHECK(other.token == "FILE_NOT_FOUND");
  CHECK(getfdtok(m, open, "ma-filelink://example.com/" + open.guid + "/no-such-id/x.txt").token == "FILE_NOT_FOUND");
  CHECK(getfdtok(m, open, "not a link").token == "FILE_NOT_FOUND");
  CHECK(ask(m, cmd("23", "getfutok", "<ftdb/>")).token == "INVALID_ARGUMENT");
}

TEST_CASE_METHOD(files_fixture, "uploads need the category's filepost, downloads do not") {
  storage::category nofiles;
  nofiles.name = "Archive";
  nofiles.filepost = false;
  REQUIRE(db->create_category(nofiles).ok());
  storage::room r;
  r.name = "Old";
  r.category_id = nofiles.id;
  REQUIRE(db->create_room(r).ok());
  make_room("Respawn"); // restarts the directory so it sees the room above
  auto f = stored_file(r, "old.txt");
  auto a = connect("sip:alice@example.com");
  auto up = getfutok(a, r, "new.txt");
  CHECK(up.code == 403);
  CHECK(up.token == "ACCESS_DENIED");
  CHECK(getfdtok(a, r, link_of(r, f)).code == 200);
}

TEST_CASE_METHOD(files_fixture, "download tokens serve one file of one room until they expire") {
  auto lobby = make_room("Lobby");
  auto dev = make_room("Dev");
  auto f = stored_file(lobby, "a.bin");
  auto g = stored_file(dev, "b.bin");
  auto a = connect("sip:alice@example.com");
  auto rpl = getfdtok(a, lobby, link_of(lobby, f));
  REQUIRE(rpl.code == 200);
  CHECK(rpl.data()->child("token")->attr_or("serveruri") == "http://files.test/files/" + lobby.guid + "/" + f.id);
  auto token = token_of(rpl);

  auto first = redeem(token, false, lobby.guid, f.id);
  REQUIRE(first);
  CHECK(first->file.sha256 == f.sha256);
  CHECK(first->file.name == "a.bin");
  auto second = redeem(token, false, lobby.guid, f.id); // Range requests: the same token again
  REQUIRE(second);
  CHECK(second->file.id == f.id);

  // Another room's file, another file, the other purpose: refused.
  auto cross = redeem(token, false, dev.guid, g.id);
  REQUIRE_FALSE(cross);
  CHECK(code_of(cross.error()) == pchat_errc::forbidden);
  CHECK(code_of(redeem(token, false, lobby.guid, g.id).error()) == pchat_errc::forbidden);
  CHECK(code_of(redeem(token, true, lobby.guid, "a.bin").error()) == pchat_errc::token_invalid);
  CHECK(code_of(redeem("00000000-0000-4000-8000-000000000000", false, lobby.guid, f.id).error()) ==
        pchat_errc::token_invalid);
  CHECK(code_of(redeem("", false, lobby.guid, f.id).error()) == pchat_errc::token_invalid);

  sched.advance_time(std::chrono::seconds(299));
  CHECK(redeem(token, false, lobby.guid, f.id));
  sched.advance_time(std::chrono::seconds(2));
  auto late = redeem(token, false, lobby.guid, f.id);
  REQUIRE_FALSE(late);
  CHECK(code_of(late.error()) == pchat_errc::token_invalid);
}

TEST_CASE_METHOD(files_fixture, "redeeming checks the rules again: a member removed since is refused") {
  auto closed = make_room("Team", storage::privacy::closed);
  REQUIRE(db->set_roles(closed.id, "sip:bob@example.com", storage::role::member).ok());
  auto b = connect("sip:bob@example.com");
  auto token = token_of(getfutok(b, closed, "late.txt"));
  REQUIRE(db->set_roles(closed.id, "sip:bob@example.com", 0).ok());
  auto g = redeem(token, true, closed.guid, "late.txt");
  REQUIRE_FALSE(g);
  CHECK(code_of(g.error()) == pchat_errc::forbidden);
}

TEST_CASE_METHOD(files_fixture, "without the web server there are no file tokens") {
  auto lobby = make_room("Lobby");
  opts.files = nullptr;
  auto a = connect("sip:alice@example.com");
  auto r = getfutok(a, lobby, "x.txt");
  CHECK(r.code == 503);
  CHECK(r.token == "FILES_UNAVAILABLE");
}

TEST_CASE_METHOD(files_fixture, "in an auditorium only presenters upload, attendees still download") {
  auto hall = make_room("Hall", storage::privacy::open, storage::room_type::auditorium);
  REQUIRE(db->set_roles(hall.id, "sip:pat@example.com", storage::role::presenter).ok());
  auto f = stored_file(hall, "slides.pdf");
  auto carol = connect("sip:carol@example.com");
  auto refused = getfutok(carol, hall, "mine.txt");
  CHECK(refused.code == 403);
  CHECK(refused.token == "ACCESS_DENIED");
  CHECK(getfdtok(carol, hall, link_of(hall, f)).code == 200);
  auto pat = connect("sip:pat@example.com");
  CHECK(getfutok(pat, hall, "agenda.txt").code == 200);
}

TEST_CASE_METHOD(files_fixture, "live file tokens are capped per user: a flood refuses the flooder, not others") {
  auto lobby = make_room("Lobby");
  auto m = connect("sip:mallory@example.com");
  auto b = connect("sip:bob@example.com");
  auto bobs = token_of(getfutok(b, lobby, "bob.txt"));
  for (int i = 0; i < 64; ++i) // 64 live tokens per user
    REQUIRE(getfutok(m, lobby, "f" + std::to_string(i) + ".txt").code == 200);
  auto over = getfutok(m, lobby, "one-too-many.txt");
  CHECK(over.code == 503);
  CHECK(over.token == "TRY_LATER");
  // Mallory's flood cost Bob nothing: his token still works, and he gets new ones.
  CHECK(redeem(bobs, true, lobby.guid, "bob.txt"));
  CHECK(getfutok(b, lobby, "bob2.txt").code == 200);
  // Once Mallory's tokens expire she may ask again.
  sched.advance_time(files->token_ttl + std::chrono::seconds(1));
  CHECK(getfutok(m, lobby, "later.txt").code == 200);
}
