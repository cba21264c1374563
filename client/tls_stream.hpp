#pragma once
// TLS over a connected TCP socket for the client's SIP agent (SIP over TLS, RFC 3261 §26.2; docs/security.md
// "TLS"). One reader thread reads while other threads write: OpenSSL's SSL object is not safe for that, so every
// SSL call takes one mutex and the socket is non-blocking; a side that must wait polls the socket outside the
// lock (reader) or inside it with a deadline (writer). Errors are values.
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

struct ssl_st;
struct ssl_ctx_st;

namespace pchat::client {

struct tls_options {
  bool enabled = false;
  std::string ca_file;     // PEM CA bundle or the server's own (self-signed) certificate; empty: the system's
  bool verify = true;      // check the certificate chain and the name (off only for tests and trying out)
  std::string server_name; // SNI and the name checked; empty: the host connected to
};

class tls_stream {
public:
  ~tls_stream();
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  // Handshakes on `fd` (connected, any blocking mode; made non-blocking). Null with `error` set on failure.
  static std::unique_ptr<tls_stream> connect(int fd, const std::string& host, const tls_options& opts,
                                             std::chrono::milliseconds timeout, std::string& error);

  // Blocks until some bytes arrive: > 0 bytes read, 0 the peer closed (close_notify or EOF), < 0 an error
  // (`error` set). Returns when the socket is shut down.
  long read(char* buf, std::size_t n, std::string& error);
  // Writes all of `bytes` within `timeout`; false with `error` set otherwise.
  bool write(std::string_view bytes, std::chrono::milliseconds timeout, std::string& error);

  std::string protocol() const; // "TLSv1.3"

private:
  tls_stream() = default;
  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  std::mutex mtx_;
};

} // namespace pchat::client
