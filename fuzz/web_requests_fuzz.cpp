// The web API's request bodies (web/requests.hpp) on any bytes, without a server: the body as JSON, then every
// route's fields from it (sign-in, room creation, room settings, roles). Nothing may throw (a JSON value of the
// wrong type read as a string would); what is accepted is what the routes promise the directory:
// - a user is a normalised sip: address XML can carry, without spaces, quotes or angle brackets;
// - room fields are known names within their length limits, a room name is trimmed and not empty, and a new
//   room names its category;
// - roles are storage::role bits;
// - the chat's bodies name a room by a ma-chan:// URI XML can carry, counts stay within their limits, a post's text
//   is not empty, a file request names a file;
// - a refusal says why.
#include <algorithm>
#include <string>

#include "base/text.hpp"
#include "codec/xccos.hpp"
#include "fuzz/fuzz.hpp"
#include "web/requests.hpp"

using namespace pchat;
using namespace pchat::web;

namespace {

template <class T>
const T* accepted(const checked<T>& c) {
  if (const auto* error = std::get_if<request_error>(&c)) {
    PCHAT_FUZZ_CHECK(!error->message.empty());
    return nullptr;
  }
  return &std::get<T>(c);
}

void check_user(const std::string& aor) {
  PCHAT_FUZZ_CHECK(aor.rfind("sip:", 0) == 0);
  PCHAT_FUZZ_CHECK(is_xml_text(aor));
  PCHAT_FUZZ_CHECK(aor.find_first_of(" \t\r\n<>\"") == std::string::npos);
}

void check_room(const std::string& room) {
  PCHAT_FUZZ_CHECK(room.size() <= 512 && is_xml_text(room) && xccos::parse_chan_uri(room).has_value());
}

void check_fields(const room_fields& fields, bool creating) {
  for (const auto& [name, value] : fields) {
    if (name == "name") {
      PCHAT_FUZZ_CHECK(!value.empty() && value.size() <= 256);
      PCHAT_FUZZ_CHECK(value.front() != ' ' && value.front() != '\t' && value.back() != ' ' && value.back() != '\t');
    } else if (name == "disabled") {
      PCHAT_FUZZ_CHECK(value == "true" || value == "false");
    } else {
      PCHAT_FUZZ_CHECK(name == "description" || name == "topic" || name == "privacy" || name == "type" ||
                       name == "invite" || (creating && name == "category"));
      PCHAT_FUZZ_CHECK(value.size() <= 2048);
    }
  }
  if (creating)
    PCHAT_FUZZ_CHECK(std::any_of(fields.begin(), fields.end(), [](const auto& f) { return f.first == "category"; }));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = fuzz::text_of(data, size);
  const auto parsed = json_object("application/json; charset=utf-8", body);
  const auto* object = accepted(parsed);
  if (!object)
    return 0;
  PCHAT_FUZZ_CHECK(object->is_object() && body.size() <= max_json_body);

  const auto sign_in = sign_in_request_of(*object);
  if (const auto* request = accepted(sign_in))
    check_user(request->user);
  for (bool creating : {true, false}) {
    const auto fields = room_fields_of(*object, creating);
    if (const auto* request = accepted(fields))
      check_fields(*request, creating);
  }
  const auto roles = roles_request_of(*object);
  if (const auto* request = accepted(roles)) {
    check_user(request->user);
    PCHAT_FUZZ_CHECK((request->roles & ~7u) == 0);
  }
  const auto join = chat_join_request_of(*object);
  if (const auto* request = accepted(join)) {
    check_room(request->room);
    PCHAT_FUZZ_CHECK(request->history <= 1000);
  }
  const auto post = chat_post_request_of(*object);
  if (const auto* request = accepted(post)) {
    check_room(request->room);
    PCHAT_FUZZ_CHECK(!request->text.empty() && is_xml_text(request->text));
  }
  for (bool with_on : {true, false}) {
    const auto room = chat_room_request_of(*object, with_on);
    if (const auto* request = accepted(room))
      check_room(request->room);
  }
  const auto file = chat_file_request_of(*object);
  if (const auto* request = accepted(file)) {
    check_room(request->room);
    PCHAT_FUZZ_CHECK(!request->file.empty() && request->file.size() <= 2048 && is_xml_text(request->file));
  }
  return 0;
}
