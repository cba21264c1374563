#include "web/requests.hpp"

#include <algorithm>
#include <iterator>

#include "base/text.hpp"
#include "codec/sip_message.hpp"
#include "storage/store.hpp"

namespace pchat::web {

namespace {

request_error invalid(std::string message) {
  return request_error{pchat_errc::invalid_argument, std::move(message)};
}

// Limits on what the page may send (the catalog checks meaning; this keeps records and pages reasonable).
constexpr std::size_t max_name = 256;
constexpr std::size_t max_text = 2048;

} // namespace

checked<json> json_object(std::string_view content_type, std::string_view body) {
  if (content_type.rfind("application/json", 0) != 0)
    return request_error{pchat_errc::unsupported_media_type, "Send the request as application/json"};
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object())
    return request_error{pchat_errc::malformed_json, "The request body is not a JSON object"};
  if (body.size() > max_json_body)
    return request_error{pchat_errc::too_large, "Request bodies here are at most 64 KiB"};
  return parsed;
}

checked<std::string> string_field(const json& body, const char* name) {
  auto i = body.find(name);
  if (i == body.end() || i->is_null())
    return std::string{};
  if (!i->is_string())
    return invalid(std::string{name} + " must be a string");
  return i->get<std::string>();
}

checked<std::string> user_field(const json& body, const char* name) {
  auto text = string_field(body, name);
  if (auto* error = std::get_if<request_error>(&text))
    return std::move(*error);
  const auto& s = std::get<std::string>(text);
  auto aor = s.size() <= 256 ? sip::normalize_aor(s) : std::string{};
  if (aor.empty() || !is_xml_text(aor) || aor.find_first_of(" \t\r\n<>\"") != std::string::npos)
    return invalid("Enter a SIP address, like alice@example.com");
  return aor;
}

checked<sign_in_request> sign_in_request_of(const json& body) {
  auto user = user_field(body, "user");
  if (auto* error = std::get_if<request_error>(&user))
    return std::move(*error);
  auto password = string_field(body, "password");
  if (auto* error = std::get_if<request_error>(&password))
    return std::move(*error);
  return sign_in_request{std::move(std::get<std::string>(user)), std::move(std::get<std::string>(password))};
}

checked<room_fields> room_fields_of(const json& body, bool creating) {
  static const char* const text_fields[] = {"name", "description", "topic", "privacy", "type", "invite"};
  room_fields out;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const auto& key = it.key();
    const auto& value = it.value();
    bool text = std::find_if(std::begin(text_fields), std::end(text_fields),
                             [&](const char* f) { return key == f; }) != std::end(text_fields);
    if (text || (creating && key == "category")) {
      if (!value.is_string())
        return invalid(key + " must be a string");
      auto s = value.get<std::string>();
      if (s.size() > (key == "name" ? max_name : max_text))
        return invalid(key + " is too long (at most " + std::to_string(key == "name" ? max_name : max_text) +
                       " bytes)");
      if (key == "name") {
        auto trimmed = std::string{sip::trim(s)};
        if (trimmed.empty())
          return invalid("a room needs a name");
        s = trimmed;
      }
      out.emplace_back(key, s);
    } else if (key == "disabled") {
      if (!value.is_boolean())
        return invalid("disabled must be true or false");
      out.emplace_back(key, value.get<bool>() ? "true" : "false");
    } else {
      return invalid("unknown field " + key);
    }
  }
  if (creating && std::none_of(out.begin(), out.end(), [](const auto& f) { return f.first == "category"; }))
    return invalid("choose a category");
  return out;
}

checked<roles_request> roles_request_of(const json& body) {
  auto user = user_field(body, "user");
  if (auto* error = std::get_if<request_error>(&user))
    return std::move(*error);
  auto roles = body.find("roles");
  if (roles == body.end() || !roles->is_array())
    return invalid("roles must be a list of member, manager, presenter");
  roles_request out{std::move(std::get<std::string>(user)), 0};
  for (const auto& r : *roles) {
    auto bit = r.is_string() ? storage::role_bit(r.get<std::string>()) : std::nullopt;
    if (bit)
      out.roles |= *bit;
    else
      return invalid("unknown role " + (r.is_string() ? r.get<std::string>() : r.dump()) +
                     " (member, manager or presenter)");
  }
  return out;
}

} // namespace pchat::web
