#pragma once
// HTTP over plain sockets, for tests that must send what no HTTP client library would (a request that never
// ends, two Content-Length fields, a path of 64 KiB) and watch what the server does with the connection. Each
// connection may come from any loopback address (127.0.0.2, ...: Linux routes all of 127/8 to lo), which is how
// the tests act as several client addresses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

namespace pchat::test {

class raw_connection {
public:
  // Connects from `source` (a loopback address) to 127.0.0.1:port; check ok().
  raw_connection(std::uint16_t port, const std::string& source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, source.c_str(), &from.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~raw_connection() { close(); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
  raw_connection(raw_connection&& o) noexcept : fd_(o.fd_), ok_(o.ok_), received_(std::move(o.received_)) {
    o.fd_ = -1;
  }

  bool ok() const { return ok_; }
  int fd() const { return fd_; }

  // Sends what it can of `bytes` (the server may close early: that is not an error here); bytes sent.
  std::size_t send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }

  // Reads until the server closes (or resets) the connection or `limit` passes; true when it closed in time.
  // What arrived is in received().
  bool wait_closed(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[16384];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return false;
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      return true; // 0: closed; < 0: reset
    }
  }

  const std::string& received() const { return received_; }
  // The status code of the answer received, 0 when none.
  int status() const {
    if (received_.rfind("HTTP/1.1 ", 0) != 0 || received_.size() < 12)
      return 0;
    return std::stoi(received_.substr(9, 3));
  }
  // The answer's body (after the empty line).
  std::string body() const {
    auto at = received_.find("\r\n\r\n");
    return at == std::string::npos ? std::string{} : received_.substr(at + 4);
  }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
  bool ok_ = false;
  std::string received_;
};

// One request over a fresh connection from `source`: the whole answer once the server closed (10 s at most).
inline raw_connection raw_exchange(std::uint16_t port, const std::string& request,
                                   const std::string& source = "127.0.0.1") {
  raw_connection c{port, source};
  REQUIRE(c.ok());
  c.send(request);
  CHECK(c.wait_closed());
  return c;
}

} // namespace pchat::test
