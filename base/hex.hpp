#pragma once
// Hex, the one codec of it in pchat: lower-case on the way out, either case on the way in.
//
// Contract: pure functions, no exceptions (except std::bad_alloc); decoding answers nullopt on an odd length or
// a character that is not a hex digit.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pchat::hex {

// Two lower-case hex digits per byte.
std::string encode(const void* data, std::size_t n);
inline std::string encode(std::string_view bytes) { return encode(bytes.data(), bytes.size()); }
template <std::size_t N>
std::string encode(const std::array<std::uint8_t, N>& bytes) {
  return encode(bytes.data(), N);
}
// The value of one hex digit (0..15), -1 for anything else.
int digit_value(char c);
// The bytes `text` spells; nullopt on odd length or a non-hex character.
std::optional<std::string> decode(std::string_view text);
// Exactly N bytes, from exactly 2N hex digits.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> decode_array(std::string_view text) {
  if (text.size() != 2 * N)
    return std::nullopt;
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    int hi = digit_value(text[2 * i]);
    int lo = digit_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}
// `digits` lower-case hex digits of v, most significant first (leading zeros kept).
std::string fixed(std::uint64_t v, std::size_t digits);

} // namespace pchat::hex
