// What only the PostgreSQL store has: its schema and its versions, several stores (nodes) on one database, the
// text PostgreSQL cannot hold, connections the server ends. Against a real PostgreSQL of the test's own
// (support/pg_server.hpp); the rest of the store's contract is the shared suite ("pg storage: store: ...").
#include "storage/store.hpp"

#include "support/pg_server.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace pchat::storage;
using pchat::test::pg_server;

namespace {

// A fresh database of the test server; SKIPPED (counted so by ctest) when there is no PostgreSQL here.
std::string fresh_database() {
  auto& server = pg_server::shared();
  if (!server.available()) {
    WARN("SKIPPED: " << server.why_not());
    return {};
  }
  auto conninfo = server.create_database();
  REQUIRE_FALSE(conninfo.empty());
  return conninfo;
}

std::unique_ptr<store> open_pg(const std::string& conninfo, open_options opts = {}) {
  std::unique_ptr<store> s;
  auto st = store::open_postgres(conninfo, opts, s);
  INFO(to_string(st.code) << ": " << st.message);
  REQUIRE(st.ok());
  return s;
}

std::string db_name(const std::string& conninfo) { return conninfo.substr(conninfo.rfind('=') + 1); }

} // namespace

TEST_CASE("postgres store: the schema is made once, versioned and shared, and a newer one is refused") {
  auto conninfo = fresh_database();
  if (conninfo.empty())
    return;
  std::unique_ptr<store> none;
  open_options no_create;
  no_create.create_if_missing = false;
  auto st = store::open_postgres(conninfo, no_create, none);
  CHECK(st.code == errc::not_found);
  CHECK(st.message.find("pchatctl init") != std::string::npos);
  open_options ro;
  ro.read_only = true;
  CHECK(store::open_postgres(conninfo, ro, none).code == errc::not_found);
  CHECK_FALSE(none);

  auto first = open_pg(conninfo);
  auto second = open_pg(conninfo, no_create); // another node: finds the store, same identity
  CHECK(second->db_version() == first->db_version());
  CHECK(second->root_guid() == first->root_guid());
  CHECK(first->db_version() != first->root_guid());
  auto reader = open_pg(conninfo, ro);
  CHECK(reader->root_guid() == first->root_guid());
  category c;
  c.name = "General";
  CHECK(reader->create_category(c).code == errc::invalid_argument); // read-only
  CHECK(reader->categories().empty());

  auto& server = pg_server::shared();
  REQUIRE(server.exec(db_name(conninfo), "INSERT INTO pchat_schema (version) VALUES (99)"));
  st = store::open_postgres(conninfo, {}, none);
  CHECK(st.code == errc::corruption);
  CHECK(st.message.find("upgrade pchat") != std::string::npos);
}

TEST_CASE("postgres store: nodes on one database see each other's writes, ids stay dense and names unique") {
  auto conninfo = fresh_database();
  if (conninfo.empty())
    return;
  auto a = open_pg(conninfo);
  auto b = open_pg(conninfo);
  category c;
  c.name = "General";
  REQUIRE(a->create_category(c).ok());
  REQUIRE(b->category_by_name("GENERAL").has_value());

  // Four threads on two nodes create rooms; every other name is wanted by two threads at once.
  constexpr int per_thread = 25;
  std::atomic<int> created{0}, taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto& s = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < per_thread; ++i) {
        room r;
        r.category_id = c.id;
        r.name = i % 2 == 0 ? "shared " + std::to_string(i) : "own " + std::to_string(t) + "-" + std::to_string(i);
        auto st = s.create_room(r);
        (st.ok() ? created : taken)++;
        if (!st.ok() && st.code != errc::already_exists)
          FAIL_CHECK(st.message);
      }
    });
  for (auto& t : threads)
    t.join();
  auto rooms = b->rooms();
  CHECK(static_cast<int>(rooms.size()) == created.load());
  CHECK(created.load() + taken.load() == 4 * per_thread);
  CHECK(taken.load() == 3 * (per_thread / 2 + 1)); // each shared name: one creator wins, three find it taken
  for (std::size_t i = 0; i < rooms.size(); ++i)
    CHECK(rooms[i].id == i + 1); // a failed create consumes no id, whichever node tried
  std::set<std::string> names;
  for (const auto& r : rooms)
    names.insert(r.name);
  CHECK(names.size() == rooms.size());

  // A post committed through one node is read through the other.
  message m;
  m.room_id = rooms[0].id;
  m.seq = 1;
  m.author = "sip:alice@example.com";
  m.ticks = 1;
  m.text = "hello";
  REQUIRE(a->append({m}, true).ok());
  CHECK(b->last_seq(rooms[0].id) == 1);
  REQUIRE(b->last(rooms[0].id, 1).size() == 1);
  CHECK(b->last(rooms[0].id, 1)[0].text == "hello");
}

TEST_CASE("postgres store: text PostgreSQL cannot hold is refused, never cut short, and free text keeps every byte") {
  auto conninfo = fresh_database();
  if (conninfo.empty())
    return;
  auto s = open_pg(conninfo);
  category c;
  c.name = std::string("nul\0inside", 10);
  CHECK(s->create_category(c).code == errc::invalid_argument);
  c.name = "bad \xff utf-8";
  CHECK(s->create_category(c).code == errc::invalid_argument);
  CHECK(s->categories().empty());
  c.name = "General";
  c.description = std::string("bytes \0\xff kept", 14);
  REQUIRE(s->create_category(c).ok());
  CHECK(s->category_by_id(c.id)->description == c.description);

  room r;
  r.category_id = c.id;
  r.name = "Lobby";
  r.topic = std::string("\0\x01\xfe", 3);
  REQUIRE(s->create_room(r).ok());
  CHECK(s->room_by_id(r.id)->topic == r.topic);

  // A post with any bytes, by an author with any bytes, goes in a batch with the others and is found by its words.
  message odd;
  odd.room_id = r.id;
  odd.seq = 1;
  odd.author = "sip:\xff@example.com";
  odd.ticks = 5;
  odd.text = std::string("caf\xc3\xa9 \xff\0 word", 13);
  message plain = odd;
  plain.seq = 2;
  plain.author = "sip:bob@example.com";
  plain.text = "word";
  REQUIRE(s->append({odd, plain}, true).ok());
  auto back = s->last(r.id, 2);
  REQUIRE(back.size() == 2);
  CHECK(back[0].text == odd.text);
  CHECK(back[0].author == odd.author);
  history_query q;
  q.words = {"word"};
  CHECK(s->search(r.id, q).messages.size() == 2);
  q.author = odd.author;
  REQUIRE(s->search(r.id, q).messages.size() == 1);
  CHECK(s->search(r.id, q).messages[0].seq == 1);
}

TEST_CASE("postgres store: connections the server ended are replaced before use, and reads and writes go on") {
  auto conninfo = fresh_database();
  if (conninfo.empty())
    return;
  auto s = open_pg(conninfo);
  category c;
  c.name = "General";
  REQUIRE(s->create_category(c).ok());
  // Open several pooled connections (concurrent readers), then have the server end every one of them.
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([&] {
      for (int j = 0; j < 20; ++j)
        CHECK(s->categories().size() == 1);
    });
  for (auto& t : readers)
    t.join();
  auto& server = pg_server::shared();
  REQUIRE(server.exec("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                                      db_name(conninfo) + "' AND pid <> pg_backend_pid()"));
  // Every call after it works: the ended connections are noticed and reopened, none fails a statement.
  for (int i = 0; i < 8; ++i) {
    CHECK(s->categories().size() == 1);
    room r;
    r.category_id = c.id;
    r.name = "room " + std::to_string(i);
    auto st = s->create_room(r);
    INFO(st.message);
    CHECK(st.ok());
  }
  CHECK(s->rooms().size() == 8);
}

TEST_CASE("postgres store: an unreachable server is an io_error naming it, and backups are PostgreSQL's") {
  std::unique_ptr<store> none;
  auto st = store::open_postgres("host=/nonexistent-pchat-socket-dir dbname=pchat connect_timeout=2", {}, none);
  CHECK(st.code == errc::io_error);
  CHECK(st.message.find("cannot connect to PostgreSQL") != std::string::npos);
  CHECK(st.message.find("/nonexistent-pchat-socket-dir") != std::string::npos);
  CHECK_FALSE(none);

  auto conninfo = fresh_database();
  if (conninfo.empty())
    return;
  auto s = open_pg(conninfo);
  st = s->checkpoint("/tmp/never-made");
  CHECK(st.code == errc::invalid_argument);
  CHECK(st.message.find("pg_dump") != std::string::npos);
}
