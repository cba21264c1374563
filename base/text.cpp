#include "base/text.hpp"

#include <ctime>

#include <cstdint>

#include "base/hex.hpp"

namespace pchat {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string utc_iso8601(std::int64_t seconds_since_epoch) {
  std::time_t t = static_cast<std::time_t>(seconds_since_epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

namespace {

// The length of the XML character ([XML 1.0] §2.2 Char) that starts at p, 0 when the bytes there are not one:
// invalid or overlong UTF-8, a surrogate, beyond U+10FFFF, a C0 control other than tab, LF and CR, U+FFFE/U+FFFF.
int xml_char_length(const unsigned char* p, const unsigned char* end) {
  unsigned char c = *p;
  if (c < 0x80)
    return c < 0x20 && c != '\t' && c != '\n' && c != '\r' ? 0 : 1;
  int len;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (end - p < len)
    return 0;
  for (int i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  // Overlong forms, surrogates, out of range, and the two non-characters XML excludes.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF
      || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return 0;
  return len;
}

constexpr std::string_view replacement_character = "\xEF\xBF\xBD"; // U+FFFD

// Escapes `s` for XML; what is not an XML character becomes U+FFFD, one per byte, so that every document the
// server writes is well-formed whatever a client sent (an id echoed from a request, a name).
template <class Escape>
void append_xml(std::string& out, std::string_view s, Escape escape) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    int len = xml_char_length(p, end);
    if (len == 0) {
      out += replacement_character;
      ++p;
    } else if (len == 1) {
      escape(out, static_cast<char>(*p++));
    } else {
      out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
      p += len;
    }
  }
}

} // namespace

void append_xml_text(std::string& out, std::string_view s) {
  append_xml(out, s, [](std::string& o, char c) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '\r': o += "&#13;"; break;
      default: o += c;
    }
  });
}

void append_xml_attr(std::string& out, std::string_view s) {
  append_xml(out, s, [](std::string& o, char c) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\r': o += "&#13;"; break;
      case '\n': o += "&#10;"; break;
      case '\t': o += "&#9;"; break;
      default: o += c;
    }
  });
}

void append_xml_attribute(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += "=\"";
  append_xml_attr(out, value);
  out += '"';
}

bool is_xml_text(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    int len = xml_char_length(p, end);
    if (len == 0)
      return false;
    p += len;
  }
  return true;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    int hi = hex::digit_value(s[i + 1]);
    int lo = hex::digit_value(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string ascii_stand_in(std::string_view name) {
  std::string out;
  for (unsigned char c : name)
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%' ? static_cast<char>(c) : '_');
  return out;
}

} // namespace pchat
