#include "web/http_head.hpp"

#include <nlohmann/json.hpp>

namespace pchat::web {

namespace {

// RFC 9110 §5.6.2 tchar.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.': case '^':
    case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty())
    return false;
  for (unsigned char c : s)
    if (!is_tchar(c))
      return false;
  return true;
}

// Field values: visible characters, obs-text, spaces and tabs; no other control characters (RFC 9110 §5.5).
bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return false;
  return true;
}

bool equals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size())
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i])
      return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

head_verdict refuse(pchat_errc code, std::string message) {
  head_verdict v;
  v.is = head_verdict::state::refused;
  v.error = code;
  v.message = std::move(message);
  return v;
}

// The longest request line a target of `max_target` bytes makes: "OPTIONS " + target + " HTTP/1.1\r\n".
std::size_t max_request_line(const head_limits& limits) { return limits.max_target + 32; }

} // namespace

head_verdict examine_head(std::string_view received, const head_limits& limits) {
  using state = head_verdict::state;
  // The request line.
  auto line_end = received.find('\n');
  if (line_end == std::string_view::npos) {
    if (received.size() > max_request_line(limits))
      return refuse(pchat_errc::uri_too_long,
                    "Request paths here are at most " + std::to_string(limits.max_target) + " bytes");
    return {};
  }
  if (line_end == 0 || received[line_end - 1] != '\r')
    return refuse(pchat_errc::bad_request, "Lines end with CRLF");
  std::string_view line = received.substr(0, line_end - 1);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return refuse(pchat_errc::bad_request, "The request line is not METHOD TARGET VERSION");
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (target.size() > limits.max_target)
    return refuse(pchat_errc::uri_too_long,
                  "Request paths here are at most " + std::to_string(limits.max_target) + " bytes");
  if (!is_token(method) || target.empty() || !is_field_value(target) || target.find('\t') != std::string_view::npos)
    return refuse(pchat_errc::bad_request, "The request line is not METHOD TARGET VERSION");
  if (version != "HTTP/1.1" && version != "HTTP/1.0")
    return refuse(pchat_errc::bad_request, "Only HTTP/1.1 and HTTP/1.0 are served");

  // The end of the head: the first empty line. A bare LF before it is refused below, line by line.
  std::size_t end = std::string_view::npos;
  for (auto at = line_end; at != std::string_view::npos; at = received.find('\n', at + 1)) {
    // An empty line is "\n" right after the previous line's "\n" (or "\r\n" after it).
    if (at + 1 < received.size() && received[at + 1] == '\n') {
      end = at + 2;
      break;
    }
    if (at + 2 < received.size() && received[at + 1] == '\r' && received[at + 2] == '\n') {
      end = at + 3;
      break;
    }
  }
  if (end == std::string_view::npos) {
    if (received.size() >= limits.max_head)
      return refuse(pchat_errc::header_too_large,
                    "Request heads here are at most " + std::to_string(limits.max_head) + " bytes");
    return {};
  }
  if (end > limits.max_head)
    return refuse(pchat_errc::header_too_large,
                  "Request heads here are at most " + std::to_string(limits.max_head) + " bytes");

  // The header fields, strictly: "name: value" CRLF, no folding, no space before the colon.
  head_verdict v;
  v.info.size = end;
  std::size_t fields = 0;
  bool host = false;
  std::size_t at = line_end + 1;
  while (true) {
    auto nl = received.find('\n', at);
    if (nl == std::string_view::npos || nl > end) // cannot happen: `end` follows a '\n'
      return refuse(pchat_errc::bad_request, "The header ends early");
    if (nl == at || received[nl - 1] != '\r')
      return refuse(pchat_errc::bad_request, "Lines end with CRLF");
    std::string_view field = received.substr(at, nl - 1 - at);
    at = nl + 1;
    if (field.empty())
      break; // the empty line: `at` == end
    if (++fields > limits.max_fields)
      return refuse(pchat_errc::header_too_large,
                    "Requests here carry at most " + std::to_string(limits.max_fields) + " header fields");
    if (field.front() == ' ' || field.front() == '\t')
      return refuse(pchat_errc::bad_request, "Folded header lines are not accepted");
    auto colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon)))
      return refuse(pchat_errc::bad_request, "A header field is not NAME: VALUE");
    auto name = field.substr(0, colon);
    auto value = trim_ows(field.substr(colon + 1));
    if (!is_field_value(value))
      return refuse(pchat_errc::bad_request, "A header field holds a control character");
    if (equals_lower(name, "content-length")) {
      bool digits = !value.empty() && value.size() <= 18 && value.find_first_not_of("0123456789") == std::string_view::npos;
      if (!digits)
        return refuse(pchat_errc::bad_length, "Content-Length is not a number");
      std::uint64_t n = 0;
      for (char c : value)
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      // RFC 9112 §6.3: different lengths make the message's end unknowable; it cannot be served.
      if (v.info.content_length && *v.info.content_length != n)
        return refuse(pchat_errc::bad_length, "Two different Content-Length values");
      v.info.content_length = n;
    } else if (equals_lower(name, "transfer-encoding")) {
      v.info.transfer_encoding = true;
    } else if (equals_lower(name, "expect")) {
      v.info.expect_continue = v.info.expect_continue || equals_lower(value, "100-continue");
    } else if (equals_lower(name, "range")) {
      if (value.size() > limits.max_range)
        return refuse(pchat_errc::range_not_satisfiable, "Ask for one byte range");
    } else if (equals_lower(name, "host")) {
      if (host)
        return refuse(pchat_errc::bad_request, "Two Host header fields");
      host = true;
    }
  }
  // RFC 9112 §6.1: both at once may be an attempt at request smuggling.
  if (v.info.content_length && v.info.transfer_encoding)
    return refuse(pchat_errc::bad_request, "Send either Content-Length or Transfer-Encoding, not both");
  v.is = state::complete;
  return v;
}

std::string refusal_response(pchat_errc code, const std::string& message, const std::string& extra_headers) {
  const auto& d = describe(code);
  auto body = nlohmann::json{{"error", d.http_error}, {"message", message.empty() ? d.http_message : message}}.dump(
    -1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string reason;
  switch (d.http_status) {
    case 400: reason = "Bad Request"; break;
    case 408: reason = "Request Timeout"; break;
    case 414: reason = "URI Too Long"; break;
    case 416: reason = "Range Not Satisfiable"; break;
    case 417: reason = "Expectation Failed"; break;
    case 431: reason = "Request Header Fields Too Large"; break;
    case 503: reason = "Service Unavailable"; break;
    default: reason = "Error"; break;
  }
  return "HTTP/1.1 " + std::to_string(d.http_status) + " " + reason +
         "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace pchat::web
