#include "codec/sip_message.hpp"

#include "base/random.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <random>

namespace pchat::sip {

namespace {

constexpr std::string_view crlf = "\r\n";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3261 §25.1 token characters.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
    return true;
  switch (c) {
  case '-':
  case '.':
  case '!':
  case '%':
  case '*':
  case '_':
  case '+':
  case '`':
  case '\'':
  case '~':
    return true;
  default:
    return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!is_token_char(c))
      return false;
  return true;
}

// RFC 3261 §7.3.3 compact forms, plus the few RFC 3265/4028 ones sipe and Sofia know.
struct compact_entry {
  char letter;
  std::string_view name;
};
constexpr std::array<compact_entry, 13> compact_forms{{
    {'i', "Call-ID"},
    {'f', "From"},
    {'t', "To"},
    {'v', "Via"},
    {'m', "Contact"},
    {'l', "Content-Length"},
    {'c', "Content-Type"},
    {'k', "Supported"},
    {'e', "Content-Encoding"},
    {'s', "Subject"},
    {'o', "Event"},
    {'u', "Allow-Events"},
    {'x', "Session-Expires"},
}};

std::optional<std::size_t> parse_size(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 18)
    return std::nullopt;
  std::size_t n = 0;
  for (char c : s) {
    if (!is_digit(c))
      return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

parse_result fail(std::string why) {
  parse_result r;
  r.status = parse_status::error;
  r.error = std::move(why);
  return r;
}

// RFC 3261 §7.1 Request-Line, §7.2 Status-Line.
bool parse_start_line(std::string_view line, message& m, std::string& why) {
  constexpr std::string_view version = "SIP/2.0";
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) {
    why = "malformed start line";
    return false;
  }
  auto first = line.substr(0, sp1);
  if (iequals(first, version)) {
    auto rest = line.substr(sp1 + 1);
    if (rest.size() < 3 || !is_digit(rest[0]) || !is_digit(rest[1]) || !is_digit(rest[2]) ||
        (rest.size() > 3 && rest[3] != ' ')) {
      why = "malformed status code";
      return false;
    }
    int code = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (code < 100 || code > 699) {
      why = "status code out of range";
      return false;
    }
    m.status = code;
    m.reason = rest.size() > 4 ? std::string(rest.substr(4)) : std::string();
    return true;
  }
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !is_token(first)) {
    why = "malformed request line";
    return false;
  }
  auto uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (uri.empty() || !iequals(line.substr(sp2 + 1), version)) {
    why = "malformed request line";
    return false;
  }
  m.method = std::string(first);
  m.uri = std::string(uri);
  return true;
}

// Splits ';'-separated parameters starting at `s` (which begins right after the main part), honouring quotes,
// until the end or a top-level comma.
std::vector<std::pair<std::string, std::string>> split_params(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ',')
      break;
    if (s[i] != ';') {
      ++i;
      continue;
    }
    ++i;
    std::size_t start = i;
    bool quoted = false;
    while (i < s.size()) {
      char c = s[i];
      if (quoted) {
        if (c == '\\' && i + 1 < s.size())
          ++i;
        else if (c == '"')
          quoted = false;
      } else if (c == '"') {
        quoted = true;
      } else if (c == ';' || c == ',') {
        break;
      }
      ++i;
    }
    auto item = trim(s.substr(start, i - start));
    if (item.empty())
      continue;
    auto eq = item.find('=');
    std::string name(trim(item.substr(0, eq)));
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = trim(item.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
        v = v.substr(1, v.size() - 2);
      value = std::string(v);
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

} // namespace

// --- message ------------------------------------------------------------------------------------------------------

message message::request(std::string method, std::string uri) {
  message m;
  m.method = std::move(method);
  m.uri = std::move(uri);
  return m;
}

message message::response(int status, std::string reason) {
  message m;
  m.status = status;
  m.reason = reason.empty() ? std::string(reason_phrase(status)) : std::move(reason);
  return m;
}

const std::string* message::get(std::string_view name) const {
  auto n = long_header_name(name);
  for (auto& h : headers)
    if (iequals(h.name, n))
      return &h.value;
  return nullptr;
}

std::string message::get_or(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return v ? *v : std::string(fallback);
}

std::vector<std::string> message::get_all(std::string_view name) const {
  auto n = long_header_name(name);
  std::vector<std::string> out;
  for (auto& h : headers)
    if (iequals(h.name, n))
      out.push_back(h.value);
  return out;
}

void message::add(std::string_view name, std::string value) {
  headers.push_back(header{std::string(long_header_name(name)), std::move(value)});
}

void message::set(std::string_view name, std::string value) {
  auto n = long_header_name(name);
  bool done = false;
  for (auto i = headers.begin(); i != headers.end();) {
    if (!iequals(i->name, n)) {
      ++i;
    } else if (!done) {
      i->value = std::move(value);
      done = true;
      ++i;
    } else {
      i = headers.erase(i);
    }
  }
  if (!done)
    add(n, std::move(value));
}

std::size_t message::remove(std::string_view name) {
  auto n = long_header_name(name);
  auto before = headers.size();
  for (auto i = headers.begin(); i != headers.end();)
    i = iequals(i->name, n) ? headers.erase(i) : i + 1;
  return before - headers.size();
}

// --- parse --------------------------------------------------------------------------------------------------------

parse_result parse(std::string_view buf, const parse_options& options) {
  // Keep-alives (RFC 5626 §3.5.1): CRLF CRLF pings, CRLF pongs.
  std::size_t skip = 0;
  while (skip < buf.size() && (buf[skip] == '\r' || buf[skip] == '\n'))
    ++skip;
  auto rest = buf.substr(skip);

  // Look for the end of the header section only within the limit, so garbage costs at most that much.
  auto window = rest.substr(0, options.max_header_bytes);
  auto end = window.find("\r\n\r\n");
  // Reject garbage as early as possible: control bytes, and a complete but malformed start line.
  auto scan_len = end == std::string_view::npos ? window.size() : end + 2;
  for (std::size_t i = 0; i < scan_len; ++i) {
    auto c = static_cast<unsigned char>(rest[i]);
    if (c == '\r') {
      if (i + 1 < rest.size() && rest[i + 1] != '\n')
        return fail("bare CR in header section");
    } else if (c == '\n') {
      if (i == 0 || rest[i - 1] != '\r')
        return fail("bare LF in header section");
    } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return fail("control character in header section");
    }
  }
  message m;
  std::string why;
  auto first_eol = window.find(crlf);
  if (first_eol != std::string_view::npos && !parse_start_line(rest.substr(0, first_eol), m, why))
    return fail(why);

  if (end == std::string_view::npos) {
    if (rest.size() >= options.max_header_bytes)
      return fail("too large: header section exceeds " + std::to_string(options.max_header_bytes) + " bytes");
    if (options.datagram)
      return fail("no end of header section");
    parse_result r;
    r.consumed = skip;
    return r;
  }
  auto header_len = end + 4;
  if (header_len > options.max_header_bytes)
    return fail("too large: header section exceeds " + std::to_string(options.max_header_bytes) + " bytes");

  // Header lines (RFC 3261 §7.3.1): "name: value", continuation lines start with SP or HT.
  auto lines = rest.substr(first_eol + 2, end + 2 - (first_eol + 2));
  std::size_t pos = 0;
  while (pos < lines.size()) {
    auto eol = lines.find(crlf, pos);
    auto line = lines.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty())
      return fail("empty header line");
    if (line[0] == ' ' || line[0] == '\t') {
      if (m.headers.empty())
        return fail("continuation line before the first header");
      auto more = trim(line);
      auto& value = m.headers.back().value;
      if (!more.empty()) {
        if (!value.empty())
          value += ' ';
        value += more;
      }
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("header line without colon");
    auto name = trim(line.substr(0, colon));
    if (!is_token(name))
      return fail("malformed header name");
    m.add(name, std::string(trim(line.substr(colon + 1))));
  }

  std::optional<std::size_t> content_length;
  for (auto& h : m.headers) {
    if (!iequals(h.name, "Content-Length"))
      continue;
    auto n = parse_size(h.value);
    if (!n)
      return fail("malformed Content-Length");
    if (content_length && *content_length != *n)
      return fail("conflicting Content-Length headers");
    content_length = n;
  }
  if (content_length && *content_length > options.max_body_bytes)
    return fail("too large: body of " + std::to_string(*content_length) + " bytes exceeds " +
                std::to_string(options.max_body_bytes));

  auto available = rest.size() - header_len;
  std::size_t body_len = 0;
  if (options.datagram) {
    // RFC 3261 §18.3: bytes beyond Content-Length are discarded; fewer bytes are an error.
    if (content_length) {
      if (*content_length > available)
        return fail("truncated body");
      body_len = *content_length;
    } else {
      if (available > options.max_body_bytes)
        return fail("too large: body exceeds " + std::to_string(options.max_body_bytes) + " bytes");
      body_len = available;
    }
  } else if (content_length) {
    if (available < *content_length) {
      parse_result r;
      r.consumed = skip;
      return r;
    }
    body_len = *content_length;
  } else if (available > 0) {
    // RFC 3261 §18.3: Content-Length is mandatory on streams; without it the next message cannot be found.
    return fail("missing Content-Length on a stream");
  }

  parse_result r;
  r.status = parse_status::ok;
  m.body = std::string(rest.substr(header_len, body_len));
  r.msg = std::move(m);
  r.consumed = options.datagram ? buf.size() : skip + header_len + body_len;
  return r;
}

// --- serialize ----------------------------------------------------------------------------------------------------

std::string serialize(const message& m) {
  std::string out;
  std::size_t estimate = 64 + m.body.size() + m.uri.size() + m.reason.size();
  for (auto& h : m.headers)
    estimate += h.name.size() + h.value.size() + 4;
  out.reserve(estimate);
  if (m.is_request()) {
    out += m.method;
    out += ' ';
    out += m.uri;
    out += " SIP/2.0\r\n";
  } else {
    out += "SIP/2.0 ";
    out += std::to_string(m.status);
    out += ' ';
    out += m.reason;
    out += crlf;
  }
  for (auto& h : m.headers) {
    auto name = long_header_name(h.name);
    if (iequals(name, "Content-Length"))
      continue;
    out += name;
    out += ": ";
    out += h.value;
    out += crlf;
  }
  out += "Content-Length: ";
  out += std::to_string(m.body.size());
  out += "\r\n\r\n";
  out += m.body;
  return out;
}

// --- helpers ------------------------------------------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::string_view long_header_name(std::string_view name) {
  if (name.size() != 1)
    return name;
  for (auto& e : compact_forms)
    if (e.letter == ascii_lower(name[0]))
      return e.name;
  return name;
}

const char* reason_phrase(int status) {
  switch (status) {
  case 100:
    return "Trying";
  case 180:
    return "Ringing";
  case 183:
    return "Session Progress";
  case 200:
    return "OK";
  case 202:
    return "Accepted";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Moved Temporarily";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 413:
    return "Request Entity Too Large";
  case 415:
    return "Unsupported Media Type";
  case 420:
    return "Bad Extension";
  case 480:
    return "Temporarily Unavailable";
  case 481:
    return "Call/Transaction Does Not Exist";
  case 486:
    return "Busy Here";
  case 487:
    return "Request Terminated";
  case 488:
    return "Not Acceptable Here";
  case 489:
    return "Bad Event";
  case 491:
    return "Request Pending";
  case 500:
    return "Server Internal Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Server Time-out";
  case 603:
    return "Decline";
  default:
    return "Unknown";
  }
}

const std::string* name_addr::param(std::string_view name) const {
  for (auto& p : params)
    if (iequals(p.first, name))
      return &p.second;
  return nullptr;
}

std::optional<name_addr> parse_name_addr(std::string_view value) {
  auto s = trim(value);
  name_addr out;
  std::size_t i = 0;
  bool angle = false;
  if (!s.empty() && s[0] == '"') {
    // quoted-string display name with backslash escapes (RFC 3261 §25.1)
    for (i = 1;; ++i) {
      if (i >= s.size())
        return std::nullopt;
      if (s[i] == '\\' && i + 1 < s.size())
        out.display += s[++i];
      else if (s[i] == '"')
        break;
      else
        out.display += s[i];
    }
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
      ++i;
    if (i >= s.size() || s[i] != '<')
      return std::nullopt;
    angle = true;
  } else {
    auto lt = s.find('<');
    auto stop = s.find_first_of(";,");
    if (lt != std::string_view::npos && (stop == std::string_view::npos || lt < stop)) {
      out.display = std::string(trim(s.substr(0, lt)));
      i = lt;
      angle = true;
    }
  }
  std::size_t after = 0;
  if (angle) {
    auto gt = s.find('>', i + 1);
    if (gt == std::string_view::npos)
      return std::nullopt;
    out.uri = std::string(trim(s.substr(i + 1, gt - i - 1)));
    after = gt + 1;
  } else {
    auto stop = s.find_first_of(";,");
    auto uri = trim(s.substr(0, stop));
    out.uri = std::string(uri);
    after = stop == std::string_view::npos ? s.size() : stop;
  }
  if (out.uri.empty())
    return std::nullopt;
  out.params = split_params(s.substr(after));
  return out;
}

std::optional<std::string> header_param(std::string_view value, std::string_view name) {
  // Find the first ';' outside quotes and angle brackets.
  bool quoted = false;
  bool angle = false;
  std::size_t i = 0;
  for (; i < value.size(); ++i) {
    char c = value[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (angle) {
      if (c == '>')
        angle = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      angle = true;
    } else if (c == ';' || c == ',') {
      break;
    }
  }
  if (i >= value.size() || value[i] != ';')
    return std::nullopt;
  for (auto& p : split_params(value.substr(i)))
    if (iequals(p.first, name))
      return p.second;
  return std::nullopt;
}

std::string uri_user_host(std::string_view uri) {
  auto s = trim(uri);
  auto lt = s.find('<');
  if (lt != std::string_view::npos) {
    auto gt = s.find('>', lt);
    s = s.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1);
  }
  // Only the schemes SIP deals in, so "example.com:5060" is not mistaken for a scheme.
  for (std::string_view scheme : {"sip:", "sips:", "tel:", "pres:", "im:"}) {
    if (s.size() >= scheme.size() && iequals(s.substr(0, scheme.size()), scheme)) {
      s.remove_prefix(scheme.size());
      break;
    }
  }
  s = s.substr(0, s.find_first_of(";?>"));
  std::string out;
  auto at = s.find('@');
  auto host = s;
  if (at != std::string_view::npos) {
    out = std::string(s.substr(0, at));
    out += '@';
    host = s.substr(at + 1);
  }
  if (!host.empty() && host[0] == '[') {
    auto close = host.find(']');
    host = close == std::string_view::npos ? std::string_view{} : host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  host = trim(host);
  if (host.empty())
    return {};
  out += host;
  return out;
}

std::string random_tag() {
  return random_hex(8);
}

std::string random_branch() {
  return "z9hG4bK" + random_hex(8);
}

std::string random_call_id() {
  return random_hex(16);
}

std::optional<cseq> parse_cseq(std::string_view value) {
  auto s = trim(value);
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < s.size() && is_digit(s[i])) {
    n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (n >= (1ull << 31))
      return std::nullopt;
    ++i;
  }
  if (i == 0)
    return std::nullopt;
  auto method = trim(s.substr(i));
  if (method.size() == s.size() - i || !is_token(method)) // needs whitespace between, then a token
    return std::nullopt;
  return cseq{static_cast<std::uint32_t>(n), std::string(method)};
}

message make_response(const message& request, int status, std::string reason, std::string_view to_tag) {
  auto m = message::response(status, std::move(reason));
  for (auto& h : request.headers)
    if (iequals(h.name, "Via"))
      m.headers.push_back(h);
  if (auto v = request.get("From"))
    m.add("From", *v);
  if (auto v = request.get("To")) {
    std::string to = *v;
    if (!to_tag.empty() && !header_param(to, "tag")) {
      to += ";tag=";
      to += to_tag;
    }
    m.add("To", std::move(to));
  }
  if (auto v = request.get("Call-ID"))
    m.add("Call-ID", *v);
  if (auto v = request.get("CSeq"))
    m.add("CSeq", *v);
  return m;
}

std::string normalize_aor(std::string_view uri) {
  std::string u = ascii_lower(uri);
  auto lt = u.find('<');
  if (lt != std::string::npos) {
    auto gt = u.find('>', lt);
    u = u.substr(lt + 1, gt == std::string::npos ? std::string::npos : gt - lt - 1);
  }
  if (u.rfind("sips:", 0) == 0)
    u = "sip:" + u.substr(5);
  else if (u.rfind("sip:", 0) != 0 && u.find(':') < u.find('@'))
    return {}; // tel:, mailto:, ... are not users of a SIP chat service
  else if (u.rfind("sip:", 0) != 0)
    u = "sip:" + u;
  auto cut = u.find_first_of(";?", 4);
  if (cut != std::string::npos)
    u.resize(cut);
  auto at = u.find('@');
  if (at == std::string::npos || at == 4 || at + 1 == u.size())
    return {};
  return u;
}

bool is_loopback_host(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  std::string bare = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  return bare == "localhost" || (inet_pton(AF_INET, bare.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) ||
         (inet_pton(AF_INET6, bare.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6));
}

} // namespace pchat::sip
