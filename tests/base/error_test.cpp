// The error table against the documented surfaces: every row's XCCOS code and token (docs/protocol.md "Error
// codes"), SIP status (docs/protocol.md "SIP") and web status and error field (docs/web.md "JSON API", docs/protocol.md
// "Room files"), written out here by hand so that a slip in base/error.cpp shows.
#include <catch2/catch.hpp>

#include <string>

#include "base/error.hpp"

using namespace pchat;

namespace {

struct expected_row {
  pchat_errc code;
  int xccos;
  const char* token;
  int sip;
  int http;
  const char* http_error;
};

constexpr expected_row documented[] = {
  {pchat_errc::room_not_found, 404, "CHANNEL_NOT_FOUND", 0, 404, "room_not_found"},
  {pchat_errc::not_joined, 403, "NOT_JOINED", 0, 403, "not_joined"},
  {pchat_errc::forbidden, 403, "ACCESS_DENIED", 0, 403, "forbidden"},
  {pchat_errc::too_large, 413, "MESSAGE_TOO_LARGE", 0, 413, "too_large"},
  {pchat_errc::invalid_argument, 400, "INVALID_ARGUMENT", 0, 400, "invalid_argument"},
  {pchat_errc::store_failed, 503, "STORE_UNAVAILABLE", 0, 503, "store_unavailable"},
  {pchat_errc::already_exists, 409, "NAME_TAKEN", 0, 409, "name_taken"},
  {pchat_errc::category_not_found, 404, "CATEGORY_NOT_FOUND", 0, 404, "category_not_found"},
  {pchat_errc::file_not_found, 404, "FILE_NOT_FOUND", 0, 404, "file_not_found"},
  {pchat_errc::token_invalid, 401, "TOKEN_INVALID", 0, 401, "token_invalid"},
  {pchat_errc::busy, 503, "TRY_LATER", 0, 503, "busy"},
  {pchat_errc::malformed_xml, 400, "MALFORMED_XML", 0, 400, "invalid_argument"},
  {pchat_errc::not_xccos, 400, "NOT_XCCOS", 0, 400, "invalid_argument"},
  {pchat_errc::unknown_command, 501, "UNKNOWN_COMMAND", 0, 501, "unknown_command"},
  {pchat_errc::invalid_characters, 400, "INVALID_CHARACTERS", 0, 400, "invalid_argument"},
  {pchat_errc::pref_not_found, 404, "PREF_NOT_FOUND", 0, 404, "not_found"},
  {pchat_errc::pref_too_large, 413, "PREF_TOO_LARGE", 0, 413, "too_large"},
  {pchat_errc::files_unavailable, 503, "FILES_UNAVAILABLE", 0, 503, "files_unavailable"},
  {pchat_errc::server_error, 500, "SERVER_ERROR", 0, 500, "server_error"},
  {pchat_errc::timed_out, 0, "", 0, 503, "server_error"},
  {pchat_errc::sip_no_dialog, 0, "", 481, 0, ""},
  {pchat_errc::sip_too_large, 0, "", 413, 0, ""},
  {pchat_errc::sip_media_type, 0, "", 415, 0, ""},
  {pchat_errc::sip_overloaded, 0, "", 503, 0, ""},
  {pchat_errc::malformed_json, 0, "", 0, 400, "malformed_json"},
  {pchat_errc::not_signed_in, 0, "", 0, 401, "not_signed_in"},
  {pchat_errc::sign_in_failed, 0, "", 0, 403, "sign_in_failed"},
  {pchat_errc::too_many_attempts, 0, "", 0, 429, "too_many_attempts"},
  {pchat_errc::page_not_found, 0, "", 0, 404, "not_found"},
  {pchat_errc::length_required, 0, "", 0, 411, "length_required"},
  {pchat_errc::unsupported_media_type, 0, "", 0, 415, "unsupported_media_type"},
  {pchat_errc::wrong_host, 0, "", 0, 421, "wrong_host"},
  {pchat_errc::token_missing, 0, "", 0, 401, "token_missing"},
  {pchat_errc::bad_length, 0, "", 0, 400, "bad_length"},
  {pchat_errc::incomplete_body, 0, "", 0, 400, "incomplete_body"},
  {pchat_errc::range_not_satisfiable, 0, "", 0, 416, "range_not_satisfiable"},
  {pchat_errc::content_missing, 0, "", 0, 500, "content_missing"},
  {pchat_errc::insufficient_storage, 0, "", 0, 507, "insufficient_storage"},
  {pchat_errc::uri_too_long, 0, "", 0, 414, "uri_too_long"},
  {pchat_errc::header_too_large, 0, "", 0, 431, "header_too_large"},
  {pchat_errc::bad_request, 0, "", 0, 400, "bad_request"},
  {pchat_errc::expectation_failed, 0, "", 0, 417, "expectation_failed"},
  {pchat_errc::too_slow, 0, "", 0, 408, "too_slow"},
};

} // namespace

TEST_CASE("error table: every code answers as documented on XCCOS, SIP and the web") {
  STATIC_REQUIRE(sizeof documented / sizeof documented[0] == static_cast<std::size_t>(pchat_errc::count_) - 1);
  for (const auto& want : documented) {
    const auto& got = describe(want.code);
    INFO(got.name);
    CHECK(got.xccos_code == want.xccos);
    CHECK(std::string{got.xccos_token} == want.token);
    CHECK(got.sip_status == want.sip);
    CHECK(got.http_status == want.http);
    CHECK(std::string{got.http_error} == want.http_error);
  }
}
