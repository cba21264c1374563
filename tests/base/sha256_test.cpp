// SHA-256 against the FIPS 180-4 example vectors (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
#include <catch2/catch.hpp>

#include "base/hex.hpp"
#include "base/sha256.hpp"

using namespace pchat;

namespace {
// The digest of `text` in hex; the test fails if libcrypto does not answer.
std::string sha(std::string_view text) {
  auto d = sha256_of(text);
  REQUIRE(d);
  return hex::encode(*d);
}
} // namespace

TEST_CASE("sha256: FIPS 180-4 vectors") {
  CHECK(sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopq"
            "rsmnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: padding boundaries and split updates give the one-shot digest") {
  // 55, 56 and 64 bytes: the padding fits, spills into a second block, fills a block exactly.
  CHECK(sha(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  std::string text;
  for (int i = 0; i < 300; ++i)
    text.push_back(static_cast<char>(i * 7));
  for (std::size_t step : {1u, 3u, 63u, 64u, 65u, 200u}) {
    sha256 h;
    for (std::size_t i = 0; i < text.size(); i += step)
      h.update(std::string_view{text}.substr(i, step));
    CHECK(h.finish() == sha256_of(text));
  }
}

TEST_CASE("sha256: hex round trip, bad hex is refused") {
  auto d = sha256_of("abc");
  REQUIRE(d);
  CHECK(hex::decode_array<32>(hex::encode(*d)) == d);
  CHECK(hex::decode_array<32>("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD") == d);
  CHECK_FALSE(hex::decode_array<32>(hex::encode(*d).substr(1)));
  CHECK_FALSE(hex::decode_array<32>(hex::encode(*d) + "0"));
  CHECK_FALSE(hex::decode_array<32>(std::string(63, '0') + "g"));
}
