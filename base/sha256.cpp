#include "base/sha256.hpp"

#include <openssl/evp.h>

namespace pchat {

namespace {
EVP_MD_CTX* ctx_of(const std::unique_ptr<void, sha256::context_deleter>& p) { return static_cast<EVP_MD_CTX*>(p.get()); }
} // namespace

void sha256::context_deleter::operator()(void* ctx) const { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx)); }

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  ok_ = ctx_ && EVP_DigestInit_ex(ctx_of(ctx_), EVP_sha256(), nullptr) == 1;
}

sha256& sha256::update(const void* data, std::size_t n) {
  ok_ = ok_ && EVP_DigestUpdate(ctx_of(ctx_), data, n) == 1;
  return *this;
}

sha256& sha256::update(std::string_view bytes) { return update(bytes.data(), bytes.size()); }

std::optional<sha256_digest> sha256::finish() {
  sha256_digest out{};
  unsigned int len = 0;
  ok_ = ok_ && EVP_DigestFinal_ex(ctx_of(ctx_), out.data(), &len) == 1 && len == out.size();
  if (!ok_)
    return std::nullopt;
  return out;
}

std::optional<sha256_digest> sha256_of(std::string_view bytes) { return sha256{}.update(bytes).finish(); }

} // namespace pchat
