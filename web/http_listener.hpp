#pragma once
// pchatd's own HTTP connection handling in front of cpp-httplib (docs/web.md "Connections").
//
// cpp-httplib's listen() hands every accepted socket to a worker thread, which then blocks reading the request
// head, 5 s per read, reset by each byte: eight clients sending a byte every few seconds hold all eight workers
// and nothing else is answered (slowloris). Here one acceptor thread (poll) owns every connection until its
// request has arrived:
//
//   accept -> cap per client address (web.max-connections-per-address) and in total -> read, non-blocking, into
//   the connection's buffer until the head (and a body of at most 64 KiB declared with it) is complete, within
//   one total deadline from connecting (web.header-timeout) -> check the head (web/http_head.hpp) -> a worker
//   runs cpp-httplib's request processing on it (http_server::serve, through conn_stream, which replays the
//   buffered bytes) -> the worker hands the connection back -> a lingering close (the client's remaining bytes
//   are read and dropped until it closes, at most a few seconds) so it can read the answer.
//
// So a worker only ever gets a connection whose request is there, and idle or slow sockets cost a buffer and a
// file descriptor in the acceptor, never a thread. Only the acceptor closes connections (the per-address counts
// are its own), except at stop.
//
// TLS: the bytes move through a `transport`, plain TCP or TLS (web/tls_transport.hpp: OpenSSL on the non-blocking
// socket). The TLS transport does its handshake inside read() and asks for the poll events SSL_ERROR_WANT_READ/
// WRITE name, so the acceptor drives the handshake and reads the decrypted head under the same total deadline, and
// the worker's stream reads and writes through it the same way (docs/web.md "HTTPS").
#include <poll.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

#include "web/http_head.hpp"
#include "web/stream_writer.hpp"

namespace pchat::web {

class tls_context; // web/tls_transport.hpp

// One non-blocking read or write: `bytes` > 0 moved; 0 with `wait` 0 at the end of the stream (read) or on an
// error; `wait` != 0: nothing moved yet, poll for these events and try again.
struct io_result {
  ssize_t bytes = 0;
  short wait = 0;
  bool plain_http = false; // TLS only: the client spoke plain HTTP; the transport now moves plain bytes, to refuse it
};

// How the bytes of one connection move (plain TCP, later TLS). Never blocks.
class transport {
public:
  virtual ~transport() = default;
  virtual io_result read(char* buf, std::size_t n) = 0;
  virtual io_result write(const char* buf, std::size_t n) = 0;
  // No more bytes from us (TLS: close_notify first); the client still may send.
  virtual void shutdown_write() = 0;
  // Whether the bytes are encrypted: then nothing may be written before the handshake (a plain refusal at accept).
  virtual bool encrypted() const { return false; }
};

// A connection the acceptor took: the socket, who is at the other end, what arrived so far.
struct connection {
  int fd = -1;
  std::unique_ptr<transport> io;
  std::string peer;     // the client's address as text (logs, req.remote_addr)
  int peer_port = 0;
  std::string key;      // what the per-address cap counts by: the IPv4 address, or the IPv6 /64
  std::string received; // bytes read and not yet given to cpp-httplib
  std::chrono::steady_clock::time_point accepted;
  // Set by a handler whose answer goes on after its head (an event stream): once the worker is done, the
  // connection goes to the stream writer (web/stream_writer.hpp) instead of being closed.
  std::shared_ptr<outlet> stream;
};

// The connection the calling worker is answering; nullptr on any other thread.
connection* serving_connection();

// cpp-httplib's Stream over a connection: the buffered bytes first, then the transport; reads wait at most
// `read_timeout` each and never past the deadline (set: every read; lifted: per read only, for long uploads).
class conn_stream final : public httplib::Stream {
public:
  conn_stream(connection& c, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override;

  void set_deadline(std::chrono::steady_clock::time_point at) { deadline_ = at; }
  void lift_deadline() { deadline_ = std::chrono::steady_clock::time_point::max(); }

private:
  // Reads into the buffer (it is empty) waiting at most the read timeout; false when nothing came.
  bool fill() const;
  bool wait(short events, std::chrono::milliseconds limit) const;

  connection& c_;
  std::chrono::milliseconds read_timeout_;
  std::chrono::milliseconds write_timeout_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  mutable std::size_t offset_ = 0; // into c_.received
};

// cpp-httplib's Server with its request processing reachable for a connection accepted elsewhere: routes,
// handlers and options are set on it as usual; only listen() is not used.
class http_server : public httplib::Server {
public:
  // Reads one request from `strm`, routes it and writes the answer with "Connection: close". `setup` sees the
  // parsed request before any handler (and before the pre-routing handler).
  bool serve(httplib::Stream& strm, const std::function<void(httplib::Request&)>& setup);
  // cpp-httplib stops writing streamed answers (content providers) once its listening socket is gone: set to the
  // listener's socket while serving, -1 to make answers in flight stop.
  void set_listening_socket(int fd) { svr_sock_ = fd; }
};

struct listener_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0; // 0: any free port
  std::size_t threads = 8;
  std::chrono::milliseconds header_timeout{10000}; // connect -> head (and a small body) complete
  std::size_t max_per_address = 32;                 // connections open at once from one address (IPv6: one /64)
  std::size_t max_connections = 1024;               // connections open at once in all
  std::size_t max_awaited_body = 64 * 1024;         // bodies up to this size are awaited with the head
  std::chrono::milliseconds read_timeout{5000};     // each read of a streamed upload body
  std::chrono::milliseconds write_timeout{30000};   // each write of an answer
  std::chrono::milliseconds linger{5000};           // lingering close: at most this long
  std::chrono::milliseconds stream_idle{20000};     // event streams: a keep-alive after this long without bytes
  std::string stream_keepalive = ":\n\n";           // what that keep-alive is (an event-stream comment)
  std::size_t worker_stack = 8u << 20;               // bytes of stack for each worker (known, not ulimit's)
  head_limits limits;
  std::shared_ptr<const tls_context> tls;            // set: HTTPS (web/tls_transport.hpp); unset: plain HTTP
};

struct listener_counters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused_per_address{0}; // closed at accept: the address has its cap open
  std::atomic<std::uint64_t> refused_full{0};        // closed at accept: max_connections open, none to evict
  std::atomic<std::uint64_t> evicted{0};             // a waiting connection closed to make room for a new one
  std::atomic<std::uint64_t> timed_out{0};           // closed: the head was not complete by the deadline
  std::atomic<std::uint64_t> bad_heads{0};           // answered 4xx from the head check
  std::atomic<std::uint64_t> served{0};              // handed to a worker
  std::atomic<std::int64_t> waiting{0};              // open, head not complete
  std::atomic<std::int64_t> busy{0};                 // with a worker or queued for one
  std::atomic<std::int64_t> open{0};                 // all open connections (waiting, busy, lingering)
};                                                   // (event streams are counted by the stream writer)

class http_listener {
public:
  // Runs on a worker for each connection whose request arrived and passed the head checks.
  using serve_fn = std::function<void(conn_stream&, connection&)>;

  http_listener(listener_options opts, serve_fn serve);
  ~http_listener();
  http_listener(const http_listener&) = delete;
  http_listener& operator=(const http_listener&) = delete;

  // Binds (port() is known after it); false with `error` when it cannot listen.
  bool bind(std::string& error);
  // Starts the acceptor and the workers (binding first if bind() was not called); false with `error`.
  bool start(std::string& error);
  // Stops accepting, closes waiting connections, waits for the requests in flight. Idempotent.
  void stop();
  std::uint16_t port() const;
  int listening_socket() const; // -1 before bind()
  const listener_counters& counters() const;
  // The counters as Prometheus text (pchat_web_*).
  std::string metrics_text() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace pchat::web
