#pragma once
// SHA-256 (FIPS 180-4), the one wrapper of libcrypto's SHA-256 in pchat: the compliance archive's hash chain,
// room file content addresses, SIP Digest's SHA-256 algorithm. Checked against the FIPS 180-4 / NIST example
// vectors in tests/base/sha256_test.cpp.
//
// Contract: never throws (except std::bad_alloc). libcrypto fails only when it is itself broken (out of
// memory); then ok() turns false and finish() answers nullopt, and the caller decides what that means.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pchat {

using sha256_digest = std::array<std::uint8_t, 32>;

class sha256 {
public:
  sha256();
  sha256& update(std::string_view bytes);
  sha256& update(const void* data, std::size_t n);
  bool ok() const { return ok_; }
  // The digest of everything passed to update(), nullopt when libcrypto failed; the object must not be used
  // afterwards.
  std::optional<sha256_digest> finish();

  struct context_deleter { // frees the EVP_MD_CTX (kept opaque here so users need no OpenSSL headers)
    void operator()(void* ctx) const;
  };

private:
  std::unique_ptr<void, context_deleter> ctx_; // EVP_MD_CTX
  bool ok_ = false;
};

// The digest of `bytes`; nullopt only when libcrypto is broken.
std::optional<sha256_digest> sha256_of(std::string_view bytes);

} // namespace pchat
