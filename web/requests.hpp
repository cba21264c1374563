#pragma once
// The web API's request bodies, from bytes to a checked request: the JSON object a POST, PUT or PATCH carries
// and the fields each route reads from it (docs/web.md "JSON API"). Pure functions, no HTTP and no actors: the
// handlers in web_server.cpp and manage_api.cpp call them and turn a refusal into an answer (send_error), and
// fuzz/web_requests_fuzz.cpp runs them on any bytes without a server.
//
// Contract: any input is safe; nothing throws (except std::bad_alloc). A refusal is a request_error: the
// pchat_errc the web answers with (its HTTP status comes from base/error.hpp's table) and the message the user
// sees, which names the field at fault.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace pchat::web {

using json = nlohmann::json;

struct request_error {
  pchat_errc code = pchat_errc::invalid_argument;
  std::string message;
};

// A checked request, or why it was refused.
template <class T>
using checked = std::variant<T, request_error>;

// Bodies outside the file routes are at most this long (the pre-routing handler refuses longer ones before
// reading them; json_object checks again).
inline constexpr std::size_t max_json_body = 64 * 1024;

// The body as a JSON object: unsupported_media_type unless the Content-Type is application/json (a cross-site
// form cannot send that without a CORS preflight we never allow), malformed_json unless it is one JSON object,
// too_large over max_json_body.
checked<json> json_object(std::string_view content_type, std::string_view body);

// A string field of a JSON object ("" when absent or null); invalid_argument for any other type.
checked<std::string> string_field(const json& body, const char* name);
// A user address field, normalised ("Bob@Example.com" -> "sip:bob@example.com"); invalid_argument unless it is
// a SIP address of at most 256 bytes that XML can carry, without spaces, quotes or angle brackets.
checked<std::string> user_field(const json& body, const char* name);

// POST /api/signin: {"user": "alice@example.com", "password": "..."}.
struct sign_in_request {
  std::string user; // normalised
  std::string password;
};
checked<sign_in_request> sign_in_request_of(const json& body);

// POST /api/rooms (creating) and PATCH /api/rooms/<room>: the room fields a manager may set from the page, as
// the catalog's patch (actors/catalog.hpp): name, description, topic, privacy, type, invite as strings (the name
// trimmed and not empty), disabled as a boolean ("true"/"false"), and when creating the category, which is then
// required. Unknown fields, wrong JSON types and over-long text are refused with a message naming the field.
using room_fields = std::vector<std::pair<std::string, std::string>>;
checked<room_fields> room_fields_of(const json& body, bool creating);

// PUT /api/rooms/<room>/roles: {"user": "bob@example.com", "roles": ["member", "presenter"]}; [] removes the
// user. The roles as storage::role bits.
struct roles_request {
  std::string user; // normalised
  std::uint8_t roles = 0;
};
checked<roles_request> roles_request_of(const json& body);

// --- the chat API (docs/web.md "Chat API") -----------------------------------------------------------------------
// Each body is an object with exactly the fields named (others are refused, so a typo is an error, not a default).
// A room is named by its ma-chan://domain/guid URI (at most 512 bytes); sequence numbers and counts are
// non-negative integers.

// POST .../join: {"room", "history"?: newest posts to return (0..1000, default 50), "after"?: the last seq the page
// has (then every later post, up to 1000, instead of "history")}.
struct chat_join_request {
  std::string room;
  std::uint32_t history = 50;
  std::optional<std::uint64_t> after;
};
checked<chat_join_request> chat_join_request_of(const json& body);

// POST .../post: {"room", "text"}: text not empty, only characters XML carries (invalid_characters otherwise; its
// size limit is the server's messageSizeLimit).
struct chat_post_request {
  std::string room;
  std::string text;
};
checked<chat_post_request> chat_post_request_of(const json& body);

// POST .../part: {"room"}; POST .../follow: {"room", "on"?: true|false (default true)}.
struct chat_room_request {
  std::string room;
  bool on = true;
};
checked<chat_room_request> chat_room_request_of(const json& body, bool with_on);

// POST .../file-token: {"room", "upload": true, "name": the file's name} or {"room", "upload": false, "link": its
// ma-filelink:// link}. `file` is the name or the link (the room's rules and the name's are the directory's).
struct chat_file_request {
  std::string room;
  bool upload = true;
  std::string file;
};
checked<chat_file_request> chat_file_request_of(const json& body);

// A room URI from a query parameter or a field: ma-chan://domain/guid, at most 512 bytes.
checked<std::string> chat_room_of(std::string_view uri);

} // namespace pchat::web
