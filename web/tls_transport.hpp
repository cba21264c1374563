#pragma once
// HTTPS for pchatd's web server (docs/web.md "HTTPS"): the TLS `transport` of web/http_listener.hpp, OpenSSL on
// the connection's non-blocking socket. The handshake happens inside the first reads, so the acceptor drives it
// under the same total deadline as the request head (a client that connects and never says hello costs a
// descriptor for web.header-timeout, never a thread), and a worker's reads and writes go through it unchanged.
// TLS 1.2 and 1.3 only; for 1.2 only ECDHE with AES-GCM or ChaCha20-Poly1305 (docs/security.md "TLS").
#include <memory>
#include <string>

#include "web/http_listener.hpp"

namespace pchat::web {

// The server side's settings, shared by every connection: certificate chain and key (PEM, checked at start-up by
// base/tls.hpp), protocol versions, ciphers. Opaque so that OpenSSL's headers stay in one file.
class tls_context {
public:
  // nullptr with `error` when OpenSSL refuses the certificate or key.
  static std::shared_ptr<tls_context> make(const std::string& certificate_pem, const std::string& key_pem,
                                           std::string& error);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  // A transport for a freshly accepted socket (the handshake has not begun); nullptr when OpenSSL cannot make one.
  std::unique_ptr<transport> accept(int fd) const;

  struct impl;

private:
  explicit tls_context(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace pchat::web
