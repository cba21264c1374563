#pragma once
// The rule for the name of a room file, in base/ so that both the server (storage::file_store::valid_name,
// which every upload passes) and the client (pchat download, choosing a local name) apply the same rule without
// the client linking the storage library.
#include <cstdint>
#include <string_view>

namespace pchat {

// Code points that change how the text around them is displayed or that are invisible: bidirectional embeddings,
// overrides and isolates (U+202A..U+202E, U+2066..U+2069), the Arabic letter mark (U+061C), zero-width spaces,
// joiners and marks (U+200B..U+200F), line and paragraph separators (U+2028, U+2029), word joiner and invisible
// operators (U+2060..U+2064), deprecated format controls (U+206A..U+206F), the byte-order mark / zero-width
// no-break space (U+FEFF) and interlinear annotation controls (U+FFF9..U+FFFB). In a file name they let
// "invoice<U+202E>fdp.exe" show as "invoiceexe.pdf".
constexpr bool is_spoofing_format_char(std::uint32_t cp) {
  return cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206f) ||
         cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

// 1..255 bytes of valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) without '/', '\', C0/C1
// control characters or DEL, without the format characters above, not "." or "..", no leading or trailing space.
inline bool valid_file_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == ".." || name.front() == ' ' || name.back() == ' ')
    return false;
  for (std::size_t i = 0; i < name.size();) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
        return false;
      ++i;
      continue;
    }
    std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0 || c > 0xf4 || i + len > name.size())
      return false;
    std::uint32_t cp = c & (0x3fu >> (len - 1));
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(name[i + k]);
      if ((cc & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp < 0xa0) || is_spoofing_format_char(cp))
      return false;
    i += len;
  }
  return true;
}

} // namespace pchat
