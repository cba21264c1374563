// Tests of storage::store against a real RocksDB in a fresh temporary directory per test, and the same tests but
// those tagged [rocksdb] against a real PostgreSQL (support/store_backend.hpp; ctest's "pg storage: ..." run).
#include "storage/store.hpp"

#include "storage/record_codec.hpp"
#include "storage/text_index.hpp"
#include "support/store_backend.hpp"

#include <catch2/catch.hpp>
#include <rocksdb/db.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace pchat::storage;
using pchat::test::on_postgres;

namespace {

namespace fs = std::filesystem;

constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

// A unique directory under /tmp, removed with everything in it when the test ends.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/pchat-storage-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  // The database lives in a not-yet-existing subdirectory, so open() must create it.
  std::string db() const { return path_ + "/data/db"; }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

std::unique_ptr<store> open_store(const std::string& dir, bool read_only = false) {
  std::unique_ptr<store> s;
  open_options opts;
  opts.read_only = read_only;
  auto st = pchat::test::open_store_at(dir, opts, s);
  INFO(to_string(st.code) << ": " << st.message);
  REQUIRE(st.ok());
  REQUIRE(s);
  return s;
}

bool is_uuid_v4(const std::string& s) {
  static const std::regex re{"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  return std::regex_match(s, re);
}

std::uint64_t make_category(store& s, const std::string& name) {
  category c;
  c.name = name;
  auto st = s.create_category(c);
  INFO(st.message);
  REQUIRE(st.ok());
  return c.id;
}

std::uint64_t make_room(store& s, std::uint64_t cat, const std::string& name) {
  room r;
  r.category_id = cat;
  r.name = name;
  auto st = s.create_room(r);
  INFO(st.message);
  REQUIRE(st.ok());
  return r.id;
}

message msg(std::uint64_t room_id, std::uint64_t seq) {
  message m;
  m.room_id = room_id;
  m.seq = seq;
  m.author = "sip:user" + std::to_string(seq % 7) + "@example.com";
  m.ticks = 16'000'000'000'000'000 + static_cast<std::int64_t>(seq);
  m.text = std::to_string(room_id) + ":" + std::to_string(seq);
  return m;
}

std::vector<std::uint64_t> seqs_of(const std::vector<message>& ms) {
  std::vector<std::uint64_t> out;
  for (const auto& m : ms)
    out.push_back(m.seq);
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (auto i = first; i <= last; ++i)
    out.push_back(i);
  return out;
}

// --- a second process holding the store -------------------------------------------------------------------
// The test binary re-executes itself running the hidden test case below, so the child is a fresh process (no
// fork-after-threads hazards) that really holds RocksDB's LOCK file.

constexpr const char* child_test_name = "storage child process helper";

class child_process {
public:
  child_process(const std::string& mode, const std::string& dir) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    // Everything the child needs is built before fork(): after it only async-signal-safe calls are allowed.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e)
      env_strings.emplace_back(*e);
    env_strings.push_back("PCHAT_STORAGE_CHILD_MODE=" + mode);
    env_strings.push_back("PCHAT_STORAGE_CHILD_DIR=" + dir);
    env_strings.push_back("PCHAT_STORAGE_CHILD_FD=" + std::to_string(fds[1]));
    std::vector<char*> envp;
    for (auto& s : env_strings)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string arg0 = "storage_tests", arg1 = child_test_name, arg2 = "--out", arg3 = "/dev/null";
    std::vector<char*> argv{arg0.data(), arg1.data(), arg2.data(), arg3.data(), nullptr};
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(fds[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test
      ::alarm(120);
      ::execve("/proc/self/exe", argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }

  ~child_process() {
    kill9();
    if (fd_ >= 0)
      ::close(fd_);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // What the child reported: "ready" once it holds the store, or an error text; "" if it died silently.
  std::string wait_ready() {
    std::string out;
    pollfd p{fd_, POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (out.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      if (::poll(&p, 1, 1000) <= 0)
        continue;
      char buf[512];
      auto n = ::read(fd_, buf, sizeof buf);
      if (n <= 0)
        break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    if (auto nl = out.find('\n'); nl != std::string::npos)
      out.resize(nl);
    return out;
  }

  void kill9() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int wstatus = 0;
      while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
  }

private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

void report_to_parent(int fd, const std::string& text) {
  auto line = text + "\n";
  auto n = ::write(fd, line.data(), line.size());
  (void)n;
}

constexpr std::uint64_t child_messages = 500;

} // namespace

// Runs only inside child_process (hidden from ctest by the "[.]" tag).
TEST_CASE("storage child process helper", "[.]") {
  const char* mode = std::getenv("PCHAT_STORAGE_CHILD_MODE");
  const char* dir = std::getenv("PCHAT_STORAGE_CHILD_DIR");
  const char* fd_text = std::getenv("PCHAT_STORAGE_CHILD_FD");
  if (mode == nullptr || dir == nullptr || fd_text == nullptr)
    return;
  int fd = std::atoi(fd_text);
  std::unique_ptr<store> s;
  auto st = store::open(dir, {}, s);
  if (!st.ok()) {
    report_to_parent(fd, "open failed: " + st.message);
    ::_exit(1);
  }
  category c;
  c.name = "from child";
  st = s->create_category(c);
  room r;
  r.category_id = c.id;
  r.name = "child room";
  if (st.ok())
    st = s->create_room(r);
  if (st.ok() && std::string{mode} == "append") {
    for (std::uint64_t seq = 1; seq <= child_messages && st.ok(); seq += 10) {
      std::vector<message> batch;
      for (auto i = seq; i < seq + 10; ++i)
        batch.push_back(msg(r.id, i));
      st = s->append(batch, true);
    }
  }
  if (!st.ok()) {
    report_to_parent(fd, "write failed: " + st.message);
    ::_exit(1);
  }
  report_to_parent(fd, "ready");
  for (;;)
    ::pause(); // killed with SIGKILL by the parent
}

TEST_CASE("store: open creates the directory and persistent identity guids", "[rocksdb]") {
  temp_dir tmp;
  REQUIRE_FALSE(fs::exists(tmp.db()));
  auto s = open_store(tmp.db());
  CHECK(fs::is_directory(tmp.db()));
  CHECK(is_uuid_v4(s->db_version()));
  CHECK(is_uuid_v4(s->root_guid()));
  CHECK(s->db_version() != s->root_guid());
  CHECK(s->categories().empty());
  CHECK(s->rooms().empty());

  // A second database gets different identities.
  auto other = open_store(tmp.path() + "/other");
  CHECK(other->db_version() != s->db_version());
  CHECK(other->root_guid() != s->root_guid());

  std::unique_ptr<store> none;
  open_options no_create;
  no_create.create_if_missing = false;
  auto st = store::open(tmp.path() + "/missing", no_create, none);
  CHECK(st.code == errc::not_found);
  CHECK_FALSE(none);
  CHECK_FALSE(fs::exists(tmp.path() + "/missing"));

  fs::create_directories(tmp.path() + "/empty");
  st = store::open(tmp.path() + "/empty", no_create, none);
  CHECK(st.code == errc::not_found);
  open_options ro;
  ro.read_only = true;
  st = store::open(tmp.path() + "/missing", ro, none);
  CHECK(st.code == errc::not_found);
  st = store::open(tmp.path() + "/empty", ro, none);
  INFO(st.message);
  CHECK(st.code == errc::not_found);
  CHECK_FALSE(none);

  CHECK(std::string{to_string(errc::busy)} == "busy");
  CHECK(std::string{to_string(errc::ok)} == "ok");
}

TEST_CASE("store: categories are created, listed and found case-insensitively") {
  temp_dir tmp;
  auto s = open_store(tmp.db());

  category general;
  general.name = "General";
  general.description = "for everyone";
  general.invite = true;
  general.logged = false;
  REQUIRE(s->create_category(general).ok());
  CHECK(general.id == 1);
  CHECK(is_uuid_v4(general.guid));

  category dup;
  dup.name = "GENERAL";
  auto st = s->create_category(dup);
  CHECK(st.code == errc::already_exists);
  CHECK_FALSE(st.message.empty());

  category empty;
  CHECK(s->create_category(empty).code == errc::invalid_argument);

  category second;
  second.name = "Second";
  second.guid = "my-own-guid";
  REQUIRE(s->create_category(second).ok());
  CHECK(second.id == 2); // failed creates do not consume ids
  CHECK(second.guid == "my-own-guid");

  auto all = s->categories();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == 1);
  CHECK(all[0].name == "General");
  CHECK(all[0].description == "for everyone");
  CHECK(all[0].invite);
  CHECK_FALSE(all[0].logged);
  CHECK(all[0].filepost);
  CHECK(all[0].guid == general.guid);
  CHECK(all[1].id == 2);
  CHECK(all[1].guid == "my-own-guid");

  auto by_name = s->category_by_name("gEnErAl");
  REQUIRE(by_name);
  CHECK(by_name->id == 1);
  auto by_id = s->category_by_id(2);
  REQUIRE(by_id);
  CHECK(by_id->name == "Second");
  CHECK_FALSE(s->category_by_id(3));
  CHECK_FALSE(s->category_by_id(0));
  CHECK_FALSE(s->category_by_name("nope"));
}

TEST_CASE("store: rooms are created, listed and found by name and guid") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");

  room unknown_cat;
  unknown_cat.name = "x";
  unknown_cat.category_id = 99;
  CHECK(s->create_room(unknown_cat).code == errc::invalid_argument);
  room no_cat;
  no_cat.name = "x";
  CHECK(s->create_room(no_cat).code == errc::invalid_argument); // category 0 never exists
  room no_name;
  no_name.category_id = cat;
  CHECK(s->create_room(no_name).code == errc::invalid_argument);

  using ticks = std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>;
  auto now = [] {
    return std::chrono::duration_cast<ticks>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  auto before = now();
  room lobby;
  lobby.category_id = cat;
  lobby.name = "Lobby";
  lobby.description = std::string("d\0e", 3);
  lobby.topic = "t\xc3\xa9";
  lobby.addin_url = "https://example.com/a";
  lobby.privacy_mode = privacy::closed;
  lobby.type = room_type::auditorium;
  lobby.invite = room_invite::off;
  lobby.disabled = true;
  REQUIRE(s->create_room(lobby).ok());
  auto after = now();
  CHECK(lobby.id == 1);
  CHECK(is_uuid_v4(lobby.guid));
  CHECK(lobby.created_ticks >= before);
  CHECK(lobby.created_ticks <= after);

  room dup;
  dup.category_id = cat;
  dup.name = "LOBBY";
  CHECK(s->create_room(dup).code == errc::already_exists);

  room own;
  own.category_id = cat;
  own.name = "Own";
  own.guid = "ABCDEF-1";
  own.created_ticks = 42;
  REQUIRE(s->create_room(own).ok());
  CHECK(own.id == 2);
  CHECK(own.guid == "ABCDEF-1");
  CHECK(own.created_ticks == 42);

  room dup_guid;
  dup_guid.category_id = cat;
  dup_guid.name = "Other";
  dup_guid.guid = "abcdef-1";
  CHECK(s->create_room(dup_guid).code == errc::already_exists);

  auto all = s->rooms();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == 1);
  CHECK(all[1].id == 2);
  const auto& got = all[0];
  CHECK(got.name == "Lobby");
  CHECK(got.category_id == cat);
  CHECK(got.description == lobby.description);
  CHECK(got.topic == lobby.topic);
  CHECK(got.addin_url == lobby.addin_url);
  CHECK(got.privacy_mode == privacy::closed);
  CHECK(got.type == room_type::auditorium);
  CHECK(got.invite == room_invite::off);
  CHECK(got.disabled);
  CHECK(got.created_ticks == lobby.created_ticks);

  auto by_name = s->room_by_name("lObBy");
  REQUIRE(by_name);
  CHECK(by_name->id == 1);
  std::string upper_guid = lobby.guid;
  for (auto& ch : upper_guid)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto by_guid = s->room_by_guid(upper_guid);
  REQUIRE(by_guid);
  CHECK(by_guid->id == 1);
  auto own_by_guid = s->room_by_guid("abcdef-1");
  REQUIRE(own_by_guid);
  CHECK(own_by_guid->id == 2);
  CHECK_FALSE(s->room_by_guid("no-such-guid"));
  CHECK_FALSE(s->room_by_name("nope"));
  CHECK_FALSE(s->room_by_id(3));
  // room and category names are separate namespaces
  CHECK_FALSE(s->room_by_name("General"));
  CHECK_FALSE(s->category_by_name("Lobby"));
}

TEST_CASE("store: update_room renames atomically and refuses clashes") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  auto cat2 = make_category(*s, "Other");
  auto a = make_room(*s, cat, "Alpha");
  auto b = make_room(*s, cat, "Beta");
  auto original = s->room_by_id(a).value();

  room upd = original;
  upd.name = "Alpha2";
  upd.topic = "new topic";
  upd.category_id = cat2;
  upd.created_ticks = 7; // immutable: ignored
  REQUIRE(s->update_room(upd).ok());
  auto got = s->room_by_name("ALPHA2");
  REQUIRE(got);
  CHECK(got->id == a);
  CHECK(got->topic == "new topic");
  CHECK(got->category_id == cat2);
  CHECK(got->guid == original.guid);
  CHECK(got->created_ticks == original.created_ticks);
  CHECK_FALSE(s->room_by_name("alpha"));  // old name index removed
  CHECK(make_room(*s, cat, "alpha") > b); // and the name is free again

  upd.name = "bEtA";
  CHECK(s->update_room(upd).code == errc::already_exists);
  CHECK(s->room_by_id(a).value().name == "Alpha2");
  CHECK(s->room_by_name("beta").value().id == b);

  // a case-only rename keeps the same index entry
  upd.name = "ALPHA2";
  REQUIRE(s->update_room(upd).ok());
  CHECK(s->room_by_id(a).value().name == "ALPHA2");
  CHECK(s->room_by_name("alpha2").value().id == a);

  // empty guid means "keep"; a different guid is refused
  upd.guid.clear();
  REQUIRE(s->update_room(upd).ok());
  CHECK(s->room_by_id(a).value().guid == original.guid);
  upd.guid = "something-else";
  CHECK(s->update_room(upd).code == errc::invalid_argument);
  upd.guid = original.guid;

  room missing = upd;
  missing.id = 999;
  CHECK(s->update_room(missing).code == errc::not_found);
  room bad_cat = upd;
  bad_cat.category_id = 999;
  CHECK(s->update_room(bad_cat).code == errc::invalid_argument);
  room no_name = upd;
  no_name.name.clear();
  CHECK(s->update_room(no_name).code == errc::invalid_argument);
  CHECK(s->room_by_id(a).value().category_id == cat2);
  CHECK(s->room_by_guid(original.guid).value().name == "ALPHA2");
}

TEST_CASE("store: roles with reverse index") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  auto r1 = make_room(*s, cat, "one");
  auto r2 = make_room(*s, cat, "two");
  const std::string alice = "sip:alice@example.com";
  const std::string bob = "sip:bob@example.com";

  REQUIRE(s->set_roles(r1, bob, role::member | role::manager).ok());
  REQUIRE(s->set_roles(r1, alice, role::member).ok());
  REQUIRE(s->set_roles(r2, alice, role::presenter).ok());
  REQUIRE(s->set_roles(r2, "sip:alice@example.comx", role::member).ok()); // a longer name is another user

  CHECK(s->roles_of(r1, bob) == (role::member | role::manager));
  CHECK(s->roles_of(r1, alice) == role::member);
  CHECK(s->roles_of(r2, bob) == 0);
  CHECK(s->roles_of(r1, "sip:carol@example.com") == 0);

  using user_roles = std::vector<std::pair<std::string, std::uint8_t>>;
  using room_list = std::vector<std::pair<std::uint64_t, std::uint8_t>>;
  CHECK(s->room_roles(r1) == user_roles{{alice, role::member}, {bob, role::member | role::manager}});
  CHECK(s->user_rooms(alice) == room_list{{r1, role::member}, {r2, role::presenter}});
  CHECK(s->user_rooms(bob) == room_list{{r1, role::member | role::manager}});
  CHECK(s->user_rooms("sip:nobody@example.com").empty());

  CHECK(s->set_roles(999, alice, role::member).code == errc::not_found);
  CHECK(s->set_roles(r1, "", role::member).code == errc::invalid_argument);
  CHECK(s->set_roles(r1, std::string("a\0b", 3), role::member).code == errc::invalid_argument);
  CHECK(s->set_roles(r1, alice, 8).code == errc::invalid_argument);
  CHECK(s->roles_of(r1, alice) == role::member);

  // overwrite updates both directions
  REQUIRE(s->set_roles(r1, bob, role::member).ok());
  CHECK(s->roles_of(r1, bob) == role::member);
  CHECK(s->user_rooms(bob) == room_list{{r1, role::member}});

  // 0 removes both directions
  REQUIRE(s->set_roles(r1, alice, 0).ok());
  CHECK(s->roles_of(r1, alice) == 0);
  CHECK(s->room_roles(r1) == user_roles{{bob, role::member}});
  CHECK(s->user_rooms(alice) == room_list{{r2, role::presenter}});
  REQUIRE(s->set_roles(r1, alice, 0).ok()); // removing again is fine
}

TEST_CASE("store: follow and unfollow are idempotent and ordered by room id") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(make_room(*s, cat, "room" + std::to_string(i)));
  const std::string u = "sip:u@example.com";

  REQUIRE(s->follow(u, ids[2]).ok());
  REQUIRE(s->follow(u, ids[0]).ok());
  REQUIRE(s->follow(u, ids[0]).ok());
  REQUIRE(s->follow("sip:u@example.co", ids[1]).ok()); // prefix of u: must not show up in u's list
  CHECK(s->follows(u) == std::vector<std::uint64_t>{ids[0], ids[2]});
  CHECK(s->follows("sip:u@example.co") == std::vector<std::uint64_t>{ids[1]});
  CHECK(s->follow(u, 999).code == errc::not_found);
  CHECK(s->follow("", ids[0]).code == errc::invalid_argument);

  REQUIRE(s->unfollow(u, ids[0]).ok());
  REQUIRE(s->unfollow(u, ids[0]).ok());
  REQUIRE(s->unfollow(u, ids[1]).ok()); // never followed
  CHECK(s->follows(u) == std::vector<std::uint64_t>{ids[2]});
  CHECK(s->follows("sip:nobody@example.com").empty());
}

TEST_CASE("store: history append, last, after and last_seq") {
  temp_dir tmp;
  auto s = open_store(tmp.db());

  CHECK(s->last(1, 10).empty());
  CHECK(s->last_seq(1) == 0);
  CHECK(s->after(1, 0, 10).empty());

  // rooms 1, 2 and 256 interleaved in one batch (256's key shares no byte pattern trouble with 1)
  std::vector<message> batch;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    batch.push_back(msg(1, seq));
    if (seq <= 3)
      batch.push_back(msg(2, seq));
    if (seq <= 2)
      batch.push_back(msg(256, seq));
  }
  REQUIRE(s->append(batch, true).ok());
  REQUIRE(s->append({}, true).ok());

  auto l = s->last(1, 3);
  CHECK(seqs_of(l) == range(3, 5));
  REQUIRE(l.size() == 3);
  CHECK(l[0].room_id == 1);
  CHECK(l[0].text == "1:3");
  CHECK(l[0].author == msg(1, 3).author);
  CHECK(l[0].ticks == msg(1, 3).ticks);
  CHECK(seqs_of(s->last(1, 100)) == range(1, 5));
  CHECK(s->last(1, 0).empty());
  auto l2 = s->last(2, 10);
  CHECK(seqs_of(l2) == range(1, 3));
  for (const auto& m : l2) {
    CHECK(m.room_id == 2);
    CHECK(m.text == "2:" + std::to_string(m.seq));
  }
  CHECK(seqs_of(s->last(256, 10)) == range(1, 2));
  CHECK(s->last(256, 10).at(0).text == "256:1");
  CHECK(s->last(3, 10).empty());
  CHECK(s->last(255, 10).empty());
  CHECK(s->last(0, 10).empty());
  CHECK(s->last_seq(1) == 5);
  CHECK(s->last_seq(2) == 3);
  CHECK(s->last_seq(256) == 2);
  CHECK(s->last_seq(255) == 0);
  CHECK(s->last_seq(257) == 0);

  CHECK(seqs_of(s->after(1, 2, 2)) == range(3, 4));
  CHECK(seqs_of(s->after(1, 0, 100)) == range(1, 5));
  CHECK(s->after(1, 5, 10).empty());
  CHECK(s->after(1, 2, 0).empty());
  CHECK(s->after(1, u64_max, 10).empty());
  CHECK(seqs_of(s->after(2, 1, 10)) == range(2, 3));

  // sequence numbers that differ only in higher bytes sort numerically
  REQUIRE(s->append({msg(9, 65536), msg(9, 255), msg(9, 256)}, false).ok());
  CHECK(seqs_of(s->last(9, 3)) == std::vector<std::uint64_t>{255, 256, 65536});
  CHECK(seqs_of(s->last(9, 1)) == std::vector<std::uint64_t>{65536});
  CHECK(s->last_seq(9) == 65536);
  CHECK(seqs_of(s->after(9, 255, 1)) == std::vector<std::uint64_t>{256});
  CHECK(seqs_of(s->after(9, 256, 5)) == std::vector<std::uint64_t>{65536});

  // extreme ids: the whole 64-bit range in RocksDB's keys; PostgreSQL's int8 stops at 2^63-1 and refuses more
  if (on_postgres()) {
    constexpr auto int8_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    REQUIRE(s->append({msg(int8_max, int8_max), msg(int8_max, 1)}, true).ok());
    CHECK(s->last_seq(int8_max) == int8_max);
    CHECK(seqs_of(s->last(int8_max, 5)) == std::vector<std::uint64_t>{1, int8_max});
    CHECK(s->append({msg(u64_max, 1)}, true).code == errc::invalid_argument);
    CHECK(s->append({msg(1, int8_max + 1)}, true).code == errc::invalid_argument);
    CHECK(s->last(u64_max, 5).empty());
    CHECK(s->last_seq(u64_max) == 0);
  } else {
    REQUIRE(s->append({msg(u64_max, u64_max), msg(u64_max, 1)}, true).ok());
    CHECK(s->last_seq(u64_max) == u64_max);
    CHECK(seqs_of(s->last(u64_max, 5)) == std::vector<std::uint64_t>{1, u64_max});
    CHECK(seqs_of(s->after(u64_max, 1, 5)) == std::vector<std::uint64_t>{u64_max});
  }

  // seq 0 is invalid and the whole batch is refused
  auto st = s->append({msg(1, 6), msg(1, 0)}, true);
  CHECK(st.code == errc::invalid_argument);
  CHECK(s->last_seq(1) == 5);

  // text is stored byte for byte
  message odd = msg(1, 6);
  odd.text = std::string("nul\0inside \xf0\x9f\x98\x80 \r\n", 19);
  REQUIRE(s->append({odd}, true).ok());
  CHECK(s->last(1, 1).at(0).text == odd.text);
}

TEST_CASE("store: reopening keeps everything") {
  temp_dir tmp;
  std::string version, root, room_guid;
  std::uint64_t cat = 0, r = 0;
  {
    auto s = open_store(tmp.db());
    version = s->db_version();
    root = s->root_guid();
    cat = make_category(*s, "General");
    r = make_room(*s, cat, "Lobby");
    room_guid = s->room_by_id(r).value().guid;
    REQUIRE(s->set_roles(r, "sip:a@x", role::manager).ok());
    REQUIRE(s->follow("sip:a@x", r).ok());
    REQUIRE(s->append({msg(r, 1), msg(r, 2)}, true).ok());
  }
  auto s = open_store(tmp.db());
  CHECK(s->db_version() == version);
  CHECK(s->root_guid() == root);
  REQUIRE(s->categories().size() == 1);
  CHECK(s->category_by_name("general").value().id == cat);
  REQUIRE(s->rooms().size() == 1);
  CHECK(s->room_by_guid(room_guid).value().id == r);
  CHECK(s->room_by_name("LOBBY").value().id == r);
  CHECK(s->roles_of(r, "sip:a@x") == role::manager);
  CHECK(s->user_rooms("sip:a@x").size() == 1);
  CHECK(s->follows("sip:a@x") == std::vector<std::uint64_t>{r});
  CHECK(seqs_of(s->last(r, 10)) == range(1, 2));
  CHECK(s->last_seq(r) == 2);
  // id counters continue where they left off
  CHECK(make_category(*s, "Second") == cat + 1);
  CHECK(make_room(*s, cat, "Second room") == r + 1);
}

TEST_CASE("store: a second open of a directory in use is busy", "[rocksdb]") {
  temp_dir tmp;
  auto first = open_store(tmp.db());
  make_category(*first, "General");

  std::unique_ptr<store> second;
  auto st = store::open(tmp.db(), {}, second);
  CHECK(st.code == errc::busy);
  CHECK(st.message.find("in use") != std::string::npos);
  CHECK_FALSE(second);

  first.reset();
  auto again = open_store(tmp.db());
  CHECK(again->categories().size() == 1);
}

TEST_CASE("store: a directory held by another process is busy, read-only still opens", "[rocksdb]") {
  temp_dir tmp;
  child_process child{"hold", tmp.db()};
  REQUIRE(child.wait_ready() == "ready");

  std::unique_ptr<store> writer;
  auto st = store::open(tmp.db(), {}, writer);
  INFO(st.message);
  CHECK(st.code == errc::busy);
  CHECK(st.message.find("in use") != std::string::npos);
  CHECK_FALSE(writer);

  {
    auto ro = open_store(tmp.db(), true);
    REQUIRE(ro->categories().size() == 1);
    CHECK(ro->categories()[0].name == "from child");
    CHECK(ro->room_by_name("child room"));
    CHECK(is_uuid_v4(ro->db_version()));
    category c;
    c.name = "nope";
    CHECK(ro->create_category(c).code == errc::invalid_argument);
  }

  // the lock dies with the process
  child.kill9();
  auto s = open_store(tmp.db());
  CHECK(s->category_by_name("from child"));
}

TEST_CASE("store: read-only open alongside a writer sees data as of open and refuses writes", "[rocksdb]") {
  temp_dir tmp;
  auto w = open_store(tmp.db());
  auto cat = make_category(*w, "General");
  auto r = make_room(*w, cat, "Lobby");
  REQUIRE(w->set_roles(r, "sip:a@x", role::member).ok());
  REQUIRE(w->append({msg(r, 1), msg(r, 2)}, true).ok());

  auto ro = open_store(tmp.db(), true);
  CHECK(ro->db_version() == w->db_version());
  CHECK(ro->root_guid() == w->root_guid());
  CHECK(ro->room_by_name("lobby").value().id == r);
  CHECK(ro->roles_of(r, "sip:a@x") == role::member);
  CHECK(seqs_of(ro->last(r, 10)) == range(1, 2));

  auto refused = [](const status& st) {
    return st.code == errc::invalid_argument && st.message.find("read-only") != std::string::npos;
  };
  category c;
  c.name = "x";
  CHECK(refused(ro->create_category(c)));
  room nr;
  nr.name = "x";
  nr.category_id = cat;
  CHECK(refused(ro->create_room(nr)));
  auto existing = ro->room_by_id(r).value();
  existing.topic = "changed";
  CHECK(refused(ro->update_room(existing)));
  CHECK(refused(ro->set_roles(r, "sip:b@x", role::member)));
  CHECK(refused(ro->follow("sip:b@x", r)));
  CHECK(refused(ro->unfollow("sip:b@x", r)));
  CHECK(refused(ro->append({msg(r, 3)}, true)));
  CHECK(ro->last_seq(r) == 2);
  CHECK(ro->categories().size() == 1);

  // the writer keeps going; the read-only view stays as of its open
  REQUIRE(w->append({msg(r, 3)}, true).ok());
  CHECK(w->last_seq(r) == 3);
  CHECK(ro->last_seq(r) == 2);
}

TEST_CASE("store: synced appends survive kill -9", "[rocksdb]") {
  temp_dir tmp;
  {
    child_process child{"append", tmp.db()};
    REQUIRE(child.wait_ready() == "ready");
    child.kill9();
  }
  auto s = open_store(tmp.db());
  auto r = s->room_by_name("child room");
  REQUIRE(r);
  CHECK(s->last_seq(r->id) == child_messages);
  auto all = s->last(r->id, 1000);
  REQUIRE(all.size() == child_messages);
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].seq == i + 1);
    CHECK(all[i].text == msg(r->id, i + 1).text);
  }
}

TEST_CASE("store: 10,000 messages across 3 rooms") {
  temp_dir tmp;
  const std::vector<std::uint64_t> rooms{1, 2, 256};
  std::vector<std::uint64_t> next_seq(rooms.size(), 1);
  {
    auto s = open_store(tmp.db());
    std::vector<message> batch;
    for (int i = 0; i < 10'000; ++i) {
      auto k = static_cast<std::size_t>(i) % rooms.size();
      batch.push_back(msg(rooms[k], next_seq[k]++));
      if (batch.size() == 100) {
        REQUIRE(s->append(batch, i % 1000 == 99).ok());
        batch.clear();
      }
    }
    REQUIRE(batch.empty());
  }
  const std::vector<std::uint64_t> counts{3334, 3333, 3333};
  for (std::size_t k = 0; k < rooms.size(); ++k)
    REQUIRE(next_seq[k] - 1 == counts[k]);

  // Reopening flushes the recovered WAL into table files, so these reads also go through the prefix bloom filter.
  for (int pass = 0; pass < 2; ++pass) {
    auto s = open_store(tmp.db());
    for (std::size_t k = 0; k < rooms.size(); ++k) {
      auto r = rooms[k];
      auto l = s->last(r, 30);
      CHECK(seqs_of(l) == range(counts[k] - 29, counts[k]));
      for (const auto& m : l) {
        CHECK(m.room_id == r);
        CHECK(m.text == msg(r, m.seq).text);
      }
      CHECK(s->last_seq(r) == counts[k]);
      // page through the whole room with after()
      std::vector<std::uint64_t> seen;
      std::uint64_t cursor = 0;
      for (;;) {
        auto page = s->after(r, cursor, 500);
        if (page.empty())
          break;
        for (const auto& m : page)
          seen.push_back(m.seq);
        cursor = page.back().seq;
      }
      CHECK(seen == range(1, counts[k]));
    }
    CHECK(s->last(3, 30).empty());
    CHECK(s->last_seq(255) == 0);
    CHECK(s->after(257, 0, 30).empty());
  }
}

TEST_CASE("store: concurrent creates keep names unique and ids distinct") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  std::atomic<int> created{0}, clashed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        room r;
        r.category_id = cat;
        r.name = "room" + std::to_string(i); // every thread tries the same ten names
        auto st = s->create_room(r);
        if (st.ok())
          ++created;
        else if (st.code == errc::already_exists)
          ++clashed;
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(created == 10);
  CHECK(clashed == 30);
  auto all = s->rooms();
  REQUIRE(all.size() == 10);
  for (std::size_t i = 0; i < all.size(); ++i)
    CHECK(all[i].id == i + 1);
}

TEST_CASE("store: an undecodable catalog record is reported as corruption at open", "[rocksdb]") {
  temp_dir tmp;
  std::uint64_t r = 0;
  {
    auto s = open_store(tmp.db());
    r = make_room(*s, make_category(*s, "General"), "Lobby");
  }
  {
    // Overwrite the room record with a "version 2" record, as a newer pchat might write.
    rocksdb::DBOptions o;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(o, tmp.db(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& name : names)
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions{});
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::Open(o, tmp.db(), cfs, &handles, &db);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::string value = codec::encode_room(room{});
    value[0] = 2;
    auto ws = db->Put(rocksdb::WriteOptions{}, handles[1], codec::key::room(r), value);
    for (auto* h : handles)
      db->DestroyColumnFamilyHandle(h);
    delete db;
    REQUIRE(ws.ok());
  }
  std::unique_ptr<store> s;
  auto st = store::open(tmp.db(), {}, s);
  CHECK(st.code == errc::corruption);
  CHECK(st.message.find("room 1") != std::string::npos);
  CHECK_FALSE(s);
}

TEST_CASE("store: commit writes posts and follows in one batch, skips stale follows and fails whole on bad ones") {
  temp_dir dir;
  auto s = open_store(dir.db());
  auto cat = make_category(*s, "General");
  auto r1 = make_room(*s, cat, "One");
  auto r2 = make_room(*s, cat, "Two");

  write_set w;
  w.messages = {msg(r1, 1), msg(r2, 1), msg(r1, 2)};
  w.follows = {{"sip:a@example.com", r2}, {"sip:a@example.com", 9999}, {"sip:b@example.com", r1}};
  auto st = s->commit(w, true);
  INFO(st.message);
  REQUIRE(st.ok());
  CHECK(seqs_of(s->last(r1, 10)) == range(1, 2));
  CHECK(seqs_of(s->last(r2, 10)) == range(1, 1));
  CHECK(s->follows("sip:a@example.com") == std::vector<std::uint64_t>{r2}); // room 9999 does not exist: skipped
  CHECK(s->follows("sip:b@example.com") == std::vector<std::uint64_t>{r1});

  write_set bad;
  bad.messages = {msg(r1, 3)};
  bad.follows = {{std::string("nul\0user", 8), r1}};
  CHECK(s->commit(bad, true).code == errc::invalid_argument);
  CHECK(s->last_seq(r1) == 2); // nothing of the failed batch was written
  write_set zero;
  zero.messages = {msg(r1, 4), msg(r1, 0)};
  CHECK(s->commit(zero, true).code == errc::invalid_argument);
  CHECK(s->last_seq(r1) == 2);
  CHECK(s->commit(write_set{}, true).ok());
}

TEST_CASE("store: commit removes unfollows after adding follows") {
  temp_dir dir;
  auto s = open_store(dir.db());
  auto cat = make_category(*s, "General");
  auto r1 = make_room(*s, cat, "One");
  auto r2 = make_room(*s, cat, "Two");
  write_set w;
  w.follows = {{"sip:a@example.com", r1}, {"sip:a@example.com", r2}};
  REQUIRE(s->commit(w, true).ok());
  write_set u;
  u.unfollows = {{"sip:a@example.com", r1}, {"sip:a@example.com", 4242}}; // unknown rooms: a no-op
  REQUIRE(s->commit(u, true).ok());
  CHECK(s->follows("sip:a@example.com") == std::vector<std::uint64_t>{r2});
}

TEST_CASE("store: category scope and creators round-trip, update replaces them, names stay unique") {
  temp_dir tmp;
  category c;
  c.name = "Engineering";
  c.allow = {"example.com", "sip:guest@partner.org"};
  c.deny = {"sip:mallory@example.com"};
  c.creators = {"sip:alice@example.com"};
  {
    auto s = open_store(tmp.db());
    REQUIRE(s->create_category(c).ok());
    make_category(*s, "Other");
    auto back = s->category_by_id(c.id);
    REQUIRE(back);
    CHECK(back->allow == std::vector<std::string>{"example.com", "sip:guest@partner.org"});
    CHECK(back->deny == std::vector<std::string>{"sip:mallory@example.com"});
    CHECK(back->creators == std::vector<std::string>{"sip:alice@example.com"});

    category changed = *back;
    changed.name = "Eng";
    changed.allow = {"*"};
    changed.creators.clear();
    REQUIRE(s->update_category(changed).ok());
    changed.name = "other";
    CHECK(s->update_category(changed).code == errc::already_exists);
    category bad = *back;
    bad.deny = {""};
    CHECK(s->update_category(bad).code == errc::invalid_argument);
    category missing;
    missing.id = 999;
    missing.name = "x";
    CHECK(s->update_category(missing).code == errc::not_found);
  }
  auto s = open_store(tmp.db()); // persisted
  auto back = s->category_by_name("eng");
  REQUIRE(back);
  CHECK(back->id == c.id);
  CHECK(back->guid == c.guid);
  CHECK(back->allow == std::vector<std::string>{"*"});
  CHECK(back->deny == std::vector<std::string>{"sip:mallory@example.com"});
  CHECK(back->creators.empty());
  CHECK_FALSE(s->category_by_name("Engineering"));
  CHECK(s->categories().at(0).allow == std::vector<std::string>{"*"});
}

TEST_CASE("store: remove_category refuses while rooms remain, remove_room takes roles and history with it") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  auto r1 = make_room(*s, cat, "one");
  auto r2 = make_room(*s, cat, "two");
  const std::string alice = "sip:alice@example.com";
  REQUIRE(s->set_roles(r1, alice, role::member).ok());
  REQUIRE(s->set_roles(r2, alice, role::manager).ok());
  REQUIRE(s->append({{r1, 1, alice, 1, "a"}, {r1, 2, alice, 2, "b"}, {r2, 1, alice, 3, "c"}}, true).ok());

  CHECK(s->remove_category(cat).code == errc::invalid_argument);
  auto guid = s->room_by_id(r1)->guid;
  REQUIRE(s->remove_room(r1).ok());
  CHECK(s->remove_room(r1).code == errc::not_found);
  CHECK_FALSE(s->room_by_id(r1));
  CHECK_FALSE(s->room_by_name("one"));
  CHECK_FALSE(s->room_by_guid(guid));
  CHECK(s->room_roles(r1).empty());
  CHECK(s->user_rooms(alice) == std::vector<std::pair<std::uint64_t, std::uint8_t>>{{r2, role::manager}});
  CHECK(s->last(r1, 10).empty());
  CHECK(s->last(r2, 10).size() == 1); // the neighbour's history is untouched
  make_room(*s, cat, "one");          // the name is free again

  REQUIRE(s->remove_room(r2).ok());
  REQUIRE(s->remove_room(s->room_by_name("one")->id).ok());
  REQUIRE(s->remove_category(cat).ok());
  CHECK(s->remove_category(cat).code == errc::not_found);
  CHECK(s->categories().empty());
}

TEST_CASE("store: set_roles with an invitation writes both, invitations persist and are marked seen") {
  temp_dir tmp;
  const std::string bob = "sip:bob@example.com";
  std::uint64_t r1 = 0;
  std::uint64_t first_id = 0;
  {
    auto s = open_store(tmp.db());
    auto cat = make_category(*s, "General");
    r1 = make_room(*s, cat, "one");
    auto r2 = make_room(*s, cat, "two");
    invitation inv;
    inv.inviter = "sip:alice@example.com";
    REQUIRE(s->set_roles(r1, bob, role::member, inv).ok());
    CHECK(inv.id >= 1);
    CHECK(inv.user == bob);
    CHECK(inv.room_id == r1);
    CHECK(inv.ticks > 0);
    first_id = inv.id;
    invitation second;
    REQUIRE(s->set_roles(r2, bob, role::member, second).ok());
    CHECK(second.id == first_id + 1);
    invitation failed;
    CHECK(s->set_roles(999, bob, role::member, failed).code == errc::not_found);
    CHECK(failed.id == 0);
    CHECK(s->roles_of(r1, bob) == role::member);
  }
  auto s = open_store(tmp.db());
  auto list = s->invitations(bob);
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == first_id);
  CHECK(list[0].room_id == r1);
  CHECK(list[0].inviter == "sip:alice@example.com");
  CHECK_FALSE(list[0].seen);
  CHECK(s->invitations("sip:carol@example.com").empty());

  REQUIRE(s->mark_seen(bob, {first_id, 12345}).ok()); // unknown ids are ignored
  list = s->invitations(bob);
  CHECK(list[0].seen);
  CHECK_FALSE(list[1].seen);
  invitation third; // ids continue after a reopen
  REQUIRE(s->set_roles(r1, "sip:carol@example.com", role::member, third).ok());
  CHECK(third.id == first_id + 2);
}

TEST_CASE("store: preferences are per user and label, values are raw bytes") {
  temp_dir tmp;
  const std::string value("base64?\0binary", 14);
  {
    auto s = open_store(tmp.db());
    REQUIRE(s->set_pref("sip:alice@example.com", "kedzie.GroupChannels", value).ok());
    REQUIRE(s->set_pref("sip:alice@example.com", "other", "x").ok());
    CHECK(s->set_pref("", "label", "x").code == errc::invalid_argument);
    CHECK(s->set_pref("sip:alice@example.com", "", "x").code == errc::invalid_argument);
  }
  auto s = open_store(tmp.db());
  CHECK(s->pref("sip:alice@example.com", "kedzie.GroupChannels") == value);
  CHECK(s->pref("sip:alice@example.com", "other") == std::string{"x"});
  CHECK_FALSE(s->pref("sip:bob@example.com", "kedzie.GroupChannels"));
  CHECK_FALSE(s->pref("sip:alice@example.com", "kedzie"));
  REQUIRE(s->set_pref("sip:alice@example.com", "other", "").ok());
  CHECK(s->pref("sip:alice@example.com", "other") == std::string{});
}

TEST_CASE("store: a database from before invites/prefs opens read-only as is and gains them when opened to write", "[rocksdb]") {
  temp_dir tmp;
  {
    // What pchat wrote before the invites and prefs families existed: five families, one category.
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "catalog", "history", "roles", "follows"})
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions{});
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    fs::create_directories(tmp.db());
    REQUIRE(rocksdb::DB::Open(o, tmp.db(), cfs, &handles, &db).ok());
    category c;
    c.id = 1;
    c.name = "Old";
    REQUIRE(db->Put(rocksdb::WriteOptions{}, handles[1], codec::key::category(1), codec::encode_category(c)).ok());
    for (auto* h : handles)
      db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  {
    auto ro = open_store(tmp.db(), true);
    CHECK(ro->categories().size() == 1);
    CHECK(ro->invitations("sip:bob@example.com").empty());
    CHECK_FALSE(ro->pref("sip:bob@example.com", "x"));
  }
  auto s = open_store(tmp.db());
  REQUIRE(s->set_pref("sip:bob@example.com", "x", "y").ok());
  CHECK(s->pref("sip:bob@example.com", "x") == std::string{"y"});
}

TEST_CASE("index_terms: lower-cased distinct words, UTF-8 stays inside words, punctuation separates") {
  CHECK(index_terms("Hello, hello WORLD! it's 2 o'clock") ==
        std::vector<std::string>{"hello", "world", "it", "s", "2", "o", "clock"});
  CHECK(index_terms("") .empty());
  CHECK(index_terms("  ... ").empty());
  CHECK(index_terms("Grüße café") == std::vector<std::string>{"grüße", "café"});
  CHECK(index_terms(std::string(100, 'x')).front().size() == max_term_bytes);
  std::string many;
  for (int i = 0; i < 1000; ++i)
    many += "w" + std::to_string(i) + " ";
  CHECK(index_terms(many).size() == max_terms_per_post);
}

TEST_CASE("store: history search by words, author and time agrees with a scan of the history") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  auto room = make_room(*s, cat, "one");
  auto other = make_room(*s, cat, "two");
  const std::vector<std::string> authors = {"sip:alice@example.com", "sip:bob@example.com"};
  const std::vector<std::string> vocabulary = {"deploy", "release", "coffee", "bug", "fix", "Friday"};
  std::mt19937 rng(42);
  std::vector<message> all;
  for (std::uint64_t seq = 1; seq <= 2000; ++seq) {
    std::string text;
    for (int w = 0; w < 3; ++w)
      text += vocabulary[rng() % vocabulary.size()] + (w == 1 ? ", " : " ");
    all.push_back({room, seq, authors[rng() % 2], static_cast<std::int64_t>(1000 + seq * 10), text});
  }
  REQUIRE(s->append(all, false).ok());
  REQUIRE(s->append({{other, 1, authors[0], 5000, "deploy coffee"}}, false).ok()); // another room: never found

  auto brute = [&](const history_query& q) {
    std::vector<std::uint64_t> seqs;
    for (auto it = all.rbegin(); it != all.rend() && seqs.size() < q.limit; ++it) {
      auto terms = index_terms(it->text);
      bool words = std::all_of(q.words.begin(), q.words.end(), [&](const std::string& w) {
        return std::find(terms.begin(), terms.end(), w) != terms.end();
      });
      if (words && (q.author.empty() || q.author == it->author) && it->ticks >= q.from_ticks && it->ticks <= q.to_ticks)
        seqs.push_back(it->seq);
    }
    return seqs;
  };
  auto seqs_of = [](const history_hits& h) {
    std::vector<std::uint64_t> out;
    for (const auto& m : h.messages)
      out.push_back(m.seq);
    return out;
  };
  std::vector<history_query> queries;
  queries.push_back({{"deploy"}, "", 0, INT64_MAX, 50});
  queries.push_back({{"deploy", "friday"}, "", 0, INT64_MAX, 1000});
  queries.push_back({{"bug", "fix", "coffee"}, "sip:bob@example.com", 0, INT64_MAX, 1000});
  queries.push_back({{}, "sip:alice@example.com", 0, INT64_MAX, 30});
  queries.push_back({{"release"}, "", 5000, 9000, 1000});
  queries.push_back({{}, "", 12000, 12100, 1000});
  queries.push_back({{"release"}, "", 30000, 40000, 10}); // after the last post
  queries.push_back({{"nothing"}, "", 0, INT64_MAX, 10});
  for (const auto& q : queries) {
    auto h = s->search(room, q);
    INFO("words=" << q.words.size() << " author=" << q.author << " from=" << q.from_ticks << " to=" << q.to_ticks);
    CHECK(seqs_of(h) == brute(q));
  }
  CHECK(s->search(999, queries[0]).messages.empty());
  auto h = s->search(room, queries[0]);
  REQUIRE(!h.messages.empty());
  CHECK(h.messages.front().text == all[h.messages.front().seq - 1].text); // whole messages come back
}

TEST_CASE("store: searching a room of 1,000,000 posts reads a few keys, not the history", "[rocksdb]") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto room = make_room(*s, make_category(*s, "General"), "big");
  constexpr std::uint64_t total = 1'000'000;
  std::vector<message> batch;
  auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 1; seq <= total; ++seq) {
    // Every post says "status ok"; one in 100,000 also says "outage".
    batch.push_back({room, seq, "sip:bot@example.com", static_cast<std::int64_t>(seq),
                     seq % 100'000 == 0 ? "status ok outage" : "status ok"});
    if (batch.size() == 20'000) {
      REQUIRE(s->append(batch, false).ok());
      batch.clear();
    }
  }
  auto loaded = std::chrono::steady_clock::now();
  history_query rare{{"outage"}, "", 0, INT64_MAX, 50};
  auto h = s->search(room, rare);
  auto searched = std::chrono::steady_clock::now();
  REQUIRE(h.messages.size() == 10);
  CHECK(h.messages.front().seq == 1'000'000);
  CHECK(h.messages.back().seq == 100'000);
  // One seek per list per step plus one history read per hit, independent of the 1,000,000 posts.
  CHECK(h.keys_examined <= 40);
  history_query both{{"outage", "status"}, "sip:bot@example.com", 200'000, 700'000, 50};
  auto h2 = s->search(room, both);
  std::vector<std::uint64_t> seqs;
  for (const auto& m : h2.messages)
    seqs.push_back(m.seq);
  CHECK(seqs == std::vector<std::uint64_t>{700'000, 600'000, 500'000, 400'000, 300'000, 200'000});
  CHECK(h2.keys_examined <= 120);
  history_query common{{"status"}, "", 0, INT64_MAX, 50};
  auto h3 = s->search(room, common);
  CHECK(h3.messages.size() == 50);
  CHECK(h3.keys_examined <= 110);
  WARN("1,000,000 posts loaded in "
       << std::chrono::duration_cast<std::chrono::milliseconds>(loaded - t0).count() << " ms; rare-word search "
       << std::chrono::duration_cast<std::chrono::microseconds>(searched - loaded).count() << " us, "
       << h.keys_examined << " keys");
}

TEST_CASE("store: clearing old history and replacing a message keep seqs and the search index right") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat = make_category(*s, "General");
  auto room = make_room(*s, cat, "one");
  auto other = make_room(*s, cat, "two");
  write_set w;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    w.messages.push_back({room, seq, "sip:alice@example.com", static_cast<std::int64_t>(seq * 100),
                          "word" + std::to_string(seq) + " common"});
    w.messages.push_back({other, seq, "sip:bob@example.com", static_cast<std::int64_t>(seq * 100), "common"});
  }
  REQUIRE(s->commit(w, true).ok());
  auto find = [&](std::uint64_t r, const std::string& word) {
    history_query q;
    q.words = {word};
    q.limit = 100;
    return seqs_of(s->search(r, q).messages);
  };

  // The newest message before a time.
  CHECK(s->last_seq_before(room, 100) == 0);
  CHECK(s->last_seq_before(room, 101) == 1);
  CHECK(s->last_seq_before(room, 450) == 4);
  CHECK(s->last_seq_before(room, 1'000'000) == 10);

  REQUIRE(s->clear_history(room, 4).ok());
  CHECK(seqs_of(s->after(room, 0, 100)) == range(5, 10));
  CHECK(seqs_of(s->last(room, 100)) == range(5, 10));
  CHECK(s->last_seq(room) == 10);
  CHECK(find(room, "word3").empty()); // its postings stay, but find nothing
  CHECK(find(room, "common") == std::vector<std::uint64_t>{10, 9, 8, 7, 6, 5});
  CHECK(s->cleared_up_to(room) == 4);
  CHECK(s->cleared_up_to(other) == 0);
  { // The search starts above the clear: the cleared postings of "common" are never read.
    history_query q;
    q.words = {"common"};
    q.limit = 100;
    CHECK(s->search(room, q).keys_examined <= 2 * 6 + 2);
  }
  CHECK(s->last_seq_before(room, 450) == 4); // already cleared: clearing again changes nothing
  CHECK(s->last_seq_before(room, 550) == 5);
  CHECK(s->after(other, 0, 100).size() == 10); // the other room is untouched

  // A message replaced: the new words find it, the old ones do not, author and time stay.
  REQUIRE(s->replace_message(room, 7, "redacted by the admin").ok());
  auto seven = s->after(room, 6, 1);
  REQUIRE(seven.size() == 1);
  CHECK(seven[0].text == "redacted by the admin");
  CHECK(seven[0].author == "sip:alice@example.com");
  CHECK(seven[0].ticks == 700);
  CHECK(find(room, "word7").empty());
  CHECK(find(room, "redacted") == std::vector<std::uint64_t>{7});
  CHECK(s->replace_message(room, 3, "x").code == errc::not_found); // cleared
  CHECK(s->replace_message(room, 11, "x").code == errc::not_found);

  // Everything cleared: the seqs go on where they were, also after reopening.
  REQUIRE(s->clear_history(room, 10).ok());
  CHECK(s->last(room, 100).empty());
  CHECK(s->last_seq(room) == 10);
  s.reset();
  s = open_store(tmp.db());
  CHECK(s->last_seq(room) == 10);
  write_set next;
  next.messages.push_back({room, 11, "sip:alice@example.com", 1100, "after the clear"});
  REQUIRE(s->commit(next, true).ok());
  CHECK(seqs_of(s->after(room, 0, 100)) == range(11, 11));
}

TEST_CASE("store: retention rules are kept beside categories and rooms, a room's own or none") {
  temp_dir tmp;
  auto s = open_store(tmp.db());
  auto cat_id = make_category(*s, "General");
  auto room_id = make_room(*s, cat_id, "one");
  CHECK(s->category_by_id(cat_id)->keep.keeps_all());
  CHECK(!s->room_by_id(room_id)->keep);

  auto c = *s->category_by_id(cat_id);
  c.keep = {30, 0};
  REQUIRE(s->update_category(c).ok());
  auto r = *s->room_by_id(room_id);
  r.keep = retention{}; // its own "keep everything" overrides the category's 30 days
  REQUIRE(s->update_room(r).ok());
  s.reset();
  s = open_store(tmp.db());
  CHECK(s->category_by_id(cat_id)->keep == retention{30, 0});
  CHECK(s->categories().front().keep == retention{30, 0});
  REQUIRE(s->room_by_id(room_id)->keep);
  CHECK(effective_retention(*s->room_by_id(room_id), *s->category_by_id(cat_id)).keeps_all());
  r.keep = retention{0, 500};
  REQUIRE(s->update_room(r).ok());
  CHECK(s->rooms().front().keep == retention{0, 500});
  r.keep.reset(); // back to the category's
  REQUIRE(s->update_room(r).ok());
  CHECK(effective_retention(*s->room_by_id(room_id), *s->category_by_id(cat_id)) == retention{30, 0});

  // The record codec is strict.
  CHECK(codec::decode_retention(codec::encode_retention({7, 9})) == retention{7, 9});
  CHECK(!codec::decode_retention(""));
  CHECK(!codec::decode_retention(codec::encode_retention({7, 9}) + "x"));
}
