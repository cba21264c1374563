#include "web/tls_transport.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace pchat::web {

namespace {

std::string openssl_error(const char* what) {
  std::string out = what;
  if (auto e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

class tls_transport final : public transport {
public:
  tls_transport(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}
  ~tls_transport() override { SSL_free(ssl_); }

  io_result read(char* buf, std::size_t n) override {
    if (raw_)
      return raw_read(buf, n);
    if (failed_)
      return {};
    if (!looked_) { // a TLS connection opens with a handshake record (22); a letter is someone speaking HTTP
      unsigned char first = 0;
      auto r = ::recv(fd_, &first, 1, MSG_PEEK);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return {0, POLLIN};
      looked_ = true;
      if (r == 1 && first >= 'A' && first <= 'Z') {
        // Plain HTTP to the HTTPS port: from now on plain bytes, so that the listener can answer in plain text
        // (as nginx does) and close the way it closes any refused request, reading what the client still sends.
        raw_ = true;
        io_result out;
        out.plain_http = true;
        return out;
      }
      if (r == 1 && first != 22) {
        failed_ = true;
        return {};
      }
    }
    ERR_clear_error();
    int r = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
    if (r > 0)
      return {r, 0};
    return {0, wait_for(r)};
  }

  io_result write(const char* buf, std::size_t n) override {
    if (raw_) {
      auto r = ::send(fd_, buf, n, MSG_NOSIGNAL);
      if (r > 0)
        return {r, 0};
      return {0, static_cast<short>(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? POLLOUT : 0)};
    }
    if (failed_)
      return {};
    ERR_clear_error();
    int r = SSL_write(ssl_, buf, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
    if (r > 0)
      return {r, 0};
    return {0, wait_for(r)};
  }

  bool encrypted() const override { return !raw_; }

  void shutdown_write() override {
    // close_notify once the handshake is done (best effort: the socket is non-blocking), then the TCP FIN.
    if (!raw_ && !failed_ && SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
    }
    ::shutdown(fd_, SHUT_WR);
  }

private:
  // The poll events OpenSSL needs before the call can go on; 0 at the end of the stream or on an error (after
  // which the connection is only closed: no more SSL calls, as OpenSSL requires).
  short wait_for(int r) {
    switch (SSL_get_error(ssl_, r)) {
      case SSL_ERROR_WANT_READ: return POLLIN;
      case SSL_ERROR_WANT_WRITE: return POLLOUT;
      case SSL_ERROR_ZERO_RETURN: return 0; // close_notify: the end
      default:
        failed_ = true; // a failed handshake (plain HTTP, old TLS, no shared cipher), a reset, a bad record
        ERR_clear_error();
        return 0;
    }
  }

  io_result raw_read(char* buf, std::size_t n) {
    for (;;) {
      auto r = ::recv(fd_, buf, n, 0);
      if (r >= 0)
        return {r, 0};
      if (errno != EINTR)
        return {0, static_cast<short>(errno == EAGAIN || errno == EWOULDBLOCK ? POLLIN : 0)};
    }
  }

  SSL* ssl_;
  int fd_;
  bool failed_ = false;
  bool looked_ = false;
  bool raw_ = false; // plain HTTP arrived: plain bytes from now on, only to refuse it
};

} // namespace

struct tls_context::impl {
  SSL_CTX* ctx = nullptr;
  ~impl() { SSL_CTX_free(ctx); }
};

tls_context::tls_context(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
tls_context::~tls_context() = default;

std::shared_ptr<tls_context> tls_context::make(const std::string& certificate_pem, const std::string& key_pem,
                                               std::string& error) {
  auto p = std::make_unique<impl>();
  p->ctx = SSL_CTX_new(TLS_server_method());
  if (!p->ctx) {
    error = openssl_error("TLS context");
    return nullptr;
  }
  SSL_CTX* ctx = p->ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // TLS 1.2: forward secrecy and AEAD only (what Mozilla's "intermediate" profile allows); TLS 1.3's suites are
  // all of that kind and keep OpenSSL's defaults.
  if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL") != 1) {
    error = openssl_error("TLS ciphers");
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Idle connections keep no read/write buffers (about 34 KiB each otherwise); writes may be partial, as a
  // non-blocking socket's are.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>("pchat-web"), 9);

  BIO* certs = BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size()));
  X509* leaf = certs ? PEM_read_bio_X509_AUX(certs, nullptr, nullptr, nullptr) : nullptr;
  bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) { // the rest of the chain, if any
    X509* extra = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr);
    if (!extra)
      break;
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  BIO_free(certs);
  ERR_clear_error(); // the end of the chain reads as an error
  if (!ok) {
    error = "TLS certificate not usable";
    return nullptr;
  }
  BIO* keys = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = keys ? PEM_read_bio_PrivateKey(keys, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(keys);
  ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!ok) {
    error = openssl_error("TLS key not usable");
    return nullptr;
  }
  return std::shared_ptr<tls_context>(new tls_context(std::move(p)));
}

std::unique_ptr<transport> tls_context::accept(int fd) const {
  SSL* ssl = SSL_new(impl_->ctx);
  if (!ssl)
    return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return std::make_unique<tls_transport>(ssl, fd);
}

} // namespace pchat::web
