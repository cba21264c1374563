#include "base/random.hpp"

#include <openssl/rand.h>

#include <cstdlib>

#include "base/hex.hpp"
#include "base/log.hpp"

namespace pchat {

std::string random_bytes(std::size_t n) {
  std::string raw(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n)) != 1) {
    log::write(log::level::error, "random", "RAND_bytes failed: no entropy source; stopping");
    std::abort();
  }
  return raw;
}

std::uint64_t random_u64() {
  auto b = random_bytes(8);
  std::uint64_t v = 0;
  for (char c : b)
    v = v << 8 | static_cast<unsigned char>(c);
  return v;
}

std::string random_hex(std::size_t bytes) { return hex::encode(random_bytes(bytes)); }

std::string random_guid() {
  auto b = random_bytes(16);
  b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0f) | 0x40); // version 4
  b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3f) | 0x80); // RFC 4122 variant
  auto h = hex::encode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

} // namespace pchat
