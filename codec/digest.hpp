#pragma once
// SIP Digest authentication (RFC 3261 §22, RFC 7616 with qop=auth, RFC 8760 for SHA-256 in SIP): the pure parts
// shared by the server (sip/sip_stack.cpp), the client (client/sip_agent) and pchatctl (stored HA1s).
//
// Contract: no I/O, no global state; hashing, HMAC and random bytes come from OpenSSL's libcrypto. Parsers take
// any bytes and return std::nullopt on anything malformed; they never throw (except std::bad_alloc).
// Digests are lower-case hex, as they appear on the wire.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pchat::sip::digest {

enum class algorithm { md5, sha256 };
// "MD5", "SHA-256" (RFC 7616 §3.3 tokens).
const char* to_string(algorithm a);
// Case-insensitive; an absent algorithm parameter means MD5 (RFC 7616 §3.3). The -sess variants are refused.
std::optional<algorithm> algorithm_from(std::string_view token);

// The Digest username of a user: its normalised address without the scheme ("sip:alice@example.com" ->
// "alice@example.com"). Clients send it, pchatctl hashes it into the stored HA1s, pchatd compares it.
std::string username_of(std::string_view aor);

// Lower-case hex of H(data).
std::string hash_hex(algorithm a, std::string_view data);
// HA1 = H(username ":" realm ":" password) — what the store keeps instead of the password.
std::string ha1(algorithm a, std::string_view username, std::string_view realm, std::string_view password);
// The qop=auth request-digest: H(HA1 ":" nonce ":" nc ":" cnonce ":auth:" H(method ":" uri)) (RFC 7616 §3.4.1).
std::string response(algorithm a, std::string_view ha1_hex, std::string_view nonce, std::string_view nc,
                     std::string_view cnonce, std::string_view method, std::string_view uri);
// Constant-time comparison (a wrong response takes as long to refuse whatever its first differing byte).
bool equal(std::string_view a, std::string_view b);

// A WWW-Authenticate / Proxy-Authenticate challenge (RFC 7616 §3.3).
struct challenge {
  algorithm alg = algorithm::md5;
  std::string realm;
  std::string nonce;
  std::string opaque;
  bool stale = false;
  bool qop_auth = true; // qop offers "auth" (we answer nothing else)
};
// `Digest realm="…", nonce="…", algorithm=…, qop="auth"[, stale=true][, opaque="…"]`. realm and nonce come
// first and every string is quoted: pidgin-sipe's parser only finds `realm="`/`nonce="` (docs/xccos.md §7.3).
std::string format(const challenge& c);
// nullopt unless the scheme is Digest and realm and nonce are present, and the algorithm is one we know.
std::optional<challenge> parse_challenge(std::string_view header_value);

// An Authorization / Proxy-Authorization value (RFC 7616 §3.4).
struct credentials {
  algorithm alg = algorithm::md5;
  std::string username;
  std::string realm;
  std::string nonce;
  std::string uri;
  std::string response;
  std::string cnonce;
  std::string opaque;
  std::string qop;      // "auth"
  std::uint32_t nc = 0; // nonce count, sent as 8 hex digits
};
std::string format(const credentials& c);
// nullopt unless the scheme is Digest and username, realm, nonce, uri, response are present; qop, when present,
// needs nc (8 hex digits) and cnonce. Unknown parameters are ignored (RFC 7616 §3.4).
std::optional<credentials> parse_credentials(std::string_view header_value);
// nc as it goes on the wire: 8 lower-case hex digits.
std::string nc_text(std::uint32_t nc);

// The auth-params of a challenge or credentials value: `Scheme a=b, c="d"` -> ("Scheme", {{"a","b"},{"c","d"}}),
// names lower-cased, quoted-strings unquoted (backslash escapes resolved). nullopt on unbalanced quotes or a
// parameter without '='.
struct auth_params {
  std::string scheme;
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* get(std::string_view name) const;
};
std::optional<auth_params> parse_params(std::string_view header_value);

// Server nonces: hex(issued-at ms, 8 bytes big-endian | 8 random bytes | HMAC-SHA256(secret, the first 16)[0..16]).
// Stateless to issue and to check for authenticity and age; the nonce counts clients used with each nonce are
// kept (nc replay protection, RFC 7616 §3.4.5) until the nonce expires. Not thread-safe: one owner (the SIP thread).
class nonce_keeper {
public:
  enum class verdict {
    ok,     // authentic, fresh, nc higher than every nc used with it before
    stale,  // authentic but older than the lifetime, or not ours (another secret: pchatd restarted)
    replay, // nc not higher than one already accepted with this nonce
    full,   // too many nonces in use to track another one; try again later
  };

  // `secret` empty: 32 random bytes. `lifetime_ms` 0: every nonce is stale at once (tests).
  explicit nonce_keeper(std::int64_t lifetime_ms, std::string secret = {}, std::size_t max_tracked = 100000);

  // A fresh nonce; `now_ms` is a monotonic clock reading.
  std::string issue(std::int64_t now_ms);
  // Whether `nonce` is one of ours and fresh (ok or stale; never replay/full). Changes nothing.
  verdict check(std::string_view nonce, std::int64_t now_ms) const;
  // check(), then records `nc` as used with `nonce` when it is higher than any before. Call it only once the
  // credentials proved the password, so that failed guesses never consume nonce counts.
  verdict use(std::string_view nonce, std::uint32_t nc, std::int64_t now_ms);
  // Forgets the nonce counts of expired nonces.
  void sweep(std::int64_t now_ms);
  std::size_t tracked() const { return used_.size(); }

private:
  std::string mac(std::string_view head) const;
  std::optional<std::int64_t> issued_at(std::string_view nonce) const; // nullopt unless authentic

  std::int64_t lifetime_ms_;
  std::string secret_;
  std::size_t max_tracked_;
  std::unordered_map<std::string, std::pair<std::int64_t, std::uint32_t>> used_; // nonce -> (issued ms, last nc)
};

} // namespace pchat::sip::digest
