#include "web/stream_writer.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/log.hpp"
#include "web/http_listener.hpp"

namespace pchat::web {

using clock = std::chrono::steady_clock;

// What outlets and the writer's thread share: the outlets with bytes to write, the connections handed over, and
// the eventfd that wakes the thread. Outlive the writer through the outlets that hold it; `alive` false once the
// writer stopped.
struct stream_link {
  std::mutex mtx;
  std::vector<std::shared_ptr<outlet>> dirty;
  std::vector<std::pair<std::unique_ptr<connection>, std::shared_ptr<outlet>>> adopted;
  int wake_fd = -1;
  bool alive = false;

  // Lists `o` (under the lock, so the writer cannot stop between the check and the wake).
  void mark(std::shared_ptr<outlet> o) {
    std::lock_guard<std::mutex> guard{mtx};
    if (!alive)
      return;
    bool was_idle = dirty.empty() && adopted.empty();
    dirty.push_back(std::move(o));
    if (was_idle)
      wake();
  }
  void wake() const {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }
};

// --- outlet -----------------------------------------------------------------------------------------------------

bool outlet::push(std::string_view bytes) {
  std::shared_ptr<stream_link> wake;
  bool taken = true;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_ || closing_)
      return false;
    if (queue_.size() + bytes.size() > max_queued_) {
      ended_ = true; // the writer ends the connection when it sees the outlet
      taken = false;
    } else {
      queue_.append(bytes);
    }
    if (link_ && !dirty_) {
      dirty_ = true;
      wake = link_;
    }
  }
  if (wake)
    wake->mark(shared_from_this());
  return taken;
}

void outlet::close() {
  std::shared_ptr<stream_link> wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_ || closing_)
      return;
    closing_ = true;
    if (link_ && !dirty_) {
      dirty_ = true;
      wake = link_;
    }
  }
  if (wake)
    wake->mark(shared_from_this());
}

bool outlet::ended() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ended_;
}

std::string outlet::take(bool& finish) {
  std::lock_guard<std::mutex> guard{mtx_};
  dirty_ = false;
  finish = ended_ || closing_;
  if (ended_) // too slow: what is queued is dropped with the connection
    return {};
  std::string out;
  out.swap(queue_);
  return out;
}

void outlet::mark_ended() {
  std::lock_guard<std::mutex> guard{mtx_};
  ended_ = true;
  queue_.clear();
  queue_.shrink_to_fit();
  link_.reset();
}

// --- the writer -------------------------------------------------------------------------------------------------

struct stream_writer::impl {
  impl(std::chrono::milliseconds i, std::string k) : idle(i), keepalive(std::move(k)) {}

  struct stream {
    std::unique_ptr<connection> c;
    std::shared_ptr<outlet> out;
    std::string pending; // taken from the outlet, not yet written
    std::size_t offset = 0;
    bool finish = false; // end once pending is written
    std::uint32_t events = EPOLLIN;
    clock::time_point last_write;
  };

  std::chrono::milliseconds idle;
  std::string keepalive;
  stream_counters counters;
  std::shared_ptr<stream_link> link = std::make_shared<stream_link>();
  int epfd = -1;
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::unordered_map<int, stream> streams; // by descriptor; the thread's own

  void run();
  void take_over(std::unique_ptr<connection> c, std::shared_ptr<outlet> out);
  void pump(stream& s);
  void too_slow(stream& s);
  void drain_input(stream& s);
  void end(int fd);
  void watch(stream& s, std::uint32_t events);
};

void stream_writer::impl::watch(stream& s, std::uint32_t events) {
  if (events == s.events)
    return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = s.c->fd;
  ::epoll_ctl(epfd, EPOLL_CTL_MOD, s.c->fd, &ev);
  s.events = events;
}

void stream_writer::impl::take_over(std::unique_ptr<connection> c, std::shared_ptr<outlet> out) {
  int fd = c->fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    log::line(log::level::warning, "web") << "event stream from=" << log::q(c->peer) << " not kept: epoll: "
                                          << std::strerror(errno);
    c->io.reset();
    ::close(fd);
    out->mark_ended();
    return;
  }
  {
    std::lock_guard<std::mutex> guard{out->mtx_};
    out->link_ = link;
    out->fd_ = fd;
  }
  ++counters.opened;
  ++counters.open;
  auto& s = streams[fd];
  s.c = std::move(c);
  s.out = std::move(out);
  s.last_write = clock::now();
  pump(s); // what was pushed before the hand-over
}

void stream_writer::impl::too_slow(stream& s) {
  ++counters.too_slow;
  log::line(log::level::info, "web") << "event stream from=" << log::q(s.c->peer)
                                     << " closed: the client does not read fast enough";
  end(s.c->fd);
}

// Writes what was taken; once all of it is out, takes what the outlet holds and goes on, until the socket would
// block (then EPOLLOUT brings us back) or the outlet is empty. Only then is more taken: while the client does not
// read, what others push stays in the outlet, where its limit counts it.
void stream_writer::impl::pump(stream& s) {
  for (;;) {
    while (s.offset < s.pending.size()) {
      auto r = s.c->io->write(s.pending.data() + s.offset, s.pending.size() - s.offset);
      if (r.bytes > 0) {
        s.offset += static_cast<std::size_t>(r.bytes);
        counters.bytes += static_cast<std::uint64_t>(r.bytes);
        s.last_write = clock::now();
        continue;
      }
      if (r.wait == 0)
        return end(s.c->fd); // the client is gone
      if (s.out->ended()) // its outlet overflowed meanwhile
        return too_slow(s);
      return watch(s, EPOLLIN | static_cast<std::uint32_t>(r.wait)); // POLLIN/POLLOUT are EPOLLIN/EPOLLOUT
    }
    bool finish = false;
    auto more = s.out->take(finish);
    if (finish && s.out->ended()) // over its limit: now, without what is queued
      return too_slow(s);
    s.finish = s.finish || finish;
    if (more.empty()) {
      s.pending.clear();
      s.offset = 0;
      if (s.finish)
        return end(s.c->fd);
      return watch(s, EPOLLIN);
    }
    s.pending = std::move(more);
    s.offset = 0;
  }
}

void stream_writer::impl::drain_input(stream& s) {
  char buf[4096];
  for (int round = 0; round < 16; ++round) {
    auto r = s.c->io->read(buf, sizeof buf);
    if (r.bytes > 0)
      continue; // an event stream's client sends nothing that matters
    if (r.wait == 0)
      return end(s.c->fd); // closed or failed
    return;
  }
}

void stream_writer::impl::end(int fd) {
  auto i = streams.find(fd);
  if (i == streams.end())
    return;
  auto& s = i->second;
  ::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
  s.out->mark_ended();
  s.c->io->shutdown_write();
  s.c->io.reset();
  ::close(fd);
  --counters.open;
  streams.erase(i);
}

void stream_writer::impl::run() {
  std::vector<epoll_event> events(256);
  auto next_keepalive = clock::now() + idle;
  while (!stopping.load()) {
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_keepalive - clock::now()).count();
    int n = ::epoll_wait(epfd, events.data(), static_cast<int>(events.size()),
                         static_cast<int>(std::max<long long>(0, std::min<long long>(wait_ms + 1, 1000))));
    if (n < 0 && errno != EINTR) {
      log::line(log::level::error, "web") << "stream writer: epoll_wait: " << std::strerror(errno);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == link->wake_fd) {
        woken = true;
        continue;
      }
      auto it = streams.find(fd);
      if (it == streams.end())
        continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        drain_input(it->second);
        it = streams.find(fd);
        if (it == streams.end())
          continue;
      }
      if (events[i].events & EPOLLOUT)
        pump(it->second);
    }
    if (woken) {
      std::uint64_t count = 0;
      [[maybe_unused]] auto got = ::read(link->wake_fd, &count, sizeof count);
      std::vector<std::shared_ptr<outlet>> dirty;
      std::vector<std::pair<std::unique_ptr<connection>, std::shared_ptr<outlet>>> adopted;
      {
        std::lock_guard<std::mutex> guard{link->mtx};
        dirty.swap(link->dirty);
        adopted.swap(link->adopted);
      }
      for (auto& [c, out] : adopted)
        take_over(std::move(c), std::move(out));
      for (auto& o : dirty) {
        auto it = streams.find(o->fd_);
        if (it != streams.end() && it->second.out == o)
          pump(it->second);
      }
    }
    auto now = clock::now();
    if (now >= next_keepalive) {
      // A stream with bytes to write and no progress for twice the keep-alive time, or whose outlet overflowed, is
      // closed (a closed or replaced stream's client that never reads again would otherwise be kept forever); an
      // idle one gets a keep-alive.
      std::vector<int> stuck, quiet;
      for (auto& [fd, s] : streams) {
        bool writing = s.offset < s.pending.size();
        if ((writing && now - s.last_write >= 2 * idle) || s.out->ended())
          stuck.push_back(fd);
        else if (!writing && now - s.last_write >= idle)
          quiet.push_back(fd);
      }
      for (int fd : stuck)
        if (auto it = streams.find(fd); it != streams.end())
          too_slow(it->second);
      for (int fd : quiet) {
        auto it = streams.find(fd);
        if (it == streams.end())
          continue;
        it->second.pending = keepalive; // the outlet's events follow it in pump()
        it->second.offset = 0;
        pump(it->second);
      }
      next_keepalive = now + std::max<std::chrono::milliseconds>(idle / 4, std::chrono::milliseconds(50));
    }
  }
  while (!streams.empty())
    end(streams.begin()->first);
}

stream_writer::stream_writer(std::chrono::milliseconds idle, std::string keepalive)
  : impl_(std::make_unique<impl>(idle, std::move(keepalive))) {}

stream_writer::~stream_writer() { stop(); }

bool stream_writer::start(std::string& error) {
  auto& p = *impl_;
  if (p.thread.joinable())
    return true;
  p.epfd = ::epoll_create1(EPOLL_CLOEXEC);
  p.link->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p.epfd < 0 || p.link->wake_fd < 0) {
    error = std::string{"event streams: "} + std::strerror(errno);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = p.link->wake_fd;
  ::epoll_ctl(p.epfd, EPOLL_CTL_ADD, p.link->wake_fd, &ev);
  {
    std::lock_guard<std::mutex> guard{p.link->mtx};
    p.link->alive = true;
  }
  p.stopping = false;
  p.thread = std::thread([&p] { p.run(); });
  return true;
}

void stream_writer::stop() {
  auto& p = *impl_;
  std::vector<std::pair<std::unique_ptr<connection>, std::shared_ptr<outlet>>> left;
  {
    std::lock_guard<std::mutex> guard{p.link->mtx};
    p.link->alive = false;
    left.swap(p.link->adopted);
    p.link->dirty.clear();
  }
  if (p.thread.joinable()) {
    p.stopping = true;
    p.link->wake();
    p.thread.join();
  }
  for (auto& [c, out] : left) { // handed over after the thread's last look
    c->io.reset();
    ::close(c->fd);
    out->mark_ended();
  }
  if (p.epfd >= 0)
    ::close(p.epfd);
  if (p.link->wake_fd >= 0)
    ::close(p.link->wake_fd);
  p.epfd = p.link->wake_fd = -1;
}

void stream_writer::adopt(std::unique_ptr<connection> c, std::shared_ptr<outlet> out) {
  auto& link = *impl_->link;
  {
    std::lock_guard<std::mutex> guard{link.mtx};
    if (link.alive) {
      bool was_idle = link.dirty.empty() && link.adopted.empty();
      link.adopted.emplace_back(std::move(c), std::move(out));
      if (was_idle)
        link.wake();
      return;
    }
  }
  c->io.reset(); // stopped: the stream ends at once
  ::close(c->fd);
  out->mark_ended();
}

const stream_counters& stream_writer::counters() const { return impl_->counters; }

} // namespace pchat::web
