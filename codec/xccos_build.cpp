#include "codec/xccos_build.hpp"
#include "base/text.hpp"

namespace pchat::xccos {

namespace {

std::string notice(std::string_view id, std::string data) {
  out_item ntc;
  ntc.kind = item_kind::ntc;
  ntc.id = std::string{id};
  ntc.code = 0;
  ntc.data = std::move(data);
  return serialize(next_envid(), {ntc});
}

} // namespace

std::string join_notice(std::string_view user, bool manager, std::string_view domain, std::string_view room_guid) {
  std::string data = "<uib uri=\"";
  append_xml_attr(data, user);
  data += "\">";
  append_empty_element(data, "aib", {{"key", manager ? "12276" : "3984"}, {"domain", domain}, {"value", room_guid}});
  data += "</uib>";
  return notice("ntc:join", std::move(data));
}

std::string part_notice(std::string_view room_uri, std::string_view user) {
  std::string data = "<chanib uri=\"";
  append_xml_attr(data, room_uri);
  data += "\">";
  append_empty_element(data, "uib", {{"uri", user}});
  data += "</chanib>";
  return notice("ntc:part", std::move(data));
}

std::string provisioning_document(bool enabled, std::string_view service_uri, std::string_view web_manager_uri) {
  std::string doc =
    "<provisionGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification\">"
    "<provisionGroup name=\"persistentChatConfiguration\"><propertyEntryList>"
    "<property name=\"EnablePersistentChat\">";
  doc += enabled ? "true" : "false";
  doc += "</property><property name=\"DefaultPersistentChatPoolUri\">";
  append_xml_text(doc, service_uri);
  doc += "</property><property name=\"PersistentChatPoolUris\">";
  append_xml_text(doc, service_uri);
  if (!web_manager_uri.empty())
    for (const char* name : {"PersistentChatWebManagerUriInt", "PersistentChatWebManagerUriExt"}) {
      doc += "</property><property name=\"";
      doc += name;
      doc += "\">";
      append_xml_text(doc, web_manager_uri);
    }
  doc += "</property></propertyEntryList></provisionGroup></provisionGroupList>";
  return doc;
}

} // namespace pchat::xccos
