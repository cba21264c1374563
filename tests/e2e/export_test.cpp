// pchatctl export and import (docs/operations.md "Export and import") with real stores and a real pchatd: an
// export taken beside a running server, imported into a fresh store, exports again to the same lines; a pchatd on
// the imported store serves the same rooms, history and search; a damaged, cut-short or clashing file imports
// nothing.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "client/chat_client.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "support/temp_dir.hpp"

using pchat::test::pchatd_process;
using pchat::test::sign_in;
using pchat::test::temp_dir;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

int ctl(const std::string& data, const std::string& args, std::string& out) {
  return pchatd_process::run_capture(PCHATCTL_PATH " --data '" + data + "' " + args, out);
}

} // namespace

TEST_CASE("pchatctl export of a running server imported into a fresh store exports the same and serves the same") {
  temp_dir work;
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  std::string out;
  REQUIRE(server.ctl("category add Secret --allow example.com --deny sip:mallory@example.com --creators "
                     "sip:alice@example.com --invite true",
                     &out) == 0);
  REQUIRE(server.ctl("room add 'War room' --category Secret --privacy secret --type auditorium --topic 'Q3 plan' "
                     "--keep-posts 100",
                     &out) == 0);
  REQUIRE(server.ctl("category set Secret --keep-days 30", &out) == 0);
  REQUIRE(server.ctl("member add 'War room' alice@example.com --role manager --role presenter", &out) == 0);
  REQUIRE(server.ctl("member add 'War room' bob@example.com", &out) == 0);
  server.start();
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    for (const char* text : {"hello \"world\"", "two\nlines", "Grüße 🎉 <b>not html</b>", "alpha beta gamma"})
      REQUIRE(alice->post(lobby, text));
  }
  // Beside the running server: read-only.
  const std::string first = work.str("first.jsonl");
  REQUIRE(server.ctl("export " + first, &out) == 0);
  CHECK(out.find("exported 2 categories, 2 rooms, 2 roles, 4 messages") != std::string::npos);
  auto exported = lines_of(first);
  REQUIRE(exported.size() == 1 + 2 + 2 + 2 + 4 + 1);
  CHECK(exported.front().find("\"type\":\"pchat-export\"") != std::string::npos);
  CHECK(exported.back() == R"({"categories":2,"messages":4,"roles":2,"rooms":2,"type":"end"})");
  CHECK((std::filesystem::status(first).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  std::size_t keeps = 0;
  for (const auto& l : exported)
    keeps += l.find(R"("keep":{"days":30,"posts":0})") != std::string::npos ||
             l.find(R"("keep":{"days":0,"posts":100})") != std::string::npos;
  CHECK(keeps == 2);

  // Into a fresh store; exporting that gives the same lines (but the header: time and source store).
  const std::string fresh = work.str("fresh");
  REQUIRE(ctl(fresh, "init", out) == 0);
  REQUIRE(ctl(fresh, "import " + first, out) == 0);
  CHECK(out.find("imported 2 categories, 2 rooms, 2 roles, 4 messages") != std::string::npos);
  const std::string second = work.str("second.jsonl");
  REQUIRE(ctl(fresh, "export " + second, out) == 0);
  auto again = lines_of(second);
  REQUIRE(again.size() == exported.size());
  for (std::size_t i = 1; i < again.size(); ++i)
    CHECK(again[i] == exported[i]);
  // From standard input the same (it is spooled, then read twice like a file).
  const std::string piped = work.str("piped");
  REQUIRE(ctl(piped, "init", out) == 0);
  REQUIRE(ctl(piped, "import - < " + first, out) == 0);
  CHECK(out.find("imported 2 categories, 2 rooms, 2 roles, 4 messages") != std::string::npos);
  // From a pipe named as a file (as `import <(zcat export.jsonl.gz)` would be): it cannot be read twice, so it is
  // spooled too, and every message arrives.
  const std::string from_pipe = work.str("from_pipe");
  REQUIRE(ctl(from_pipe, "init", out) == 0);
  REQUIRE(pchatd_process::run_capture("cat " + first + " | " PCHATCTL_PATH " --data '" + from_pipe +
                                        "' import /dev/stdin",
                                      out) == 0);
  CHECK(out.find("imported 2 categories, 2 rooms, 2 roles, 4 messages") != std::string::npos);
  // GUIDs compare case-insensitively: roles and messages that name their room in capitals still belong to it.
  auto upper = exported;
  for (auto& l : upper)
    if (l.find("\"type\":\"message\"") != std::string::npos || l.find("\"type\":\"role\"") != std::string::npos) {
      auto at = l.find("\"room\":\"") + 8;
      std::transform(l.begin() + static_cast<std::ptrdiff_t>(at), l.begin() + static_cast<std::ptrdiff_t>(at) + 36,
                     l.begin() + static_cast<std::ptrdiff_t>(at), [](char c) { return static_cast<char>(std::toupper(c)); });
    }
  {
    std::ofstream f(work.str("upper.jsonl"));
    for (const auto& l : upper)
      f << l << "\n";
  }
  const std::string upper_store = work.str("upper");
  REQUIRE(ctl(upper_store, "init", out) == 0);
  REQUIRE(ctl(upper_store, "import " + work.str("upper.jsonl"), out) == 0);
  CHECK(out.find("imported 2 categories, 2 rooms, 2 roles, 4 messages") != std::string::npos);

  // A pchatd on the imported store: the same room URI, history, roles and search.
  server.stop();
  pchatd_process imported;
  std::filesystem::remove_all(imported.data_dir());
  std::filesystem::rename(fresh, imported.data_dir());
  imported.start();
  auto bob = sign_in(imported, "bob@example.com");
  REQUIRE(bob->join(lobby));
  auto h = bob->history(lobby, 10);
  REQUIRE(h);
  REQUIRE(h.value().size() == 4);
  CHECK(h.value()[1].text == "two\nlines");
  CHECK(h.value()[2].text == "Grüße 🎉 <b>not html</b>");
  CHECK(h.value()[3].seq == 4);
  REQUIRE(imported.ctl("member list 'War room'", &out) == 0);
  INFO(out);
  CHECK(out.find("sip:alice@example.com\tmanager presenter") != std::string::npos);
  CHECK(out.find("sip:bob@example.com\tmember") != std::string::npos);
  REQUIRE(imported.pchat("--user carol@example.com search beta", out) == 0);
  CHECK(out.find("alpha beta gamma") != std::string::npos);
}

TEST_CASE("pchatctl import refuses a damaged cut-short or clashing file and a running server and imports nothing") {
  temp_dir work;
  pchatd_process server;
  server.add_room("Lobby");
  std::string out;
  const std::string full = work.str("full.jsonl");
  REQUIRE(server.ctl("export " + full, &out) == 0);
  auto lines = lines_of(full);

  const std::string target = work.str("target");
  REQUIRE(ctl(target, "init", out) == 0);
  auto write_lines = [&](const std::string& path, const std::vector<std::string>& ls) {
    std::ofstream f(path);
    for (const auto& l : ls)
      f << l << "\n";
  };
  // Cut short: no end line.
  write_lines(work.str("cut.jsonl"), {lines.begin(), lines.end() - 1});
  CHECK(ctl(target, "import " + work.str("cut.jsonl"), out) == 1);
  CHECK(out.find("the export was cut short; nothing imported") != std::string::npos);
  // Not JSON at line 2.
  auto broken = lines;
  broken[1] = "{\"type\":\"category\",";
  write_lines(work.str("broken.jsonl"), broken);
  CHECK(ctl(target, "import " + work.str("broken.jsonl"), out) == 1);
  CHECK(out.find("broken.jsonl:2:") != std::string::npos);
  // A field of the wrong type.
  auto typed = lines;
  for (auto& l : typed)
    if (l.find("\"type\":\"room\"") != std::string::npos)
      l.replace(l.find("\"disabled\":false"), 16, "\"disabled\":\"no\"");
  write_lines(work.str("typed.jsonl"), typed);
  CHECK(ctl(target, "import " + work.str("typed.jsonl"), out) == 1);
  CHECK(out.find("nothing imported") != std::string::npos);
  // A negative seq (it would read as a huge unsigned number) and a room named twice.
  std::string room_guid;
  for (const auto& l : lines)
    if (l.find("\"type\":\"room\"") != std::string::npos)
      room_guid = l.substr(l.find("\"guid\":\"") + 8, 36);
  REQUIRE(room_guid.size() == 36);
  auto negative = lines;
  negative.insert(negative.end() - 1, R"({"type":"message","room":")" + room_guid +
                                        R"(","seq":-1,"author":"sip:a@example.com","ticks":1,"text":"x"})");
  write_lines(work.str("negative.jsonl"), negative);
  CHECK(ctl(target, "import " + work.str("negative.jsonl"), out) == 1);
  CHECK(out.find("seq must be a whole number") != std::string::npos);
  auto twice = lines;
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].find("\"type\":\"room\"") != std::string::npos) {
      auto copy = lines[i];
      copy.replace(copy.find(room_guid), 36, "00000000-0000-4000-8000-000000000000");
      twice.insert(twice.begin() + static_cast<std::ptrdiff_t>(i) + 1, copy);
      break;
    }
  write_lines(work.str("twice.jsonl"), twice);
  CHECK(ctl(target, "import " + work.str("twice.jsonl"), out) == 1);
  CHECK(out.find("named twice in the file") != std::string::npos);
  REQUIRE(ctl(target, "room list", out) == 0);
  CHECK(out.empty());
  REQUIRE(ctl(target, "category list", out) == 0);
  CHECK(out.empty());

  // The good file imports once; a second time it clashes and changes nothing.
  REQUIRE(ctl(target, "import " + full, out) == 0);
  CHECK(ctl(target, "import " + full, out) == 1);
  CHECK(out.find("already in this store") != std::string::npos);
  REQUIRE(ctl(target, "room list", out) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);

  // Not into a running server's store.
  server.start();
  CHECK(server.ctl("import " + full, &out) == 3);
  CHECK(out.find("stop it first") != std::string::npos);
}
