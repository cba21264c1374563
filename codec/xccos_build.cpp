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

std::string invitation_notice(const invitation& inv) {
  std::string data;
  append_invitation(data, inv);
  return notice("ntc:inv", std::move(data));
}

std::string newcontent_notice(std::string_view room_uri, std::string_view room_name, std::uint64_t seq) {
  std::string data;
  append_empty_element(data, "chanib", {{"uri", room_uri}, {"name", room_name}, {"seq", std::to_string(seq)}});
  return notice("ntc:newcontent", std::move(data));
}

std::string reply_document(const command& cmd, int code, std::string_view token, std::string data) {
  out_item it;
  it.kind = item_kind::rpl;
  it.id = cmd.reply_id();
  it.seqid = cmd.seqid.empty() ? "1" : cmd.seqid;
  it.cmd_seqid = cmd.seqid;
  it.cmd_envid = cmd.envid;
  it.code = code;
  it.token = std::string{token};
  it.data = std::move(data);
  return serialize(next_envid(), {it});
}

void append_uib(std::string& out, std::string_view uri) {
  append_empty_element(out, "uib", {{"uri", uri}});
}

void append_server_info(std::string& out, const server_info& info) {
  append_empty_element(out, "sib",
                       {{"infoType", info.info_type},
                        {"serverTime", format_ts(info.server_ticks)},
                        {"searchLimit", std::to_string(info.search_limit)},
                        {"messageSizeLimit", std::to_string(info.message_size_limit)},
                        {"storySizeLimit", std::to_string(info.story_size_limit)},
                        {"rootUri", info.root_uri},
                        {"dbVersion", info.db_version}});
}

void append_chanib_uri(std::string& out, std::string_view room_uri) {
  append_empty_element(out, "chanib", {{"uri", room_uri}});
}

void append_failed_room(std::string& out, const chan_ref& chan) {
  append_empty_element(out, "fib", {{"key", "OPERATION_FAILED"}, {"value", chan.guid}, {"domain", chan.domain}});
}

void append_invitation(std::string& out, const invitation& inv) {
  append_empty_element(out, "inv",
                       {{"inviteId", std::to_string(inv.id)},
                        {"chanUri", inv.room_uri},
                        {"name", inv.room_name},
                        {"inviter", inv.inviter},
                        {"ts", format_ts(inv.ticks)}});
}

void append_assoc(std::string& out, std::string_view type, const std::vector<assoc_room>& rooms) {
  out += "<assoc type=\"";
  append_xml_attr(out, type);
  out += "\">";
  for (const auto& r : rooms)
    append_chanib_summary(out, r.room, r.followed ? " followed=\"true\"" : " followed=\"false\"");
  out += "</assoc>";
}

void append_pref(std::string& out, std::string_view label, std::string_view seqid,
                 std::optional<std::string_view> content) {
  if (content)
    append_empty_element(out, "pref", {{"label", label}, {"seqid", seqid}, {"content", *content}});
  else
    append_empty_element(out, "pref", {{"label", label}, {"seqid", seqid}});
}

void append_category(std::string& out, std::string_view uri, std::string_view name, std::string_view description) {
  append_empty_element(out, "cat", {{"uri", uri}, {"name", name}, {"description", description}});
}

void append_role_change(std::string& out, std::string_view user, std::string_view roles, bool invited) {
  append_empty_element(out, "uib", {{"uri", user}, {"roles", roles}, {"invited", invited ? "true" : "false"}});
}

void append_room_history(std::string& out, std::string_view room_uri, const std::vector<chat_message>& msgs,
                         std::optional<bool> more) {
  out += "<chanib uri=\"";
  append_xml_attr(out, room_uri);
  if (more)
    out += *more ? "\" more=\"true\">" : "\" more=\"false\">";
  else
    out += "\">";
  for (const auto& m : msgs)
    append_history_msg(out, m);
  out += "</chanib>";
}

void append_posted(std::string& out, std::string_view room_uri, std::uint64_t seq) {
  append_empty_element(out, "chanib", {{"uri", room_uri}, {"seq", std::to_string(seq)}});
}

void append_roster(std::string& out, std::string_view room_uri, std::uint32_t start, std::uint32_t total,
                   const std::vector<participant>& page) {
  out += "<chanib uri=\"";
  append_xml_attr(out, room_uri);
  out += "\" start=\"" + std::to_string(start) + "\" total=\"" + std::to_string(total) + "\">";
  for (const auto& p : page) {
    if (p.manager)
      append_empty_element(out, "uib", {{"uri", p.uri}, {"manager", "true"}});
    else
      append_empty_element(out, "uib", {{"uri", p.uri}});
  }
  out += "</chanib>";
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
