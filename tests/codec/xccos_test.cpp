// XCCOS codec tests. Vectors refer to docs/xccos.md §6.
#include "codec/xccos.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

#include <map>
#include <random>

#include <catch2/catch.hpp>

using namespace pchat::xccos;

namespace {

std::string env(const std::string& envid, const std::string& inner) {
  return "<xccos ver=\"1\" envid=\"" + envid + "\" xmlns=\"urn:parlano:xml:ns:xccos\">" + inner + "</xccos>";
}

envelope parse_ok(std::string_view body) {
  auto r = parse(body);
  INFO(body);
  REQUIRE(std::holds_alternative<envelope>(r));
  return std::get<envelope>(r);
}

command one_command(const std::string& body) {
  auto cmds = decode_commands(parse_ok(body));
  REQUIRE(cmds.size() == 1);
  return cmds.front();
}

} // namespace

TEST_CASE("timestamps carry 7 fractional digits and round-trip") {
  // 2010-09-14T14:26:17.6206356Z is the sipe-log example (docs/xccos.md §3).
  auto t = parse_ts("2010-09-14T14:26:17.6206356Z");
  REQUIRE(t);
  CHECK(format_ts(*t) == "2010-09-14T14:26:17.6206356Z");
  CHECK(*t % 10'000'000 == 6'206'356);
  // sipe writes no fraction and sometimes no zone.
  CHECK(parse_ts("2019-10-12T10:00:00Z") == parse_ts("2019-10-12T10:00:00"));
  CHECK(format_ts(*parse_ts("2019-10-12T10:00:00Z")) == "2019-10-12T10:00:00.0000000Z");
  CHECK(format_ts(*parse_ts("2019-10-12T10:00:00.5Z")) == "2019-10-12T10:00:00.5000000Z");
  CHECK(format_ts(0) == "1970-01-01T00:00:00.0000000Z");
  // Leap day and end-of-year boundaries.
  CHECK(format_ts(*parse_ts("2024-02-29T23:59:59.9999999Z")) == "2024-02-29T23:59:59.9999999Z");
  CHECK(*parse_ts("2025-01-01T00:00:00Z") - *parse_ts("2024-12-31T23:59:59.9999999Z") == 1);
  for (const char* bad : {"", "2010-09-14", "2010-09-14T14:26", "2010-13-14T14:26:17Z", "2010-09-14T14:26:17.Z",
                          "2010-09-14T14:26:17ZZ", "x010-09-14T14:26:17Z", "2010-09-14 14:26:17Z"})
    CHECK_FALSE(parse_ts(bad));
  // now_ticks formats to something that parses back to itself.
  auto now = pchat::now_ticks();
  CHECK(parse_ts(format_ts(now)) == now);
}

TEST_CASE("escaping keeps chat text byte-identical through a parser") {
  const std::string texts[] = {"a & b", "<script>alert(1)</script>", "line 1\r\nline 2", "  lead and trail  ",
                               "tab\there", "quote \" and ' apos", "]]> and &amp; literal", "ünïcödé ✓ 😀", ""};
  for (const auto& text : texts) {
    chat_message m{"ma-chan://example.com/g1", "sip:a@example.com", 1, text, 7};
    auto body = serialize_grpchat(42, m);
    auto e = parse_ok(body);
    REQUIRE(e.items.size() == 1);
    CHECK(e.items[0].kind == item_kind::grpchat);
    const node* chat = e.items[0].element.child("chat");
    REQUIRE(chat);
    CHECK(chat->text == text);
  }
  // Attributes with CR/LF/TAB survive attribute-value normalisation.
  std::string out = "<x";
  out += " a=\"";
  pchat::append_xml_attr(out, "1\r\n2\t3\"<&>");
  out += "\"/>";
  auto e = parse_ok(env("1", "<cmd id=\"cmd:t\" seqid=\"1\"><data>" + out + "</data></cmd>"));
  CHECK(e.items[0].data()->child("x")->attr_or("a") == "1\r\n2\t3\"<&>");
}

TEST_CASE("is_xml_text refuses characters no XML 1.0 client can parse") {
  CHECK(pchat::is_xml_text("plain\r\n\ttext ünï ✓ 😀"));
  CHECK_FALSE(pchat::is_xml_text(std::string("nul\0here", 8)));
  CHECK_FALSE(pchat::is_xml_text("bell\x07"));
  CHECK_FALSE(pchat::is_xml_text("\xC3"));           // truncated sequence
  CHECK_FALSE(pchat::is_xml_text("\xC0\xAF"));       // overlong
  CHECK_FALSE(pchat::is_xml_text("\xED\xA0\x80"));   // surrogate
  CHECK_FALSE(pchat::is_xml_text("\xEF\xBF\xBF"));   // U+FFFF
  CHECK_FALSE(pchat::is_xml_text("\xF4\x90\x80\x80")); // > U+10FFFF
}

TEST_CASE("vector 4: cmd:requri decodes and its reply references the command") {
  auto c = one_command(env("7", "<cmd id=\"cmd:requri\" seqid=\"1\"><data/></cmd>"));
  CHECK(std::holds_alternative<requri_cmd>(c.data));
  CHECK(c.envid == "7");
  CHECK(c.seqid == "1");
  CHECK(c.reply_id() == "rpl:requri");

  std::string data;
  append_empty_element(data, "uib", {{"uri", "sip:pchat@example.com"}});
  auto body = serialize(99, {{item_kind::rpl, "rpl:requri", "1", c.seqid, c.envid, 200, "SUCCESS_OK", data}});
  auto e = parse_ok(body);
  CHECK(e.envid == "99");
  REQUIRE(e.items.size() == 1);
  const auto& r = e.items[0];
  CHECK(r.kind == item_kind::rpl);
  CHECK(r.id == "rpl:requri");
  CHECK(r.cmd_seqid == "1");
  CHECK(r.cmd_envid == "7");
  CHECK(r.code == 200);
  CHECK(r.token == "SUCCESS_OK");
  CHECK(r.data()->child("uib")->attr_or("uri") == "sip:pchat@example.com");
  // Server envelopes carry the namespaces real servers send (docs/xccos.md §3).
  CHECK(body.find("xmlns=\"urn:parlano:xml:ns:xccos\"") != std::string::npos);
  CHECK(body.find("xmlns:xsi=") != std::string::npos);
}

TEST_CASE("vector 5: cmd:getserverinfo decodes sib") {
  auto c = one_command(
    env("3", "<cmd id=\"cmd:getserverinfo\" seqid=\"1\"><data><sib domain=\"example.com\" infoType=\"123\"/></data></cmd>"));
  const auto* g = std::get_if<getserverinfo_cmd>(&c.data);
  REQUIRE(g);
  CHECK(g->domain == "example.com");
  CHECK(g->info_type == "123");
}

TEST_CASE("vector 6: cmd:chansrch decodes qib and chanib summaries carry what sipe reads") {
  auto c = one_command(env(
    "5", "<cmd id=\"cmd:chansrch\" seqid=\"1\"><data><qib qtype=\"BYNAME\" criteria=\"dev\" extended=\"false\"/></data></cmd>"));
  const auto* s = std::get_if<chansrch_cmd>(&c.data);
  REQUIRE(s);
  CHECK(s->qtype == "BYNAME");
  CHECK(s->criteria == "dev");
  CHECK_FALSE(s->extended);

  room_summary r{"ma-chan://example.com/6f0c", "Dev & Ops", "Developers", "", 3, "private", true, false, true};
  std::string data;
  append_chanib_summary(data, r);
  auto e = parse_ok(serialize(1, {{item_kind::rpl, "rpl:chansrch", "1", "1", "5", 200, "SUCCESS_OK", data}}));
  const node* ch = e.items[0].data()->child("chanib");
  REQUIRE(ch);
  CHECK(ch->attr_or("name") == "Dev & Ops");
  CHECK(ch->attr_or("uri") == "ma-chan://example.com/6f0c");
  CHECK(ch->attr_or("description") == "Developers");
  std::map<std::string, std::string> props;
  for (const auto& n : ch->children)
    props[n.attr_or("id")] = n.text;
  CHECK(props["urn:parlano:ma:info:ucnt"] == "3");
  CHECK(props["urn:parlano:ma:info:visibilty"] == "private");
  CHECK(props["urn:parlano:ma:prop:filepost"] == "true");
  CHECK(props["urn:parlano:ma:prop:invite"] == "false");
  CHECK(props["urn:parlano:ma:prop:logged"] == "true");
  // chansrch without qib is an invalid command, not a crash.
  auto bad = one_command(env("5", "<cmd id=\"cmd:chansrch\" seqid=\"1\"><data/></cmd>"));
  CHECK(std::holds_alternative<invalid_cmd>(bad.data));
}

TEST_CASE("vector 7: cmd:join by chanid or chanib, and the participant list shape") {
  auto c = one_command(
    env("9", "<cmd id=\"cmd:join\" seqid=\"1\"><data><chanid key=\"0\" domain=\"example.com\" value=\"6f0c\"/></data></cmd>"));
  const auto* j = std::get_if<join_cmd>(&c.data);
  REQUIRE(j);
  CHECK(j->chan.uri() == "ma-chan://example.com/6f0c");
  auto c2 = one_command(
    env("9", "<cmd id=\"cmd:join\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/6f0c\"/></data></cmd>"));
  REQUIRE(std::holds_alternative<join_cmd>(c2.data));
  CHECK(std::get<join_cmd>(c2.data).chan.guid == "6f0c");

  room_summary room{"ma-chan://example.com/6f0c", "Dev", "", "Release train"};
  std::string data;
  std::uint32_t next = 0;
  append_join_result(data, next, room, {{"sip:alice@example.com", false}, {"sip:bob@example.com", true}});
  CHECK(next == 2);
  auto e = parse_ok(serialize(1, {{item_kind::rpl, "rpl:join", "1", "1", "9", 200, "SUCCESS_OK", data}}));
  const node* d = e.items[0].data();
  auto uibs = d->children_named("uib"); // siblings of chanib, not children (docs/xccos.md §4)
  REQUIRE(uibs.size() == 2);
  CHECK(uibs[0]->attr_or("id") == "0");
  CHECK(uibs[0]->attr_or("uri") == "sip:alice@example.com");
  const node* ch = d->child("chanib");
  REQUIRE(ch);
  CHECK(ch->attr_or("topic") == "Release train");
  auto aibs = ch->children_named("aib");
  REQUIRE(aibs.size() == 2);
  CHECK(aibs[0]->attr_or("key") == "3984");
  CHECK(aibs[0]->attr_or("value") == "0");
  CHECK(aibs[1]->attr_or("key") == "12276");
  CHECK(aibs[1]->attr_or("value") == "1");
}

TEST_CASE("vector 8: cmd:bjoin keeps good and broken items in order") {
  auto c = one_command(env("11", "<cmd id=\"cmd:bjoin\" seqid=\"1\"><data>"
                                 "<chanid key=\"0\" domain=\"example.com\" value=\"G1\"/>"
                                 "<chanid key=\"1\" domain=\"\" value=\"G2\"/>"
                                 "<chanib uri=\"ma-chan://example.com/G3\"/></data></cmd>"));
  const auto* b = std::get_if<bjoin_cmd>(&c.data);
  REQUIRE(b);
  REQUIRE(b->chans.size() == 3);
  CHECK(b->chans[0].key == "0");
  CHECK(b->chans[0].guid == "G1");
  CHECK(b->chans[1].key == "1");
  CHECK(b->chans[1].domain.empty()); // will be reported as a fib
  CHECK(b->chans[2].guid == "G3");
  auto empty = one_command(env("11", "<cmd id=\"cmd:bjoin\" seqid=\"1\"><data/></cmd>"));
  CHECK(std::holds_alternative<invalid_cmd>(empty.data));
}

TEST_CASE("vector 9: cmd:bccontext decodes the room and count, history items carry what sipe reads") {
  auto c = one_command(env("12", "<cmd id=\"cmd:bccontext\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/G\"/>"
                                 "<bcq><last cnt=\"30\"/></bcq></data></cmd>"));
  const auto* b = std::get_if<bccontext_cmd>(&c.data);
  REQUIRE(b);
  CHECK(b->chan.guid == "G");
  CHECK(b->last == 30);
  auto def = one_command(
    env("12", "<cmd id=\"cmd:bccontext\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/G\"/></data></cmd>"));
  CHECK(std::get<bccontext_cmd>(def.data).last == 25);
  auto neg = one_command(env("12", "<cmd id=\"cmd:bccontext\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/G\"/>"
                                   "<bcq><last cnt=\"-5\"/></bcq></data></cmd>"));
  CHECK(std::get<bccontext_cmd>(neg.data).last == 0);

  std::string data = "<chanib uri=\"ma-chan://example.com/G\">";
  append_history_msg(data, {"ma-chan://example.com/G", "sip:bob@example.com", *parse_ts("2024-05-01T10:00:00Z"),
                            "hello <world>", 3});
  data += "</chanib>";
  auto e = parse_ok(serialize(1, {{item_kind::rpl, "rpl:bccontext", "1", "1", "12", 200, "SUCCESS_OK", data}}));
  const node* msg = e.items[0].data()->child("chanib")->child("msg");
  REQUIRE(msg);
  CHECK(msg->attr_or("id") == "grpchat");
  CHECK(msg->attr_or("author") == "sip:bob@example.com");
  CHECK(msg->attr_or("ts") == "2024-05-01T10:00:00.0000000Z");
  CHECK(msg->attr_or("msgid") == "3");
  CHECK(msg->child("chat")->text == "hello <world>");
}

TEST_CASE("vector 10: grpchat decodes text byte-identical after unescaping") {
  auto c = one_command(env("13", "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"ma-chan://example.com/G\" "
                                 "author=\"sip:alice@example.com\" ts=\"2024-05-01T10:00:00Z\">"
                                 "<chat>line 1&#13;&#10;a &amp; b</chat></grpchat>"));
  const auto* g = std::get_if<grpchat_cmd>(&c.data);
  REQUIRE(g);
  CHECK(g->chan.uri() == "ma-chan://example.com/G");
  CHECK(g->author == "sip:alice@example.com");
  CHECK(g->text == "line 1\r\na & b");
  CHECK(c.reply_id() == "rpl:grpchat");
  // Re-serialised for fan-out, the text parses back identical.
  auto out = serialize_grpchat(5, {g->chan.uri(), g->author, 1, g->text, 1});
  auto e = parse_ok(out);
  CHECK(e.items[0].element.child("chat")->text == g->text);
  // Missing pieces are invalid, not crashes.
  for (const char* bad : {"<grpchat id=\"grpchat\" seqid=\"1\"><chat>x</chat></grpchat>",
                          "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"ma-chan://example.com/G\"/>",
                          "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"http://example.com/G\"><chat>x</chat></grpchat>"})
    CHECK(std::holds_alternative<invalid_cmd>(one_command(env("1", bad)).data));
}

TEST_CASE("vector 12: cmd:part decodes chanib uri") {
  auto c = one_command(env("14", "<cmd id=\"cmd:part\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/G\"/></data></cmd>"));
  REQUIRE(std::holds_alternative<part_cmd>(c.data));
  CHECK(std::get<part_cmd>(c.data).chan.domain == "example.com");
  CHECK(std::holds_alternative<invalid_cmd>(one_command(env("14", "<cmd id=\"cmd:part\" seqid=\"1\"><data/></cmd>")).data));
}

TEST_CASE("vector 13: cmd:getinv decodes, getassoc is known") {
  auto c = one_command(env("15", "<cmd id=\"cmd:getinv\" seqid=\"1\"><data><inv inviteId=\"1\" domain=\"example.com\"/></data></cmd>"));
  const auto* g = std::get_if<getinv_cmd>(&c.data);
  REQUIRE(g);
  CHECK(g->invite_id == "1");
  CHECK(std::holds_alternative<getassoc_cmd>(one_command(env("1", "<cmd id=\"cmd:getassoc\" seqid=\"1\"><data/></cmd>")).data));
}

TEST_CASE("vector 17: several replies in one envelope parse as siblings") {
  auto body = serialize(77, {{item_kind::rpl, "rpl:bjoin", "1", "1", "20", 200, "SUCCESS_OK", ""},
                             {item_kind::rpl, "rpl:bccontext", "1", "1", "20", 200, "SUCCESS_OK", ""},
                             {item_kind::ntc, "ntc:join", "1", "", "", 0, "", "<uib uri=\"sip:c@example.com\"/>"}});
  auto e = parse_ok(body);
  REQUIRE(e.items.size() == 3);
  CHECK(e.items[0].id == "rpl:bjoin");
  CHECK(e.items[1].id == "rpl:bccontext");
  CHECK(e.items[2].kind == item_kind::ntc);
  CHECK(e.items[2].code == 0); // notices carry no resp and no commandid
  CHECK(e.items[2].cmd_envid.empty());
  CHECK(body.find("<ntc id=\"ntc:join\" seqid=\"1\"><data>") != std::string::npos);
}

TEST_CASE("unknown commands decode as unknown, client rpl/ntc items are ignored") {
  auto cmds = decode_commands(parse_ok(env("1", "<cmd id=\"cmd:frobnicate\" seqid=\"4\"><data/></cmd>"
                                                "<rpl id=\"rpl:x\" seqid=\"1\"/><cmd id=\"cmd:requri\" seqid=\"5\"/>")));
  REQUIRE(cmds.size() == 2);
  CHECK(std::holds_alternative<unknown_cmd>(cmds[0].data));
  CHECK(cmds[0].reply_id() == "rpl:frobnicate");
  CHECK(cmds[0].seqid == "4");
  CHECK(std::holds_alternative<requri_cmd>(cmds[1].data));
}

TEST_CASE("malformed documents are errors with a code, never crashes") {
  auto err = [](std::string_view body) -> std::string {
    auto r = parse(body);
    REQUIRE(std::holds_alternative<parse_error>(r));
    return pchat::describe(std::get<parse_error>(r).code).xccos_token;
  };
  CHECK(err("") == "MALFORMED_XML");
  CHECK(err("<xccos") == "MALFORMED_XML");
  CHECK(err("<xccos><cmd></xccos>") == "MALFORMED_XML");
  CHECK(err("not xml at all") == "MALFORMED_XML");
  CHECK(err("<html><body/></html>") == "NOT_XCCOS");
  CHECK(err("<xccos ver=\"1\" envid=\"1\"/>") == "NOT_XCCOS"); // no item
  CHECK(err("<xccos ver=\"1\" envid=\"1\"><foo/></xccos>") == "NOT_XCCOS"); // no item
  // The two NOT_XCCOS cases still say which one they are.
  auto detail = [](std::string_view body) { return std::get<parse_error>(parse(body)).detail; };
  CHECK(detail("<html><body/></html>").find("root") != std::string::npos);
  CHECK(detail("<xccos ver=\"1\" envid=\"1\"/>").find("no cmd") != std::string::npos);
  // Deep nesting is refused (bounded recursion).
  std::string deep = "<xccos envid=\"1\"><cmd id=\"cmd:x\">";
  for (int i = 0; i < 200; ++i)
    deep += "<a>";
  for (int i = 0; i < 200; ++i)
    deep += "</a>";
  deep += "</cmd></xccos>";
  CHECK(err(deep) == "MALFORMED_XML");

  // Truncation at every offset of a valid document and random byte flips never crash.
  const std::string good = env("13", "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"ma-chan://example.com/G\" "
                                     "author=\"sip:a@example.com\"><chat>x &amp; y</chat></grpchat>");
  size_t ok_count = 0;
  for (size_t n = 0; n <= good.size(); ++n) {
    auto r = parse(std::string_view(good).substr(0, n));
    if (std::holds_alternative<envelope>(r)) {
      ++ok_count;
      decode_commands(std::get<envelope>(r));
    }
  }
  CHECK(ok_count == 1); // only the full document is well-formed
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    std::string m = good;
    for (int k = 0; k < 3; ++k)
      m[rng() % m.size()] = static_cast<char>(rng() % 256);
    auto r = parse(m);
    if (auto* e = std::get_if<envelope>(&r))
      decode_commands(*e);
  }
}

TEST_CASE("characters XML 1.0 does not allow make a document malformed, so replies built from it stay well-formed") {
  // Found by fuzz/xccos_fuzz.cpp: tinyxml2 lets control characters (raw or as &#1;) and invalid UTF-8 through, and
  // the server echoed the command's id, seqid and envid into a reply no conforming parser (sipe's libxml2) reads.
  auto malformed = [](const std::string& body) {
    INFO(body);
    auto r = parse(body);
    REQUIRE(std::holds_alternative<parse_error>(r));
    CHECK(std::get<parse_error>(r).code == pchat::pchat_errc::malformed_xml);
  };
  malformed(env("e&#1;", "<cmd id=\"cmd:requri\" seqid=\"1\"><data/></cmd>"));      // envid, as a reference
  malformed(env("e\x01", "<cmd id=\"cmd:requri\" seqid=\"1\"><data/></cmd>"));     // envid, raw
  malformed(env("1", "<cmd id=\"cmd:x&#1;y\" seqid=\"1\"><data/></cmd>"));          // id
  malformed(env("1", "<cmd id=\"cmd:requri\" seqid=\"1\x02\"><data/></cmd>"));     // seqid
  malformed(env("1", "<cmd id=\"cmd:j\xff\" seqid=\"1\"><data/></cmd>"));          // invalid UTF-8
  malformed("<xccos><cmd>\xff</cmd></xccos>");                                          // text (the fuzzer's input)
  malformed(env("1", "<grpchat id=\"grpchat\" chanUri=\"ma-chan://d/g\"><chat>bell &#7; here</chat></grpchat>"));
  malformed(env("1", "<cmd id=\"cmd:join\"><data><chanib uri=\"ma-chan://d/g&#x1f;\"/></data></cmd>"));
  malformed(env("1", "<cmd id=\"cmd:join\"><data><x a\xc3\x28=\"1\"/></data></cmd>")); // attribute name
  CHECK(std::get<parse_error>(parse(env("e&#1;", "<cmd/>"))).detail.find("XML 1.0 does not allow") != std::string::npos);

  // What XML 1.0 allows still parses: TAB, LF and CR (raw CR LF reads as LF, &#13; stays CR), any valid UTF-8.
  auto cmd = one_command(env("e\xc3\xa9", "<grpchat id=\"grpchat\" seqid=\"1&#9;2\" chanUri=\"ma-chan://d/g\">"
                                       "<chat>caf\xc3\xa9\t\xf0\x9f\x98\x80 a\r\nb&#13;</chat></grpchat>"));
  CHECK(cmd.envid == "e\xc3\xa9");
  CHECK(cmd.seqid == "1\t2");
  REQUIRE(std::holds_alternative<grpchat_cmd>(cmd.data));
  CHECK(std::get<grpchat_cmd>(cmd.data).text == "caf\xc3\xa9\t\xf0\x9f\x98\x80 a\nb\r");
}

TEST_CASE("salvage_ids finds ids in documents that do not parse") {
  auto s = salvage_ids("<xccos ver=\"1\" envid=\"1804289383\"><cmd id=\"cmd:join\" seqid=\"1\"><data><chanid");
  CHECK(s.envid == "1804289383");
  CHECK(s.seqid == "1");
  CHECK(s.id == "cmd:join");
  auto none = salvage_ids("garbage");
  CHECK(none.envid.empty());
  CHECK(none.id.empty());
  // Injected markup is not echoed.
  auto evil = salvage_ids("<xccos envid=\"1&quot;/><x\"><cmd id=\"a b\"");
  CHECK(evil.envid.empty());
  CHECK(evil.id.empty());
}

TEST_CASE("chan uris split into domain and guid") {
  auto c = parse_chan_uri("ma-chan://example.com/6f0c-aa");
  REQUIRE(c);
  CHECK(c->domain == "example.com");
  CHECK(c->guid == "6f0c-aa");
  CHECK(c->uri() == "ma-chan://example.com/6f0c-aa");
  for (const char* bad : {"", "ma-chan://", "ma-chan://example.com", "ma-chan://example.com/", "ma-chan:///g",
                          "ma-cat://example.com/g", "ma-chan://example.com/g/extra"})
    CHECK_FALSE(parse_chan_uri(bad));
}

TEST_CASE("envids are unique and increase") {
  auto a = next_envid();
  auto b = next_envid();
  CHECK(b == a + 1);
  CHECK(a < (1ull << 63));
}

TEST_CASE("cmd:catchup decodes rooms with the last seq the client has") {
  auto c = one_command(env("21", "<cmd id=\"cmd:catchup\" seqid=\"1\"><data>"
                                 "<chanib uri=\"ma-chan://example.com/A\" seq=\"12\"/>"
                                 "<chanib uri=\"ma-chan://example.com/B\"/></data></cmd>"));
  const auto* k = std::get_if<catchup_cmd>(&c.data);
  REQUIRE(k);
  REQUIRE(k->rooms.size() == 2);
  CHECK(k->rooms[0].first.guid == "A");
  CHECK(k->rooms[0].second == 12);
  CHECK(k->rooms[1].second == 0); // no seq: everything
  for (const char* bad : {"<chanib uri=\"ma-chan://example.com/A\" seq=\"-1\"/>",
                          "<chanib uri=\"ma-chan://example.com/A\" seq=\"12x\"/>",
                          "<chanib uri=\"ma-chan://example.com/A\" seq=\"99999999999999999999\"/>",
                          "<chanib uri=\"not-a-room\" seq=\"1\"/>", ""})
    CHECK(std::holds_alternative<invalid_cmd>(
      one_command(env("22", std::string("<cmd id=\"cmd:catchup\" seqid=\"1\"><data>") + bad + "</data></cmd>")).data));
}

TEST_CASE("cmd:follow and cmd:unfollow decode their rooms") {
  auto f = one_command(env("23", "<cmd id=\"cmd:follow\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/A\"/>"
                                 "<chanib uri=\"ma-chan://example.com/B\"/></data></cmd>"));
  const auto* k = std::get_if<follow_cmd>(&f.data);
  REQUIRE(k);
  CHECK(k->on);
  REQUIRE(k->chans.size() == 2);
  CHECK(k->chans[1].guid == "B");
  auto u = one_command(env("24", "<cmd id=\"cmd:unfollow\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/A\"/>"
                                 "</data></cmd>"));
  REQUIRE(std::holds_alternative<follow_cmd>(u.data));
  CHECK_FALSE(std::get<follow_cmd>(u.data).on);
  CHECK(std::holds_alternative<invalid_cmd>(one_command(env("25", "<cmd id=\"cmd:follow\" seqid=\"1\"><data/></cmd>")).data));
  CHECK(std::holds_alternative<invalid_cmd>(
    one_command(env("26", "<cmd id=\"cmd:unfollow\" seqid=\"1\"><data><chanib uri=\"x\"/></data></cmd>")).data));
}
