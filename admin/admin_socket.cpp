#include "admin/admin_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>

namespace pchat::admin {

namespace {

constexpr std::uint32_t max_request = 1 << 20;

bool make_address(const std::string& path, sockaddr_un& addr, std::string& error) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    error = "socket path too long (" + std::to_string(path.size()) + " bytes, at most " +
            std::to_string(sizeof addr.sun_path - 1) + "): " + path;
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, std::string& out, std::size_t n) {
  out.resize(n);
  std::size_t done = 0;
  while (done < n) {
    auto got = ::recv(fd, out.data() + done, n - done, 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return false;
    done += static_cast<std::size_t>(got);
  }
  return true;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

bool read_u32(int fd, std::uint32_t& v) {
  std::string b;
  if (!read_all(fd, b, 4))
    return false;
  v = 0;
  for (char ch : b)
    v = (v << 8) | static_cast<std::uint8_t>(ch);
  return true;
}

bool read_string(int fd, std::string& out, std::uint32_t& budget) {
  std::uint32_t len = 0;
  if (!read_u32(fd, len) || len > budget)
    return false;
  budget -= len;
  return read_all(fd, out, len);
}

void put_string(std::string& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

} // namespace

bool socket_server::start(const std::string& path, handler h, std::string& error) {
  sockaddr_un addr{};
  if (!make_address(path, addr, error))
    return false;
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = std::string{"socket: "} + std::strerror(errno);
    return false;
  }
  ::unlink(path.c_str()); // a socket left by a pchatd that was killed; the data directory lock says we own it
  auto old_mask = ::umask(0077);
  int rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (rc != 0 || ::listen(fd_, 8) != 0) {
    error = "cannot listen on " + path + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  ::chmod(path.c_str(), 0600);
  path_ = path;
  handler_ = std::move(h);
  thread_ = std::thread([this] { serve(); });
  return true;
}

void socket_server::stop() {
  if (fd_ < 0)
    return;
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
  ::close(fd_);
  fd_ = -1;
  ::unlink(path_.c_str());
}

void socket_server::serve() {
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0)
      continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0)
      continue;
    timeval timeout{5, 0}; // a stuck client cannot hold the socket
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::uint32_t count = 0;
    std::uint32_t budget = max_request;
    std::vector<std::string> args;
    bool ok = read_u32(conn, count) && count <= 1000;
    for (std::uint32_t i = 0; ok && i < count; ++i) {
      args.emplace_back();
      ok = read_string(conn, args.back(), budget);
    }
    result r{2, "", "pchatd: malformed admin request\n"};
    if (ok) {
      // A command that throws (a filesystem error in a backup, a bad_alloc) fails that command, never pchatd.
      try {
        r = handler_(args);
      } catch (const std::exception& e) {
        r = result{1, "", std::string{"pchatd: the command failed: "} + e.what() + "\n"};
      } catch (...) {
        r = result{1, "", "pchatd: the command failed\n"};
      }
    }
    std::string reply;
    put_u32(reply, static_cast<std::uint32_t>(r.code));
    put_string(reply, r.out);
    put_string(reply, r.err);
    write_all(conn, reply);
    ::close(conn);
  }
}

std::optional<result> call(const std::string& path, const std::vector<std::string>& args, std::string& error) {
  sockaddr_un addr{};
  if (!make_address(path, addr, error))
    return std::nullopt;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = "cannot connect to " + path + ": " + std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    return std::nullopt;
  }
  std::string request;
  put_u32(request, static_cast<std::uint32_t>(args.size()));
  for (const auto& a : args)
    put_string(request, a);
  result r;
  std::uint32_t code = 0;
  std::uint32_t budget = 64u << 20;
  bool ok = write_all(fd, request) && read_u32(fd, code) && read_string(fd, r.out, budget) &&
            read_string(fd, r.err, budget);
  ::close(fd);
  if (!ok) {
    error = "pchatd closed the admin connection early";
    return std::nullopt;
  }
  r.code = static_cast<int>(code);
  return r;
}

} // namespace pchat::admin
