// The XML adapter: Lync's shape (docs/compliance.md "Output shape"), every event type, the settings, atomic and
// idempotent files.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <tinyxml2.h>

#include "base/hex.hpp"
#include "compliance/xml_adapter.hpp"
#include "support.hpp"

using namespace pchat::compliance;
using namespace pchat::test;
namespace fs = std::filesystem;

namespace {

// Every kind once, in two rooms, one second apart; bob has no display name.
std::vector<event> every_kind() {
  std::vector<event> out = {
      make_event(event_kind::join, "lobby", "alice"),
      make_event(event_kind::chat, "lobby", "alice", "Hi <all> & \"you\"\nline two\ttab"),
      make_event(event_kind::backchat, "lobby", "bob", "last 50"),
      make_event(event_kind::search, "root", "bob", "budget"),
      make_event(event_kind::fileupload, "lobby", "alice", "plan.pdf"),
      make_event(event_kind::filedownload, "lobby", "bob", "plan.pdf"),
      make_event(event_kind::part, "lobby", "alice"),
  };
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i].ticks += static_cast<std::int64_t>(i) * 10'000'000;
  return out;
}

batch archived_batch(queue& q, std::vector<event> events) {
  REQUIRE(q.enqueue(events).ok());
  batch b;
  REQUIRE(q.take(1000, b).ok());
  return b;
}

} // namespace

TEST_CASE("xml adapter: every event type lands with its type, content, sender and time") {
  temp_dir tmp;
  auto q = open_queue(tmp.str("queue"));
  auto b = archived_batch(*q, every_kind());
  xml_adapter xml{{tmp.str("out"), false, false, false}};
  REQUIRE(xml.write(b).ok());

  CHECK(output_files(tmp.path / "out") == std::vector<std::string>{"pchat-compliance-000000000001-001.xml"});
  auto got = read_output(tmp.path / "out");
  REQUIRE(got.size() == 7);
  // Grouped per room (order of first appearance), each room in id order.
  std::vector<std::tuple<std::string, std::string, std::uint64_t, std::string>> want = {
      {"JOIN", "", 1, "User alice"},
      {"CHAT", "Hi <all> & \"you\"\nline two\ttab", 2, "User alice"},
      {"BACKCHAT", "last 50", 3, "bob@example.com"},
      {"FILEUPLOAD", "plan.pdf", 5, "User alice"},
      {"FILEDOWNLOAD", "plan.pdf", 6, "bob@example.com"},
      {"PART", "", 7, "User alice"},
      {"SEARCH", "budget", 4, "bob@example.com"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO(i);
    const auto& [type, content, id, name] = want[i];
    CHECK(got[i].type == type);
    CHECK(got[i].content == content);
    CHECK(got[i].id == id);
    CHECK(got[i].user_name == name);
    CHECK(got[i].sender_uri == (name == "bob@example.com" ? "bob@example.com" : "alice@example.com"));
    CHECK(got[i].room == (type == "SEARCH" ? "ma-chan://example.com/root" : "ma-chan://example.com/lobby"));
    auto t = sample_ticks + static_cast<std::int64_t>(id - 1) * 10'000'000;
    CHECK(got[i].since1970 == std::to_string(since1970(t)));
    CHECK(got[i].utc == utc_string(t));
    CHECK(got[i].dotnet == std::to_string(dotnet_ticks(t)));
  }
  CHECK(got[0].utc == "2008-06-04T20:15:40.9535482Z");
  CHECK(got[0].since1970 == "1212610540953");
  CHECK(got[0].dotnet == "633482073409535482");
}

TEST_CASE("xml adapter: Lync's element shape, namespaces and default details") {
  temp_dir tmp;
  auto q = open_queue(tmp.str("queue"));
  auto b = archived_batch(*q, every_kind());
  REQUIRE(xml_adapter{{tmp.str("out"), false, false, false}}.write(b).ok());
  tinyxml2::XMLDocument doc;
  REQUIRE(doc.LoadFile(tmp.str("out/pchat-compliance-000000000001-001.xml").c_str()) == tinyxml2::XML_SUCCESS);
  auto* root = doc.RootElement();
  CHECK(std::string{root->Name()} == "Conversations");
  CHECK(std::string{root->Attribute("xmlns:xsi")} == "http://www.w3.org/2001/XMLSchema-instance");
  CHECK(std::string{root->Attribute("xmlns:xsd")} == "http://www.w3.org/2001/XMLSchema");
  CHECK(std::string{root->Attribute("xmlns:pc")} == chain_namespace);
  auto* conv = root->FirstChildElement("Conversation");
  REQUIRE(conv);
  std::vector<std::string> children;
  for (auto* c = conv->FirstChildElement(); c; c = c->NextSiblingElement())
    children.push_back(c->Name());
  CHECK(children == std::vector<std::string>{"Channel", "FirstMessage", "Messages", "StartTimeUTC", "EndTimeUTC"});
  auto* channel = conv->FirstChildElement("Channel");
  CHECK(std::string{channel->Attribute("uri")} == "ma-chan://example.com/lobby");
  CHECK(std::string{channel->Attribute("name")} == "ma-chan://example.com/lobby"); // no room details
  CHECK(std::string{channel->Attribute("islogged")}.empty());
  auto* first = conv->FirstChildElement("FirstMessage");
  CHECK(std::string{first->Attribute("type")} == "JOIN");
  CHECK(std::string{first->Attribute("id")} == "1");
  CHECK(first->Attribute("pc:hash") == nullptr);
  auto* sender = first->FirstChildElement("Sender");
  for (const char* a : {"UserName", "id", "email", "internal", "uri"})
    CHECK(sender->Attribute(a) != nullptr);
  CHECK(std::string{sender->Attribute("email")}.empty()); // no user details
  CHECK(std::string{sender->Attribute("id")} == std::to_string(sender_id("sip:alice@example.com")));
  CHECK(sender_id("sip:Alice@Example.com") == sender_id("alice@example.com"));
  CHECK(sender_id("sip:alice@example.com") != sender_id("sip:bob@example.com"));
  CHECK(std::string{conv->FirstChildElement("StartTimeUTC")->Attribute("string")} == utc_string(sample_ticks));
  CHECK(std::string{conv->FirstChildElement("EndTimeUTC")->Attribute("string")} ==
        utc_string(sample_ticks + 6 * 10'000'000));
  auto* msg = conv->FirstChildElement("Messages")->FirstChildElement("Message");
  CHECK(std::string{msg->Attribute("pc:hash")} == pchat::hex::encode(b.events[0].hash));
  // Newlines and tabs in attributes are character references (a parser would turn literal ones into spaces).
  auto text = slurp(tmp.path / "out/pchat-compliance-000000000001-001.xml");
  CHECK(text.find("content=\"Hi &lt;all&gt; &amp; &quot;you&quot;&#10;line two&#9;tab\"") != std::string::npos);
  CHECK(text.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Conversations", 0) == 0);
}

TEST_CASE("xml adapter: AddChatRoomDetails, AddUserDetails, OneChatRoomPerOutputFile") {
  temp_dir tmp;
  auto q = open_queue(tmp.str("queue"));
  auto events = every_kind();
  events[0].room_logged = false;
  auto b = archived_batch(*q, events);
  REQUIRE(xml_adapter{{tmp.str("out"), true, true, true}}.write(b).ok());
  CHECK(output_files(tmp.path / "out") ==
        std::vector<std::string>{"pchat-compliance-000000000001-001.xml", "pchat-compliance-000000000001-002.xml"});
  tinyxml2::XMLDocument doc;
  REQUIRE(doc.LoadFile(tmp.str("out/pchat-compliance-000000000001-001.xml").c_str()) == tinyxml2::XML_SUCCESS);
  auto* root = doc.RootElement();
  CHECK(std::string{root->Attribute("pc:parts")} == "2");
  CHECK(std::string{root->Attribute("pc:prev")} == pchat::hex::encode(digest{}));
  auto* conv = root->FirstChildElement("Conversation");
  CHECK(conv->NextSiblingElement("Conversation") == nullptr);
  CHECK(std::string{conv->FirstChildElement("Channel")->Attribute("name")} == "lobby room");
  CHECK(std::string{conv->FirstChildElement("Channel")->Attribute("islogged")} == "false");
  auto* sender = conv->FirstChildElement("FirstMessage")->FirstChildElement("Sender");
  CHECK(std::string{sender->Attribute("email")} == "alice@example.com");
  CHECK(std::string{sender->Attribute("internal")} == "true");

  tinyxml2::XMLDocument second;
  REQUIRE(second.LoadFile(tmp.str("out/pchat-compliance-000000000001-002.xml").c_str()) == tinyxml2::XML_SUCCESS);
  // The search room's file chains from the event before its first one (id 4 follows id 3).
  CHECK(std::string{second.RootElement()->Attribute("pc:prev")} == pchat::hex::encode(b.events[2].hash));
  CHECK(read_output(tmp.path / "out").size() == 7);
}

TEST_CASE("xml adapter: rewriting a batch gives the same files, byte for byte, and leaves no temporary file") {
  temp_dir tmp;
  auto q = open_queue(tmp.str("queue"));
  auto b = archived_batch(*q, every_kind());
  xml_adapter xml{{tmp.str("out"), true, false, false}};
  REQUIRE(xml.write(b).ok());
  auto names = output_files(tmp.path / "out");
  std::vector<std::string> before;
  for (const auto& n : names)
    before.push_back(slurp(tmp.path / "out" / n));
  REQUIRE(xml.write(b).ok());
  CHECK(output_files(tmp.path / "out") == names);
  for (std::size_t i = 0; i < names.size(); ++i)
    CHECK(slurp(tmp.path / "out" / names[i]) == before[i]);
  CHECK(xml.write(batch{}).ok()); // nothing to write: no file
  CHECK(output_files(tmp.path / "out") == names);
}

TEST_CASE("xml adapter: an output directory that cannot be written is an error, not an exception") {
  temp_dir tmp;
  auto q = open_queue(tmp.str("queue"));
  auto b = archived_batch(*q, every_kind());
  std::ofstream{tmp.path / "file"} << "x";
  auto st = xml_adapter{{tmp.str("file/out"), false, false, false}}.write(b);
  CHECK(st.code == errc::io_error);
}
