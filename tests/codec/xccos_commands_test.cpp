// The client-side document builders (codec/xccos_commands.hpp): every document parses back with
// pchat::xccos::parse and decodes with decode_commands into the command the server would act on, with the values
// it was given, whatever characters they hold.
#include <catch2/catch.hpp>
#include <tinyxml2.h>

#include "codec/xccos.hpp"
#include "codec/xccos_commands.hpp"

using namespace pchat::xccos;

namespace {

// Quotes, markup, entity starts, a CDATA end, and the three characters XML normalisation rewrites (TAB, LF, CR
// in attributes; CR in text); plus UTF-8. None of them is '/', so it may stand for a room URI's domain or GUID.
const std::string hostile = "a\"b'c<d>e&amp;f]]>g\th\ni\r\nj\xC3\xA9";

envelope parse_ok(const std::string& body) {
  auto r = parse(body);
  if (auto* err = std::get_if<parse_error>(&r))
    FAIL(pchat::to_string(err->code) << ": " << err->detail << " in " << body);
  return std::get<envelope>(r);
}

// The one command a client document carries, as the server decodes it.
command decode_one(const std::string& body) {
  auto e = parse_ok(body);
  auto cmds = decode_commands(e);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0].envid == e.envid);
  CHECK(cmds[0].seqid == "1");
  return cmds[0];
}

template <class T>
T decode_as(const std::string& name, const std::string& data) {
  auto c = decode_one(command_document("7", name, data));
  CHECK(c.id == "cmd:" + name);
  if (auto* bad = std::get_if<invalid_cmd>(&c.data))
    FAIL("decoded as invalid: " << bad->detail);
  REQUIRE(std::holds_alternative<T>(c.data));
  return std::get<T>(c.data);
}

const std::string room = "ma-chan://" + hostile + "/" + hostile;

} // namespace

TEST_CASE("xccos commands: the envelope is sipe's, byte for byte, and carries envid and the command name") {
  CHECK(command_document("1804289383", "requri", "")
        == "<xccos ver=\"1\" envid=\"1804289383\" xmlns=\"urn:parlano:xml:ns:xccos\"><cmd id=\"cmd:requri\" "
           "seqid=\"1\"><data></data></cmd></xccos>");
  auto c = decode_one(command_document("42", "requri", ""));
  CHECK(c.envid == "42");
  CHECK(c.id == "cmd:requri");
  CHECK(std::holds_alternative<requri_cmd>(c.data));
  CHECK(std::holds_alternative<getassoc_cmd>(decode_one(command_document("1", "getassoc", "")).data));
  // A hostile envid or name cannot break out of its attribute: it comes back as it was, an unknown command.
  auto odd = decode_one(command_document(hostile, hostile, ""));
  CHECK(odd.envid == hostile);
  CHECK(odd.id == "cmd:" + hostile);
  CHECK(std::holds_alternative<unknown_cmd>(odd.data));
}

TEST_CASE("xccos commands: getserverinfo asks infoType 123 for the domain") {
  CHECK(serverinfo_query("example.com") == "<sib domain=\"example.com\" infoType=\"123\"/>");
  auto c = decode_as<getserverinfo_cmd>("getserverinfo", serverinfo_query(hostile));
  CHECK(c.domain == hostile);
  CHECK(c.info_type == "123");
}

TEST_CASE("xccos commands: chansrch is a BYNAME, non-extended query with the criteria as given") {
  CHECK(chansrch_query("") == "<qib qtype=\"BYNAME\" criteria=\"\" extended=\"false\"/>");
  auto c = decode_as<chansrch_cmd>("chansrch", chansrch_query(hostile));
  CHECK(c.qtype == "BYNAME");
  CHECK(c.criteria == hostile);
  CHECK_FALSE(c.extended);
}

TEST_CASE("xccos commands: join by chanid and by chanib uri, bjoin with one keyed chanid per room") {
  CHECK(chanid(0, "example.com", "6f0c") == "<chanid key=\"0\" domain=\"example.com\" value=\"6f0c\"/>");
  auto j = decode_as<join_cmd>("join", chanid(0, hostile, hostile + "2"));
  CHECK(j.chan.key == "0");
  CHECK(j.chan.domain == hostile);
  CHECK(j.chan.guid == hostile + "2");
  auto by_uri = decode_as<join_cmd>("join", chanib_uri(room));
  CHECK(by_uri.chan.uri() == room);

  // chat_client sends a URI it cannot take apart as the value with an empty domain; the server keeps it so its
  // reply can name it in a <fib>.
  auto b = decode_as<bjoin_cmd>("bjoin", chanid(0, "example.com", "G1") + chanid(1, hostile, hostile)
                                           + chanid(2, "", "not a room " + hostile));
  REQUIRE(b.chans.size() == 3);
  CHECK(b.chans[0].key == "0");
  CHECK(b.chans[0].uri() == "ma-chan://example.com/G1");
  CHECK(b.chans[1].key == "1");
  CHECK(b.chans[1].domain == hostile);
  CHECK(b.chans[1].guid == hostile);
  CHECK(b.chans[2].key == "2");
  CHECK(b.chans[2].domain.empty());
  CHECK(b.chans[2].guid == "not a room " + hostile);
}

TEST_CASE("xccos commands: part, follow and unfollow name the room by chanib uri") {
  CHECK(chanib_uri("ma-chan://example.com/6f0c") == "<chanib uri=\"ma-chan://example.com/6f0c\"/>");
  CHECK(decode_as<part_cmd>("part", chanib_uri(room)).chan.uri() == room);
  auto f = decode_as<follow_cmd>("follow", chanib_uri(room));
  CHECK(f.on);
  REQUIRE(f.chans.size() == 1);
  CHECK(f.chans[0].uri() == room);
  auto u = decode_as<follow_cmd>("unfollow", chanib_uri(room) + chanib_uri("ma-chan://example.com/G2"));
  CHECK_FALSE(u.on);
  REQUIRE(u.chans.size() == 2);
  CHECK(u.chans[1].uri() == "ma-chan://example.com/G2");
}

TEST_CASE("xccos commands: a grpchat asks for an acknowledgement only when told to") {
  auto plain = decode_one(grpchat_document("1", room, "sip:a@example.com", 0, "hi"));
  REQUIRE(std::holds_alternative<grpchat_cmd>(plain.data));
  CHECK_FALSE(std::get<grpchat_cmd>(plain.data).ack);
  auto acked = decode_one(grpchat_document("2", room, "sip:a@example.com", 0, "hi", true));
  REQUIRE(std::holds_alternative<grpchat_cmd>(acked.data));
  CHECK(std::get<grpchat_cmd>(acked.data).ack);
  CHECK(std::get<grpchat_cmd>(acked.data).text == "hi");
}

TEST_CASE("xccos commands: bccontext asks the last N posts of the room") {
  CHECK(bccontext_last("ma-chan://example.com/6f0c", 30)
        == "<chanib uri=\"ma-chan://example.com/6f0c\"/><bcq><last cnt=\"30\"/></bcq>");
  auto c = decode_as<bccontext_cmd>("bccontext", bccontext_last(room, 1000));
  CHECK(c.chan.uri() == room);
  CHECK(c.last == 1000);
  CHECK(decode_as<bccontext_cmd>("bccontext", bccontext_last(room, 0)).last == 0);
  CHECK(c.before == 0);
  // Scrolling back (our extension): the N posts below a seq.
  CHECK(bccontext_last("ma-chan://example.com/6f0c", 30, 77)
        == "<chanib uri=\"ma-chan://example.com/6f0c\"/><bcq><last cnt=\"30\" before=\"77\"/></bcq>");
  auto b = decode_as<bccontext_cmd>("bccontext", bccontext_last(room, 50, 9'999'999'999'999'999'999ULL));
  CHECK(b.last == 50);
  CHECK(b.before == 9'999'999'999'999'999'999ULL);
  auto bad = decode_one(command_document("1", "bccontext", chanib_uri(room) + "<bcq><last cnt=\"5\" before=\"-3\"/></bcq>"));
  CHECK(std::holds_alternative<invalid_cmd>(bad.data));
}

TEST_CASE("xccos commands: catchup lists each room with the last seq the client has") {
  CHECK(catchup_list({}).empty());
  const std::uint64_t big = 9'999'999'999'999'999'999ULL; // the server reads at most 19 digits
  auto c = decode_as<catchup_cmd>("catchup", catchup_list({{room, 41}, {"ma-chan://example.com/G2", 0},
                                                            {"ma-chan://example.com/G3", big}}));
  REQUIRE(c.rooms.size() == 3);
  CHECK(c.rooms[0].first.uri() == room);
  CHECK(c.rooms[0].second == 41);
  CHECK(c.rooms[1].second == 0);
  CHECK(c.rooms[2].second == big);
}

TEST_CASE("xccos commands: getinv is sipe's inviteId 1 for the domain") {
  CHECK(invitations_query("example.com") == "<inv inviteId=\"1\" domain=\"example.com\"/>");
  auto c = decode_as<getinv_cmd>("getinv", invitations_query(hostile));
  CHECK(c.invite_id == "1");
  CHECK(c.domain == hostile);
}

TEST_CASE("xccos commands: getfutok and getfdtok carry the room and the file's name or link") {
  auto up = decode_one(command_document("9", "getfutok", file_token_query(room, hostile)));
  CHECK(up.reply_id() == "rpl:getftok");
  REQUIRE(std::holds_alternative<getftok_cmd>(up.data));
  CHECK(std::get<getftok_cmd>(up.data).upload);
  CHECK(std::get<getftok_cmd>(up.data).chan.uri() == room);
  CHECK(std::get<getftok_cmd>(up.data).file_url == hostile);
  auto link = "ma-filelink://example.com/G/F/" + pchat::percent_encode(hostile);
  auto down = decode_as<getftok_cmd>("getfdtok", file_token_query("ma-chan://example.com/G", link));
  CHECK_FALSE(down.upload);
  CHECK(down.file_url == link);
}

TEST_CASE("xccos commands: histsrch searches the text in every readable room") {
  auto c = decode_as<histsrch_cmd>("histsrch", histsrch_query(hostile));
  CHECK(c.text == hostile);
  CHECK(c.author.empty());
  CHECK(c.chans.empty());
  CHECK(c.limit == 0);
}

TEST_CASE("xccos commands: a grpchat post carries room, author, ts and the text exactly") {
  const std::int64_t ticks = 1'714'557'600LL * 10'000'000LL + 1234567;
  auto body = grpchat_document("5", "ma-chan://example.com/G", "sip:alice@example.com", ticks, "hello");
  CHECK(body == "<xccos ver=\"1\" envid=\"5\" xmlns=\"urn:parlano:xml:ns:xccos\"><grpchat id=\"grpchat\" seqid=\"1\" "
                "chanUri=\"ma-chan://example.com/G\" author=\"sip:alice@example.com\" "
                "ts=\"2024-05-01T10:00:00.1234567Z\"><chat>hello</chat></grpchat></xccos>");
  auto text = "line 1\r\nline 2\r\n\t<b>&amp;</b> ]]> \"quoted\" " + hostile;
  auto c = decode_one(grpchat_document("6", room, hostile, ticks, text));
  CHECK(c.id == "grpchat");
  CHECK(c.envid == "6");
  REQUIRE(std::holds_alternative<grpchat_cmd>(c.data));
  const auto& g = std::get<grpchat_cmd>(c.data);
  CHECK(g.chan.uri() == room);
  CHECK(g.author == hostile);
  CHECK(parse_ts(g.ts) == ticks);
  CHECK(g.text == text); // CR in character data survives end-of-line normalisation
}

TEST_CASE("xccos commands: the provisioning subscription asks for persistentChatConfiguration only") {
  tinyxml2::XMLDocument doc;
  auto body = provisioning_subscription_document();
  REQUIRE(doc.Parse(body.data(), body.size()) == tinyxml2::XML_SUCCESS);
  auto* root = doc.RootElement();
  REQUIRE(root);
  CHECK(std::string{root->Name()} == "provisioningGroupList");
  CHECK(std::string{root->Attribute("xmlns")} == "http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist");
  auto* group = root->FirstChildElement("provisioningGroup");
  REQUIRE(group);
  CHECK(std::string{group->Attribute("name")} == "persistentChatConfiguration");
  CHECK(group->NextSiblingElement() == nullptr);
}
