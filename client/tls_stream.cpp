#include "client/tls_stream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace pchat::client {

namespace {

using clock_type = std::chrono::steady_clock;

std::string ssl_error_text(int code) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
  }
  if (code == SSL_ERROR_SYSCALL)
    return "connection reset";
  return "TLS error " + std::to_string(code);
}

// Waits for `events` until `deadline` (none: forever). False on timeout.
bool wait_for(int fd, short events, const clock_type::time_point* deadline) {
  for (;;) {
    int ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock_type::now()).count();
      if (left <= 0)
        return false;
      ms = static_cast<int>(std::min<long long>(left, 60000));
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0)
      return true; // ready, or an error/hang-up the next SSL call reports
    if (rc == 0 && deadline)
      continue; // re-check the deadline
    if (rc < 0 && errno != EINTR)
      return true;
  }
}

} // namespace

tls_stream::~tls_stream() {
  if (ssl_)
    SSL_free(ssl_);
  if (ctx_)
    SSL_CTX_free(ctx_);
}

std::unique_ptr<tls_stream> tls_stream::connect(int fd, const std::string& host, const tls_options& opts,
                                                std::chrono::milliseconds timeout, std::string& error) {
  std::unique_ptr<tls_stream> s{new tls_stream};
  s->fd_ = fd;
  s->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!s->ctx_) {
    error = "TLS: " + ssl_error_text(0);
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(s->ctx_, TLS1_2_VERSION);
  // A peer that closes without close_notify reads as an ordinary close (SIP framing tells a cut message).
  SSL_CTX_set_options(s->ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (opts.verify) {
    int ok = opts.ca_file.empty() ? SSL_CTX_set_default_verify_paths(s->ctx_)
                                  : SSL_CTX_load_verify_locations(s->ctx_, opts.ca_file.c_str(), nullptr);
    if (ok != 1) {
      error = "TLS: cannot load CA certificates " + opts.ca_file + ": " + ssl_error_text(0);
      return nullptr;
    }
    SSL_CTX_set_verify(s->ctx_, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(s->ctx_, SSL_VERIFY_NONE, nullptr);
  }
  s->ssl_ = SSL_new(s->ctx_);
  if (!s->ssl_ || SSL_set_fd(s->ssl_, fd) != 1) {
    error = "TLS: " + ssl_error_text(0);
    return nullptr;
  }
  const std::string& name = opts.server_name.empty() ? host : opts.server_name;
  unsigned char addr[16];
  bool is_ip = inet_pton(AF_INET, name.c_str(), addr) == 1 || inet_pton(AF_INET6, name.c_str(), addr) == 1;
  if (!is_ip)
    SSL_set_tlsext_host_name(s->ssl_, name.c_str());
  if (opts.verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(s->ssl_);
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    if (ok != 1) {
      error = "TLS: cannot check the name " + name;
      return nullptr;
    }
  }
  SSL_set_mode(s->ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    int rc = SSL_connect(s->ssl_);
    if (rc == 1)
      break;
    int code = SSL_get_error(s->ssl_, rc);
    short events = code == SSL_ERROR_WANT_READ ? POLLIN : code == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      long verify = SSL_get_verify_result(s->ssl_);
      error = verify != X509_V_OK ? std::string{"TLS: the server's certificate: "} +
                                      X509_verify_cert_error_string(verify)
                                  : "TLS handshake: " + ssl_error_text(code);
      return nullptr;
    }
    if (!wait_for(fd, events, &deadline)) {
      error = "TLS handshake timed out";
      return nullptr;
    }
  }
  return s;
}

long tls_stream::read(char* buf, std::size_t n, std::string& error) {
  for (;;) {
    int rc;
    int code;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      rc = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
      code = rc > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
      if (code != SSL_ERROR_NONE && code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE &&
          code != SSL_ERROR_ZERO_RETURN)
        error = ssl_error_text(code);
    }
    if (rc > 0)
      return rc;
    if (code == SSL_ERROR_ZERO_RETURN)
      return 0;
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      pollfd p{fd_, static_cast<short>(code == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
        error = "poll failed";
        return -1;
      }
      if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
        if (!(p.revents & POLLIN)) {
          error = "connection closed";
          return 0;
        }
      }
      continue;
    }
    return -1;
  }
}

bool tls_stream::write(std::string_view bytes, std::chrono::milliseconds timeout, std::string& error) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto deadline = clock_type::now() + timeout;
  while (!bytes.empty()) {
    int rc = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
    if (rc > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(rc));
      continue;
    }
    int code = SSL_get_error(ssl_, rc);
    short events = code == SSL_ERROR_WANT_READ ? POLLIN : code == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      error = "TLS write: " + ssl_error_text(code);
      return false;
    }
    if (!wait_for(fd_, events, &deadline)) {
      error = "send timed out";
      return false;
    }
  }
  return true;
}

std::string tls_stream::protocol() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

} // namespace pchat::client
