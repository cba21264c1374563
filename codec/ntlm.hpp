#pragma once
// The server side of NTLM as Microsoft's SIP servers speak it to clients that cannot do Digest (pidgin-sipe):
// connectionless NTLMv2 with extended session security and key exchange, carried in SIP 401 challenges and
// Authorization headers, after which every message in either direction carries a signature over a digest
// string of its SIP headers ([MS-SIPAE] §3.2.5, [MS-NLMP] §3.1.5, §3.3.2, §3.4.4; docs/security.md "NTLM").
// Plain functions; bytes are std::string; errors are values. MD4 and RC4 come from OpenSSL's legacy provider
// (loaded once into a private library context: the rest of the process keeps OpenSSL's defaults).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pchat::sip {
class message;
}

namespace pchat::sip::ntlm {

// NegotiateFlags ([MS-NLMP] §2.2.2.5).
constexpr std::uint32_t negotiate_unicode = 0x00000001;
constexpr std::uint32_t request_target = 0x00000004;
constexpr std::uint32_t negotiate_sign = 0x00000010;
constexpr std::uint32_t negotiate_datagram = 0x00000040;
constexpr std::uint32_t negotiate_ntlm = 0x00000200;
constexpr std::uint32_t negotiate_always_sign = 0x00008000;
constexpr std::uint32_t negotiate_extended_session_security = 0x00080000;
constexpr std::uint32_t negotiate_identify = 0x00100000;
constexpr std::uint32_t negotiate_target_info = 0x00800000;
constexpr std::uint32_t negotiate_version = 0x02000000;
constexpr std::uint32_t negotiate_128 = 0x20000000;
constexpr std::uint32_t negotiate_key_exch = 0x40000000;
constexpr std::uint32_t negotiate_56 = 0x80000000;
// What the server offers in its CHALLENGE: everything pidgin-sipe requires (it aborts without any of UNICODE,
// NTLM, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, TARGET_INFO, SIGN, DATAGRAM, IDENTIFY, KEY_EXCH), 128-bit keys,
// and the version field.
constexpr std::uint32_t challenge_flags = negotiate_unicode | request_target | negotiate_sign | negotiate_datagram |
                                          negotiate_ntlm | negotiate_always_sign |
                                          negotiate_extended_session_security | negotiate_identify |
                                          negotiate_target_info | negotiate_version | negotiate_128 |
                                          negotiate_key_exch;
// What an AUTHENTICATE must keep of them for us to go on (signing needs all of these).
constexpr std::uint32_t required_flags = negotiate_unicode | negotiate_sign | negotiate_datagram | negotiate_ntlm |
                                         negotiate_always_sign | negotiate_extended_session_security |
                                         negotiate_key_exch;

// Whether MD4 and RC4 are available (OpenSSL's legacy provider); `why` says what is missing otherwise.
bool available(std::string& why);

// The NT hash of a password: MD4 of its UTF-16LE form (NTOWFv1, [MS-NLMP] §3.3.1). 16 bytes; empty when the
// text is not UTF-8 or MD4 is unavailable. This is the secret NTLM verification needs: whoever has it can sign
// in as the user (docs/security.md "What the store keeps").
std::string nt_hash(std::string_view password_utf8);

// The names a CHALLENGE announces (target info AV pairs, [MS-NLMP] §2.2.2.1).
struct challenge_names {
  std::string netbios_domain;   // "EXAMPLE"
  std::string netbios_computer; // "PCHAT"
  std::string dns_domain;       // "example.com"
  std::string dns_computer;     // "chat.example.com"
};
// A CHALLENGE_MESSAGE ([MS-NLMP] §2.2.1.2) with `server_challenge` (8 bytes) and `timestamp` (FILETIME).
std::string build_challenge(std::string_view server_challenge, const challenge_names& names, std::uint64_t timestamp,
                            std::uint32_t flags = challenge_flags);

// An AUTHENTICATE_MESSAGE ([MS-NLMP] §2.2.1.3), its strings as UTF-8.
struct authenticate {
  std::uint32_t flags = 0;
  std::string lm_response;
  std::string nt_response;
  std::string domain;
  std::string user;
  std::string workstation;
  std::string encrypted_session_key;
};
// Every offset and length is checked against the message; nullopt with `error` for anything malformed.
std::optional<authenticate> parse_authenticate(std::string_view bytes, std::string& error);

// The four keys of an established NTLM session ([MS-NLMP] §3.4.5.2, §3.4.5.3).
struct session_keys {
  std::string client_sign;
  std::string server_sign;
  std::string client_seal;
  std::string server_seal;
};
// Checks an NTLMv2 response against the user's NT hash and the challenge we sent; the session keys when it
// proves the password. nullopt with `error` ("wrong password", "no NTLMv2 response", "flags ...") otherwise.
std::optional<session_keys> accept(const authenticate& a, std::string_view nt_hash, std::string_view server_challenge,
                                   std::string& error);

// The sequence number pidgin-sipe signs and checks every SIP message with.
constexpr std::uint32_t sip_sequence = 100;

// A message signature ([MS-NLMP] §3.4.4.2, connectionless with key exchange): 16 bytes, version 1, the first
// 8 bytes of HMAC-MD5(sign_key, seq || text) sealed with RC4 keyed by MD5(seal_key || seq), then seq.
std::string signature(std::string_view sign_key, std::string_view seal_key, std::string_view text,
                      std::uint32_t seq = sip_sequence);
// As 32 upper-case hex digits (rspauth, response).
std::string signature_hex(std::string_view sign_key, std::string_view seal_key, std::string_view text,
                          std::uint32_t seq = sip_sequence);
// Whether `hex` (either case) is the signature of `text`; compared in constant time.
bool verify_signature_hex(std::string_view sign_key, std::string_view seal_key, std::string_view text,
                          std::string_view hex, std::uint32_t seq = sip_sequence);

// One direction's signatures with a fixed sequence number, as pidgin-sipe uses (sip_sequence): the sealing key
// MD5(seal_key || seq) is then the same for every message, so the RC4 keystream that seals the checksum is computed
// once and each message costs one HMAC-MD5 (docs/performance.md "NTLM signing"). Same results as signature_hex
// and verify_signature_hex.
class signer {
public:
  signer() = default;
  signer(std::string_view sign_key, std::string_view seal_key, std::uint32_t seq = sip_sequence);
  std::string signature_hex(std::string_view text) const;
  bool verify_hex(std::string_view text, std::string_view hex) const;

private:
  std::string sign_key_;
  std::string keystream_; // the first 8 bytes of RC4(MD5(seal_key || seq))
  std::string seq_bytes_;
};

// The fields a SIP message's signature covers ([MS-SIPAE] §3.2.5.5), as the message carries them.
struct signed_fields {
  std::string protocol = "NTLM";
  std::string rand;       // srand (server) or crand (client)
  std::string num;        // snum or cnum
  std::string realm;
  std::string target_name;
  std::string call_id;
  std::string cseq;       // the number
  std::string method;     // the request's method (for a response: its CSeq method)
  std::string from_url;
  std::string from_tag;
  std::string to_url;
  std::string to_tag;
  std::string asserted_sip; // P-Asserted-Identity's sip: URI
  std::string asserted_tel; // ... and tel: URI
  std::string expires;
  int status = 0;           // a response's status; 0 for a request
};
// "<NTLM><rand><num><realm><target><call-id><cseq><method><from-url><from-tag><to-url><to-tag><pai-sip><pai-tel>
// <expires>[<status>]" (auth version 3 and later; version 2 leaves out to-url and the asserted identity).
std::string signature_text(const signed_fields& f, int version = 4);

// The fields of `m` (rand/num/realm/target_name/protocol left empty: they come from its auth header): From and
// To URL and tag, Call-ID, CSeq, method, P-Asserted-Identity (else P-Preferred-Identity), Expires, status.
signed_fields fields_of(const message& m);

// base64 ([RFC 4648] §4) of bytes, and back (canonical only: padding required, zero pad bits; nullopt otherwise).
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

} // namespace pchat::sip::ntlm
