// The event-stream writer (web/stream_writer.hpp) on its own, over socket pairs: bytes pushed from other threads
// arrive whole and in order with keep-alives in the quiet, and a client that stops reading costs the server at
// most its outlet's limit before its stream is closed, whether it keeps the stream or it was already replaced.
#include <sys/socket.h>
#include <unistd.h>

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "web/http_listener.hpp"
#include "web/stream_writer.hpp"

using namespace pchat::web;
using namespace std::chrono_literals;

namespace {

// Plain bytes over a non-blocking socket, as the listener's own transport moves them.
class socket_transport final : public transport {
public:
  explicit socket_transport(int fd) : fd_(fd) {}
  io_result read(char* buf, std::size_t n) override {
    auto r = ::recv(fd_, buf, n, MSG_DONTWAIT);
    if (r >= 0)
      return {r, 0};
    return {0, static_cast<short>(errno == EAGAIN || errno == EWOULDBLOCK ? POLLIN : 0)};
  }
  io_result write(const char* buf, std::size_t n) override {
    auto r = ::send(fd_, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0)
      return {r, 0};
    return {0, static_cast<short>(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? POLLOUT : 0)};
  }
  void shutdown_write() override { ::shutdown(fd_, SHUT_WR); }

private:
  int fd_;
};

// A stream on one end of a socket pair; the other end is the test's client.
struct pair_stream {
  int client = -1;
  std::shared_ptr<outlet> out;

  pair_stream(stream_writer& w, std::size_t max_queued, int buffer = 0) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    if (buffer > 0)
      for (int fd : fds) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
      }
    client = fds[1];
    auto c = std::make_unique<connection>();
    c->fd = fds[0];
    c->io = std::make_unique<socket_transport>(fds[0]);
    c->peer = "test";
    out = std::make_shared<outlet>(max_queued);
    w.adopt(std::move(c), out);
  }
  ~pair_stream() { ::close(client); }

  // Reads until `want` bytes came or `limit` passed; "" plus what came on EOF.
  std::string read(std::size_t want, std::chrono::milliseconds limit = 5000ms) {
    std::string got;
    timeval tv{0, 100 * 1000};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[65536];
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      auto n = ::recv(client, buf, sizeof buf, 0);
      if (n == 0)
        break;
      if (n > 0)
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }
};

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return p();
}

} // namespace

TEST_CASE("stream writer: pushes from other threads arrive whole and in order, keep-alives fill the quiet") {
  stream_writer w{100ms, ":\n\n"};
  std::string error;
  REQUIRE(w.start(error));
  pair_stream s{w, 1 << 20};
  std::string expected;
  int refused = 0; // Catch's assertions are not for other threads
  std::thread pusher([&] {
    for (int i = 0; i < 2000; ++i)
      refused += s.out->push("event " + std::to_string(i) + "\n") ? 0 : 1;
  });
  for (int i = 0; i < 2000; ++i)
    expected += "event " + std::to_string(i) + "\n";
  pusher.join();
  CHECK(refused == 0);
  CHECK(s.read(expected.size()) == expected);
  auto quiet = s.read(3, 2000ms);
  CHECK(quiet == ":\n\n");
  s.out->close();
  CHECK(eventually([&] { return s.out->ended(); }));
  CHECK(s.read(1, 1000ms).empty()); // closed: EOF
  CHECK(w.counters().too_slow == 0);
  w.stop();
}

TEST_CASE("stream writer: a client that stops reading holds at most its outlet's limit, then its stream is closed") {
  stream_writer w{100ms, ":\n\n"};
  std::string error;
  REQUIRE(w.start(error));
  pair_stream s{w, 256 * 1024, 16 * 1024};
  const std::string chunk(8 * 1024, 'x');
  int accepted = 0;
  for (int i = 0; i < 1000 && s.out->push(chunk); ++i)
    ++accepted;
  // The socket takes a few buffers' worth, the outlet its limit: far less than the 8 MB pushed.
  CHECK(accepted * chunk.size() < 1024 * 1024);
  CHECK(eventually([&] { return w.counters().too_slow == 1; }));
  CHECK(s.out->ended());
  CHECK_FALSE(s.out->push("more"));
  CHECK(eventually([&] { return w.counters().open == 0; })); // the writer thread counts it after closing
  w.stop();
}

TEST_CASE("stream writer: a stream closed or left with bytes its client never reads is dropped after twice the keep-alive time") {
  stream_writer w{100ms, ":\n\n"};
  std::string error;
  REQUIRE(w.start(error));
  pair_stream s{w, 1 << 20, 16 * 1024};
  const std::string chunk(64 * 1024, 'y');
  REQUIRE(s.out->push(chunk)); // more than the socket takes
  s.out->close();              // replaced by a newer stream, say: what is queued would still be written
  CHECK(eventually([&] { return s.out->ended(); }, 2000ms));
  CHECK(w.counters().too_slow == 1);
  CHECK(eventually([&] { return w.counters().open == 0; })); // the writer thread counts it after closing
  w.stop();
}
