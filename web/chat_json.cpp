#include "web/chat_json.hpp"

#include <charconv>
#include <map>

namespace pchat::web {

namespace {

std::uint64_t number(const std::string& text) {
  std::uint64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

// The value of the <info id="…:NAME"> / <prop id="…:NAME"> child of a room summary.
std::string summary_field(const xccos::node& chanib, const char* element, std::string_view name) {
  for (const auto* c : chanib.children_named(element)) {
    const auto id = c->attr_or("id");
    if (id.size() > name.size() && id.compare(id.size() - name.size(), name.size(), name) == 0 &&
        id[id.size() - name.size() - 1] == ':')
      return c->text;
  }
  return {};
}

json people_of(const xccos::node& chanib) {
  json out = json::array();
  for (const auto* u : chanib.children_named("uib"))
    out.push_back({{"uri", u->attr_or("uri")}, {"manager", u->attr_or("manager") == "true"}});
  return out;
}

} // namespace

json each(const xccos::node& parent, const char* name, json (*one)(const xccos::node&)) {
  json out = json::array();
  for (const auto* c : parent.children_named(name))
    out.push_back(one(*c));
  return out;
}

json message_of(const xccos::node& msg) {
  const auto* chat = msg.child("chat");
  return {{"room", msg.attr_or("chanUri")},
          {"seq", number(msg.attr_or("msgid"))},
          {"author", msg.attr_or("author")},
          {"ts", msg.attr_or("ts")},
          {"text", chat ? chat->text : std::string{}}};
}

json room_of(const xccos::node& chanib) {
  json out = {{"uri", chanib.attr_or("uri")},
              {"name", chanib.attr_or("name")},
              {"description", chanib.attr_or("description")},
              {"topic", chanib.attr_or("topic")},
              {"users", number(summary_field(chanib, "info", "ucnt"))},
              {"visibility", summary_field(chanib, "info", "visibilty")}, // sic (docs/xccos.md §4)
              {"filepost", summary_field(chanib, "prop", "filepost") == "true"},
              {"invite", summary_field(chanib, "prop", "invite") == "true"},
              {"logged", summary_field(chanib, "prop", "logged") == "true"}};
  if (const auto* followed = chanib.attr("followed"))
    out["followed"] = *followed == "true";
  return out;
}

json joined_of(const xccos::node& data) {
  // <uib id uri/>… then <chanib uri name topic><aib key="3984"|"12276" value="ids"/></chanib> (docs/xccos.md §4).
  std::map<std::string, std::string> by_id;
  for (const auto* u : data.children_named("uib"))
    by_id[u->attr_or("id")] = u->attr_or("uri");
  json room = json::object();
  json people = json::array();
  if (const auto* chanib = data.child("chanib")) {
    room = {{"uri", chanib->attr_or("uri")}, {"name", chanib->attr_or("name")}, {"topic", chanib->attr_or("topic")}};
    for (const auto* aib : chanib->children_named("aib")) {
      bool manager = aib->attr_or("key") == "12276";
      const std::string value = aib->attr_or("value"); // attr_or returns a copy: keep it while `ids` looks at it
      std::string_view ids = value;
      while (!ids.empty()) {
        auto comma = ids.find(',');
        auto id = std::string{ids.substr(0, comma)};
        ids = comma == std::string_view::npos ? std::string_view{} : ids.substr(comma + 1);
        if (auto i = by_id.find(id); i != by_id.end())
          people.push_back({{"uri", i->second}, {"manager", manager}});
      }
    }
  }
  return {{"room", room}, {"participants", people}};
}

json history_of(const xccos::node& chanib) {
  return {{"room", chanib.attr_or("uri")},
          {"messages", each(chanib, "msg", message_of)},
          {"more", chanib.attr_or("more") == "true"}};
}

json roster_of(const xccos::node& data) {
  const auto* chanib = data.child("chanib");
  if (!chanib)
    return {{"room", ""}, {"start", 0}, {"total", 0}, {"participants", json::array()}};
  return {{"room", chanib->attr_or("uri")},
          {"start", number(chanib->attr_or("start"))},
          {"total", number(chanib->attr_or("total"))},
          {"participants", people_of(*chanib)}};
}

json assoc_of(const xccos::node& data) {
  json out = {{"member", json::array()}, {"manager", json::array()}, {"followed", json::array()}};
  for (const auto* group : data.children_named("assoc")) {
    auto type = group->attr_or("type");
    const char* key = type == "member" ? "member" : type == "manager" ? "manager" : type == "follow" ? "followed" : nullptr;
    if (!key)
      continue;
    for (auto& room : each(*group, "chanib", room_of))
      out[key].push_back(std::move(room));
  }
  return out;
}

json invitation_of(const xccos::node& inv) {
  return {{"id", number(inv.attr_or("inviteId"))},
          {"room", inv.attr_or("chanUri")},
          {"name", inv.attr_or("name")},
          {"inviter", inv.attr_or("inviter")},
          {"ts", inv.attr_or("ts")}};
}

std::optional<json> event_of(const xccos::item& item) {
  if (item.kind == xccos::item_kind::grpchat) {
    auto out = message_of(item.element);
    out["type"] = "post";
    return out;
  }
  if (item.kind != xccos::item_kind::ntc)
    return std::nullopt;
  const auto* data = item.data();
  if (!data)
    return std::nullopt;
  if (item.id == "ntc:join") {
    // <uib uri><aib key domain value=GUID/></uib> (docs/xccos.md §4)
    const auto* uib = data->child("uib");
    const auto* aib = uib ? uib->child("aib") : nullptr;
    if (!aib)
      return std::nullopt;
    return json{{"type", "join"},
                {"room", "ma-chan://" + aib->attr_or("domain") + "/" + aib->attr_or("value")},
                {"user", uib->attr_or("uri")},
                {"manager", aib->attr_or("key") == "12276"}};
  }
  if (item.id == "ntc:part") {
    const auto* chanib = data->child("chanib");
    const auto* uib = chanib ? chanib->child("uib") : nullptr;
    if (!uib)
      return std::nullopt;
    return json{{"type", "part"}, {"room", chanib->attr_or("uri")}, {"user", uib->attr_or("uri")}};
  }
  if (item.id == "ntc:newcontent") {
    const auto* chanib = data->child("chanib");
    if (!chanib)
      return std::nullopt;
    return json{{"type", "newcontent"},
                {"room", chanib->attr_or("uri")},
                {"name", chanib->attr_or("name")},
                {"seq", number(chanib->attr_or("seq"))}};
  }
  if (item.id == "ntc:inv") {
    const auto* inv = data->child("inv");
    if (!inv)
      return std::nullopt;
    auto out = invitation_of(*inv);
    out["type"] = "invitation";
    return out;
  }
  return std::nullopt;
}

} // namespace pchat::web
