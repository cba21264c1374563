#include "web/http_listener.hpp"

#include "base/metrics.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.hpp"
#include "web/tls_transport.hpp"

namespace pchat::web {

using clock = std::chrono::steady_clock;

namespace {

class plain_transport final : public transport {
public:
  explicit plain_transport(int fd) : fd_(fd) {}

  io_result read(char* buf, std::size_t n) override {
    for (;;) {
      auto r = ::recv(fd_, buf, n, 0);
      if (r >= 0)
        return {r, 0};
      if (errno == EINTR)
        continue;
      return {0, static_cast<short>(errno == EAGAIN || errno == EWOULDBLOCK ? POLLIN : 0)};
    }
  }

  io_result write(const char* buf, std::size_t n) override {
    for (;;) {
      auto r = ::send(fd_, buf, n, MSG_NOSIGNAL);
      if (r > 0)
        return {r, 0};
      if (r < 0 && errno == EINTR)
        continue;
      return {0, static_cast<short>(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? POLLOUT : 0)};
    }
  }

  void shutdown_write() override { ::shutdown(fd_, SHUT_WR); }

private:
  int fd_;
};

// Polls `fd` for `events` until `until`; true when they (or an error or hang-up) came.
bool wait_until(int fd, short events, clock::time_point until) {
  for (;;) {
    auto now = clock::now();
    if (now >= until)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (r > 0)
      return true;
    if (r < 0 && errno != EINTR)
      return false;
  }
}

clock::time_point after(std::chrono::milliseconds d) { return clock::now() + d; }

void describe_peer(const sockaddr_storage& ss, connection& c) {
  char buf[INET6_ADDRSTRLEN] = "unknown";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    c.peer = c.key = buf;
    c.peer_port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    c.peer_port = ntohs(a->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      in_addr v4{};
      std::memcpy(&v4, a->sin6_addr.s6_addr + 12, 4);
      ::inet_ntop(AF_INET, &v4, buf, sizeof buf);
      c.peer = c.key = buf;
    } else {
      ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      c.peer = buf;
      // One IPv6 client usually has a whole /64: the cap counts the prefix.
      in6_addr prefix = a->sin6_addr;
      std::memset(prefix.s6_addr + 8, 0, 8);
      ::inet_ntop(AF_INET6, &prefix, buf, sizeof buf);
      c.key = std::string{buf} + "/64";
    }
  } else {
    c.peer = c.key = "unknown";
  }
}

// At most `burst` lines per ten seconds of one kind; the next line that is written says how many were not.
class log_limiter {
public:
  explicit log_limiter(int burst) : burst_(burst) {}
  bool allow() {
    auto now = clock::now();
    if (now - window_ > std::chrono::seconds(10)) {
      window_ = now;
      lines_ = 0;
    }
    if (lines_ < burst_) {
      ++lines_;
      return true;
    }
    ++skipped_;
    return false;
  }
  std::string note() {
    if (skipped_ == 0)
      return {};
    auto text = " (" + std::to_string(skipped_) + " more like this not logged)";
    skipped_ = 0;
    return text;
  }

private:
  int burst_;
  int lines_ = 0;
  std::uint64_t skipped_ = 0;
  clock::time_point window_{};
};

} // namespace

// --- conn_stream ------------------------------------------------------------------------------------------------

conn_stream::conn_stream(connection& c, std::chrono::milliseconds read_timeout,
                         std::chrono::milliseconds write_timeout)
  : c_(c), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

bool conn_stream::wait(short events, std::chrono::milliseconds limit) const {
  return wait_until(c_.fd, events, std::min(after(limit), deadline_));
}

bool conn_stream::fill() const {
  c_.received.clear();
  offset_ = 0;
  char buf[16 * 1024];
  for (;;) {
    auto r = c_.io->read(buf, sizeof buf);
    if (r.bytes > 0) {
      c_.received.assign(buf, static_cast<std::size_t>(r.bytes));
      return true;
    }
    if (r.wait == 0 || !wait(r.wait, read_timeout_))
      return false; // the end, an error, or nothing in time
  }
}

bool conn_stream::is_readable() const { return offset_ < c_.received.size() || fill(); }

bool conn_stream::is_writable() const { return wait_until(c_.fd, POLLOUT, after(write_timeout_)); }

ssize_t conn_stream::read(char* ptr, size_t size) {
  if (offset_ >= c_.received.size() && !fill())
    return -1;
  auto n = std::min(size, c_.received.size() - offset_);
  std::memcpy(ptr, c_.received.data() + offset_, n);
  offset_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t conn_stream::write(const char* ptr, size_t size) {
  auto until = after(write_timeout_);
  for (;;) {
    auto r = c_.io->write(ptr, size);
    if (r.bytes > 0)
      return r.bytes;
    if (r.wait == 0 || !wait_until(c_.fd, r.wait, until))
      return -1;
  }
}

void conn_stream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = c_.peer;
  port = c_.peer_port;
}

void conn_stream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ip.clear();
  port = 0;
  if (::getsockname(c_.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return;
  connection local;
  describe_peer(ss, local);
  ip = local.peer;
  port = local.peer_port;
}

socket_t conn_stream::socket() const { return c_.fd; }

// --- http_server ------------------------------------------------------------------------------------------------

bool http_server::serve(httplib::Stream& strm, const std::function<void(httplib::Request&)>& setup) {
  bool closed = true;
  return process_request(strm, true, closed, setup);
}

// --- the listener -----------------------------------------------------------------------------------------------

namespace {
thread_local connection* serving = nullptr;
} // namespace

connection* serving_connection() { return serving; }

// --- the listener------------------------------------------------------------------------------------------

struct http_listener::impl {
  impl(listener_options o, serve_fn s)
    : opts(std::move(o)), serve(std::move(s)), streams(opts.stream_idle, opts.stream_keepalive) {}

  listener_options opts;
  serve_fn serve;
  listener_counters counters;
  stream_writer streams; // connections answered with an event stream, after their worker
  int listen_fd = -1;
  int wake_fd = -1;
  std::uint16_t bound = 0;
  bool running = false;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
  std::vector<pthread_t> workers;

  // Between the acceptor and the workers.
  std::mutex mtx;
  std::condition_variable work_ready;
  std::deque<std::unique_ptr<connection>> jobs;      // requests complete, waiting for a worker
  std::vector<std::unique_ptr<connection>> returned; // answered, back for the lingering close
  bool pool_stop = false;

  // The acceptor's own.
  struct entry {
    std::unique_ptr<connection> c;
    bool lingering = false;
    clock::time_point deadline;
    short events = POLLIN;
    std::size_t scan = 0;         // where the search for the head's end goes on
    bool line_seen = false;       // the request line has ended (and was checked)
    std::size_t ready_at = 0;     // head complete: hand over once this many bytes are here
  };
  std::list<entry> entries; // oldest first
  std::map<std::string, std::size_t> per_key;
  log_limiter refused_log{10}, timeout_log{10}, bad_head_log{20};
  clock::time_point accept_paused_until{};

  bool bind_listen(std::string& error);
  void run();
  void work();
  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }
  void accept_all();
  void on_readable(std::list<entry>::iterator it);
  bool decidable(entry& e) const;
  void hand_over(std::list<entry>::iterator it);
  void answer_and_linger(entry& e, const std::string& response);
  void close_entry(std::list<entry>::iterator it);
  bool evict_oldest();
  void take_returned();
  void expire();
};

bool http_listener::impl::bind_listen(std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto port = std::to_string(opts.port);
  if (int rc = ::getaddrinfo(opts.host.empty() ? nullptr : opts.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    error = "cannot listen for HTTP on " + opts.host + ":" + port + ": " + ::gai_strerror(rc);
    return false;
  }
  std::string why = "no address";
  for (auto* ai = found; ai != nullptr && listen_fd < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd = fd;
  }
  ::freeaddrinfo(found);
  if (listen_fd < 0) {
    error = "cannot listen for HTTP on " + opts.host + ":" + port + ": " + why;
    return false;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  connection local;
  describe_peer(ss, local);
  bound = static_cast<std::uint16_t>(local.peer_port);
  return true;
}

void http_listener::impl::run() {
  std::vector<pollfd> fds;
  std::vector<std::list<entry>::iterator> polled;
  while (!stopping.load()) {
    auto now = clock::now();
    auto next = now + std::chrono::seconds(1);
    for (const auto& e : entries)
      next = std::min(next, e.deadline);
    bool paused = now < accept_paused_until;
    if (paused)
      next = std::min(next, accept_paused_until);
    fds.clear();
    polled.clear();
    fds.push_back({paused ? -1 : listen_fd, POLLIN, 0});
    fds.push_back({wake_fd, POLLIN, 0});
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      fds.push_back({it->c->fd, it->events, 0});
      polled.push_back(it);
    }
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    int r = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait_ms)));
    if (r < 0 && errno != EINTR) {
      log::line(log::level::error, "web") << "poll: " << std::strerror(errno);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (stopping.load())
      break;
    if (r > 0) {
      if (fds[1].revents != 0) {
        std::uint64_t n = 0;
        [[maybe_unused]] auto got = ::read(wake_fd, &n, sizeof n);
        take_returned();
      }
      // Connections first (accepting may evict one of them), then new ones.
      for (std::size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents != 0)
          on_readable(polled[i - 2]);
      if (fds[0].revents != 0)
        accept_all();
    }
    expire();
  }
  while (!entries.empty())
    close_entry(entries.begin());
}

void http_listener::impl::accept_all() {
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      // Out of descriptors or memory: make room, or wait a little (the listener would stay readable).
      if (!evict_oldest())
        accept_paused_until = clock::now() + std::chrono::milliseconds(100);
      if (refused_log.allow())
        log::line(log::level::warning, "web") << "accept: " << std::strerror(errno) << refused_log.note();
      return;
    }
    auto c = std::make_unique<connection>();
    c->fd = fd;
    if (opts.tls)
      c->io = opts.tls->accept(fd);
    else
      c->io = std::make_unique<plain_transport>(fd);
    if (!c->io) { // OpenSSL could not make a session (memory)
      ::close(fd);
      continue;
    }
    c->accepted = clock::now();
    describe_peer(ss, *c);
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes); // else answers wait on delayed ACKs
    ++counters.accepted;
    auto known = per_key.find(c->key);
    std::size_t open_here = known == per_key.end() ? 0 : known->second;
    bool refuse = false;
    if (open_here >= opts.max_per_address) {
      ++counters.refused_per_address;
      refuse = true;
      if (refused_log.allow())
        log::line(log::level::warning, "web")
          << "connection refused from=" << log::q(c->peer) << ": " << open_here
          << " already open from that address (web.max-connections-per-address)" << refused_log.note();
    } else if (static_cast<std::size_t>(counters.open.load()) >= opts.max_connections && !evict_oldest()) {
      ++counters.refused_full;
      refuse = true;
      if (refused_log.allow())
        log::line(log::level::warning, "web") << "connection refused from=" << log::q(c->peer) << ": "
                                              << opts.max_connections << " connections open" << refused_log.note();
    }
    if (refuse) {
      auto answer = refusal_response(pchat_errc::busy, "Too many connections; try again in a few seconds",
                                     "Retry-After: 5\r\n");
      if (!c->io->encrypted()) // best effort: a fresh socket has room for it (over TLS: no handshake for a refusal)
        c->io->write(answer.data(), answer.size());
      c->io.reset();
      ::close(fd);
      continue;
    }
    ++per_key[c->key]; // looked up again: evict_oldest() may have removed the entry
    ++counters.open;
    ++counters.waiting;
    entry e;
    e.deadline = c->accepted + opts.header_timeout;
    e.c = std::move(c);
    entries.push_back(std::move(e));
  }
}

// Whether examine_head() can decide something now: the request line or the head has just ended, or a limit is
// reached. Each byte is searched once however slowly the head arrives.
bool http_listener::impl::decidable(entry& e) const {
  const auto& r = e.c->received;
  if (r.size() >= opts.limits.max_head)
    return true;
  bool decide = false;
  for (;;) {
    auto p = r.find('\n', e.scan);
    if (p == std::string::npos) {
      e.scan = r.size();
      break;
    }
    if (!e.line_seen) {
      e.line_seen = true;
      decide = true;
    }
    if (p + 1 >= r.size() || (r[p + 1] == '\r' && p + 2 >= r.size())) {
      e.scan = p; // look at this line end again when the next bytes are here
      break;
    }
    if (r[p + 1] == '\n' || (r[p + 1] == '\r' && r[p + 2] == '\n'))
      return true;
    e.scan = p + 1;
  }
  return decide || (!e.line_seen && r.size() > opts.limits.max_target + 32);
}

void http_listener::impl::on_readable(std::list<entry>::iterator it) {
  auto& e = *it;
  auto& c = *e.c;
  char buf[16 * 1024];
  if (e.lingering) { // drop what the client still sends until it closes (a bounded amount per round)
    for (int round = 0; round < 16; ++round) {
      auto r = c.io->read(buf, sizeof buf);
      if (r.bytes > 0)
        continue;
      if (r.wait != 0)
        e.events = r.wait;
      else
        close_entry(it);
      return;
    }
    return;
  }
  const std::size_t cap = opts.limits.max_head + opts.max_awaited_body;
  bool fresh = false;
  while (c.received.size() < cap) {
    auto r = c.io->read(buf, std::min(sizeof buf, cap - c.received.size()));
    if (r.bytes > 0) {
      c.received.append(buf, static_cast<std::size_t>(r.bytes));
      fresh = true;
      continue;
    }
    if (r.wait != 0) {
      e.events = r.wait;
      break;
    }
    if (r.plain_http) { // plain HTTP to the HTTPS port (web/tls_transport.cpp)
      ++counters.bad_heads;
      answer_and_linger(e, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           "Connection: close\r\nContent-Length: 48\r\n\r\n"
                           "This port speaks HTTPS: use an https:// address\n");
      return;
    }
    close_entry(it); // the client went away (or failed) before its request was complete
    return;
  }
  if (!fresh)
    return;
  if (e.ready_at != 0) { // the head was complete: waiting for the body declared with it
    if (c.received.size() >= e.ready_at)
      hand_over(it);
    return;
  }
  if (!decidable(e))
    return;
  auto v = examine_head(c.received, opts.limits);
  using state = head_verdict::state;
  if (v.is == state::incomplete)
    return;
  if (v.is == state::refused) {
    ++counters.bad_heads;
    if (bad_head_log.allow())
      log::line(log::level::info, "web") << "request refused from=" << log::q(c.peer) << " status="
                                         << describe(v.error).http_status << ": " << v.message << bad_head_log.note();
    answer_and_linger(e, refusal_response(v.error, v.message));
    return;
  }
  const auto& h = v.info;
  bool await_body = h.content_length && *h.content_length > 0 && *h.content_length <= opts.max_awaited_body &&
                    !h.expect_continue && !h.transfer_encoding;
  e.ready_at = h.size + (await_body ? *h.content_length : 0);
  if (c.received.size() >= e.ready_at)
    hand_over(it);
}

void http_listener::impl::hand_over(std::list<entry>::iterator it) {
  --counters.waiting;
  ++counters.busy;
  ++counters.served;
  {
    std::lock_guard<std::mutex> guard{mtx};
    jobs.push_back(std::move(it->c));
  }
  entries.erase(it); // still counted open (and for its address) until it is closed after its answer
  work_ready.notify_one();
}

void http_listener::impl::answer_and_linger(entry& e, const std::string& response) {
  e.c->io->write(response.data(), response.size()); // best effort: small, and the socket's buffer is empty
  e.c->io->shutdown_write();
  e.c->received.clear();
  e.lingering = true;
  e.events = POLLIN;
  e.deadline = clock::now() + opts.linger;
  --counters.waiting;
}

void http_listener::impl::close_entry(std::list<entry>::iterator it) {
  auto& c = *it->c;
  c.io.reset();
  ::close(c.fd);
  if (auto k = per_key.find(c.key); k != per_key.end() && --k->second == 0)
    per_key.erase(k);
  --counters.open;
  if (!it->lingering)
    --counters.waiting;
  entries.erase(it);
}

bool http_listener::impl::evict_oldest() {
  auto it = std::find_if(entries.begin(), entries.end(), [](const entry& e) { return !e.lingering; });
  if (it == entries.end())
    return false;
  ++counters.evicted;
  if (refused_log.allow())
    log::line(log::level::warning, "web") << "connection closed from=" << log::q(it->c->peer)
                                          << ": its request was not complete and a new connection needed room"
                                          << refused_log.note();
  close_entry(it);
  return true;
}

void http_listener::impl::take_returned() {
  std::vector<std::unique_ptr<connection>> back;
  {
    std::lock_guard<std::mutex> guard{mtx};
    back.swap(returned);
  }
  auto deadline = clock::now() + opts.linger;
  for (auto& c : back) {
    --counters.busy;
    if (c->stream) { // an event stream: it leaves the listener's accounting for the stream writer's
      if (auto k = per_key.find(c->key); k != per_key.end() && --k->second == 0)
        per_key.erase(k);
      --counters.open;
      auto out = std::move(c->stream);
      streams.adopt(std::move(c), std::move(out));
      continue;
    }
    entry e;
    e.c = std::move(c);
    e.lingering = true;
    e.deadline = deadline;
    entries.push_back(std::move(e));
  }
}

void http_listener::impl::expire() {
  auto now = clock::now();
  for (auto it = entries.begin(); it != entries.end();) {
    auto here = it++;
    if (here->deadline > now)
      continue;
    if (!here->lingering) {
      ++counters.timed_out;
      if (timeout_log.allow())
        log::line(log::level::info, "web") << "connection closed from=" << log::q(here->c->peer) << ": "
                                           << here->c->received.size() << " bytes of a request in "
                                           << opts.header_timeout.count() << " ms (web.header-timeout)"
                                           << timeout_log.note();
      if (!here->c->received.empty()) {
        auto answer = refusal_response(pchat_errc::too_slow, "The request did not arrive in time");
        here->c->io->write(answer.data(), answer.size());
      }
    }
    close_entry(here);
  }
}

void http_listener::impl::work() {
  for (;;) {
    std::unique_ptr<connection> c;
    {
      std::unique_lock<std::mutex> lock{mtx};
      work_ready.wait(lock, [&] { return pool_stop || !jobs.empty(); });
      if (pool_stop)
        return;
      c = std::move(jobs.front());
      jobs.pop_front();
    }
    try {
      conn_stream s{*c, opts.read_timeout, opts.write_timeout};
      // Whatever the worker reads beyond what the acceptor buffered (a streamed upload's body, until the handler
      // lifts this) comes within the same total time as the head did.
      s.set_deadline(after(opts.header_timeout));
      serving = c.get();
      serve(s, *c);
      serving = nullptr;
    } catch (const std::exception& ex) { // cpp-httplib catches the handlers' own; this is the rest (bad_alloc)
      log::line(log::level::error, "web") << "connection from=" << log::q(c->peer) << ": " << ex.what();
    } catch (...) {
      log::line(log::level::error, "web") << "connection from=" << log::q(c->peer) << ": unknown exception";
    }
    serving = nullptr;
    std::string{}.swap(c->received);
    if (!c->stream)
      c->io->shutdown_write();
    {
      std::lock_guard<std::mutex> guard{mtx};
      returned.push_back(std::move(c));
    }
    wake();
  }
}

http_listener::http_listener(listener_options opts, serve_fn serve)
  : impl_(std::make_unique<impl>(std::move(opts), std::move(serve))) {}

http_listener::~http_listener() { stop(); }

bool http_listener::bind(std::string& error) {
  auto& p = *impl_;
  return p.listen_fd >= 0 || p.bind_listen(error);
}

bool http_listener::start(std::string& error) {
  auto& p = *impl_;
  if (p.running)
    return true;
  if (!bind(error))
    return false;
  p.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p.wake_fd < 0) {
    error = std::string{"eventfd: "} + std::strerror(errno);
    ::close(p.listen_fd);
    p.listen_fd = -1;
    return false;
  }
  if (!p.streams.start(error)) {
    ::close(p.listen_fd);
    ::close(p.wake_fd);
    p.listen_fd = p.wake_fd = -1;
    return false;
  }
  p.stopping = false;
  p.pool_stop = false;
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setstacksize(&attr, std::max<std::size_t>(p.opts.worker_stack, PTHREAD_STACK_MIN));
  for (std::size_t i = 0; i < std::max<std::size_t>(1, p.opts.threads); ++i) {
    pthread_t t;
    int rc = ::pthread_create(
      &t, &attr,
      [](void* self) -> void* {
        static_cast<impl*>(self)->work();
        return nullptr;
      },
      &p);
    if (rc != 0) {
      error = std::string{"cannot start web workers: "} + std::strerror(rc);
      break;
    }
    p.workers.push_back(t);
  }
  ::pthread_attr_destroy(&attr);
  p.running = true;
  if (!error.empty()) {
    stop();
    return false;
  }
  p.acceptor = std::thread([&p] { p.run(); });
  return true;
}

void http_listener::stop() {
  auto& p = *impl_;
  if (!p.running) {
    if (p.listen_fd >= 0) // bound, never started
      ::close(p.listen_fd);
    p.listen_fd = -1;
    return;
  }
  p.stopping = true;
  if (p.acceptor.joinable()) {
    p.wake();
    p.acceptor.join();
  }
  {
    std::lock_guard<std::mutex> guard{p.mtx};
    p.pool_stop = true;
  }
  p.work_ready.notify_all();
  for (auto t : p.workers)
    ::pthread_join(t, nullptr);
  p.workers.clear();
  for (auto& c : p.jobs) { // requests that never reached a worker
    c->io.reset();
    ::close(c->fd);
  }
  p.jobs.clear();
  p.streams.stop();
  for (auto& c : p.returned) {
    if (c->stream) { // the stopped writer closes it and tells its outlet
      auto out = std::move(c->stream);
      p.streams.adopt(std::move(c), std::move(out));
      continue;
    }
    c->io.reset();
    ::close(c->fd);
  }
  p.returned.clear();
  p.per_key.clear();
  if (p.listen_fd >= 0)
    ::close(p.listen_fd);
  if (p.wake_fd >= 0)
    ::close(p.wake_fd);
  p.listen_fd = p.wake_fd = -1;
  p.running = false;
}

std::uint16_t http_listener::port() const { return impl_->bound; }

int http_listener::listening_socket() const { return impl_->listen_fd; }

const listener_counters& http_listener::counters() const { return impl_->counters; }

std::string http_listener::metrics_text() const {
  const auto& k = impl_->counters;
  prometheus_text out;
  auto n = [](auto v) { return static_cast<double>(v); };
  out.counter("pchat_web_connections_total", "HTTP connections accepted.", n(k.accepted.load()));
  out.family("pchat_web_connections_refused_total", "counter",
             "HTTP connections closed at once: over web.max-connections-per-address, or the server full.");
  out.sample("pchat_web_connections_refused_total", "reason=\"per_address\"", n(k.refused_per_address.load()));
  out.sample("pchat_web_connections_refused_total", "reason=\"full\"", n(k.refused_full.load()));
  out.counter("pchat_web_connections_evicted_total",
              "HTTP connections whose request was not complete, closed to make room for a new one.",
              n(k.evicted.load()));
  out.counter("pchat_web_connections_timed_out_total",
              "HTTP connections closed because their request was not complete within web.header-timeout.",
              n(k.timed_out.load()));
  out.counter("pchat_web_bad_requests_total",
              "HTTP requests refused for their head (too long, too large, not well-formed, two lengths).",
              n(k.bad_heads.load()));
  out.counter("pchat_web_requests_total", "HTTP requests handed to a web worker.", n(k.served.load()));
  out.gauge("pchat_web_connections_waiting", "HTTP connections whose request has not fully arrived.",
            n(k.waiting.load()));
  out.gauge("pchat_web_connections_busy", "HTTP connections with a web worker or queued for one.", n(k.busy.load()));
  out.gauge("pchat_web_connections_open", "HTTP connections open.", n(k.open.load()));
  const auto& st = impl_->streams.counters();
  out.counter("pchat_web_streams_total", "Event streams opened (the browser's live chat).", n(st.opened.load()));
  out.gauge("pchat_web_streams_open", "Event streams open.", n(st.open.load()));
  out.counter("pchat_web_streams_too_slow_total", "Event streams closed because their client did not read in time.",
              n(st.too_slow.load()));
  out.counter("pchat_web_stream_bytes_total", "Bytes written to event streams.", n(st.bytes.load()));
  return out.take();
}

} // namespace pchat::web
