// Compliance end to end (docs/compliance.md): a real pchatd with the compliance service on archives what users do into Lync's
// XML; every post the server acknowledged is in the archive exactly once even across kill -9; pchatctl's verify
// accepts the untouched archive.
#include <poll.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <tinyxml2.h>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "client/chat_client.hpp"

using namespace pchat;
using namespace pchat::client;
using pchat::test::pchatd_process;
using pchat::test::sign_in;

namespace {

struct archived {
  std::string type;
  std::string content;
  std::string user;
  std::uint64_t id = 0;
};

// Every Message of every XML file in `dir` (FirstMessage is a copy of the first Message and is skipped).
std::vector<archived> read_archive(const std::string& dir) {
  std::vector<archived> out;
  if (!std::filesystem::exists(dir))
    return out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".xml" || f.path().filename().string().front() == '.')
      continue;
    tinyxml2::XMLDocument doc;
    REQUIRE(doc.LoadFile(f.path().c_str()) == tinyxml2::XML_SUCCESS);
    for (auto* conv = doc.RootElement()->FirstChildElement("Conversation"); conv;
         conv = conv->NextSiblingElement("Conversation"))
      for (auto* m = conv->FirstChildElement("Messages")->FirstChildElement("Message"); m;
           m = m->NextSiblingElement("Message")) {
        archived a;
        a.type = m->Attribute("type");
        a.content = m->Attribute("content");
        a.user = m->FirstChildElement("Sender")->Attribute("uri");
        a.id = m->Unsigned64Attribute("id");
        out.push_back(a);
      }
  }
  return out;
}

const std::vector<std::string> compliance_on = {"--compliance.enabled=true", "--compliance.run-interval=1"};

} // namespace

TEST_CASE("with compliance on, joins, posts, history reads, searches and parts land in the XML archive") {
  pchatd_process server(compliance_on);
  auto lobby = server.add_room("Lobby");
  server.start();
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->search("Lob"));
    REQUIRE(alice->join(lobby));
    REQUIRE(alice->post(lobby, "for the record & <more>"));
    REQUIRE(alice->history(lobby, 10));
    REQUIRE_FALSE(alice->part(lobby).code != errc::none);
  }
  REQUIRE(server.stop() == 0); // drains the queue into the adapter
  auto out = read_archive(server.data_dir() + "/compliance-output");
  std::map<std::string, std::string> by_type;
  for (const auto& a : out) {
    CHECK(a.user == "alice@example.com");
    by_type[a.type] = a.content;
  }
  INFO("archived types: " << out.size());
  CHECK(by_type.count("SEARCH") == 1);
  CHECK(by_type["SEARCH"] == "Lob");
  CHECK(by_type.count("JOIN") == 1);
  CHECK(by_type["CHAT"] == "for the record & <more>");
  CHECK(by_type["BACKCHAT"] == "last 10");
  CHECK(by_type.count("PART") == 1);
  // Ids run 1..N without gaps; verify agrees, and against the queue's end.
  std::set<std::uint64_t> ids;
  for (const auto& a : out)
    ids.insert(a.id);
  CHECK(ids.size() == out.size());
  CHECK(*ids.rbegin() == out.size());
  std::string report;
  CHECK(server.ctl("compliance verify '" + server.data_dir() + "/compliance-output'", &report) == 0);
  CHECK(report.find("ok") != std::string::npos);
  CHECK(report.find("end not checked") == std::string::npos);
}

TEST_CASE("kill -9 during a flood of posts with compliance on: every acknowledged post is archived exactly once") {
  pchatd_process server(compliance_on);
  auto lobby = server.add_room("Lobby");
  server.start();
  std::vector<std::string> acknowledged;
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    std::atomic<bool> killed{false};
    std::thread killer([&] {
      ::poll(nullptr, 0, 700);
      server.kill9();
      killed = true;
    });
    for (int i = 0; i < 5000; ++i) {
      auto text = "post " + std::to_string(i);
      if (!alice->post(lobby, text)) // acknowledged = the server sent it back to us
        break;
      acknowledged.push_back(text);
    }
    killer.join();
    REQUIRE(killed);
  }
  INFO(acknowledged.size() << " posts acknowledged before kill -9");
  REQUIRE(acknowledged.size() > 10);
  server.start();
  REQUIRE(server.stop() == 0); // the restarted service drains what the dead one queued
  std::map<std::string, int> chats;
  for (const auto& a : read_archive(server.data_dir() + "/compliance-output"))
    if (a.type == "CHAT")
      ++chats[a.content];
  for (const auto& text : acknowledged) {
    INFO(text);
    CHECK(chats[text] == 1);
  }
  for (const auto& [text, n] : chats)
    CHECK(n == 1); // nothing twice, acknowledged or not
  std::string report;
  CHECK(server.ctl("compliance verify '" + server.data_dir() + "/compliance-output'", &report) == 0);
  INFO(report);
}

TEST_CASE("pchatctl compliance verify names a tampered archive file") {
  pchatd_process server(compliance_on);
  auto lobby = server.add_room("Lobby");
  server.start();
  {
    auto alice = sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
    REQUIRE(alice->post(lobby, "original words"));
  }
  REQUIRE(server.stop() == 0);
  auto dir = server.data_dir() + "/compliance-output";
  std::string tampered;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(f.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto text = ss.str();
    auto at = text.find("original words");
    if (at == std::string::npos)
      continue;
    text.replace(at, 8, "modified");
    std::ofstream(f.path()) << text;
    tampered = f.path().filename().string();
  }
  REQUIRE_FALSE(tampered.empty());
  std::string report;
  CHECK(server.ctl("compliance verify '" + dir + "'", &report) == 1);
  INFO(report);
  CHECK(report.find(tampered) != std::string::npos);
}
