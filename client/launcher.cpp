#include "client/launcher.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>

namespace pchat::client {

launched launch_pchatd(const std::string& binary, const std::vector<std::string>& args, const std::string& workdir,
                       const std::string& log_path, std::chrono::milliseconds timeout) {
  launched out;
  // Everything the child needs is built before fork(): after it only async-signal-safe calls are allowed.
  std::vector<std::string> all{binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) {
    out.error = "pipe failed";
    return out;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    out.error = "fork failed";
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return out;
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0)
      ::dup2(log, 2);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    if (::chdir(workdir.c_str()) != 0)
      ::_exit(126);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0)
      continue;
    char buf[512];
    auto n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n <= 0)
      break; // it exited
    out.output.append(buf, static_cast<size_t>(n));
    ready = out.output.find("pchatd ready") != std::string::npos;
  }
  ::close(pipe_fds[0]);
  if (!ready) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    out.error = "pchatd did not become ready; see " + log_path;
    return out;
  }
  out.pid = pid;
  return out;
}

namespace {

// Binds `port` on 127.0.0.1 for TCP and UDP (pchatd listens on both) and releases it: true when both were free.
bool loopback_port_free(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  int t = ::socket(AF_INET, SOCK_STREAM, 0);
  bool ok = t >= 0 && ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  int u = ok ? ::socket(AF_INET, SOCK_DGRAM, 0) : -1;
  ok = ok && u >= 0 && ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (u >= 0)
    ::close(u);
  if (t >= 0)
    ::close(t);
  return ok;
}

} // namespace

std::uint16_t free_loopback_port() {
  // Below the kernel's ephemeral range: a port from that range (bind to port 0) can be handed to any outgoing
  // connection of another process between this check and pchatd's bind, which made parallel tests fail now and
  // then with "address in use". Ports below it are only ever taken by someone binding them on purpose.
  unsigned low = 32768, high = 60999;
  if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%u %u", &low, &high) != 2)
      low = 32768;
    std::fclose(f);
  }
  if (low > 11024) {
    std::mt19937 pick{std::random_device{}()};
    std::uniform_int_distribution<unsigned> in_range{low - 10000, low - 1};
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto port = static_cast<std::uint16_t>(in_range(pick));
      if (loopback_port_free(port))
        return port;
    }
  }
  for (int attempt = 0; attempt < 50; ++attempt) { // a machine whose ephemeral range starts low: let bind choose
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bool bound = t >= 0 && ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0
                 && ::getsockname(t, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (t >= 0)
      ::close(t);
    if (bound && loopback_port_free(ntohs(a.sin_port)))
      return ntohs(a.sin_port);
  }
  return 0;
}

} // namespace pchat::client
