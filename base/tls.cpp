#include "base/tls.hpp"

#include "base/fd.hpp"
#include "base/random.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

namespace pchat::tls {
namespace {

template <class T, void (*F)(T*)>
struct deleter {
  void operator()(T* p) const { F(p); }
};
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0)
    return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = std::string{"cannot read it: "} + std::strerror(errno);
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string{data, static_cast<std::size_t>(n)} : std::string{};
}

std::string name_text(X509_NAME* name) {
  bio_ptr b{BIO_new(BIO_s_mem())};
  X509_NAME_print_ex(b.get(), name, 0, XN_FLAG_RFC2253);
  return bio_text(b.get());
}

std::vector<std::string> alt_names(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names)
    return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      auto* s = g->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (g->type == GEN_IPADD) {
      auto* s = g->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = "";
      int len = ASN1_STRING_length(s);
      if (len == 4 || len == 16)
        inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
      out.emplace_back(buf);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

} // namespace

load_result load(const std::string& certificate_path, const std::string& key_path, std::int64_t now) {
  load_result r;
  std::string why;
  if (!read_file(certificate_path, r.info.certificate_pem, why)) {
    r.error = "tls.certificate " + certificate_path + ": " + why;
    return r;
  }
  if (!read_file(key_path, r.info.key_pem, why)) {
    r.error = "tls.key " + key_path + ": " + why;
    return r;
  }
  bio_ptr cb{BIO_new_mem_buf(r.info.certificate_pem.data(), static_cast<int>(r.info.certificate_pem.size()))};
  x509_ptr cert{PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr)};
  if (!cert) {
    r.error = "tls.certificate " + certificate_path + ": no PEM certificate in it (" + openssl_error() + ")";
    return r;
  }
  bio_ptr kb{BIO_new_mem_buf(r.info.key_pem.data(), static_cast<int>(r.info.key_pem.size()))};
  // An empty passphrase callback: an encrypted key fails here with a clear message instead of a prompt.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  pkey_ptr key{PEM_read_bio_PrivateKey(kb.get(), nullptr, no_passphrase, nullptr)};
  if (!key) {
    r.error = "tls.key " + key_path + ": no unencrypted PEM private key in it (" + openssl_error() + ")";
    return r;
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    r.error = "tls.key " + key_path + " does not belong to the certificate in " + certificate_path;
    return r;
  }
  std::time_t t = now != 0 ? static_cast<std::time_t>(now) : std::time(nullptr);
  if (X509_cmp_time(X509_get0_notAfter(cert.get()), &t) <= 0) {
    r.error = "tls.certificate " + certificate_path + ": expired";
    return r;
  }
  if (X509_cmp_time(X509_get0_notBefore(cert.get()), &t) > 0) {
    r.error = "tls.certificate " + certificate_path + ": not valid yet";
    return r;
  }
  struct tm tm_after {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm_after) == 1)
    r.info.not_after = static_cast<std::int64_t>(timegm(&tm_after));
  r.info.subject = name_text(X509_get_subject_name(cert.get()));
  r.info.names = alt_names(cert.get());
  r.ok = true;
  return r;
}

self_signed make_self_signed(const std::vector<std::string>& names, int days) {
  self_signed r;
  if (names.empty() || names.front().empty()) {
    r.error = "a certificate needs at least one name";
    return r;
  }
  if (days < 1 || days > 3650) {
    r.error = "days must be 1..3650";
    return r;
  }
  pkey_ptr key{EVP_EC_gen("P-256")};
  x509_ptr cert{X509_new()};
  if (!key || !cert) {
    r.error = "cannot make a key: " + openssl_error();
    return r;
  }
  X509_set_version(cert.get(), 2); // v3
  std::string serial = random_bytes(16);
  serial[0] = static_cast<char>(serial[0] & 0x7f); // positive
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()), 16, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(names.front().c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);

  std::string san;
  for (const auto& n : names) {
    unsigned char buf[16];
    bool ip = inet_pton(AF_INET, n.c_str(), buf) == 1 || inet_pton(AF_INET6, n.c_str(), buf) == 1;
    san += (san.empty() ? "" : ",") + std::string{ip ? "IP:" : "DNS:"} + n;
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, std::string> exts[] = {{NID_subject_alt_name, san},
                                              {NID_basic_constraints, "critical,CA:FALSE"},
                                              {NID_key_usage, "critical,digitalSignature"},
                                              {NID_ext_key_usage, "serverAuth"},
                                              {NID_subject_key_identifier, "hash"}};
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) {
      r.error = "bad certificate name list \"" + san + "\": " + openssl_error();
      return r;
    }
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    r.error = "cannot sign the certificate: " + openssl_error();
    return r;
  }
  bio_ptr cb{BIO_new(BIO_s_mem())};
  bio_ptr kb{BIO_new(BIO_s_mem())};
  PEM_write_bio_X509(cb.get(), cert.get());
  PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  r.certificate_pem = bio_text(cb.get());
  r.key_pem = bio_text(kb.get());
  r.ok = !r.certificate_pem.empty() && !r.key_pem.empty();
  if (!r.ok)
    r.error = "cannot write PEM: " + openssl_error();
  return r;
}

bool write_private_file(const std::string& path, const std::string& text, unsigned mode, std::string& error) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    error = tmp + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, mode); // exactly `mode`, whatever the umask
  bool ok = write_all(fd, text.data(), text.size()) && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": " + std::strerror(ok ? errno : saved);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

} // namespace pchat::tls
