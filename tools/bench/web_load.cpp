#include "tools/bench/web_load.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "client/web_chat.hpp"
#include "tools/bench/latency.hpp"

namespace pchat::bench {

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

struct member {
  std::size_t room = 0;
  std::string user;
  std::string cookie;
  std::string tab;
  bool joined = false;
  int fd = -1;
  std::string in;
};

} // namespace

struct web_members::impl {
  explicit impl(web_load_config c) : cfg(std::move(c)) {}

  web_load_config cfg;
  std::vector<member> members;
  std::vector<std::uint32_t> room_members; // members with an open stream, per room
  std::unique_ptr<std::atomic<std::int64_t>[]> sent;  // per post: send time (0: not sent)
  std::unique_ptr<std::atomic<std::uint32_t>[]> room_of;
  std::atomic<std::size_t> posts{0};
  std::atomic<std::int64_t> first_post_ns{0};
  // The reader thread's own.
  delivery_ledger ledger;
  std::vector<std::uint32_t> latency_us;
  std::int64_t last_delivery_ns = 0;
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint32_t> disconnected{0};
  int ep = -1;
  std::atomic<bool> stop{false};
  std::thread reader;
  web_load_result res;

  bool open_stream(member& m, std::string& error);
  void read_loop();
  void on_readable(std::size_t index);
};

bool web_members::impl::open_stream(member& m, std::string& error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(cfg.port);
  inet_pton(AF_INET, cfg.host.c_str(), &a.sin_addr);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error = std::string{"connect: "} + std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string req = "GET /api/chat/tabs/" + m.tab + "/events HTTP/1.1\r\nHost: " + cfg.host + ":" +
                    std::to_string(cfg.port) + "\r\nAccept: text/event-stream\r\nCookie: " + m.cookie + "\r\n\r\n";
  timeval limit{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    error = "the stream's request could not be sent";
    return false;
  }
  std::string in;
  char buf[4096];
  std::size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      ::close(fd);
      error = "no answer to the stream's request";
      return false;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
  if (in.rfind("HTTP/1.1 200", 0) != 0) {
    ::close(fd);
    error = "stream refused: " + in.substr(0, in.find('\r'));
    return false;
  }
  m.in = in.substr(end + 4);
  m.fd = fd;
  return true;
}

void web_members::impl::on_readable(std::size_t index) {
  auto& m = members[index];
  char buf[65536];
  for (;;) {
    auto n = ::recv(m.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      m.in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n < 0 && errno == EINTR)
      continue;
    epoll_ctl(ep, EPOLL_CTL_DEL, m.fd, nullptr);
    ::close(m.fd);
    m.fd = -1;
    if (!stop.load())
      ++disconnected;
    break;
  }
  const auto t = now_ns();
  // One event per "\n\n"; only posts count (keep-alives, joins and parts are skipped).
  std::size_t at = 0;
  for (;;) {
    auto end = m.in.find("\n\n", at);
    if (end == std::string::npos)
      break;
    auto type = m.in.find("\"type\":\"post\"", at);
    auto text = m.in.find("\"text\":\"B", at);
    if (type != std::string::npos && type < end && text != std::string::npos && text < end) {
      std::size_t post = std::strtoull(m.in.c_str() + text + 9, nullptr, 10);
      if (post < posts.load(std::memory_order_acquire) && ledger.record(index, post)) {
        latency_us.push_back(static_cast<std::uint32_t>((t - sent[post].load(std::memory_order_acquire)) / 1000));
        last_delivery_ns = t;
        delivered.fetch_add(1, std::memory_order_relaxed);
      }
    }
    at = end + 2;
  }
  m.in.erase(0, at);
}

void web_members::impl::read_loop() {
  epoll_event events[256];
  while (!stop.load()) {
    int n = epoll_wait(ep, events, 256, 50);
    for (int i = 0; i < n; ++i) {
      auto index = static_cast<std::size_t>(events[i].data.u64);
      if (members[index].fd >= 0)
        on_readable(index);
    }
  }
}

web_members::web_members(web_load_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

web_members::~web_members() {
  auto& p = *impl_;
  p.stop = true;
  if (p.reader.joinable())
    p.reader.join();
  for (auto& m : p.members)
    if (m.fd >= 0)
      ::close(m.fd);
  if (p.ep >= 0)
    ::close(p.ep);
}

bool web_members::start(std::string& error) {
  auto& p = *impl_;
  const std::size_t total = p.cfg.rooms.size() * p.cfg.members;
  if (total == 0) {
    error = "no web members";
    return false;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) { // the SIP side raises it too; streams need one descriptor each
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  p.members.resize(total);
  for (std::size_t i = 0; i < total; ++i) {
    p.members[i].room = i / p.cfg.members;
    p.members[i].user = "webbench" + std::to_string(i) + "@example.com";
  }
  const std::size_t planned = std::max<std::size_t>(1, p.cfg.planned_posts);
  p.sent.reset(new std::atomic<std::int64_t>[planned]);
  p.room_of.reset(new std::atomic<std::uint32_t>[planned]);
  for (std::size_t k = 0; k < planned; ++k) {
    p.sent[k].store(0, std::memory_order_relaxed);
    p.room_of[k].store(0, std::memory_order_relaxed);
  }
  p.ledger.resize(total, planned);

  // Sign-in, tab and join over HTTP, `signin_parallel` members at a time.
  const auto started = clock_type::now();
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint32_t> failures{0};
  std::mutex first_error_mtx;
  std::string first_error;
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < std::min<std::size_t>(p.cfg.signin_parallel, total); ++t)
    workers.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < total;) {
        auto& m = p.members[i];
        client::web_chat_config wc;
        wc.host = p.cfg.host;
        wc.port = p.cfg.port;
        wc.user = m.user;
        wc.timeout = client::duration{30000};
        client::web_chat w{wc};
        auto e = w.sign_in();
        // A join waits for its session; past the server's waiting requests it answers 503: try again.
        for (int attempt = 0; e.ok(); ++attempt) {
          auto j = w.call("POST", "/join", {{"room", p.cfg.rooms[m.room]}, {"history", 0}});
          if (j)
            break;
          if (j.err().status != 503 || attempt == 200) {
            e = j.err();
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!e.ok()) {
          ++failures;
          std::lock_guard<std::mutex> guard{first_error_mtx};
          if (first_error.empty())
            first_error = m.user + ": " + e.message;
          continue;
        }
        m.cookie = w.cookie();
        m.tab = w.tab();
        m.joined = true;
      }
    });
  for (auto& w : workers)
    w.join();
  // The streams, then one epoll set for all of them.
  p.ep = epoll_create1(EPOLL_CLOEXEC);
  p.room_members.assign(p.cfg.rooms.size(), 0);
  for (std::size_t i = 0; i < total; ++i) {
    auto& m = p.members[i];
    if (!m.joined)
      continue;
    std::string why;
    if (!p.open_stream(m, why)) {
      ++failures;
      if (first_error.empty())
        first_error = m.user + ": " + why;
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(p.ep, EPOLL_CTL_ADD, m.fd, &ev);
    ++p.room_members[m.room];
    ++p.res.sessions;
  }
  p.res.signin_failures = failures.load();
  p.res.signin_seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  if (p.cfg.progress)
    std::fprintf(stderr, "pchat-bench: %u web members signed in, joined and streaming in %.1f s%s%s\n",
                 p.res.sessions, p.res.signin_seconds, first_error.empty() ? "" : "; first failure: ",
                 first_error.c_str());
  if (p.res.sessions == 0) {
    error = "no web member could sign in: " + first_error;
    return false;
  }
  if (!first_error.empty())
    p.res.error = std::to_string(p.res.signin_failures) + " web sign-in failures; the first: " + first_error;
  p.latency_us.reserve(planned * p.cfg.members);
  p.reader = std::thread([&p] { p.read_loop(); });
  return true;
}

void web_members::posted(std::size_t post, std::size_t room, std::int64_t sent_ns) {
  auto& p = *impl_;
  if (post >= std::max<std::size_t>(1, p.cfg.planned_posts))
    return;
  std::int64_t none = 0;
  p.first_post_ns.compare_exchange_strong(none, sent_ns);
  p.sent[post].store(sent_ns, std::memory_order_release);
  p.room_of[post].store(static_cast<std::uint32_t>(room), std::memory_order_release);
  p.posts.store(post + 1, std::memory_order_release);
}

web_load_result web_members::finish(double drain_seconds) {
  auto& p = *impl_;
  const auto posts = p.posts.load();
  for (std::size_t k = 0; k < posts; ++k)
    p.res.expected += p.room_members[p.room_of[k].load()];
  auto deadline = clock_type::now() + std::chrono::duration<double>(drain_seconds);
  while (p.delivered.load() < p.res.expected && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  p.stop = true;
  if (p.reader.joinable())
    p.reader.join();
  p.res.delivered = p.delivered.load();
  p.res.duplicates = p.ledger.duplicates;
  p.res.lost = p.res.expected > p.res.delivered ? p.res.expected - p.res.delivered : 0;
  p.res.disconnected = p.disconnected.load();
  p.res.delivery_seconds = p.last_delivery_ns > 0 ? static_cast<double>(p.last_delivery_ns - p.first_post_ns.load()) / 1e9 : 0;
  p.res.latency_us = std::move(p.latency_us);
  p.res.ok = p.res.lost == 0 && p.res.duplicates == 0 && p.res.signin_failures == 0 && p.res.disconnected == 0;
  return std::move(p.res);
}

} // namespace pchat::bench
