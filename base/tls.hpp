#pragma once
// The server's TLS certificate and key (docs/security.md "TLS"): checked once at start-up, before either listener
// (SIP over TLS, HTTPS) is given them, so a wrong path, a key that does not match or an expired certificate is a
// clear start-up error and never a handshake that fails later. And `pchatctl cert self-signed`, for trying TLS
// out. Plain functions over OpenSSL's libcrypto; errors are values.
#include <cstdint>
#include <string>
#include <vector>

namespace pchat::tls {

struct certificate_info {
  std::string certificate_pem; // the certificate chain as read (leaf first)
  std::string key_pem;         // the private key, unencrypted PEM
  std::string subject;         // "CN=chat.example.com"
  std::vector<std::string> names; // subjectAltName DNS names and IP addresses
  std::int64_t not_after = 0;  // seconds since the epoch
};

struct load_result {
  bool ok = false;
  std::string error; // "tls.certificate /etc/pchat/cert.pem: no certificate in it", ...
  certificate_info info;
};

// Reads a PEM certificate chain and its private key and checks that they belong together and that the
// certificate is valid now. `now` is seconds since the epoch (0: the clock).
load_result load(const std::string& certificate_path, const std::string& key_path, std::int64_t now = 0);

struct self_signed {
  bool ok = false;
  std::string error;
  std::string certificate_pem;
  std::string key_pem;
};

// A new P-256 key and a self-signed certificate for `names` (the first is the subject CN; every one goes into
// subjectAltName, as an IP address when it parses as one), valid from now for `days`.
self_signed make_self_signed(const std::vector<std::string>& names, int days);

// Writes `text` to `path` with mode `mode` (created or replaced whole: a temporary file renamed over it).
bool write_private_file(const std::string& path, const std::string& text, unsigned mode, std::string& error);

} // namespace pchat::tls
