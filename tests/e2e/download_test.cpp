// pchat download end to end: the real pchat CLI against a real pchatd (tokens over SIP, bytes over HTTP), saving
// into a real directory. The name in a ma-filelink link is whatever the member who posted it wrote; the CLI must
// neither write a dotfile such as .bashrc from it nor replace an existing file, and must not print its control
// characters to the terminal.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "codec/xccos.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "client/chat_client.hpp"

using namespace pchat;
using pchat::test::pchatd_process;
using pchat::test::sign_in;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::set<std::string> names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.insert(e.path().filename().string());
  return out;
}

// `pchat ARGS` run in directory `cwd` as alice.
int pchat_in(const pchatd_process& server, const fs::path& cwd, const std::string& args, std::string& out) {
  return server.pchat("--user alice@example.com --timeout 10 " + args, out, "cd '" + cwd.string() + "' &&");
}

// The same link with another name in it (what any member can post).
std::string renamed(const std::string& link, const std::string& name) {
  auto l = xccos::parse_file_link(link);
  REQUIRE(l);
  l->name = name;
  return xccos::format_file_link(*l);
}

} // namespace

TEST_CASE("pchat download saves under the server's name and refuses dotfiles, replacing and control characters") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "sip:alice@example.com");
  const fs::path base = fs::path{server.data_dir()}.parent_path();
  const fs::path work = base / "work";
  fs::create_directories(work);
  spit(base / "report.src", "the quarterly report");
  auto up = alice->upload_file(lobby, (base / "report.src").string(), "report.txt");
  INFO(up.err().message);
  REQUIRE(up);
  spit(work / ".bashrc", "my shell setup");
  const std::set<std::string> before{".bashrc"};

  std::string out;
  // A link renamed to ".bashrc" (%2Ebashrc): the server's name for the file wins; .bashrc is untouched.
  auto hostile = renamed(up->link, ".bashrc");
  REQUIRE(hostile.find("/.bashrc") != std::string::npos);
  CHECK(pchat_in(server, work, "download Lobby '" + hostile + "'", out) == 0);
  INFO(out);
  CHECK(out.find("saved ./report.txt") != std::string::npos);
  CHECK(slurp(work / ".bashrc") == "my shell setup");
  CHECK(slurp(work / "report.txt") == "the quarterly report");
  CHECK(names(work) == std::set<std::string>{".bashrc", "report.txt"});

  // The same file again: report.txt exists and is not replaced, nothing is left behind ...
  spit(work / "report.txt", "my own notes");
  CHECK(pchat_in(server, work, "download Lobby '" + up->link + "'", out) == 1);
  CHECK(out.find("exists; not replaced") != std::string::npos);
  CHECK(slurp(work / "report.txt") == "my own notes");
  CHECK(names(work) == std::set<std::string>{".bashrc", "report.txt"});
  // ... nor is a path given as OUT, unless --force.
  CHECK(pchat_in(server, work, "download Lobby '" + up->link + "' .bashrc", out) == 1);
  CHECK(slurp(work / ".bashrc") == "my shell setup");
  CHECK(pchat_in(server, work, "download --force Lobby '" + up->link + "'", out) == 0);
  CHECK(slurp(work / "report.txt") == "the quarterly report");
  CHECK(pchat_in(server, work, "download Lobby '" + up->link + "' copy.txt", out) == 0);
  CHECK(slurp(work / "copy.txt") == "the quarterly report");
  CHECK(names(work) == std::set<std::string>{".bashrc", "report.txt", "copy.txt"});

  // A file the uploader named ".bashrc" (a valid room file name): no dotfile from someone else's name, even with
  // --force; an explicit OUT is the user's own choice.
  auto dot = alice->upload_file(lobby, (base / "report.src").string(), ".bashrc");
  REQUIRE(dot);
  fs::remove(work / "copy.txt");
  CHECK(pchat_in(server, work, "download --force Lobby '" + dot->link + "'", out) == 1);
  CHECK(out.find("no safe local name") != std::string::npos);
  CHECK(slurp(work / ".bashrc") == "my shell setup");
  CHECK(names(work) == std::set<std::string>{".bashrc", "report.txt"});
  CHECK(pchat_in(server, work, "download Lobby '" + dot->link + "' from-dot.txt", out) == 0);
  CHECK(slurp(work / "from-dot.txt") == "the quarterly report");

  // The server's name percent-encoded in Content-Disposition ('%', non-ASCII, ';' and quotes) arrives intact,
  // whatever name the link carries.
  const std::string fancy = "50% \xe2\x80\x93 \"plan\"; v2.txt";
  auto odd = alice->upload_file(lobby, (base / "report.src").string(), fancy);
  REQUIRE(odd);
  CHECK(pchat_in(server, work, "download Lobby '" + renamed(odd->link, "other.txt") + "'", out) == 0);
  CHECK(slurp(work / fancy) == "the quarterly report");
  fs::remove(work / fancy);

  // Control characters in a link (an ESC sequence that would clear the screen) reach the terminal escaped.
  CHECK(pchat_in(server, work, "download Lobby \"$(printf '" + std::string{"ma-filelink://example.com/x/y/a\\033[2Jb"} +
                                   "')\"",
                 out) == 1);
  CHECK(out.find('\033') == std::string::npos);
  CHECK(out.find("a\\x1b[2Jb") != std::string::npos);
  CHECK(names(work) == std::set<std::string>{".bashrc", "report.txt", "from-dot.txt"});
}
