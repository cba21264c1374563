#include "compliance/event.hpp"

#include <algorithm>
#include <chrono>

#include <stdexcept>

#include "base/text.hpp"
#include "storage/record_codec.hpp"

namespace pchat::compliance {

namespace codec = storage::codec;

namespace {

constexpr std::uint8_t kind_count = static_cast<std::uint8_t>(event_kind::remove);
constexpr std::uint8_t record_version = 1;
constexpr std::uint8_t flag_logged = 1;

// Length of the valid XML 1.0 character that starts at s[i] in UTF-8, 0 if there is none.
std::size_t xml_char_at(std::string_view s, std::size_t i) {
  auto b0 = static_cast<std::uint8_t>(s[i]);
  if (b0 < 0x80)
    return b0 >= 0x20 || b0 == 0x09 || b0 == 0x0a || b0 == 0x0d ? 1 : 0;
  std::size_t len = b0 >= 0xf8 ? 0 : b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
  if (len == 0 || s.size() - i < len)
    return 0;
  std::uint32_t cp = b0 & (0x7f >> len);
  for (std::size_t k = 1; k < len; ++k) {
    auto b = static_cast<std::uint8_t>(s[i + k]);
    if ((b & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (b & 0x3f);
  }
  constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
    return 0;
  return len;
}

void make_safe(std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && xml_char_at(s, i) == 1)
    ++i; // the usual case: ASCII text, nothing to copy
  if (i == s.size())
    return;
  std::string out = s.substr(0, i);
  while (i < s.size()) {
    if (auto n = xml_char_at(s, i)) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xef\xbf\xbd"; // U+FFFD
      ++i;
    }
  }
  s = std::move(out);
}

} // namespace

std::optional<event_kind> kind_from_string(std::string_view type) {
  for (std::uint8_t i = 1; i <= kind_count; ++i)
    if (type == to_string(static_cast<event_kind>(i)))
      return static_cast<event_kind>(i);
  return std::nullopt;
}

bool operator==(const event& a, const event& b) {
  return a.kind == b.kind && a.room_uri == b.room_uri && a.room_name == b.room_name && a.room_logged == b.room_logged &&
         a.user_uri == b.user_uri && a.display_name == b.display_name && a.ticks == b.ticks && a.content == b.content &&
         a.id == b.id && a.hash == b.hash;
}

std::string_view sender_address(std::string_view user_uri) {
  if (user_uri.size() >= 4 && ascii_lower(user_uri.substr(0, 4)) == "sip:")
    user_uri.remove_prefix(4);
  return user_uri;
}

void make_xml_safe(event& e) {
  for (auto* s : {&e.room_uri, &e.room_name, &e.user_uri, &e.display_name, &e.content})
    make_safe(*s);
}

std::string canonical(const event& e) {
  std::string out;
  codec::put_be64(out, e.id);
  codec::put_str(out, to_string(e.kind));
  codec::put_str(out, e.content);
  codec::put_str(out, e.room_uri);
  codec::put_str(out, sender_address(e.user_uri));
  codec::put_be64(out, static_cast<std::uint64_t>(e.ticks));
  return out;
}

digest chain_hash(const digest& prev, const event& e) {
  auto d = sha256{}.update(prev.data(), prev.size()).update(canonical(e)).finish();
  if (!d) // libcrypto is broken: no archive hash could be trusted, so the archive must not go on
    throw std::runtime_error("libcrypto: SHA-256 unavailable");
  return *d;
}

std::string encode(const event& e) {
  std::string out;
  out.reserve(1 + 1 + 8 + 8 + 1 + 5 + e.room_uri.size() + e.room_name.size() + e.user_uri.size() +
              e.display_name.size() + e.content.size() + 33);
  out.push_back(static_cast<char>(record_version));
  out.push_back(static_cast<char>(e.kind));
  codec::put_be64(out, e.id);
  codec::put_be64(out, static_cast<std::uint64_t>(e.ticks));
  out.push_back(static_cast<char>(e.room_logged ? flag_logged : 0));
  for (const auto* s : {&e.room_uri, &e.room_name, &e.user_uri, &e.display_name, &e.content})
    codec::put_str(out, *s);
  codec::put_str(out, {reinterpret_cast<const char*>(e.hash.data()), e.hash.size()});
  return out;
}

std::optional<event> decode(std::string_view record) {
  codec::reader rd{record};
  event e;
  std::uint8_t version = 0;
  std::uint8_t kind = 0;
  std::uint8_t flags = 0;
  std::string hash;
  if (!rd.u8(version) || version != record_version || !rd.u8(kind) || kind < 1 || kind > kind_count || !rd.u64(e.id) ||
      !rd.i64(e.ticks) || !rd.u8(flags) || (flags & ~flag_logged) != 0)
    return std::nullopt;
  for (auto* s : {&e.room_uri, &e.room_name, &e.user_uri, &e.display_name, &e.content})
    if (!rd.str(*s))
      return std::nullopt;
  if (!rd.str(hash) || hash.size() != e.hash.size() || !rd.at_end())
    return std::nullopt;
  e.kind = static_cast<event_kind>(kind);
  e.room_logged = (flags & flag_logged) != 0;
  std::copy(hash.begin(), hash.end(), e.hash.begin());
  return e;
}

} // namespace pchat::compliance
