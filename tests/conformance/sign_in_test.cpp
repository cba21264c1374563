// Conformance: the sign-in and sign-out SIP exchanges pidgin-sipe relies on (docs/xccos.md §2.1, §6 vectors 1-2;
// docs/pidgin-sipe.md §2). Headers are inspected one line at a time: sipe compares whole header values and does not
// split on commas or trim blanks.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <tinyxml2.h>

#include "conformance_support.hpp"
#include "base/text.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;

namespace {

// The provisioning-v2 SUBSCRIBE exactly as sipe sends it after REGISTER (docs/xccos.md §2.1).
const std::vector<sip::header> sipe_subscribe_headers = {
    {"Supported", "com.microsoft.autoextend"},
    {"Supported", "ms-benotify"},
    {"Proxy-Require", "ms-benotify"},
    {"Supported", "ms-piggyback-first-notify"},
    {"Expires", "0"},
};
const std::string provisioning_type = "application/vnd-microsoft-roaming-provisioning-v2+xml";
const std::string provisioning_request =
    "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist\">"
    "<provisioningGroup name=\"ServerConfiguration\"/><provisioningGroup name=\"meetingPolicy\"/>"
    "<provisioningGroup name=\"persistentChatConfiguration\"/><provisioningGroup name=\"ucPolicy\"/>"
    "</provisioningGroupList>";

// name -> value of every <property> under provisionGroup[@name=persistentChatConfiguration], matched without
// namespaces as sipe does. Empty when the document does not parse or has no such group.
std::vector<std::pair<std::string, std::string>> persistent_chat_properties(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  tinyxml2::XMLDocument doc;
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS || !doc.RootElement())
    return out;
  for (auto* g = doc.RootElement()->FirstChildElement("provisionGroup"); g;
       g = g->NextSiblingElement("provisionGroup")) {
    const char* name = g->Attribute("name");
    if (!name || std::string{name} != "persistentChatConfiguration")
      continue;
    for (auto* list = g->FirstChildElement("propertyEntryList"); list;
         list = list->NextSiblingElement("propertyEntryList"))
      for (auto* p = list->FirstChildElement("property"); p; p = p->NextSiblingElement("property"))
        out.emplace_back(p->Attribute("name") ? p->Attribute("name") : "", p->GetText() ? p->GetText() : "");
  }
  return out;
}

// The provisioning-v2 SUBSCRIBE exactly as sipe sends it after REGISTER (docs/xccos.md §2.1).
client::result<sip::message> subscribe_provisioning(client::sip_agent& agent) {
  return agent.subscribe("sip:alice@example.com", "vnd-microsoft-provisioning-v2", provisioning_type,
                         provisioning_request, sipe_subscribe_headers);
}

std::string property(const std::vector<std::pair<std::string, std::string>>& props, const std::string& name) {
  for (const auto& [n, v] : props)
    if (n == name)
      return v;
  return "<missing>";
}

} // namespace

TEST_CASE("vector 1: REGISTER 200 carries Expires, Supported msrtc-event-categories on its own line, "
          "Allow-Events without blanks") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");

  auto reg = agent->register_user("sip:example.com", 3600);
  REQUIRE(reg);
  INFO(sip::serialize(reg.value()));
  REQUIRE(reg->status == 200);

  // sipe's whole success branch sits under `if (expires)`.
  auto expires = reg->get_all("Expires");
  REQUIRE(expires.size() == 1);
  CHECK(std::stol(expires[0]) > 0);

  // One header line whose entire value is msrtc-event-categories (sipe compares the whole value).
  auto supported = reg->get_all("Supported");
  CHECK(std::count_if(supported.begin(), supported.end(),
                      [](const std::string& v) { return iequals(v, "msrtc-event-categories"); }) == 1);

  // The Allow-Events list is split on ',' but not trimmed: no blanks anywhere, and the event is listed.
  auto allow_events = reg->get_all("Allow-Events");
  REQUIRE(!allow_events.empty());
  bool listed = false;
  for (const auto& v : allow_events) {
    CHECK(v.find(' ') == std::string::npos);
    CHECK(v.find('\t') == std::string::npos);
    size_t pos = 0;
    for (;;) {
      auto comma = v.find(',', pos);
      if (v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos) ==
          "vnd-microsoft-provisioning-v2")
        listed = true;
      if (comma == std::string::npos)
        break;
      pos = comma + 1;
    }
  }
  CHECK(listed);
  // Listing roaming-contacts would switch sipe into UCS mode (docs/xccos.md §2.1).
  for (const auto& v : allow_events)
    CHECK(v.find("vnd-microsoft-roaming-contacts") == std::string::npos);

  SECTION("a sign-out REGISTER with Expires: 0 is answered with Expires: 0") {
    auto bye = agent->register_user("sip:example.com", 0);
    REQUIRE(bye);
    REQUIRE(bye->status == 200);
    CHECK(bye->get_all("Expires") == std::vector<std::string>{"0"});
  }
}

TEST_CASE("vector 2: provisioning-v2 SUBSCRIBE with Proxy-Require ms-benotify gets 200 with the piggy-backed "
          "persistentChatConfiguration") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  REQUIRE(answered(agent->register_user("sip:example.com", 3600)).status == 200);

  auto sub = subscribe_provisioning(*agent);
  REQUIRE(sub);
  INFO(sip::serialize(sub.value()));
  // Proxy-Require: ms-benotify must not be refused with 420 Bad Extension.
  REQUIRE(sub->status == 200);
  // sipe's dispatcher routes the piggy-backed document on the response's own Event header, and needs
  // ms-piggyback-cseq to be present at all.
  CHECK(sub->get_or("Event") == "vnd-microsoft-provisioning-v2");
  CHECK(sub->has("ms-piggyback-cseq"));
  CHECK(!sub->get_or("Content-Type").empty());

  auto props = persistent_chat_properties(sub->body);
  CHECK(property(props, "EnablePersistentChat") == "true");
  CHECK(property(props, "DefaultPersistentChatPoolUri") == service_uri);
  CHECK(property(props, "PersistentChatWebManagerUriInt") == "<missing>"); // web.port=0, no web.public-url
}

TEST_CASE("vector 2: provisioning names the room-management page as PersistentChatWebManagerUriInt/Ext") {
  auto web_port = pchatd_process::free_port();
  pchatd_process server{{"--web.port=" + std::to_string(web_port)}};
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  REQUIRE(answered(agent->register_user("sip:example.com", 3600)).status == 200);
  auto sub = subscribe_provisioning(*agent);
  REQUIRE(sub);
  REQUIRE(sub->status == 200);
  auto props = persistent_chat_properties(sub->body);
  auto page = "http://127.0.0.1:" + std::to_string(web_port) + "/";
  CHECK(property(props, "PersistentChatWebManagerUriInt") == page);
  CHECK(property(props, "PersistentChatWebManagerUriExt") == page);
  CHECK(server.web_url() + "/" == page);
  CHECK(property(props, "DefaultPersistentChatPoolUri") == service_uri);
}

TEST_CASE("vector 2: with persistent-chat=false the provisioning document says EnablePersistentChat false") {
  // Set through pchatd.ini in pchatd's working directory (the parent of its data directory): the command-line
  // form is refused, see the next test.
  pchatd_process server;
  {
    std::ofstream ini(std::filesystem::path(server.data_dir()).parent_path() / "pchatd.ini");
    ini << "[pchat]\npersistent-chat=false\n";
  }
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto sub = subscribe_provisioning(*agent);
  REQUIRE(sub);
  INFO(sip::serialize(sub.value()));
  REQUIRE(sub->status == 200);
  CHECK(property(persistent_chat_properties(sub->body), "EnablePersistentChat") == "false");
}

// CAF 0.17 parses a bool option on the command line as a flag without a value; pchatd takes the "=true/false"
// forms itself (admin/config.cpp) so every option works the same on the command line and in pchatd.ini.
TEST_CASE("pchatd accepts --pchat.persistent-chat=false on its command line and provisions EnablePersistentChat "
          "false") {
  pchatd_process server({"--pchat.persistent-chat=false"});
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  auto sub = subscribe_provisioning(*agent);
  REQUIRE(sub);
  REQUIRE(sub->status == 200);
  CHECK(property(persistent_chat_properties(sub->body), "EnablePersistentChat") == "false");
}

TEST_CASE("vector 2: a SUBSCRIBE for any other event gets 489 Bad Event") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  for (const char* event : {"presence", "vnd-microsoft-roaming-contacts", "vnd-microsoft-roaming-self"}) {
    auto sub = agent->subscribe("sip:alice@example.com", event, "application/pidf+xml", {}, {{"Expires", "0"}});
    REQUIRE(sub);
    INFO(event << ": " << sip::serialize(sub.value()));
    CHECK(sub->status == 489);
  }
}

TEST_CASE("sign-out: BYE on the channel dialog, in-dialog un-SUBSCRIBE and REGISTER Expires 0 each get 200") {
  pchatd_process server;
  server.start();
  auto agent = connect_agent(server, "sip:alice@example.com");
  REQUIRE(answered(agent->register_user("sip:example.com", 3600)).status == 200);
  auto sub = subscribe_provisioning(*agent);
  REQUIRE(sub);
  REQUIRE(sub->status == 200);
  auto channel = agent->invite(service_uri);
  REQUIRE(channel);

  // 1. BYE on the channel dialog.
  auto bye = agent->bye(channel.value());
  REQUIRE(bye);
  CHECK(bye->status == 200);

  // 2. The un-SUBSCRIBE as sipe sends it (docs/pidgin-sipe.md §2): in the SUBSCRIBE's dialog (same Call-ID, our From
  // tag, the server's To tag), CSeq 2, Expires: 0, no body, no Via branch.
  auto from_tag = sip::header_param(sub->get_or("From"), "tag");
  auto to_tag = sip::header_param(sub->get_or("To"), "tag");
  REQUIRE(from_tag);
  REQUIRE(to_tag);
  std::string unsubscribe = raw_message({
      "SUBSCRIBE sip:alice@example.com SIP/2.0",
      "Via: SIP/2.0/tcp " + agent->local_ip() + ":" + std::to_string(agent->local_port()),
      "Max-Forwards: 70",
      "From: <sip:alice@example.com>;tag=" + *from_tag,
      "To: <sip:alice@example.com>;tag=" + *to_tag,
      "Call-ID: " + sub->get_or("Call-ID"),
      "CSeq: 2 SUBSCRIBE",
      "Contact: " + agent->contact(),
      "Event: vnd-microsoft-provisioning-v2",
      "Expires: 0",
  });
  auto unsub = agent->send_raw_request(unsubscribe);
  REQUIRE(unsub);
  INFO(sip::serialize(unsub.value()));
  CHECK(unsub->status == 200);
  // A piggy-backed document here would make sipe run provisioning again during sign-out.
  CHECK(unsub->body.empty());

  // 3. The final REGISTER.
  auto unreg = agent->register_user("sip:example.com", 0);
  REQUIRE(unreg);
  CHECK(unreg->status == 200);
  CHECK(unreg->get_all("Expires") == std::vector<std::string>{"0"});
}
