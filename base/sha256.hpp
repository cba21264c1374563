#pragma once
// SHA-256 (FIPS 180-4): the hash of the compliance archive's tamper-evident chain. libcrypto computes it, the
// same library SIP Digest uses (sip/digest.cpp); checked against the FIPS 180-4 / NIST example vectors in
// tests/compliance/sha256_test.cpp.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pchat::compliance {

using digest = std::array<std::uint8_t, 32>;

class sha256 {
public:
  sha256();
  sha256& update(std::string_view bytes);
  // The digest of everything passed to update(); the object must not be used afterwards.
  digest finish();

  struct context_deleter { // frees the EVP_MD_CTX (kept opaque here so users need no OpenSSL headers)
    void operator()(void* ctx) const;
  };

private:
  std::unique_ptr<void, context_deleter> ctx_; // EVP_MD_CTX
};

digest sha256_of(std::string_view bytes);

// 64 lower-case hex digits, and back (nullopt unless exactly 64 hex digits).
std::string to_hex(const digest& d);
std::optional<digest> digest_from_hex(std::string_view hex);

} // namespace pchat::compliance
