#include "actors/views.hpp"

#include <algorithm>
#include <cctype>

#include "actors/rules.hpp"

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

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

std::string normalize_user(const std::string& uri) {
  std::string u = lower(uri);
  auto lt = u.find('<');
  if (lt != std::string::npos) {
    auto gt = u.find('>', lt);
    u = u.substr(lt + 1, gt == std::string::npos ? std::string::npos : gt - lt - 1);
  }
  if (u.rfind("sips:", 0) == 0)
    u = "sip:" + u.substr(5);
  if (u.rfind("sip:", 0) != 0)
    return {};
  // Drop parameters and headers; a port stays (it is part of the address of record only in odd setups).
  auto cut = u.find_first_of(";?", 4);
  if (cut != std::string::npos)
    u.resize(cut);
  if (u.size() <= 4 || u.find('@') == std::string::npos)
    return {};
  return u;
}

} // namespace pchat
