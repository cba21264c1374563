// The server-side document builders (codec/xccos_build.hpp): every document parses back, with the values it was
// given, whatever characters they hold.
#include <catch2/catch.hpp>
#include <tinyxml2.h>

#include "codec/xccos_build.hpp"

using namespace pchat::xccos;

namespace {

envelope parse_ok(const std::string& body) {
  auto r = parse(body);
  REQUIRE(std::holds_alternative<envelope>(r));
  return std::get<envelope>(r);
}

} // namespace

TEST_CASE("xccos build: ntc:join names the user, the manager key, the room's domain and GUID") {
  auto e = parse_ok(join_notice("sip:a\"<&>@example.com", true, "example.com", "6f0c"));
  REQUIRE(e.items.size() == 1);
  CHECK(e.items[0].kind == item_kind::ntc);
  CHECK(e.items[0].id == "ntc:join");
  CHECK(e.items[0].code == 0); // notices carry no <resp>
  const node* uib = e.items[0].data()->child("uib");
  REQUIRE(uib);
  CHECK(uib->attr_or("uri") == "sip:a\"<&>@example.com");
  const node* aib = uib->child("aib");
  REQUIRE(aib);
  CHECK(aib->attr_or("key") == "12276");
  CHECK(aib->attr_or("domain") == "example.com");
  CHECK(aib->attr_or("value") == "6f0c");
  auto plain = parse_ok(join_notice("sip:b@example.com", false, "example.com", "6f0c"));
  CHECK(plain.items[0].data()->child("uib")->child("aib")->attr_or("key") == "3984");
}

TEST_CASE("xccos build: ntc:part is chanib uri with the leaving user, each notice with its own envid") {
  auto body = part_notice("ma-chan://example.com/6f0c", "sip:b\t\r\n@example.com");
  auto e = parse_ok(body);
  CHECK(e.items[0].id == "ntc:part");
  const node* ch = e.items[0].data()->child("chanib");
  REQUIRE(ch);
  CHECK(ch->attr_or("uri") == "ma-chan://example.com/6f0c");
  REQUIRE(ch->child("uib"));
  CHECK(ch->child("uib")->attr_or("uri") == "sip:b\t\r\n@example.com"); // CR/LF/TAB survive attribute normalisation
  CHECK(parse_ok(part_notice("ma-chan://example.com/6f0c", "sip:b@example.com")).envid != e.envid);
}

TEST_CASE("xccos build: the provisioning document is well-formed and names the pool and the web page") {
  auto find = [](const tinyxml2::XMLDocument& doc, const std::string& name) -> std::string {
    auto* list = doc.FirstChildElement("provisionGroupList")->FirstChildElement("provisionGroup")
                   ->FirstChildElement("propertyEntryList");
    for (auto* p = list->FirstChildElement("property"); p; p = p->NextSiblingElement("property"))
      if (p->Attribute("name") == name)
        return p->GetText() ? p->GetText() : "";
    return "(absent)";
  };
  tinyxml2::XMLDocument doc;
  auto with_web = provisioning_document(true, "sip:chat@example.com;a=<&>", "http://h:8080/");
  REQUIRE(doc.Parse(with_web.c_str()) == tinyxml2::XML_SUCCESS);
  CHECK(find(doc, "EnablePersistentChat") == "true");
  CHECK(find(doc, "DefaultPersistentChatPoolUri") == "sip:chat@example.com;a=<&>");
  CHECK(find(doc, "PersistentChatPoolUris") == "sip:chat@example.com;a=<&>");
  CHECK(find(doc, "PersistentChatWebManagerUriInt") == "http://h:8080/");
  CHECK(find(doc, "PersistentChatWebManagerUriExt") == "http://h:8080/");
  tinyxml2::XMLDocument off;
  REQUIRE(off.Parse(provisioning_document(false, "sip:chat@example.com", "").c_str()) == tinyxml2::XML_SUCCESS);
  CHECK(find(off, "EnablePersistentChat") == "false");
  CHECK(find(off, "PersistentChatWebManagerUriInt") == "(absent)");
}

TEST_CASE("xccos build: ntc:inv carries one <inv> with every field, the same <inv> rpl:getinv lists") {
  invitation inv{7, "ma-chan://example.com/G", "Dev & <Ops>", "sip:alice\"@example.com", 0};
  auto e = parse_ok(invitation_notice(inv));
  REQUIRE(e.items.size() == 1);
  CHECK(e.items[0].kind == item_kind::ntc);
  CHECK(e.items[0].id == "ntc:inv");
  CHECK(e.items[0].code == 0);
  const node* i = e.items[0].data()->child("inv");
  REQUIRE(i);
  CHECK(i->attr_or("inviteId") == "7");
  CHECK(i->attr_or("chanUri") == "ma-chan://example.com/G");
  CHECK(i->attr_or("name") == "Dev & <Ops>");
  CHECK(i->attr_or("inviter") == "sip:alice\"@example.com");
  CHECK(i->attr_or("ts") == format_ts(0));
  std::string data;
  append_invitation(data, inv);
  CHECK(e.items[0].data()->children.size() == 1);
  CHECK(data.find("<inv ") == 0);
  CHECK(std::string{invitation_notice(inv)}.find(data) != std::string::npos);
}

TEST_CASE("xccos build: ntc:newcontent names the room and the first new seq") {
  auto e = parse_ok(newcontent_notice("ma-chan://example.com/G", "Dev \"2\"", 42));
  CHECK(e.items[0].kind == item_kind::ntc);
  CHECK(e.items[0].id == "ntc:newcontent");
  CHECK(e.items[0].code == 0);
  const node* ch = e.items[0].data()->child("chanib");
  REQUIRE(ch);
  CHECK(ch->attr_or("uri") == "ma-chan://example.com/G");
  CHECK(ch->attr_or("name") == "Dev \"2\"");
  CHECK(ch->attr_or("seq") == "42");
}

TEST_CASE("xccos build: a reply references its command, carries code, token and data") {
  command c;
  c.id = "cmd:getfutok";
  c.seqid = "9";
  c.envid = "1234";
  std::string data;
  append_uib(data, "sip:pchat@example.com");
  auto e = parse_ok(reply_document(c, code::ok, "SUCCESS_OK", data));
  REQUIRE(e.items.size() == 1);
  CHECK(e.items[0].kind == item_kind::rpl);
  CHECK(e.items[0].id == "rpl:getftok");
  CHECK(e.items[0].seqid == "9");
  CHECK(e.items[0].cmd_seqid == "9");
  CHECK(e.items[0].cmd_envid == "1234");
  CHECK(e.items[0].code == 200);
  CHECK(e.items[0].token == "SUCCESS_OK");
  REQUIRE(e.items[0].data()->child("uib"));
  CHECK(e.items[0].data()->child("uib")->attr_or("uri") == "sip:pchat@example.com");

  command salvaged; // no seqid, no envid: seqid "1", no <commandid>, empty <data/>
  salvaged.id = "cmd:unknown";
  auto body = reply_document(salvaged, code::bad_request, "MALFORMED_XML");
  auto r = parse_ok(body);
  CHECK(r.items[0].id == "rpl:unknown");
  CHECK(r.items[0].seqid == "1");
  CHECK(body.find("<commandid") == std::string::npos);
  CHECK(r.items[0].code == 400);
  CHECK(r.items[0].token == "MALFORMED_XML");
  REQUIRE(r.items[0].data());
  CHECK(r.items[0].data()->children.empty());
}

namespace {

// Parses rpl data built by the append_ builders back, inside a reply.
node data_of(std::string data) {
  command c;
  c.id = "cmd:x";
  c.seqid = "1";
  auto e = parse_ok(reply_document(c, code::ok, "SUCCESS_OK", std::move(data)));
  REQUIRE(e.items[0].data());
  return *e.items[0].data();
}

} // namespace

TEST_CASE("xccos build: sib lists the server's limits, time and identity") {
  std::string data;
  append_server_info(data, {"123", 0, 999, 512, 4096, "ma-cat://example.com/R", "D\"B"});
  auto d = data_of(data);
  const node* sib = d.child("sib");
  REQUIRE(sib);
  CHECK(sib->attr_or("infoType") == "123");
  CHECK(sib->attr_or("serverTime") == format_ts(0));
  CHECK(sib->attr_or("searchLimit") == "999");
  CHECK(sib->attr_or("messageSizeLimit") == "512");
  CHECK(sib->attr_or("storySizeLimit") == "4096");
  CHECK(sib->attr_or("rootUri") == "ma-cat://example.com/R");
  CHECK(sib->attr_or("dbVersion") == "D\"B");
}

TEST_CASE("xccos build: chanib uri and fib OPERATION_FAILED name a room done and a room failed") {
  std::string data;
  append_chanib_uri(data, "ma-chan://example.com/G1&");
  append_failed_room(data, {"3", "example.org", "G2<"});
  auto d = data_of(data);
  REQUIRE(d.children.size() == 2);
  CHECK(d.children[0].name == "chanib");
  CHECK(d.children[0].attr_or("uri") == "ma-chan://example.com/G1&");
  CHECK(d.children[0].children.empty());
  CHECK(d.children[1].name == "fib");
  CHECK(d.children[1].attr_or("key") == "OPERATION_FAILED");
  CHECK(d.children[1].attr_or("value") == "G2<");
  CHECK(d.children[1].attr_or("domain") == "example.org");
}

TEST_CASE("xccos build: assoc groups rooms by type, each chanib saying whether it is followed") {
  room_summary dev;
  dev.uri = "ma-chan://example.com/G1";
  dev.name = "Dev";
  room_summary ops = dev;
  ops.uri = "ma-chan://example.com/G2";
  ops.name = "Ops & <co>";
  std::string data;
  append_assoc(data, "member", {{dev, true}, {ops, false}});
  append_assoc(data, "manager", {});
  auto d = data_of(data);
  auto groups = d.children_named("assoc");
  REQUIRE(groups.size() == 2);
  CHECK(groups[0]->attr_or("type") == "member");
  auto rooms = groups[0]->children_named("chanib");
  REQUIRE(rooms.size() == 2);
  CHECK(rooms[0]->attr_or("uri") == "ma-chan://example.com/G1");
  CHECK(rooms[0]->attr_or("followed") == "true");
  CHECK(rooms[1]->attr_or("name") == "Ops & <co>");
  CHECK(rooms[1]->attr_or("followed") == "false");
  CHECK(rooms[1]->children_named("info").size() == 2); // the full chansrch summary
  CHECK(groups[1]->attr_or("type") == "manager");
  CHECK(groups[1]->children.empty());
}

TEST_CASE("xccos build: pref has content for getpref (also empty) and none for setpref") {
  std::string data;
  append_pref(data, "kedzie.GroupChannels", "71", std::string_view{"PGE+"});
  append_pref(data, "l\"2", "72", std::string_view{});
  append_pref(data, "l3", "73");
  auto d = data_of(data);
  auto prefs = d.children_named("pref");
  REQUIRE(prefs.size() == 3);
  CHECK(prefs[0]->attr_or("label") == "kedzie.GroupChannels");
  CHECK(prefs[0]->attr_or("seqid") == "71");
  CHECK(prefs[0]->attr_or("content") == "PGE+");
  CHECK(prefs[1]->attr_or("label") == "l\"2");
  REQUIRE(prefs[1]->attr("content"));
  CHECK(prefs[1]->attr("content")->empty());
  CHECK(prefs[2]->attr("content") == nullptr);
}

TEST_CASE("xccos build: cat and the uib of a role change") {
  std::string data;
  append_category(data, "ma-cat://example.com/C", "Eng & Co", "d<");
  append_role_change(data, "sip:bob@example.com", "member,presenter", true);
  append_role_change(data, "sip:eve@example.com", "", false);
  auto d = data_of(data);
  const node* cat = d.child("cat");
  REQUIRE(cat);
  CHECK(cat->attr_or("uri") == "ma-cat://example.com/C");
  CHECK(cat->attr_or("name") == "Eng & Co");
  CHECK(cat->attr_or("description") == "d<");
  auto uibs = d.children_named("uib");
  REQUIRE(uibs.size() == 2);
  CHECK(uibs[0]->attr_or("uri") == "sip:bob@example.com");
  CHECK(uibs[0]->attr_or("roles") == "member,presenter");
  CHECK(uibs[0]->attr_or("invited") == "true");
  CHECK(uibs[1]->attr_or("roles", "(absent)").empty());
  CHECK(uibs[1]->attr_or("invited") == "false");
}

TEST_CASE("xccos build: a room's history is a chanib of msg items, with more only when asked") {
  const std::string uri = "ma-chan://example.com/G&";
  std::vector<chat_message> msgs{{uri, "sip:a@example.com", 0, "one\r\ntwo <&>", 41},
                                 {uri, "sip:b@example.com", 1, "three", 42}};
  std::string data;
  append_room_history(data, uri, msgs);
  append_room_history(data, uri, msgs, true);
  append_room_history(data, uri, {}, false);
  auto d = data_of(data);
  auto rooms = d.children_named("chanib");
  REQUIRE(rooms.size() == 3);
  CHECK(rooms[0]->attr_or("uri") == uri);
  CHECK(rooms[0]->attr("more") == nullptr); // bccontext
  auto items = rooms[0]->children_named("msg");
  REQUIRE(items.size() == 2);
  CHECK(items[0]->attr_or("id") == "grpchat");
  CHECK(items[0]->attr_or("chanUri") == uri);
  CHECK(items[0]->attr_or("author") == "sip:a@example.com");
  CHECK(items[0]->attr_or("msgid") == "41");
  REQUIRE(items[0]->child("chat"));
  CHECK(items[0]->child("chat")->text == "one\r\ntwo <&>");
  CHECK(items[1]->attr_or("msgid") == "42");
  CHECK(rooms[1]->attr_or("more") == "true");
  CHECK(rooms[1]->children_named("msg").size() == 2);
  CHECK(rooms[2]->attr_or("more") == "false");
  CHECK(rooms[2]->children.empty());
}

TEST_CASE("xccos build: a roster page is a chanib with start and total and a uib per user") {
  std::string data;
  append_roster(data, "ma-chan://example.com/G", 500, 16000,
                {{"sip:abe@example.com", true}, {"sip:bea\"@example.com", false}});
  auto d = data_of(data);
  const node* ch = d.child("chanib");
  REQUIRE(ch);
  CHECK(ch->attr_or("uri") == "ma-chan://example.com/G");
  CHECK(ch->attr_or("start") == "500");
  CHECK(ch->attr_or("total") == "16000");
  auto uibs = ch->children_named("uib");
  REQUIRE(uibs.size() == 2);
  CHECK(uibs[0]->attr_or("uri") == "sip:abe@example.com");
  CHECK(uibs[0]->attr_or("manager") == "true");
  CHECK(uibs[1]->attr_or("uri") == "sip:bea\"@example.com");
  CHECK(uibs[1]->attr("manager") == nullptr);
}
