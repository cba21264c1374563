#include "codec/ntlm.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>

#include <array>
#include <mutex>

#include "base/hex.hpp"
#include "codec/sip_message.hpp"

namespace pchat::sip::ntlm {

namespace {

// MD4 and RC4 from OpenSSL's legacy provider, in a library context of their own.
struct legacy_crypto {
  OSSL_LIB_CTX* ctx = nullptr;
  EVP_MD* md4 = nullptr;
  EVP_CIPHER* rc4 = nullptr;
  // MD5 fetched once as well: EVP_md5() makes OpenSSL 3 look the algorithm up again on every use, which was
  // half the cost of signing one message (docs/performance.md "NTLM signing").
  EVP_MD* md5 = nullptr;
  std::string error;
  legacy_crypto() {
    ctx = OSSL_LIB_CTX_new();
    if (!ctx || !OSSL_PROVIDER_load(ctx, "legacy") || !OSSL_PROVIDER_load(ctx, "default")) {
      error = "OpenSSL's legacy provider (MD4, RC4) does not load";
      return;
    }
    md4 = EVP_MD_fetch(ctx, "MD4", nullptr);
    rc4 = EVP_CIPHER_fetch(ctx, "RC4", nullptr);
    md5 = EVP_MD_fetch(ctx, "MD5", nullptr);
    if (!md4 || !rc4 || !md5)
      error = "OpenSSL's legacy provider has no MD4 or RC4 (or the default provider no MD5)";
  }
};

legacy_crypto& legacy() {
  static legacy_crypto l; // initialised once, thread-safe (C++11 statics)
  return l;
}

std::string md5(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  auto& l = legacy();
  if (!l.md5 || EVP_Digest(data.data(), data.size(), out, &n, l.md5, nullptr) != 1)
    return {};
  return {reinterpret_cast<char*>(out), n};
}

std::string hmac_md5(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  auto& l = legacy();
  if (!l.md5 || !HMAC(l.md5, key.data(), static_cast<int>(key.size()),
                      reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n))
    return {};
  return {reinterpret_cast<char*>(out), n};
}

std::string rc4(std::string_view key, std::string_view data) {
  auto& l = legacy();
  if (!l.rc4)
    return {};
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  std::string out(data.size(), '\0');
  int n = 0;
  bool ok = c && EVP_EncryptInit_ex2(c, l.rc4, nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_set_key_length(c, static_cast<int>(key.size())) == 1 &&
            EVP_EncryptInit_ex2(c, nullptr, reinterpret_cast<const unsigned char*>(key.data()), nullptr, nullptr) == 1 &&
            EVP_EncryptUpdate(c, reinterpret_cast<unsigned char*>(out.data()), &n,
                              reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size())) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? out : std::string{};
}

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint16_t get16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(b[at]) | static_cast<std::uint8_t>(b[at + 1]) << 8);
}
std::uint32_t get32(std::string_view b, std::size_t at) {
  return static_cast<std::uint32_t>(get16(b, at)) | static_cast<std::uint32_t>(get16(b, at + 2)) << 16;
}

// UTF-8 -> UTF-16LE; nullopt for invalid UTF-8 (overlong forms, surrogates, beyond U+10FFFF).
std::optional<std::string> utf16le(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size())
      return std::nullopt;
    cp = len == 1 ? c : c & (0x7f >> len);
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return std::nullopt;
      cp = cp << 6 | (cc & 0x3f);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return std::nullopt;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put16(out, static_cast<std::uint16_t>(0xd800 | (cp >> 10)));
      put16(out, static_cast<std::uint16_t>(0xdc00 | (cp & 0x3ff)));
    } else {
      put16(out, static_cast<std::uint16_t>(cp));
    }
    i += len;
  }
  return out;
}

// UTF-16LE -> UTF-8; nullopt for an odd length or unpaired surrogates.
std::optional<std::string> utf8_of(std::string_view b) {
  if (b.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < b.size(); i += 2) {
    std::uint32_t cp = get16(b, i);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (i + 3 >= b.size())
        return std::nullopt;
      std::uint32_t lo = get16(b, i + 2);
      if (lo < 0xdc00 || lo > 0xdfff)
        return std::nullopt;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      i += 2;
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      return std::nullopt;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | cp >> 6));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | cp >> 12));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | cp >> 18));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
  return out;
}

void put_av(std::string& out, std::uint16_t id, std::string_view value) {
  put16(out, id);
  put16(out, static_cast<std::uint16_t>(value.size()));
  out.append(value);
}

constexpr char signature_magic[] = "NTLMSSP";
constexpr std::size_t authenticate_header = 64; // up to the flags; the version (8 bytes) follows when present

// "session key to client-to-server signing key magic constant" and the three others, with their NUL.
std::string key_of(std::string_view session_key, const char* magic) {
  std::string in{session_key};
  in.append(magic, std::char_traits<char>::length(magic) + 1);
  return md5(in);
}

} // namespace

bool available(std::string& why) {
  why = legacy().error;
  return why.empty();
}

std::string nt_hash(std::string_view password_utf8) {
  auto& l = legacy();
  auto text = utf16le(password_utf8);
  if (!text || !l.md4)
    return {};
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text->data(), text->size(), out, &n, l.md4, nullptr) != 1)
    return {};
  return {reinterpret_cast<char*>(out), n};
}

std::string build_challenge(std::string_view server_challenge, const challenge_names& names, std::uint64_t timestamp,
                            std::uint32_t flags) {
  std::string target = utf16le(names.netbios_domain).value_or(std::string{});
  std::string info;
  put_av(info, 2, target);                                                      // MsvAvNbDomainName
  put_av(info, 1, utf16le(names.netbios_computer).value_or(std::string{}));     // MsvAvNbComputerName
  put_av(info, 4, utf16le(names.dns_domain).value_or(std::string{}));           // MsvAvDnsDomainName
  put_av(info, 3, utf16le(names.dns_computer).value_or(std::string{}));         // MsvAvDnsComputerName
  std::string ts;
  put32(ts, static_cast<std::uint32_t>(timestamp & 0xffffffffu));
  put32(ts, static_cast<std::uint32_t>(timestamp >> 32));
  put_av(info, 7, ts); // MsvAvTimestamp
  put_av(info, 0, {}); // MsvAvEOL

  constexpr std::uint32_t header = 56;
  std::string m{signature_magic, sizeof signature_magic}; // with its NUL
  put32(m, 2);                                            // CHALLENGE_MESSAGE
  put16(m, static_cast<std::uint16_t>(target.size()));
  put16(m, static_cast<std::uint16_t>(target.size()));
  put32(m, header);
  put32(m, flags);
  m.append(server_challenge.substr(0, 8));
  m.append(8 - std::min<std::size_t>(8, server_challenge.size()), '\0');
  m.append(8, '\0'); // reserved
  put16(m, static_cast<std::uint16_t>(info.size()));
  put16(m, static_cast<std::uint16_t>(info.size()));
  put32(m, header + static_cast<std::uint32_t>(target.size()));
  // Version ([MS-NLMP] §2.2.2.10): 6.1 build 7601, NTLMSSP_REVISION_W2K3 — what Windows servers announce.
  m.append("\x06\x01\xb1\x1d\x00\x00\x00\x0f", 8);
  m.append(target);
  m.append(info);
  return m;
}

std::optional<authenticate> parse_authenticate(std::string_view b, std::string& error) {
  if (b.size() < authenticate_header || b.substr(0, 8) != std::string_view{signature_magic, 8}) {
    error = "not an NTLM message";
    return std::nullopt;
  }
  if (get32(b, 8) != 3) {
    error = "not an AUTHENTICATE message";
    return std::nullopt;
  }
  authenticate a;
  a.flags = get32(b, 60);
  auto field = [&](std::size_t at, std::string& out) {
    std::uint16_t len = get16(b, at);
    std::uint32_t offset = get32(b, at + 4);
    if (len == 0) {
      out.clear();
      return true;
    }
    if (offset < authenticate_header || offset > b.size() || len > b.size() - offset)
      return false;
    out.assign(b.substr(offset, len));
    return true;
  };
  std::string domain, user, workstation;
  if (!field(12, a.lm_response) || !field(20, a.nt_response) || !field(28, domain) || !field(36, user) ||
      !field(44, workstation) || !field(52, a.encrypted_session_key)) {
    error = "a field lies outside the message";
    return std::nullopt;
  }
  if (!(a.flags & negotiate_unicode)) {
    error = "OEM strings (no NEGOTIATE_UNICODE)";
    return std::nullopt;
  }
  auto d = utf8_of(domain);
  auto u = utf8_of(user);
  auto w = utf8_of(workstation);
  if (!d || !u || !w) {
    error = "a name is not UTF-16";
    return std::nullopt;
  }
  a.domain = std::move(*d);
  a.user = std::move(*u);
  a.workstation = std::move(*w);
  return a;
}

std::optional<session_keys> accept(const authenticate& a, std::string_view nt_hash_bytes,
                                   std::string_view server_challenge, std::string& error) {
  if ((a.flags & required_flags) != required_flags) {
    error = "flags lack signing, datagram or key exchange";
    return std::nullopt;
  }
  // NTLMv2: NTProofStr (16) then the blob, which starts 01 01 and carries at least the time and client challenge.
  if (a.nt_response.size() < 16 + 28 || a.nt_response[16] != 1 || a.nt_response[17] != 1) {
    error = "no NTLMv2 response";
    return std::nullopt;
  }
  if (nt_hash_bytes.size() != 16 || server_challenge.size() != 8) {
    error = "no NT hash for this user";
    return std::nullopt;
  }
  auto user = utf16le(ascii_upper(a.user));
  auto domain = utf16le(a.domain);
  if (!user || !domain) {
    error = "bad names";
    return std::nullopt;
  }
  std::string ntowf = hmac_md5(nt_hash_bytes, *user + *domain);
  std::string_view proof{a.nt_response.data(), 16};
  std::string_view blob{a.nt_response.data() + 16, a.nt_response.size() - 16};
  std::string expected = hmac_md5(ntowf, std::string{server_challenge} + std::string{blob});
  if (expected.size() != 16 || CRYPTO_memcmp(expected.data(), proof.data(), 16) != 0) {
    error = "wrong password";
    return std::nullopt;
  }
  std::string key_exchange_key = hmac_md5(ntowf, proof); // the session base key ([MS-NLMP] §3.4.5.1, NTLMv2)
  if (a.encrypted_session_key.size() != 16) {
    error = "no exchanged session key";
    return std::nullopt;
  }
  std::string session = rc4(key_exchange_key, a.encrypted_session_key);
  if (session.size() != 16) {
    error = "RC4 unavailable";
    return std::nullopt;
  }
  std::size_t seal_len = a.flags & negotiate_128 ? 16 : a.flags & negotiate_56 ? 7 : 5;
  session_keys k;
  k.client_sign = key_of(session, "session key to client-to-server signing key magic constant");
  k.server_sign = key_of(session, "session key to server-to-client signing key magic constant");
  k.client_seal = key_of(session.substr(0, seal_len), "session key to client-to-server sealing key magic constant");
  k.server_seal = key_of(session.substr(0, seal_len), "session key to server-to-client sealing key magic constant");
  return k;
}

std::string signature(std::string_view sign_key, std::string_view seal_key, std::string_view text, std::uint32_t seq) {
  std::string seq_bytes;
  put32(seq_bytes, seq);
  std::string mac = hmac_md5(sign_key, seq_bytes + std::string{text});
  std::string sealed = rc4(md5(std::string{seal_key} + seq_bytes), std::string_view{mac}.substr(0, 8));
  std::string out;
  put32(out, 1);
  out += sealed.size() == 8 ? sealed : std::string(8, '\0');
  out += seq_bytes;
  return out;
}

std::string signature_hex(std::string_view sign_key, std::string_view seal_key, std::string_view text,
                          std::uint32_t seq) {
  return ascii_upper(hex::encode(signature(sign_key, seal_key, text, seq)));
}

signer::signer(std::string_view sign_key, std::string_view seal_key, std::uint32_t seq) : sign_key_(sign_key) {
  put32(seq_bytes_, seq);
  keystream_ = rc4(md5(std::string{seal_key} + seq_bytes_), std::string(8, '\0'));
}

std::string signer::signature_hex(std::string_view text) const {
  std::string data = seq_bytes_;
  data.append(text);
  std::string mac = hmac_md5(sign_key_, data);
  if (mac.size() < 8 || keystream_.size() != 8)
    return {}; // no signature at all rather than a forgeable one (verify_hex then refuses too)
  std::string out;
  put32(out, 1);
  for (std::size_t i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(mac[i] ^ keystream_[i]));
  out += seq_bytes_;
  return ascii_upper(hex::encode(out));
}

bool signer::verify_hex(std::string_view text, std::string_view hex_text) const {
  // Fail closed: without a keystream (no RC4, a signer that was never given keys) every signature would be the
  // same forgeable zeros.
  if (hex_text.size() != 32 || keystream_.size() != 8 || seq_bytes_.size() != 4)
    return false;
  std::string want = signature_hex(text);
  std::string got = ascii_upper(hex_text);
  return want.size() == 32 && CRYPTO_memcmp(want.data(), got.data(), 32) == 0;
}

bool verify_signature_hex(std::string_view sign_key, std::string_view seal_key, std::string_view text,
                          std::string_view hex_text, std::uint32_t seq) {
  auto got = hex::decode(hex_text);
  if (!got || got->size() != 16)
    return false;
  std::string want = signature(sign_key, seal_key, text, seq);
  return CRYPTO_memcmp(want.data(), got->data(), 16) == 0;
}

std::string signature_text(const signed_fields& f, int version) {
  std::string s;
  auto add = [&s](std::string_view v) {
    s.push_back('<');
    s.append(v);
    s.push_back('>');
  };
  add(f.protocol);
  add(f.rand);
  add(f.num);
  add(f.realm);
  add(f.target_name);
  add(f.call_id);
  add(f.cseq);
  add(f.method);
  add(f.from_url);
  add(f.from_tag);
  if (version >= 3)
    add(f.to_url);
  add(f.to_tag);
  if (version >= 3) {
    add(f.asserted_sip);
    add(f.asserted_tel);
  }
  add(f.expires);
  if (f.status != 0)
    add(std::to_string(f.status));
  return s;
}

namespace {

// The URL of a From/To value as MS-SIPAE's digest takes it: inside the first <...>, else up to the first ';'.
std::string url_part(std::string_view v) {
  auto lt = v.find('<');
  if (lt != std::string_view::npos) {
    auto gt = v.find('>', lt);
    return std::string{v.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1)};
  }
  return std::string{trim(v.substr(0, v.find(';')))};
}

std::string tag_part(std::string_view v) {
  auto at = v.find(";tag=");
  if (at == std::string_view::npos)
    return {};
  auto rest = v.substr(at + 5);
  return std::string{rest.substr(0, rest.find(';'))};
}

// The URI inside "<scheme:...>" anywhere in `v` (scheme compared without case), kept as written.
std::string bracketed(std::string_view v, std::string_view scheme) {
  std::string lower = ascii_lower(v);
  auto at = lower.find("<" + std::string{scheme});
  if (at == std::string::npos)
    return {};
  auto gt = v.find('>', at);
  return std::string{v.substr(at + 1, gt == std::string_view::npos ? std::string_view::npos : gt - at - 1)};
}

} // namespace

signed_fields fields_of(const message& m) {
  signed_fields f;
  f.protocol.clear();
  f.call_id = m.get_or("Call-ID");
  std::string cseq = m.get_or("CSeq");
  auto sp = cseq.find(' ');
  f.cseq = cseq.substr(0, sp);
  f.method = m.is_request() ? m.method : sp == std::string::npos ? std::string{} : std::string{trim(cseq.substr(sp + 1))};
  std::string from = m.get_or("From");
  std::string to = m.get_or("To");
  f.from_url = url_part(from);
  f.from_tag = tag_part(from);
  f.to_url = url_part(to);
  f.to_tag = tag_part(to);
  const std::string* pai = m.get("P-Asserted-Identity");
  if (!pai)
    pai = m.get("P-Preferred-Identity");
  if (pai) {
    if (ascii_lower(pai->substr(0, 4)) == "tel:") {
      f.asserted_tel = *pai;
    } else {
      f.asserted_sip = bracketed(*pai, "sip:");
      f.asserted_tel = bracketed(*pai, "tel:");
    }
  }
  f.expires = m.get_or("Expires");
  f.status = m.status;
  return f;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              (c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text.back() == '='));
    if (!ok)
      return std::nullopt;
  }
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  std::size_t pad = text.empty() ? 0 : text.back() != '=' ? 0 : text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<std::size_t>(n) - pad);
  // Canonical only ([RFC 4648] §3.5): the bits after the last byte must be zero, so one text means one message.
  if (base64_encode(out) != text)
    return std::nullopt;
  return out;
}

} // namespace pchat::sip::ntlm
