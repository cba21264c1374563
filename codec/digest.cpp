#include "codec/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <iterator>
#include <stdexcept>

#include "base/hex.hpp"
#include "base/random.hpp"
#include "base/sha256.hpp"
#include "codec/sip_message.hpp"

namespace pchat::sip::digest {

namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Quoted-string for a parameter value (RFC 7230 §3.2.6): '"' and '\' escaped.
void append_quoted(std::string& out, std::string_view v) {
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

constexpr std::size_t nonce_head = 16; // issued-at (8) + random (8)
constexpr std::size_t nonce_mac = 16;  // truncated HMAC-SHA256

} // namespace

const char* to_string(algorithm a) {
  return a == algorithm::sha256 ? "SHA-256" : "MD5";
}

std::optional<algorithm> algorithm_from(std::string_view token) {
  if (token.empty() || iequals(token, "MD5"))
    return algorithm::md5;
  if (iequals(token, "SHA-256"))
    return algorithm::sha256;
  return std::nullopt;
}

std::string username_of(std::string_view aor) {
  auto colon = aor.find(':');
  auto at = aor.find('@');
  return std::string{colon != std::string_view::npos && colon < at ? aor.substr(colon + 1) : aor};
}

// libcrypto fails only when it is itself broken; then no password can be checked and refusing to go on is right.
std::string hash_hex(algorithm a, std::string_view data) {
  if (a == algorithm::sha256) {
    auto d = sha256_of(data);
    if (!d)
      throw std::runtime_error("libcrypto: SHA-256 failed");
    return hex::encode(*d);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_md5(), nullptr) != 1)
    throw std::runtime_error("libcrypto: MD5 failed");
  return hex::encode(md.data(), len);
}

std::string ha1(algorithm a, std::string_view username, std::string_view realm, std::string_view password) {
  std::string in;
  in.reserve(username.size() + realm.size() + password.size() + 2);
  in.append(username).append(":").append(realm).append(":").append(password);
  return hash_hex(a, in);
}

std::string response(algorithm a, std::string_view ha1_hex, std::string_view nonce, std::string_view nc,
                     std::string_view cnonce, std::string_view method, std::string_view uri) {
  std::string a2;
  a2.append(method).append(":").append(uri);
  std::string in;
  in.append(ha1_hex).append(":").append(nonce).append(":").append(nc).append(":").append(cnonce).append(":auth:");
  in += hash_hex(a, a2);
  return hash_hex(a, in);
}

bool equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string nc_text(std::uint32_t nc) {
  return hex::fixed(nc, 8);
}

// --- auth-params --------------------------------------------------------------------------------------------------

const std::string* auth_params::get(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name)
      return &v;
  return nullptr;
}

std::optional<auth_params> parse_params(std::string_view s) {
  auth_params out;
  std::size_t i = 0;
  while (i < s.size() && is_ows(s[i]))
    ++i;
  std::size_t start = i;
  while (i < s.size() && !is_ows(s[i]) && s[i] != ',')
    ++i;
  out.scheme = std::string{s.substr(start, i - start)};
  if (out.scheme.empty())
    return std::nullopt;
  for (;;) {
    while (i < s.size() && (is_ows(s[i]) || s[i] == ','))
      ++i;
    if (i == s.size())
      return out;
    start = i;
    while (i < s.size() && s[i] != '=' && !is_ows(s[i]) && s[i] != ',')
      ++i;
    std::string name = ascii_lower(s.substr(start, i - start));
    while (i < s.size() && is_ows(s[i]))
      ++i;
    if (name.empty() || i == s.size() || s[i] != '=')
      return std::nullopt;
    ++i;
    while (i < s.size() && is_ows(s[i]))
      ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      for (++i;; ++i) {
        if (i == s.size())
          return std::nullopt; // unterminated quoted-string
        if (s[i] == '"')
          break;
        if (s[i] == '\\' && i + 1 < s.size())
          ++i;
        value.push_back(s[i]);
      }
      ++i;
    } else {
      start = i;
      while (i < s.size() && s[i] != ',' && !is_ows(s[i]))
        ++i;
      value = std::string{s.substr(start, i - start)};
    }
    out.params.emplace_back(std::move(name), std::move(value));
  }
}

// --- challenges and credentials -----------------------------------------------------------------------------------

std::string format(const challenge& c) {
  std::string out = "Digest realm=";
  append_quoted(out, c.realm);
  out += ", nonce=";
  append_quoted(out, c.nonce);
  out += ", algorithm=";
  out += to_string(c.alg);
  if (c.qop_auth)
    out += ", qop=\"auth\"";
  if (c.stale)
    out += ", stale=true";
  if (!c.opaque.empty()) {
    out += ", opaque=";
    append_quoted(out, c.opaque);
  }
  return out;
}

std::optional<challenge> parse_challenge(std::string_view header_value) {
  auto p = parse_params(header_value);
  if (!p || !iequals(p->scheme, "Digest"))
    return std::nullopt;
  const auto* realm = p->get("realm");
  const auto* nonce = p->get("nonce");
  const auto* alg_text = p->get("algorithm");
  auto alg = algorithm_from(alg_text ? *alg_text : std::string_view{});
  if (!realm || !nonce || !alg)
    return std::nullopt;
  challenge c;
  c.alg = *alg;
  c.realm = *realm;
  c.nonce = *nonce;
  if (const auto* opaque = p->get("opaque"))
    c.opaque = *opaque;
  if (const auto* stale = p->get("stale"))
    c.stale = iequals(*stale, "true");
  c.qop_auth = false;
  if (const auto* qop = p->get("qop")) { // a comma-separated list inside the quotes
    std::string_view rest = *qop;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), "auth"))
        c.qop_auth = true;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return c;
}

std::string format(const credentials& c) {
  std::string out = "Digest username=";
  append_quoted(out, c.username);
  out += ", realm=";
  append_quoted(out, c.realm);
  out += ", nonce=";
  append_quoted(out, c.nonce);
  out += ", uri=";
  append_quoted(out, c.uri);
  out += ", response=";
  append_quoted(out, c.response);
  out += ", algorithm=";
  out += to_string(c.alg);
  if (!c.qop.empty()) {
    out += ", qop=" + c.qop + ", nc=" + nc_text(c.nc) + ", cnonce=";
    append_quoted(out, c.cnonce);
  }
  if (!c.opaque.empty()) {
    out += ", opaque=";
    append_quoted(out, c.opaque);
  }
  return out;
}

std::optional<credentials> parse_credentials(std::string_view header_value) {
  auto p = parse_params(header_value);
  if (!p || !iequals(p->scheme, "Digest"))
    return std::nullopt;
  credentials c;
  const std::pair<const char*, std::string*> required[] = {
      {"username", &c.username}, {"realm", &c.realm}, {"nonce", &c.nonce}, {"uri", &c.uri}, {"response", &c.response}};
  for (const auto& [name, field] : required) {
    const auto* v = p->get(name);
    if (!v)
      return std::nullopt;
    *field = *v;
  }
  const auto* alg_text = p->get("algorithm");
  auto alg = algorithm_from(alg_text ? *alg_text : std::string_view{});
  if (!alg)
    return std::nullopt;
  c.alg = *alg;
  if (const auto* opaque = p->get("opaque"))
    c.opaque = *opaque;
  if (const auto* qop = p->get("qop")) {
    const auto* nc = p->get("nc");
    const auto* cnonce = p->get("cnonce");
    if (!nc || !cnonce || nc->size() != 8)
      return std::nullopt;
    for (char ch : *nc) {
      int v = hex::digit_value(ch);
      if (v < 0)
        return std::nullopt;
      c.nc = (c.nc << 4) | static_cast<std::uint32_t>(v);
    }
    c.qop = *qop;
    c.cnonce = *cnonce;
  }
  return c;
}

// --- nonces -------------------------------------------------------------------------------------------------------

nonce_keeper::nonce_keeper(std::int64_t lifetime_ms, std::string secret, std::size_t max_tracked)
    : lifetime_ms_(lifetime_ms), secret_(std::move(secret)), max_tracked_(max_tracked) {
  if (secret_.empty())
    secret_ = random_hex(32);
}

std::string nonce_keeper::mac(std::string_view head) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
            reinterpret_cast<const unsigned char*>(head.data()), head.size(), out.data(), &len))
    throw std::runtime_error("HMAC failed");
  return hex::encode(out.data(), nonce_mac);
}

std::string nonce_keeper::issue(std::int64_t now_ms) {
  std::string head = hex::fixed(static_cast<std::uint64_t>(now_ms), 16) + random_hex(8);
  return head + mac(head);
}

std::optional<std::int64_t> nonce_keeper::issued_at(std::string_view nonce) const {
  if (nonce.size() != 2 * (nonce_head + nonce_mac))
    return std::nullopt;
  auto head = nonce.substr(0, 2 * nonce_head);
  if (!equal(mac(head), nonce.substr(2 * nonce_head)))
    return std::nullopt;
  std::uint64_t ts = 0;
  for (char ch : head.substr(0, 16)) {
    int v = hex::digit_value(ch);
    if (v < 0)
      return std::nullopt;
    ts = (ts << 4) | static_cast<std::uint64_t>(v);
  }
  return static_cast<std::int64_t>(ts);
}

nonce_keeper::verdict nonce_keeper::check(std::string_view nonce, std::int64_t now_ms) const {
  auto at = issued_at(nonce);
  if (!at || now_ms - *at >= lifetime_ms_ || *at > now_ms)
    return verdict::stale;
  return verdict::ok;
}

nonce_keeper::verdict nonce_keeper::use(std::string_view nonce, std::uint32_t nc, std::int64_t now_ms) {
  if (auto v = check(nonce, now_ms); v != verdict::ok)
    return v;
  std::string key{nonce};
  auto i = used_.find(key);
  if (i != used_.end()) {
    if (nc <= i->second.second)
      return verdict::replay;
    i->second.second = nc;
    return verdict::ok;
  }
  if (nc == 0)
    return verdict::replay; // counts start at 00000001
  if (used_.size() >= max_tracked_)
    sweep(now_ms);
  if (used_.size() >= max_tracked_)
    return verdict::full; // never forget a live nonce's count: that would let its old requests be replayed
  used_.emplace(std::move(key), std::make_pair(*issued_at(nonce), nc));
  return verdict::ok;
}

void nonce_keeper::sweep(std::int64_t now_ms) {
  for (auto i = used_.begin(); i != used_.end();)
    i = now_ms - i->second.first >= lifetime_ms_ ? used_.erase(i) : std::next(i);
}

} // namespace pchat::sip::digest
