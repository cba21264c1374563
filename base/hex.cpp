#include "base/hex.hpp"

namespace pchat::hex {

namespace {
constexpr char digits_of[] = "0123456789abcdef";
} // namespace

std::string encode(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits_of[p[i] >> 4]);
    out.push_back(digits_of[p[i] & 0x0f]);
  }
  return out;
}

int digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> decode(std::string_view text) {
  if (text.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = digit_value(text[i]);
    int lo = digit_value(text[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::string fixed(std::uint64_t v, std::size_t digits) {
  std::string out(digits, '0');
  for (std::size_t i = digits; i-- > 0; v >>= 4)
    out[i] = digits_of[v & 0xf];
  return out;
}

} // namespace pchat::hex
