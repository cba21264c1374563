// pchatctl backup and restore (docs/operations.md "Backup and restore") against real pchatd processes: a backup
// taken while posts flow holds every post acknowledged before it began, as a gap-free prefix (nothing torn), and
// a pchatd started on the restored directory serves exactly that history; refusals change nothing.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "client/chat_client.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "support/temp_dir.hpp"

using pchat::test::pchatd_process;
using pchat::test::sign_in;
using pchat::test::temp_dir;

TEST_CASE("pchatctl backup of a running pchatd while posts flow restores every post acknowledged before it began") {
  temp_dir work;
  const std::string dest = work.str("backup");
  pchatd_process server({"--compliance.enabled=true", "--compliance.run-interval=3600"});
  auto lobby = server.add_room("Lobby");
  server.start();

  std::atomic<int> acknowledged{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> post_failed{false};
  std::thread poster([&] {
    auto alice = sign_in(server, "alice@example.com");
    if (!alice->join(lobby)) {
      post_failed = true;
      return;
    }
    for (int i = 1; !stop; ++i) {
      if (!alice->post(lobby, "p " + std::to_string(i))) {
        post_failed = true;
        return;
      }
      acknowledged = i;
    }
  });
  while (acknowledged < 40 && !post_failed)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int before = acknowledged; // acknowledged before the backup began
  std::string out;
  int rc = server.ctl("backup " + dest, &out);
  const int after_backup = acknowledged;
  while (acknowledged < after_backup + 20 && !post_failed)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  poster.join();
  INFO(out);
  REQUIRE_FALSE(post_failed);
  REQUIRE(rc == 0);
  CHECK(out.find("backup " + dest + ": 1 rooms") != std::string::npos);
  CHECK(out.find("the compliance queue") != std::string::npos);
  CHECK(std::filesystem::exists(dest + "/pchat-backup.json"));
  CHECK(std::filesystem::exists(dest + "/compliance/CURRENT"));
  CHECK((std::filesystem::status(dest).permissions() & std::filesystem::perms::others_all) ==
        std::filesystem::perms::none);

  // Restore into a new directory (another pchatd's, emptied: restore goes only where no store is).
  pchatd_process restored;
  std::filesystem::remove_all(restored.data_dir());
  rc = restored.ctl("restore " + dest, &out);
  REQUIRE(rc == 0);
  CHECK(out.find("restored " + dest) != std::string::npos);
  CHECK(std::filesystem::exists(restored.data_dir() + "/compliance/CURRENT"));
  // Copied beside the target first, then moved in: nothing of the copy is left behind.
  for (const auto& dir : {std::filesystem::path(restored.data_dir()), std::filesystem::path(restored.data_dir()).parent_path()})
    for (const auto& e : std::filesystem::directory_iterator(dir))
      CHECK(e.path().filename().string().find(".restoring") == std::string::npos);
  restored.start();
  auto bob = sign_in(restored, "bob@example.com");
  REQUIRE(bob->join(lobby)); // the same room: its URI came with the store
  auto h = bob->history(lobby, 5000);
  REQUIRE(h);
  const auto& lines = h.value();
  INFO("before=" << before << " restored=" << lines.size() << " after=" << after_backup);
  CHECK(static_cast<int>(lines.size()) >= before);
  CHECK(static_cast<int>(lines.size()) <= after_backup + 1);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i].text == "p " + std::to_string(i + 1));
    CHECK(lines[i].seq == i + 1);
  }
  // The restored server takes new posts after the restored ones.
  auto next = bob->post(lobby, "after restore");
  REQUIRE(next);
  CHECK(next->seq == lines.size() + 1);
}

TEST_CASE("pchatctl backup of a stopped pchatd and restore refuse to overwrite and name what is wrong") {
  temp_dir work;
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    for (int i = 1; i <= 5; ++i)
      REQUIRE(alice->post(lobby, "offline " + std::to_string(i)));
  }
  server.stop();
  // Room file content as the file store keeps it (by hash), and an upload left half-way (tmp/): not backed up.
  const std::string files = server.data_dir() + "/files";
  std::filesystem::create_directories(files + "/ab");
  std::filesystem::create_directories(files + "/tmp");
  std::ofstream(files + "/ab/abcd") << "content";
  std::ofstream(files + "/tmp/upload-1") << "partial";

  std::string out;
  // A relative destination is taken from pchatctl's working directory.
  int rc = pchatd_process::run_capture("cd " + work.str() + " && " PCHATCTL_PATH " --data " + server.data_dir() +
                                         " backup snapshot",
                                       out);
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(out.find("1 rooms, 5 posts, 1 room files") != std::string::npos);
  CHECK(std::filesystem::exists(work.str("snapshot/files/ab/abcd")));
  CHECK_FALSE(std::filesystem::exists(work.str("snapshot/files/tmp")));
  CHECK_FALSE(std::filesystem::exists(work.str("snapshot/compliance")));

  // Not into a directory that has something in it.
  rc = server.ctl("backup " + work.str("snapshot"), &out);
  CHECK(rc == 1);
  CHECK(out.find("exists and is not empty") != std::string::npos);
  // Not over a store.
  rc = server.ctl("restore " + work.str("snapshot"), &out);
  CHECK(rc == 1);
  CHECK(out.find("already holds a store") != std::string::npos);
  // Not from something that is no backup.
  rc = pchatd_process::run_capture(PCHATCTL_PATH " --data " + work.str("new") + " restore " + server.data_dir(), out);
  CHECK(rc == 1);
  CHECK(out.find("not a pchat backup") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(work.str("new")));

  rc = pchatd_process::run_capture(PCHATCTL_PATH " --data " + work.str("new") + " restore " + work.str("snapshot"), out);
  REQUIRE(rc == 0);
  CHECK(out.find("1 rooms, 5 posts, 1 room files") != std::string::npos);
  std::ifstream blob(work.str("new/files/ab/abcd"));
  std::string content;
  std::getline(blob, content);
  CHECK(content == "content");
  rc = pchatd_process::run_capture(PCHATCTL_PATH " --data " + work.str("new") + " history Lobby", out);
  CHECK(rc == 0);
  CHECK(out.find("#5 sip:alice@example.com: offline 5") != std::string::npos);

  // Into an existing empty directory named through a symlink (a mount point, say): the store lands in the
  // directory, the symlink stays a symlink, and no staging directory is left behind.
  std::filesystem::create_directories(work.str("mounted"));
  std::filesystem::create_directory_symlink(work.str("mounted"), work.str("linked"));
  rc = pchatd_process::run_capture(PCHATCTL_PATH " --data " + work.str("linked") + " restore " + work.str("snapshot"),
                                   out);
  REQUIRE(rc == 0);
  CHECK(std::filesystem::is_symlink(work.str("linked")));
  CHECK(std::filesystem::exists(work.str("mounted/CURRENT")));
  CHECK_FALSE(std::filesystem::exists(work.str("mounted/.restoring")));
  CHECK_FALSE(std::filesystem::exists(work.str(".linked.restoring")));
  rc = pchatd_process::run_capture(PCHATCTL_PATH " --data " + work.str("linked") + " history Lobby", out);
  CHECK(rc == 0);
  CHECK(out.find("#5 sip:alice@example.com: offline 5") != std::string::npos);
}
