#include "base/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace pchat::compliance {

namespace {
EVP_MD_CTX* ctx_of(const std::unique_ptr<void, sha256::context_deleter>& p) { return static_cast<EVP_MD_CTX*>(p.get()); }
} // namespace

void sha256::context_deleter::operator()(void* ctx) const { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx)); }

// libcrypto fails here only when it is itself broken (out of memory): no archive hash can be trusted then.
sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_of(ctx_), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("libcrypto: SHA-256 unavailable");
}

sha256& sha256::update(std::string_view bytes) {
  if (EVP_DigestUpdate(ctx_of(ctx_), bytes.data(), bytes.size()) != 1)
    throw std::runtime_error("libcrypto: SHA-256 update failed");
  return *this;
}

digest sha256::finish() {
  digest out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_of(ctx_), out.data(), &len) != 1 || len != out.size())
    throw std::runtime_error("libcrypto: SHA-256 final failed");
  return out;
}

digest sha256_of(std::string_view bytes) {
  return sha256{}.update(bytes).finish();
}

std::string to_hex(const digest& d) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (auto b : d) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 0x0f]);
  }
  return out;
}

std::optional<digest> digest_from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  if (hex.size() != 64)
    return std::nullopt;
  digest out{};
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

} // namespace pchat::compliance
