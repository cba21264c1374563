#pragma once
// Long-lived answers (docs/web.md "Live events"). A request that opens an event stream is answered on a worker
// like any other, but only its response head is written there: the connection then leaves the worker (and the
// listener's per-address accounting) and is kept by the stream writer, one thread with one epoll set for every
// open stream. The writer writes what others push into the stream's outlet, reads (and drops) whatever the
// client sends so that it notices the client closing, and writes a keep-alive when nothing else went out for a
// while (proxies close idle connections). So an idle stream costs a descriptor and a small buffer, never a thread.
//
// Threading: outlets are pushed to from any thread (the web ingress actor, HTTP workers); everything else runs on
// the writer's thread. A push never blocks on the network: it appends to the outlet's queue and, when the queue
// was empty, wakes the writer once.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace pchat::web {

struct connection; // web/http_listener.hpp
struct stream_link;

// The bytes waiting for one stream's client.
class outlet : public std::enable_shared_from_this<outlet> {
public:
  explicit outlet(std::size_t max_queued) : max_queued_(max_queued) {}

  // Queues `bytes`; false once the stream has ended. A client that lets more than max_queued bytes pile up is too
  // slow to keep: its stream ends (the event stream's client reconnects and resumes from its last event).
  bool push(std::string_view bytes);
  // Ends the stream once what is queued is written.
  void close();
  // The stream has ended: closed, too slow, or the client went away.
  bool ended() const;

private:
  friend class stream_writer;
  // Writer side: takes what is queued; `finish` says the stream is to end once it is written.
  std::string take(bool& finish);
  void mark_ended();

  mutable std::mutex mtx_;
  std::string queue_;
  std::size_t max_queued_;
  bool ended_ = false;   // no more pushes are taken
  bool closing_ = false; // close(): end after the queue
  bool dirty_ = false;   // listed in the writer's dirty list
  std::shared_ptr<stream_link> link_; // set once the writer has the connection
  int fd_ = -1;                       // the writer's key (its thread only)
};

struct stream_counters {
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> too_slow{0}; // ended because the client did not read fast enough
  std::atomic<std::uint64_t> bytes{0};    // written
  std::atomic<std::int64_t> open{0};
};

class stream_writer {
public:
  // `keepalive`: written after `idle` without other bytes (for an event stream, a comment line).
  stream_writer(std::chrono::milliseconds idle, std::string keepalive);
  ~stream_writer();
  stream_writer(const stream_writer&) = delete;
  stream_writer& operator=(const stream_writer&) = delete;

  bool start(std::string& error);
  // Ends every stream (their outlets report ended) and stops the thread. Idempotent.
  void stop();
  // Takes over `c`, whose response head went out, for `out`. Any thread.
  void adopt(std::unique_ptr<connection> c, std::shared_ptr<outlet> out);
  const stream_counters& counters() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace pchat::web
