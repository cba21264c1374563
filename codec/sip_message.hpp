#pragma once
// A pure SIP text codec (RFC 3261 §7, §18.3, §20, §25): parse messages out of a byte buffer and serialize them
// back. No sockets, no threads, no global state except a thread-local random generator for tags/branches.
//
// Used by the client library (client/sip_agent), by the scripted servers in tests and by the raw
// conformance tests. The server itself parses SIP with Sofia-SIP; this codec only has to agree with it on the
// wire format that pidgin-sipe produces (docs/xccos.md §2, docs/pidgin-sipe.md §2).
//
// Contracts common to every function here: no exceptions on malformed input (bad input gives an error value,
// std::nullopt or an empty string), no allocation proportional to anything but the input size, and nothing
// kept between calls.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/text.hpp"

namespace pchat::sip {

struct header {
  std::string name;  // long form (compact forms are expanded on parse and on add())
  std::string value; // leading/trailing whitespace trimmed, folded lines joined with one SP
};

// One SIP message. A request has status == 0 and a method/uri; a response has a status in 100..699 and a reason.
// Headers keep their wire order and duplicates; lookups are case-insensitive and accept compact names ("i").
struct message {
  std::string method; // requests: "INVITE", ...
  std::string uri;    // requests: the Request-URI, verbatim
  int status = 0;     // responses: 100..699
  std::string reason; // responses: the reason phrase, may be empty
  std::vector<header> headers;
  std::string body;

  static message request(std::string method, std::string uri);
  static message response(int status, std::string reason = {}); // empty reason -> reason_phrase(status)

  bool is_request() const { return status == 0; }
  bool is_response() const { return status != 0; }

  // First value of the header, or nullptr. The pointer is invalidated by any change to `headers`.
  const std::string* get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string_view fallback = {}) const;
  // All values, in order. Values are NOT split on commas (sipe does not split either, docs/xccos.md §2.1).
  std::vector<std::string> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }

  void add(std::string_view name, std::string value); // appends (duplicates allowed)
  void set(std::string_view name, std::string value); // replaces the first, removes the others, or appends
  std::size_t remove(std::string_view name);          // removes all; returns how many
};

// --- parsing ---------------------------------------------------------------------------------------------------

struct parse_options {
  // Start line + headers + the blank line. A longer header section is an error, not a wait for more bytes.
  std::size_t max_header_bytes = 64 * 1024;
  // Content-Length (or, in datagram mode, the remaining bytes) above this is an error.
  std::size_t max_body_bytes = 1024 * 1024;
  // Stream mode (TCP, default): Content-Length frames the body and is mandatory unless nothing follows the
  // header section (RFC 3261 §18.3). Datagram mode: the buffer is exactly one message, the body is the rest of it
  // (cut to Content-Length when that is smaller), and a short buffer is an error instead of `incomplete`.
  bool datagram = false;
};

enum class parse_status {
  ok,         // `msg` holds a message; drop `consumed` bytes from the buffer
  incomplete, // more bytes are needed; `consumed` leading keep-alive bytes (CR/LF) may be dropped already
  error,      // the stream cannot be resynchronised (`error` says why); close the connection
};

struct parse_result {
  parse_status status = parse_status::incomplete;
  message msg;              // valid only when status == ok
  std::size_t consumed = 0; // see parse_status
  std::string error;        // status == error: a reason; size-limit failures start with "too large"
};

// Parses the first message in `buf`. Leading CR/LF bytes (the "\r\n\r\n" keep-alives of RFC 5626 §3.5.1 that sipe
// sends) are skipped and counted in `consumed`. Lines must end in CRLF; a bare CR or LF or another control
// character inside the header section is an error. Compact header names are expanded (RFC 3261 §7.3.3), folded
// lines are joined. Content-Length must be a decimal number; duplicates must agree. Any byte sequence is safe
// to pass in; the cost is linear in min(buf.size(), limits).
parse_result parse(std::string_view buf, const parse_options& options = {});

// --- serialization -----------------------------------------------------------------------------------------------

// Start line, headers in order with long names, a Content-Length computed from the body (Content-Length headers
// in `m.headers` are ignored), a blank line, the body. Does not validate the message.
std::string serialize(const message& m);

// --- helpers ------------------------------------------------------------------------------------------------------

// Case-insensitive comparison and lower case: base/text.hpp's iequals and ascii_lower.
// The address of record users are known by: "Alice <sip:Alice@Example.com;transport=tcp>" or "alice@example.com"
// -> "sip:alice@example.com" (sips: becomes sip:, parameters and headers dropped, lower case). Empty when the
// text holds no user@host.
std::string normalize_aor(std::string_view uri);
std::string_view trim(std::string_view s);
// "localhost", 127.0.0.0/8 or ::1 (bracketed or not): a listen address nobody else can reach.
bool is_loopback_host(const std::string& host);

// "i" -> "Call-ID", "l" -> "Content-Length", ... (case-insensitive); any other name is returned unchanged.
std::string_view long_header_name(std::string_view name);

// "OK" for 200, "Not Implemented" for 501, ...; "Unknown" for codes it does not know.
const char* reason_phrase(int status);

// A name-addr or addr-spec header value (From, To, Contact, Route): `"Alice" <sip:a@b;x=y>;tag=abc`,
// `Alice <sip:a@b>`, `<sip:a@b>;tag=1` or `sip:a@b;tag=1` (without <>, ';' parameters belong to the header,
// RFC 3261 §20.10). Parameter names keep their case; values are unquoted; flag parameters have an empty value.
struct name_addr {
  std::string display; // unquoted, may be empty
  std::string uri;     // without the angle brackets
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* param(std::string_view name) const; // case-insensitive; nullptr when absent
};
// nullopt when the value is empty, a quote or '<' is not closed, or the URI is empty. Stops at a top-level
// comma (only the first of several comma-separated values is parsed).
std::optional<name_addr> parse_name_addr(std::string_view value);

// A ';' parameter of a header value, after its main part: tag (From/To), branch/received/rport (Via), expires
// (Contact), ... Quoted strings and <...> are skipped when looking for parameters, so a name-addr's URI parameters
// are not seen; for a bare URI ("sip:a@b;transport=tcp") this returns URI parameters. Stops at a top-level comma.
// nullopt when absent; an empty string for a flag parameter (";rport"); quoted values are unquoted.
std::optional<std::string> header_param(std::string_view value, std::string_view name);

// "user@host" out of a URI or a name-addr: scheme, port, URI parameters and headers are dropped
// ("<sip:Alice@Example.com:5061;transport=tcp>" -> "Alice@Example.com"). Only "host" when there is no user part.
// Case is kept (compare with iequals). Empty when nothing usable is found.
std::string uri_user_host(std::string_view uri);

// Random hex strings from base/random.hpp's one cryptographic source.
std::string random_tag();     // 16 hex digits
std::string random_branch();  // "z9hG4bK" + 16 hex digits (RFC 3261 §8.1.1.7 magic cookie)
std::string random_call_id(); // 32 hex digits

struct cseq {
  std::uint32_t number = 0;
  std::string method;
};
// "12 INFO" -> {12, "INFO"}. nullopt unless it is digits (< 2^31), whitespace, a method token, and nothing else.
std::optional<cseq> parse_cseq(std::string_view value);

// A response to `request` (RFC 3261 §8.2.6.2): copies every Via in order, From, To, Call-ID and CSeq. When To has
// no tag and `to_tag` is not empty, ";tag=<to_tag>" is appended to To. No body; an empty reason means the
// standard phrase.
message make_response(const message& request, int status, std::string reason = {}, std::string_view to_tag = {});

} // namespace pchat::sip
