#pragma once
// SHA-256 (FIPS 180-4), self-contained: the hash of the compliance archive's tamper-evident chain.
// Checked against the FIPS 180-4 / NIST example vectors in tests/compliance/sha256_test.cpp.
#include <array>
#include <cstdint>
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

private:
  void block(const std::uint8_t* p);

  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0; // bytes
};

digest sha256_of(std::string_view bytes);

// 64 lower-case hex digits, and back (nullopt unless exactly 64 hex digits).
std::string to_hex(const digest& d);
std::optional<digest> digest_from_hex(std::string_view hex);

} // namespace pchat::compliance
