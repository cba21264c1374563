// The XCCOS documents Debian's pidgin-sipe 1.25 sent in a real session against pchatd (tests/interop, captured from
// sipe's own SIP dumps), byte for byte except the room GUID, decode to the commands they mean. A codec change that
// stopped understanding the real client fails here, not only in the interop test (which needs libpurple).
#include "codec/xccos.hpp"

#include <string>
#include <variant>

#include <catch2/catch.hpp>

using namespace pchat::xccos;

namespace {

const std::string room = "ma-chan://example.com/1166a63f-0af3-4180-80b2-9307c3d87cce";

command decode_one(const std::string& body) {
  auto parsed = parse(body);
  INFO(body);
  REQUIRE(std::holds_alternative<envelope>(parsed));
  auto cmds = decode_commands(std::get<envelope>(parsed));
  REQUIRE(cmds.size() == 1);
  return cmds.front();
}

template <class T>
const T& as(const command& c) {
  INFO(c.id);
  REQUIRE(std::holds_alternative<T>(c.data));
  return std::get<T>(c.data);
}

} // namespace

TEST_CASE("pidgin-sipe 1.25: the lookup and sign-in commands decode (requri, getinv)") {
  auto requri = decode_one(R"(<xccos ver="1" envid="1273726839" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:requri" seqid="1"><data/></cmd></xccos>)");
  as<requri_cmd>(requri);
  CHECK(requri.envid == "1273726839");
  CHECK(requri.seqid == "1");
  CHECK(requri.reply_id() == "rpl:requri");

  auto getinv = decode_one(R"(<xccos ver="1" envid="1273726840" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:getinv" seqid="1"><data><inv inviteId="1" domain="example.com"/></data></cmd></xccos>)");
  CHECK(as<getinv_cmd>(getinv).invite_id == "1");
  CHECK(as<getinv_cmd>(getinv).domain == "example.com");
}

TEST_CASE("pidgin-sipe 1.25: room list, join, history, part and the sign-in rejoin decode") {
  auto chansrch = decode_one(R"(<xccos ver="1" envid="1273726841" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:chansrch" seqid="1"><data><qib qtype="BYNAME" criteria="" extended="false"/></data></cmd></xccos>)");
  CHECK(as<chansrch_cmd>(chansrch).qtype == "BYNAME");
  CHECK(as<chansrch_cmd>(chansrch).criteria.empty());
  CHECK_FALSE(as<chansrch_cmd>(chansrch).extended);

  auto join = decode_one(R"(<xccos ver="1" envid="1273726842" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:join" seqid="1"><data><chanid key="0" domain="example.com" value="1166a63f-0af3-4180-80b2-9307c3d87cce"/></data></cmd></xccos>)");
  CHECK(as<join_cmd>(join).chan.uri() == room);

  // Sent right after rpl:join, before any other command.
  auto bccontext = decode_one(R"(<xccos ver="1" envid="1273726843" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:bccontext" seqid="1"><data><chanib uri="ma-chan://example.com/1166a63f-0af3-4180-80b2-9307c3d87cce"/><bcq><last cnt="25"/></bcq></data></cmd></xccos>)");
  CHECK(as<bccontext_cmd>(bccontext).chan.uri() == room);
  CHECK(as<bccontext_cmd>(bccontext).last == 25);

  auto part = decode_one(R"(<xccos ver="1" envid="821126822" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:part" seqid="1"><data><chanib uri="ma-chan://example.com/1166a63f-0af3-4180-80b2-9307c3d87cce"/></data></cmd></xccos>)");
  CHECK(as<part_cmd>(part).chan.uri() == room);

  // Chats that were open when the connection dropped (or auto-join chats) are queued until the channel dialog is
  // up and then go out as one bjoin; key is the item's index.
  auto bjoin = decode_one(R"(<xccos ver="1" envid="390826191" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:bjoin" seqid="1"><data><chanid key="0" domain="example.com" value="1166a63f-0af3-4180-80b2-9307c3d87cce"/></data></cmd></xccos>)");
  REQUIRE(as<bjoin_cmd>(bjoin).chans.size() == 1);
  CHECK(as<bjoin_cmd>(bjoin).chans[0].key == "0");
  CHECK(as<bjoin_cmd>(bjoin).chans[0].uri() == room);
}

TEST_CASE("pidgin-sipe 1.25: a post decodes to the text the user typed") {
  // sipe strips the HTML of the input line and escapes the rest with g_markup_escape_text (&amp; &lt; &gt; &quot;),
  // and stamps a second-precision ts. The text is what the user typed.
  auto post = decode_one(R"(<xccos ver="1" envid="1273726844" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/1166a63f-0af3-4180-80b2-9307c3d87cce" author="sip:alice@example.com" ts="2026-11-24T18:52:34Z"><chat>posted before bob came: fish &amp; chips &lt;b&gt;not bold&lt;/b&gt; &quot;quoted&quot; café</chat></grpchat></xccos>)");
  const auto& g = as<grpchat_cmd>(post);
  CHECK(g.chan.uri() == room);
  CHECK(g.author == "sip:alice@example.com");
  CHECK(g.ts == "2026-11-24T18:52:34Z");
  CHECK(g.text == "posted before bob came: fish & chips <b>not bold</b> \"quoted\" caf\xc3\xa9");
}

TEST_CASE("pidgin-sipe 1.25: a line break is a raw CRLF inside <chat>, which XML reads as LF") {
  // sipe joins the lines of a multi-line post with a literal "\r\n" (not &#13;&#10;). XML end-of-line handling
  // turns that into "\n" before any application sees it (libxml2 on the receiving sipe does the same), so the
  // post is stored and fanned out with LF; sipe shows it as two lines (docs/protocol.md "pidgin-sipe").
  auto post = decode_one("<xccos ver=\"1\" envid=\"7\" xmlns=\"urn:parlano:xml:ns:xccos\"><grpchat id=\"grpchat\" "
                         "seqid=\"1\" chanUri=\"" + room + "\" author=\"sip:bob@example.com\" ts=\"2026-11-24T18:38:00Z\">"
                         "<chat>line one\r\nline two</chat></grpchat></xccos>");
  CHECK(as<grpchat_cmd>(post).text == "line one\nline two");
  // An explicit &#13;&#10; (what pchat's own client sends) keeps the CR.
  auto exact = decode_one("<xccos ver=\"1\" envid=\"8\" xmlns=\"urn:parlano:xml:ns:xccos\"><grpchat id=\"grpchat\" "
                          "seqid=\"1\" chanUri=\"" + room + "\" author=\"sip:bob@example.com\">"
                          "<chat>line one&#13;&#10;line two</chat></grpchat></xccos>");
  CHECK(as<grpchat_cmd>(exact).text == "line one\r\nline two");
}
