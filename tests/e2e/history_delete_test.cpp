// Deleting history as Lync's cmdlets did (docs/operations.md "Deleting history"): `pchatctl history clear ROOM
// --before` and `pchatctl message remove ROOM SEQ [--replace]` on a running pchatd (through the room's actor, so
// its cache follows) and on a stopped one. Clients that read history, catch up or search see the change; seqs go
// on; a restart shows the same.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "client/chat_client.hpp"
#include "compliance/queue.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"

using pchat::test::pchatd_process;
using pchat::test::sign_in;

namespace {

std::vector<std::string> texts(const std::vector<pchat::client::chat_line>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    out.push_back(l.text);
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace

TEST_CASE("pchatctl history clear and message remove on a running pchatd reach history catch-up and search") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  REQUIRE(alice->join(lobby));
  for (const char* text : {"old apple", "old banana", "old cherry"})
    REQUIRE(alice->post(lobby, text));
  // Whole seconds: the --before time has a resolution of one second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string split = utc_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (const char* text : {"new damson", "secret password hunter2", "new fig"})
    REQUIRE(alice->post(lobby, text));

  std::string out;
  REQUIRE(server.ctl("history clear Lobby --before " + split, &out) == 0);
  CHECK(out.find("posts up to #3 deleted") != std::string::npos);
  REQUIRE(server.ctl("message remove Lobby 5 --replace '[removed: a password]'", &out) == 0);
  CHECK(out.find("#5 now reads: [removed: a password]") != std::string::npos);
  CHECK(server.ctl("message remove Lobby 2", &out) == 1); // cleared already
  CHECK(out.find("no post #2") != std::string::npos);
  CHECK(server.ctl("message remove Lobby x", &out) == 2);
  CHECK(server.ctl("history clear Lobby --before yesterday", &out) == 2);

  auto check = [&](pchat::client::chat_client& reader) {
    auto h = reader.history(lobby, 50);
    REQUIRE(h);
    CHECK(texts(h.value()) == std::vector<std::string>{"new damson", "[removed: a password]", "new fig"});
    CHECK(h.value().front().seq == 4);
    auto caught = reader.catch_up({{lobby, 0}});
    REQUIRE(caught);
    REQUIRE(caught.value().size() == 1);
    CHECK(texts(caught.value()[0].lines) == std::vector<std::string>{"new damson", "[removed: a password]", "new fig"});
    std::string found;
    CHECK(server.pchat("--user bob@example.com search hunter2", found) == 0);
    CHECK(found.find("hunter2") == std::string::npos);
    CHECK(server.pchat("--user bob@example.com search apple", found) == 0);
    CHECK(found.find("apple") == std::string::npos);
    CHECK(server.pchat("--user bob@example.com search removed", found) == 0);
    CHECK(found.find("[removed: a password]") != std::string::npos);
  };
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));
  check(*bob); // served from the room's cache
  auto next = alice->post(lobby, "after the clear");
  REQUIRE(next);
  CHECK(next->seq == 7);

  // A restart reloads the room from the store: the same.
  alice.reset();
  bob.reset();
  server.restart();
  auto carol = sign_in(server, "carol@example.com");
  REQUIRE(carol->join(lobby));
  auto h = carol->history(lobby, 50);
  REQUIRE(h);
  CHECK(h.value().size() == 4);
  CHECK(h.value()[1].text == "[removed: a password]");

  // Stopped: pchatctl works on the store itself; clearing everything keeps the seqs going.
  server.stop();
  REQUIRE(server.ctl("message remove Lobby 4", &out) == 0);
  REQUIRE(server.ctl("history Lobby", &out) == 0);
  CHECK(out.find("#4 sip:alice@example.com: This message was removed by an administrator.") != std::string::npos);
  REQUIRE(server.ctl("history clear Lobby --before 2099-01-01", &out) == 0);
  CHECK(out.find("posts up to #7 deleted") != std::string::npos);
  server.start();
  auto dave = sign_in(server, "dave@example.com");
  REQUIRE(dave->join(lobby));
  auto empty = dave->history(lobby, 50);
  REQUIRE(empty);
  CHECK(empty.value().empty());
  auto first = dave->post(lobby, "a fresh start");
  REQUIRE(first);
  CHECK(first->seq == 8);
}

TEST_CASE("retention set with pchatctl on a running pchatd deletes in the background what a room no longer keeps") {
  pchatd_process server({"--pchat.retention-interval=1"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  REQUIRE(alice->join(lobby));
  for (const char* text : {"one", "two", "three", "four", "five"})
    REQUIRE(alice->post(lobby, text));

  std::string out;
  REQUIRE(server.ctl("room set Lobby --keep-posts 2", &out) == 0);
  CHECK(server.ctl("room set Lobby --keep-posts many", &out) == 1);
  CHECK(out.find("keep-posts=many") != std::string::npos);
  REQUIRE(server.ctl("room show Lobby", &out) == 0);
  CHECK(out.find("keep        newest 2 posts (the room's own)") != std::string::npos);
  REQUIRE(server.ctl("category show General", &out) == 0);
  CHECK(out.find("keep        everything") != std::string::npos);

  // The next pass (within a second or two) leaves the newest two.
  std::vector<std::string> kept;
  for (int i = 0; i < 50; ++i) {
    auto h = alice->history(lobby, 50);
    REQUIRE(h);
    kept = texts(h.value());
    if (kept.size() == 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(kept == std::vector<std::string>{"four", "five"});
  auto caught = alice->catch_up({{lobby, 0}});
  REQUIRE(caught);
  REQUIRE(caught.value().size() == 1);
  CHECK(texts(caught.value()[0].lines) == std::vector<std::string>{"four", "five"});
  CHECK(server.pchat("--user bob@example.com search three", out) == 0);
  CHECK(out.find("three") == std::string::npos);

  // Back to the category's rule (keep everything): nothing more goes.
  REQUIRE(server.ctl("room set Lobby --keep inherit", &out) == 0);
  REQUIRE(server.ctl("room show Lobby --json", &out) == 0);
  CHECK(out.find("\"keep_from\": \"category\"") != std::string::npos);
  REQUIRE(alice->post(lobby, "six"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto h = alice->history(lobby, 50);
  REQUIRE(h);
  CHECK(texts(h.value()) == std::vector<std::string>{"four", "five", "six"});
}

TEST_CASE("with compliance on pchatctl on a running pchatd has CLEAR and REMOVE archived with what went and why") {
  pchatd_process server({"--compliance.enabled=true", "--compliance.run-interval=1"});
  auto lobby = server.add_room("Lobby");
  server.start();
  std::string out;
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    for (const char* text : {"one", "two", "three"})
      REQUIRE(alice->post(lobby, text));
    REQUIRE(server.ctl("history clear Lobby --before 2099-01-01", &out) == 0);
    CHECK(out.find("posts up to #3 deleted") != std::string::npos);
    REQUIRE(alice->post(lobby, "four: my password is hunter2"));
    REQUIRE(server.ctl("message remove Lobby 4 --replace '[gone]'", &out) == 0);
    auto h = alice->history(lobby, 10);
    REQUIRE(h);
    CHECK(texts(h.value()) == std::vector<std::string>{"[gone]"});
  }
  REQUIRE(server.stop() == 0); // drains the queue into the XML archive
  std::string archive;
  for (const auto& f : std::filesystem::directory_iterator(server.data_dir() + "/compliance-output"))
    if (f.path().extension() == ".xml") {
      std::ifstream in(f.path());
      archive.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  INFO(archive);
  CHECK(archive.find("type=\"CLEAR\"") != std::string::npos);
  CHECK(archive.find("posts #1 to #3 deleted (an administrator: before 2099-01-01T00:00:00Z)") != std::string::npos);
  CHECK(archive.find("type=\"REMOVE\"") != std::string::npos);
  CHECK(archive.find("post #4 replaced by an administrator with: [gone]") != std::string::npos);
}

TEST_CASE("with compliance on pchatctl on a stopped pchatd archives CLEAR and REMOVE before it deletes") {
  pchatd_process server({"--compliance.enabled=true"});
  auto lobby = server.add_room("Lobby");
  server.start();
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    for (const char* text : {"one", "two", "three"})
      REQUIRE(alice->post(lobby, text));
  }
  server.stop();
  // pchatctl reads pchatd's configuration: compliance is on, so the queue gets the records.
  const std::string ini = server.data_dir() + "/../pchatd-compliance.ini";
  std::ofstream(ini) << "[pchat]\ndata-dir=\"" << server.data_dir() << "\"\ndomain=\"example.com\"\n"
                     << "[compliance]\nenabled=true\n";
  std::string out;
  REQUIRE(pchatd_process::run_capture(std::string(PCHATCTL_PATH) + " --config '" + ini +
                                        "' history clear Lobby --before 2099-01-01",
                                      out) == 0);
  CHECK(out.find("posts up to #3 deleted") != std::string::npos);
  REQUIRE(pchatd_process::run_capture(std::string(PCHATCTL_PATH) + " --config '" + ini +
                                        "' history clear Lobby --before 2099-01-01",
                                      out) == 0);
  CHECK(out.find("nothing left that was posted before 2099-01-01 (cleared up to #3 before)") != std::string::npos);

  std::unique_ptr<pchat::compliance::queue> q;
  REQUIRE(pchat::compliance::queue::open(server.data_dir() + "/compliance", q).ok());
  pchat::compliance::batch b;
  REQUIRE(q->take(100000, b).ok());
  std::vector<std::string> clears;
  for (const auto& e : b.events)
    if (e.kind == pchat::compliance::event_kind::clear)
      clears.push_back(e.room_name + ": " + e.content);
  REQUIRE(clears.size() == 1); // the second clear deleted nothing and archived nothing
  CHECK(clears[0].find("Lobby: posts #1 to #3 deleted (an administrator: before 2099-01-01T00:00:00Z)") == 0);
}
