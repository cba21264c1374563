#include "base/error.hpp"

#include <array>

namespace pchat {

namespace {

using e = pchat_errc;
constexpr std::size_t n = static_cast<std::size_t>(pchat_errc::count_);

// One row per code, in enum order (checked below). Columns: name | XCCOS code, token | SIP | HTTP status, error,
// message | metric label. Metric labels of XCCOS answers are their tokens, of SIP refusals sip_<status>_<what>;
// refusals only the web gives are not counted in /metrics (yet), so they have no label.
struct row {
  pchat_errc code;
  error_entry entry;
};
constexpr row rows[] = {
  {e::room_not_found, {"room_not_found", 404, "CHANNEL_NOT_FOUND", 0, 404, "room_not_found",
                       "No such room (or you may not see it)", "CHANNEL_NOT_FOUND"}},
  {e::not_joined, {"not_joined", 403, "NOT_JOINED", 0, 403, "not_joined", "You are not in that room", "NOT_JOINED"}},
  {e::forbidden, {"forbidden", 403, "ACCESS_DENIED", 0, 403, "forbidden", "You may not do that", "ACCESS_DENIED"}},
  {e::too_large, {"too_large", 413, "MESSAGE_TOO_LARGE", 0, 413, "too_large", "Too large", "MESSAGE_TOO_LARGE"}},
  {e::invalid_argument, {"invalid_argument", 400, "INVALID_ARGUMENT", 0, 400, "invalid_argument", "Invalid value",
                         "INVALID_ARGUMENT"}},
  {e::store_failed, {"store_failed", 503, "STORE_UNAVAILABLE", 0, 503, "store_unavailable",
                     "The server could not store the change; try again", "STORE_UNAVAILABLE"}},
  {e::already_exists, {"already_exists", 409, "NAME_TAKEN", 0, 409, "name_taken", "That name is taken", "NAME_TAKEN"}},
  {e::category_not_found, {"category_not_found", 404, "CATEGORY_NOT_FOUND", 0, 404, "category_not_found",
                           "No such category", "CATEGORY_NOT_FOUND"}},
  {e::file_not_found, {"file_not_found", 404, "FILE_NOT_FOUND", 0, 404, "file_not_found", "No such file in that room",
                       "FILE_NOT_FOUND"}},
  {e::token_invalid, {"token_invalid", 401, "TOKEN_INVALID", 0, 401, "token_invalid",
                      "The file token is not valid; ask for a new one", "TOKEN_INVALID"}},
  {e::busy, {"busy", 503, "TRY_LATER", 0, 503, "busy", "The server is busy; try again later", "TRY_LATER"}},
  {e::malformed_xml, {"malformed_xml", 400, "MALFORMED_XML", 0, 400, "invalid_argument", "Malformed XML",
                      "MALFORMED_XML"}},
  {e::not_xccos, {"not_xccos", 400, "NOT_XCCOS", 0, 400, "invalid_argument", "Not an XCCOS document", "NOT_XCCOS"}},
  {e::unknown_command, {"unknown_command", 501, "UNKNOWN_COMMAND", 0, 501, "unknown_command", "Unknown command",
                        "UNKNOWN_COMMAND"}},
  {e::invalid_characters, {"invalid_characters", 400, "INVALID_CHARACTERS", 0, 400, "invalid_argument",
                           "Text with characters XML cannot carry", "INVALID_CHARACTERS"}},
  {e::pref_not_found, {"pref_not_found", 404, "PREF_NOT_FOUND", 0, 404, "not_found", "No such preference",
                       "PREF_NOT_FOUND"}},
  {e::pref_too_large, {"pref_too_large", 413, "PREF_TOO_LARGE", 0, 413, "too_large", "Preference too large",
                       "PREF_TOO_LARGE"}},
  {e::files_unavailable, {"files_unavailable", 503, "FILES_UNAVAILABLE", 0, 503, "files_unavailable",
                          "Room files need pchatd's web server", "FILES_UNAVAILABLE"}},
  {e::server_error, {"server_error", 500, "SERVER_ERROR", 0, 500, "server_error", "Server error", "SERVER_ERROR"}},
  {e::timed_out, {"timed_out", 0, "", 0, 503, "server_error", "The server could not answer in time; try again.",
                  ""}},
  {e::sip_no_dialog, {"sip_no_dialog", 0, "", 481, 0, "", "", "sip_481_no_dialog"}},
  {e::sip_too_large, {"sip_too_large", 0, "", 413, 0, "", "", "sip_413_too_large"}},
  {e::sip_media_type, {"sip_media_type", 0, "", 415, 0, "", "", "sip_415_media_type"}},
  {e::sip_overloaded, {"sip_overloaded", 0, "", 503, 0, "", "", "sip_503_overload"}},
  {e::malformed_json, {"malformed_json", 0, "", 0, 400, "malformed_json", "The request body is not a JSON object",
                       ""}},
  {e::not_signed_in, {"not_signed_in", 0, "", 0, 401, "not_signed_in", "Sign in first", ""}},
  {e::sign_in_failed, {"sign_in_failed", 0, "", 0, 403, "sign_in_failed", "Wrong user or password",
                       ""}},
  {e::too_many_attempts, {"too_many_attempts", 0, "", 0, 429, "too_many_attempts",
                          "Too many failed sign-ins; wait a minute", ""}},
  {e::page_not_found, {"page_not_found", 0, "", 0, 404, "not_found", "No such page", ""}},
  {e::length_required, {"length_required", 0, "", 0, 411, "length_required", "Send a Content-Length",
                        ""}},
  {e::unsupported_media_type, {"unsupported_media_type", 0, "", 0, 415, "unsupported_media_type",
                               "Unsupported media type", ""}},
  {e::wrong_host, {"wrong_host", 0, "", 0, 421, "wrong_host", "This server does not answer to that host name",
                   ""}},
  {e::token_missing, {"token_missing", 0, "", 0, 401, "token_missing", "Ask for a file token and pass it as ?token=",
                      ""}},
  {e::bad_length, {"bad_length", 0, "", 0, 400, "bad_length", "Content-Length is not a number", ""}},
  {e::incomplete_body, {"incomplete_body", 0, "", 0, 400, "incomplete_body", "The upload ended before its body did",
                        ""}},
  {e::range_not_satisfiable, {"range_not_satisfiable", 0, "", 0, 416, "range_not_satisfiable",
                              "The range is outside the file", ""}},
  {e::content_missing, {"content_missing", 0, "", 0, 500, "content_missing",
                        "The file's content is missing on the server", ""}},
  {e::insufficient_storage, {"insufficient_storage", 0, "", 0, 507, "insufficient_storage",
                             "The server is short of disk space", ""}},
  {e::uri_too_long, {"uri_too_long", 0, "", 0, 414, "uri_too_long", "The request's path is too long", ""}},
  {e::header_too_large, {"header_too_large", 0, "", 0, 431, "header_too_large", "The request's header is too large",
                         ""}},
  {e::bad_request, {"bad_request", 0, "", 0, 400, "bad_request", "The request is not well-formed HTTP/1.1", ""}},
  {e::expectation_failed, {"expectation_failed", 0, "", 0, 417, "expectation_failed",
                           "Send the request without Expect: 100-continue", ""}},
  {e::too_slow, {"too_slow", 0, "", 0, 408, "too_slow", "The request did not arrive in time", ""}},
};
static_assert(sizeof rows / sizeof rows[0] == n - 1, "one row per pchat_errc");

constexpr bool in_order() {
  for (std::size_t i = 0; i < n - 1; ++i)
    if (static_cast<std::size_t>(rows[i].code) != i + 1)
      return false;
  return true;
}
static_assert(in_order(), "rows in enum order, starting at 1");

} // namespace

const error_entry& describe(pchat_errc code) {
  auto i = static_cast<std::size_t>(code);
  if (i < 1 || i >= n)
    return rows[static_cast<std::size_t>(pchat_errc::server_error) - 1].entry;
  return rows[i - 1].entry;
}

pchat_errc from_xccos(int code, std::string_view token) {
  for (std::size_t i = 0; i + 1 < n; ++i)
    if (rows[i].entry.xccos_code == code && token == rows[i].entry.xccos_token)
      return static_cast<pchat_errc>(i + 1);
  return pchat_errc::server_error;
}

} // namespace pchat
