#pragma once
// pchat's one error vocabulary and its one table. Every refusal anywhere — an XCCOS command, a SIP request the
// edge turns away, a web request — is a pchat_errc, and describe() says, in one place, what it becomes on each
// surface: the XCCOS <resp code> and token (docs/protocol.md "Error codes"), the SIP status, the HTTP status and
// "error" field of the web API (docs/web.md "JSON API"), and the label of pchat_rejections_total (/metrics) for
// the refusals the session and the SIP edge count.
// Errors travel as values (caf::error with this code inside the actors, see actors/protocol.hpp). Only the web's
// chat, which talks to sessions in XCCOS as a client does, reads a reply's code and token back (from_xccos).
#include <cstdint>
#include <string_view>

namespace pchat {

enum class pchat_errc : std::uint8_t {
  // Refusals a requester gets back from the actors (the numbers travel inside caf::error: keep them).
  room_not_found = 1, // no such room, or one the user may not know exists (secret rooms)
  not_joined,         // post/part/history on a room the dialog has not joined
  forbidden,          // the room's rules refuse this user (closed/secret/auditorium/disabled)
  too_large,          // chat text over messageSizeLimit; a web body or file over its limit
  invalid_argument,   // the request is missing something or carries an invalid value
  store_failed,       // the store (or compliance) refused the write; nothing was fanned out
  already_exists,     // a room or category name is taken
  category_not_found, // no such category
  file_not_found,     // no such file in that room (getfdtok, download)
  token_invalid,      // a file token that is unknown, expired or already used
  busy,               // a bounded resource is full (live file tokens, transfers): try again later
  // What the session refuses before any other actor sees the command.
  malformed_xml,      // the INFO body is not well-formed XML
  not_xccos,          // well-formed, but not an XCCOS envelope with an item
  unknown_command,    // a command pchat does not implement
  invalid_characters, // chat text with characters XML 1.0 cannot carry
  pref_not_found,     // getpref of a label never set, without createdefault
  pref_too_large,     // setpref over its limits
  files_unavailable,  // file tokens asked of a pchatd without its web server
  server_error,       // anything unexpected (a bug)
  timed_out,          // an actor did not answer in time (the web's blocking requests)
  // What the SIP edge refuses.
  sip_no_dialog,   // 481: a request outside any dialog
  sip_too_large,   // 413: a body over sip.max-body
  sip_media_type,  // 415: an INFO body of another Content-Type
  sip_overloaded,  // 503: more commands or outbound INFOs waiting than the limits allow
  // What only the web refuses.
  malformed_json,        // a request body that is not a JSON object
  not_signed_in,         // no or an expired session cookie
  sign_in_failed,        // wrong user or password
  too_many_attempts,     // sign-in throttled
  page_not_found,        // no such page
  length_required,       // a body without Content-Length
  unsupported_media_type, // a body of the wrong type
  wrong_host,            // /api under a host name that is not the server's
  token_missing,         // a file request without a token
  bad_length,            // a Content-Length that is not a number
  incomplete_body,       // an upload that ended before its declared length
  range_not_satisfiable, // a Range outside the file
  content_missing,       // the file's content is gone from the file store
  insufficient_storage,  // the disk is short of space
  uri_too_long,          // a request-target over the limit (web/http_head.hpp)
  header_too_large,      // a request head over the limit
  bad_request,           // a request head that is not well-formed HTTP/1.1
  expectation_failed,    // Expect: 100-continue where no body is streamed
  too_slow,              // a request head that did not arrive within web.header-timeout
  count_
};

struct error_entry {
  const char* name;         // the code's own name ("room_not_found"): logs
  int xccos_code;           // <resp code> (0: never an XCCOS answer)
  const char* xccos_token;  // <resp> token ("" when xccos_code is 0)
  int sip_status;           // the SIP answer (0: not a SIP-level refusal)
  int http_status;          // the web API's status
  const char* http_error;   // the web API's "error" field
  const char* http_message; // the web API's default message (a request's own detail may follow ": ")
  const char* metric;       // pchat_rejections_total{reason=...}; "" for what is not counted (web-only refusals)
};

// The entry of `e`; server_error's for a value outside the enum.
const error_entry& describe(pchat_errc e);
inline const char* to_string(pchat_errc e) { return describe(e).name; }
// The code whose XCCOS answer is `code` and `token`; server_error when none is.
pchat_errc from_xccos(int code, std::string_view token);

} // namespace pchat
