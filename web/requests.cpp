#include "web/requests.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

#include "base/text.hpp"
#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
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

// --- the chat API -----------------------------------------------------------------------------------------------

namespace {

// Refuses any field of `body` not in `allowed`.
std::optional<request_error> only_fields(const json& body, std::initializer_list<const char*> allowed) {
  for (auto it = body.begin(); it != body.end(); ++it)
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* f) { return it.key() == f; }))
      return invalid("unknown field " + it.key().substr(0, 64));
  return std::nullopt;
}

// A non-negative integer field no larger than `max`; nullopt when absent.
checked<std::optional<std::uint64_t>> count_field(const json& body, const char* name, std::uint64_t max) {
  auto i = body.find(name);
  if (i == body.end() || i->is_null())
    return std::optional<std::uint64_t>{};
  if (!i->is_number_unsigned() && !(i->is_number_integer() && i->get<std::int64_t>() >= 0))
    return invalid(std::string{name} + " must be a whole number, 0 or more");
  auto v = i->get<std::uint64_t>();
  if (v > max)
    return invalid(std::string{name} + " must be at most " + std::to_string(max));
  return std::optional<std::uint64_t>{v};
}

checked<std::string> room_field(const json& body) {
  auto i = body.find("room");
  if (i == body.end() || !i->is_string())
    return invalid("room must be a room's ma-chan:// URI");
  return chat_room_of(i->get_ref<const std::string&>());
}

} // namespace

checked<std::string> chat_room_of(std::string_view uri) {
  if (uri.size() > 512 || !xccos::parse_chan_uri(uri) || !is_xml_text(uri))
    return invalid("room must be a room's ma-chan:// URI");
  return std::string{uri};
}

checked<chat_join_request> chat_join_request_of(const json& body) {
  if (auto bad = only_fields(body, {"room", "history", "after"}))
    return std::move(*bad);
  auto room = room_field(body);
  if (auto* error = std::get_if<request_error>(&room))
    return std::move(*error);
  auto history = count_field(body, "history", 1000);
  if (auto* error = std::get_if<request_error>(&history))
    return std::move(*error);
  auto after = count_field(body, "after", std::numeric_limits<std::int64_t>::max());
  if (auto* error = std::get_if<request_error>(&after))
    return std::move(*error);
  chat_join_request out;
  out.room = std::move(std::get<std::string>(room));
  out.history = static_cast<std::uint32_t>(std::get<std::optional<std::uint64_t>>(history).value_or(50));
  out.after = std::get<std::optional<std::uint64_t>>(after);
  return out;
}

checked<chat_post_request> chat_post_request_of(const json& body) {
  if (auto bad = only_fields(body, {"room", "text"}))
    return std::move(*bad);
  auto room = room_field(body);
  if (auto* error = std::get_if<request_error>(&room))
    return std::move(*error);
  auto text = string_field(body, "text");
  if (auto* error = std::get_if<request_error>(&text))
    return std::move(*error);
  if (std::get<std::string>(text).empty())
    return invalid("text must not be empty");
  if (!is_xml_text(std::get<std::string>(text)))
    return request_error{pchat_errc::invalid_characters,
                         "text holds characters a chat message cannot carry (control characters, invalid UTF-8)"};
  return chat_post_request{std::move(std::get<std::string>(room)), std::move(std::get<std::string>(text))};
}

checked<chat_file_request> chat_file_request_of(const json& body) {
  if (auto bad = only_fields(body, {"room", "upload", "name", "link"}))
    return std::move(*bad);
  auto room = room_field(body);
  if (auto* error = std::get_if<request_error>(&room))
    return std::move(*error);
  auto upload = body.find("upload");
  if (upload == body.end() || !upload->is_boolean())
    return invalid("upload must be true or false");
  const char* field = upload->get<bool>() ? "name" : "link";
  auto file = string_field(body, field);
  if (auto* error = std::get_if<request_error>(&file))
    return std::move(*error);
  auto& f = std::get<std::string>(file);
  if (f.empty() || f.size() > 2048 || !is_xml_text(f))
    return invalid(std::string{field} + " must be 1 to 2048 bytes of text");
  return chat_file_request{std::move(std::get<std::string>(room)), upload->get<bool>(), std::move(f)};
}

checked<chat_room_request> chat_room_request_of(const json& body, bool with_on) {
  if (auto bad = with_on ? only_fields(body, {"room", "on"}) : only_fields(body, {"room"}))
    return std::move(*bad);
  auto room = room_field(body);
  if (auto* error = std::get_if<request_error>(&room))
    return std::move(*error);
  chat_room_request out{std::move(std::get<std::string>(room)), true};
  if (auto on = body.find("on"); on != body.end() && !on->is_null()) {
    if (!on->is_boolean())
      return invalid("on must be true or false");
    out.on = on->get<bool>();
  }
  return out;
}

} // namespace pchat::web
