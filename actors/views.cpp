#include "actors/views.hpp"

#include "actors/rules.hpp"
#include "codec/sip_message.hpp"
#include "base/text.hpp"

namespace pchat {

std::string room_uri(const std::string& domain, const storage::room& r) {
  return "ma-chan://" + domain + "/" + r.guid;
}

room_view make_room_view(const storage::room& r, const storage::category& c, const std::string& domain,
                         std::uint32_t online) {
  room_view v;
  v.id = r.id;
  v.uri = room_uri(domain, r);
  v.name = r.name;
  v.description = r.description;
  v.topic = r.topic;
  v.privacy = static_cast<std::uint8_t>(r.privacy_mode);
  v.type = static_cast<std::uint8_t>(r.type);
  v.invite = rules::invitations_on(r, c);
  v.logged = c.logged;
  v.filepost = c.filepost;
  v.user_count = online;
  return v;
}

const char* visibility_token(std::uint8_t privacy) {
  return privacy == static_cast<std::uint8_t>(storage::privacy::open) ? "public" : "private";
}

xccos::room_summary to_summary(const room_view& v) {
  xccos::room_summary s;
  s.uri = v.uri;
  s.name = v.name;
  s.description = v.description;
  s.topic = v.topic;
  s.user_count = v.user_count;
  s.visibility = visibility_token(v.privacy);
  s.filepost = v.filepost;
  s.invite = v.invite;
  s.logged = v.logged;
  return s;
}


} // namespace pchat
