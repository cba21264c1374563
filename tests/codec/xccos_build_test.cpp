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
