// The room-management JSON API behind the page (docs/web.md "JSON API"). Every change goes to the
// directory actor as the signed-in user (principal::of), so the catalog's rules decide exactly as for XCCOS and
// pchatctl: managers change their rooms' settings and roles, creators create rooms in their categories, secret
// rooms stay invisible to outsiders. This file only asks the directory and turns its answers and errors into HTTP;
// the request bodies are checked by web/requests.hpp.
#include "web/context.hpp"

namespace pchat::web {

namespace {

std::string guid_of(const std::string& uri) {
  auto slash = uri.rfind('/');
  return slash == std::string::npos ? uri : uri.substr(slash + 1);
}

const char* privacy_name(std::uint8_t p) {
  return storage::privacy_name(static_cast<storage::privacy>(p)); // anything unknown reads "open"
}

const char* type_name(std::uint8_t t) {
  return static_cast<storage::room_type>(t) == storage::room_type::auditorium ? "auditorium" : "normal";
}

json room_json(const room_view& v) {
  return json{{"id", guid_of(v.uri)},       {"uri", v.uri},           {"name", v.name},
              {"description", v.description}, {"topic", v.topic},   {"privacy", privacy_name(v.privacy)},
              {"type", type_name(v.type)},  {"invitations", v.invite}, {"logged", v.logged},
              {"filepost", v.filepost},     {"online", v.user_count}};
}

json category_json(const category_view& c) {
  return json{{"id", guid_of(c.uri)}, {"uri", c.uri}, {"name", c.name}, {"description", c.description}};
}

json roles_json(std::uint8_t bits) {
  return storage::role_names(bits);
}

json detail_json(const room_detail& d) {
  json j = room_json(d.view);
  j["category"] = category_json(d.category);
  j["invite"] = d.invite;
  j["categoryInvite"] = d.category_invite;
  j["disabled"] = d.disabled;
  j["addin"] = d.addin;
  json roles = json::array();
  for (const auto& r : d.roles)
    roles.push_back(json{{"user", r.user}, {"roles", roles_json(r.roles)}});
  j["roles"] = roles;
  return j;
}

} // namespace

void add_manage_routes(httplib::Server& srv, web_context& ctx) {
  // The rooms the user manages and the categories where they may create rooms.
  srv.Get(exact("/api/rooms"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto user = require_user(req, res, ctx);
    if (!user)
      return;
    auto who = principal::of(*user);
    auto rooms = ctx.ask<std::vector<room_view>>(detail_atom::value, who);
    if (!rooms)
      return send_error(res, rooms.error());
    auto cats = ctx.ask<std::vector<category_view>>(perm_atom::value, *user);
    if (!cats)
      return send_error(res, cats.error());
    json out{{"user", *user}, {"rooms", json::array()}, {"categories", json::array()}};
    for (const auto& r : *rooms)
      out["rooms"].push_back(room_json(r));
    for (const auto& c : *cats)
      out["categories"].push_back(category_json(c));
    send_json(res, 200, out);
  });

  // Create a room (creators only); the creator becomes its member and manager.
  srv.Post(exact("/api/rooms"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto user = require_user(req, res, ctx);
    if (!user)
      return;
    auto body = json_body(req, res);
    if (!body)
      return;
    auto checked_fields = room_fields_of(*body, true);
    if (auto* error = std::get_if<request_error>(&checked_fields))
      return send_error(res, error->code, error->message);
    const patch& fields = std::get<room_fields>(checked_fields);
    auto who = principal::of(*user);
    auto created = ctx.ask<room_view>(create_atom::value, who, fields);
    if (!created)
      return send_error(res, created.error());
    auto d = ctx.ask<room_detail>(detail_atom::value, who, created->uri);
    if (!d)
      return send_json(res, 201, room_json(*created));
    send_json(res, 201, detail_json(*d));
  });

  // One room, for its managers.
  srv.Get(ctx.routes.add("/api/rooms/:id"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto user = require_user(req, res, ctx);
    if (!user)
      return;
    auto d = ctx.ask<room_detail>(detail_atom::value, principal::of(*user), path_param(req, "id"));
    if (!d)
      return send_error(res, d.error());
    send_json(res, 200, detail_json(*d));
  });

  // Change settings: any subset of name, description, topic, privacy, type, invite, disabled.
  srv.Patch(ctx.routes.add("/api/rooms/:id"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto user = require_user(req, res, ctx);
    if (!user)
      return;
    auto body = json_body(req, res);
    if (!body)
      return;
    auto checked_fields = room_fields_of(*body, false);
    if (auto* error = std::get_if<request_error>(&checked_fields))
      return send_error(res, error->code, error->message);
    const patch& fields = std::get<room_fields>(checked_fields);
    auto who = principal::of(*user);
    std::string ref = path_param(req, "id");
    if (!fields.empty()) {
      auto updated = ctx.ask<room_view>(update_atom::value, who, ref, fields);
      if (!updated)
        return send_error(res, updated.error());
      ref = updated->uri; // the room may have been named by its old name
    }
    auto d = ctx.ask<room_detail>(detail_atom::value, who, ref);
    if (!d)
      return send_error(res, d.error());
    send_json(res, 200, detail_json(*d));
  });

  // Set one user's roles: {"user": "bob@example.com", "roles": ["member", "presenter"]}; [] removes the user.
  srv.Put(ctx.routes.add("/api/rooms/:id/roles"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto user = require_user(req, res, ctx);
    if (!user)
      return;
    auto body = json_body(req, res);
    if (!body)
      return;
    auto request = roles_request_of(*body);
    if (auto* error = std::get_if<request_error>(&request))
      return send_error(res, error->code, error->message);
    const auto& [target, bits] = std::get<roles_request>(request);
    auto who = principal::of(*user);
    std::string ref = path_param(req, "id");
    auto invited = ctx.ask<bool>(roles_atom::value, who, ref, target, bits);
    if (!invited)
      return send_error(res, invited.error());
    auto d = ctx.ask<room_detail>(detail_atom::value, who, ref);
    if (!d) // the user removed their own manager role: the change is done, the room is no longer theirs to show
      return send_json(res, 200, json{{"invited", *invited}, {"room", nullptr}});
    send_json(res, 200, json{{"invited", *invited}, {"room", detail_json(*d)}});
  });
}

} // namespace pchat::web
