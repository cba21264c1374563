// Codec tests for room files: cmd:getfutok / cmd:getfdtok decode (docs/xccos.md §4), rpl:getftok is built and read
// back as a client sees it, and ma-filelink: links round-trip and refuse malformed input.
#include "codec/xccos.hpp"

#include <catch2/catch.hpp>

using namespace pchat::xccos;

namespace {

command decode_one(const std::string& inner) {
  auto r = parse("<xccos ver=\"1\" envid=\"77\" xmlns=\"urn:parlano:xml:ns:xccos\">" + inner + "</xccos>");
  REQUIRE(std::holds_alternative<envelope>(r));
  auto cmds = decode_commands(std::get<envelope>(r));
  REQUIRE(cmds.size() == 1);
  return cmds.front();
}

} // namespace

TEST_CASE("cmd:getfutok and cmd:getfdtok decode <ftdb channelUri fileUrl/> and are answered as rpl:getftok") {
  // The capture in docs/xccos.md §4 (NextLabs, SfB).
  auto up = decode_one("<cmd id=\"cmd:getfutok\" seqid=\"1\"><data><ftdb channelUri=\"ma-chan://example.com/"
                       "6f0c-1\" fileUrl=\"Report &amp; notes.txt\"/></data></cmd>");
  REQUIRE(std::holds_alternative<getftok_cmd>(up.data));
  const auto& u = std::get<getftok_cmd>(up.data);
  CHECK(u.upload);
  CHECK(u.chan.domain == "example.com");
  CHECK(u.chan.guid == "6f0c-1");
  CHECK(u.file_url == "Report & notes.txt");
  CHECK(up.reply_id() == "rpl:getftok");

  auto down = decode_one("<cmd id=\"cmd:getfdtok\" seqid=\"3\"><data><ftdb channelUri=\"ma-chan://example.com/g\" "
                         "fileUrl=\"ma-filelink://example.com/g/f/a.txt\"/></data></cmd>");
  REQUIRE(std::holds_alternative<getftok_cmd>(down.data));
  CHECK_FALSE(std::get<getftok_cmd>(down.data).upload);
  CHECK(std::get<getftok_cmd>(down.data).file_url == "ma-filelink://example.com/g/f/a.txt");
  CHECK(down.reply_id() == "rpl:getftok");
  CHECK(down.seqid == "3");
}

TEST_CASE("file token commands without a room or a file are invalid, never a crash") {
  for (const char* data : {"", "<ftdb/>", "<ftdb fileUrl=\"a.txt\"/>", "<ftdb channelUri=\"ma-chan://example.com/g\"/>",
                           "<ftdb channelUri=\"ma-chan://example.com/g\" fileUrl=\"\"/>",
                           "<ftdb channelUri=\"http://x/y\" fileUrl=\"a\"/>", "<other channelUri=\"ma-chan://d/g\"/>"}) {
    for (const char* name : {"cmd:getfutok", "cmd:getfdtok"}) {
      INFO(name << " " << data);
      auto c = decode_one(std::string{"<cmd id=\""} + name + "\" seqid=\"1\"><data>" + data + "</data></cmd>");
      CHECK(std::holds_alternative<invalid_cmd>(c.data));
      CHECK(c.reply_id() == "rpl:getftok");
    }
  }
  auto no_data = decode_one("<cmd id=\"cmd:getfutok\" seqid=\"1\"/>");
  CHECK(std::holds_alternative<invalid_cmd>(no_data.data));
}

TEST_CASE("rpl:getftok carries <token token serveruri/> as the capture shows") {
  out_item it;
  it.id = "rpl:getftok";
  it.cmd_seqid = "1";
  it.cmd_envid = "139132352";
  append_file_token(it.data, "0f8fad5b-d9cb-469f-a165-70867728950e", "http://127.0.0.1:8080/files/g/a%20b?x=1&y=2");
  auto r = parse(serialize(5, {it}));
  REQUIRE(std::holds_alternative<envelope>(r));
  const auto& item = std::get<envelope>(r).items.at(0);
  CHECK(item.id == "rpl:getftok");
  CHECK(item.code == 200);
  CHECK(item.cmd_envid == "139132352");
  REQUIRE(item.data());
  const auto* token = item.data()->child("token");
  REQUIRE(token);
  CHECK(token->attr_or("token") == "0f8fad5b-d9cb-469f-a165-70867728950e");
  CHECK(token->attr_or("serveruri") == "http://127.0.0.1:8080/files/g/a%20b?x=1&y=2");
}

TEST_CASE("ma-filelink links round-trip any file name as one word of ASCII") {
  std::string all;
  for (int b = 1; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  for (const std::string& name : {std::string{"Report.txt"}, std::string{"a b&c<d>\"e'%f"},
                                  std::string{"r\xc3\xa9sum\xc3\xa9.pdf"}, all}) {
    file_link l{"example.com", "6f0c-guid", "0f8f-id", name};
    auto text = format_file_link(l);
    INFO(text);
    CHECK(text.rfind("ma-filelink://example.com/6f0c-guid/0f8f-id/", 0) == 0);
    for (unsigned char c : text)
      CHECK((c > 0x20 && c < 0x7f));
    auto back = parse_file_link(text);
    REQUIRE(back);
    CHECK(back->domain == "example.com");
    CHECK(back->room_guid == "6f0c-guid");
    CHECK(back->file_id == "0f8f-id");
    CHECK(back->name == name);
    CHECK(back->chan_uri() == "ma-chan://example.com/6f0c-guid");
  }
  CHECK(format_file_link({"d", "g", "f", "a b.txt"}) == "ma-filelink://d/g/f/a%20b.txt");
}

TEST_CASE("malformed ma-filelink links are refused") {
  for (const char* bad : {"", "ma-filelink://", "ma-filelink://d/g/f", "ma-filelink://d/g/f/", "ma-filelink://d//f/n",
                          "ma-filelink:///g/f/n", "ma-filelink://d/g//n", "ma-filelink://d/g/f/n/extra",
                          "ma-filelink://d/g/f/a%2", "ma-filelink://d/g/f/a%zz", "ma-filelink://d/g/f/a%",
                          "ma-filelink://d/g/f/a b", "ma-chan://d/g/f/n", "http://d/g/f/n"})
    CHECK_FALSE(parse_file_link(bad));
  auto ok = parse_file_link("ma-filelink://d/g/f/%2e%2E%2Fx");
  REQUIRE(ok);
  CHECK(ok->name == "../x"); // decoded as written: the server checks names, the link does not make them safe
}
