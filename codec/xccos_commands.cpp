#include "codec/xccos_commands.hpp"

#include "base/text.hpp"
#include "codec/xccos.hpp"

namespace pchat::xccos {

namespace {

// <xccos ver="1" envid="E" xmlns="urn:parlano:xml:ns:xccos">, the client's envelope as sipe writes it (no
// xmlns:xsd/xsi; those are the .NET server's, docs/xccos.md §3).
void open_client_envelope(std::string& out, std::string_view envid) {
  out += "<xccos ver=\"1\"";
  append_xml_attribute(out, "envid", envid);
  append_xml_attribute(out, "xmlns", xmlns);
  out += '>';
}

} // namespace

std::string command_document(std::string_view envid, std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(128 + name.size() + data.size());
  open_client_envelope(out, envid);
  out += "<cmd id=\"cmd:";
  append_xml_attr(out, name);
  out += "\" seqid=\"1\"><data>";
  out += data;
  out += "</data></cmd></xccos>";
  return out;
}

std::string grpchat_document(std::string_view envid, std::string_view room_uri, std::string_view author,
                             std::int64_t ticks, std::string_view text, bool ack) {
  std::string out;
  out.reserve(192 + room_uri.size() + author.size() + text.size());
  open_client_envelope(out, envid);
  out += "<grpchat id=\"grpchat\" seqid=\"1\"";
  append_xml_attribute(out, "chanUri", room_uri);
  append_xml_attribute(out, "author", author);
  append_xml_attribute(out, "ts", format_ts(ticks));
  if (ack)
    out += " ack=\"true\"";
  out += "><chat>";
  append_xml_text(out, text);
  out += "</chat></grpchat></xccos>";
  return out;
}

std::string provisioning_subscription_document() {
  return "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist\">"
         "<provisioningGroup name=\"persistentChatConfiguration\"/></provisioningGroupList>";
}

std::string serverinfo_query(std::string_view domain) {
  std::string out;
  append_empty_element(out, "sib", {{"domain", domain}, {"infoType", "123"}});
  return out;
}

std::string chansrch_query(std::string_view criteria) {
  std::string out;
  append_empty_element(out, "qib", {{"qtype", "BYNAME"}, {"criteria", criteria}, {"extended", "false"}});
  return out;
}

std::string chanid(std::size_t key, std::string_view domain, std::string_view guid) {
  std::string out;
  append_empty_element(out, "chanid", {{"key", std::to_string(key)}, {"domain", domain}, {"value", guid}});
  return out;
}

std::string chanib_uri(std::string_view room_uri) {
  std::string out;
  append_empty_element(out, "chanib", {{"uri", room_uri}});
  return out;
}

std::string bccontext_last(std::string_view room_uri, std::uint32_t n, std::uint64_t before) {
  std::string out = chanib_uri(room_uri);
  out += "<bcq>";
  if (before > 0)
    append_empty_element(out, "last", {{"cnt", std::to_string(n)}, {"before", std::to_string(before)}});
  else
    append_empty_element(out, "last", {{"cnt", std::to_string(n)}});
  out += "</bcq>";
  return out;
}

std::string catchup_list(const std::vector<std::pair<std::string, std::uint64_t>>& rooms) {
  std::string out;
  for (const auto& [uri, seq] : rooms)
    append_empty_element(out, "chanib", {{"uri", uri}, {"seq", std::to_string(seq)}});
  return out;
}

std::string roster_query(std::string_view room_uri, std::uint32_t start, std::uint32_t count) {
  std::string out;
  append_empty_element(out, "chanib", {{"uri", room_uri}});
  append_empty_element(out, "page", {{"start", std::to_string(start)}, {"count", std::to_string(count)}});
  return out;
}

std::string invitations_query(std::string_view domain) {
  std::string out;
  append_empty_element(out, "inv", {{"inviteId", "1"}, {"domain", domain}});
  return out;
}

std::string file_token_query(std::string_view room_uri, std::string_view file_url) {
  std::string out;
  append_empty_element(out, "ftdb", {{"channelUri", room_uri}, {"fileUrl", file_url}});
  return out;
}

std::string histsrch_query(std::string_view text) {
  std::string out;
  append_empty_element(out, "srch", {{"text", text}});
  return out;
}

} // namespace pchat::xccos
