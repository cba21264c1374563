#include "tools/bench/sip_load.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <unordered_map>

#include "codec/sip_message.hpp"
#include "codec/xccos_commands.hpp"
#include "tools/bench/latency.hpp"

namespace pchat::bench {

namespace {

using clock_type = std::chrono::steady_clock;

// 2024-01-01T00:00:00Z in 100-ns ticks: the ts of every post.
constexpr std::int64_t post_ts_ticks = 1'704'067'200LL * 10'000'000LL;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The sign-in, one step at a time (docs/xccos.md §2 and the design's sign-in flow).
enum class phase {
  connecting,
  reg,
  subscribe,
  invite_lookup,
  requri,
  bye_lookup,
  invite_channel,
  serverinfo,
  assoc,
  bjoin,
  bccontext,
  getinv,
  ready,
  failed,
};

struct dialog_state {
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  std::string target; // Request-URI for in-dialog requests (the 200's Contact)
  std::uint32_t cseq = 1;
};

struct client {
  int fd = -1;
  std::size_t index = 0; // recipient index
  std::size_t room = 0;
  std::string user;
  std::string local; // "ip:port"
  std::string in;
  std::string out;
  phase ph = phase::connecting;
  std::string reg_call_id;
  std::string tag = sip::random_tag();
  std::uint32_t cseq = 0;
  std::string waiting_call_id; // the request whose final response we wait for
  std::uint32_t waiting_cseq = 0;
  std::string waiting_envid;   // the rpl we wait for
  std::string pool;
  std::string channel_uri;
  dialog_state dlg;
  std::int64_t join_started_ns = 0;
  std::unordered_map<std::uint32_t, std::size_t> post_of_cseq; // our grpchat INFOs awaiting their response
  int probe_stage = 0; // 0 idle, 1 waiting for rpl:join, 2 waiting for rpl:bccontext
  std::string probe_envid;
  // --stalled
  bool stalled = false;          // chosen to stall (never a poster)
  bool stalling = false;         // not reading now: its fd is out of the epoll set
  bool closed_by_server = false; // EOF, reset or a failed send after sign-in
  bool seen_closed = false;      // its TCP state showed the close during the stall
  std::uint64_t delivered = 0;   // fan-out INFOs read
};

class engine {
public:
  explicit engine(const sip_load_config& cfg) : cfg_(cfg) {}

  sip_load_result run();

private:
  void fail(client& c, const std::string& why);
  void start_connect(client& c);
  void on_readable(client& c);
  void on_writable(client& c);
  void flush(client& c);
  void send_request(client& c, sip::message m);
  sip::message new_request(client& c, const std::string& method, const std::string& uri, const std::string& to,
                           const std::string& call_id, std::uint32_t cseq);
  sip::message dialog_request(client& c, const std::string& method);
  void send_command(client& c, phase next, const std::string& name, const std::string& data);
  void advance(client& c);
  void on_message(client& c, sip::message&& m, std::int64_t t);
  void on_response(client& c, sip::message&& m);
  void on_server_request(client& c, sip::message&& m, std::int64_t t);
  void post(std::size_t k);
  void probe(std::size_t k);
  std::string send_info_command(client& c, const std::string& name, const std::string& data);
  void choose_stalled();
  void start_stall();
  void watch_stalled(std::int64_t now);
  void resume_stalled(std::int64_t now);
  bool stalled_settled() const;

  const sip_load_config& cfg_;
  int ep_ = -1;
  std::vector<std::unique_ptr<client>> clients_;
  std::size_t next_to_start_ = 0;
  std::size_t signing_in_ = 0;
  std::uint32_t ready_ = 0;
  std::uint32_t envid_ = 1000;
  sip_load_result res_;
  // Posting
  bool posting_ = false;
  std::vector<std::int64_t> sent_ns_;   // per post
  std::vector<std::size_t> post_room_;  // per post
  std::vector<std::size_t> room_ready_; // ready members per room that keep reading
  std::vector<std::size_t> room_stalled_; // ready stalled members per room
  std::vector<std::uint64_t> room_posts_; // posts per room not refused
  // --stalled
  std::vector<client*> stalled_; // the ready ones, once posting starts
  bool stalling_ = false;        // stalled members are not reading
  bool resumed_ = false;
  std::int64_t post_start_ns_ = 0;
  std::int64_t next_watch_ns_ = 0;
  std::uint32_t failure_lines_ = 0; // stderr lines about connections lost after sign-in
  delivery_ledger ledger_;
  std::int64_t last_delivery_ns_ = 0;
  std::string padding_;
};

void engine::fail(client& c, const std::string& why) {
  if (c.ph == phase::failed)
    return;
  if (c.ph != phase::ready) {
    ++res_.signin_failures;
    --signing_in_;
    if (res_.signin_failures <= 5)
      std::fprintf(stderr, "pchat-bench: %s: %s\n", c.user.c_str(), why.c_str());
  } else {
    if (!c.stalled)
      ++res_.others_disconnected;
    else if (c.closed_by_server && res_.stalled.first_disconnect_seconds < 0)
      res_.stalled.first_disconnect_seconds = static_cast<double>(now_ns() - post_start_ns_) / 1e9;
    if (++failure_lines_ <= 5)
      std::fprintf(stderr, "pchat-bench: %s%s: %s\n", c.stalled ? "stalled member " : "", c.user.c_str(),
                   why.c_str());
  }
  c.ph = phase::failed;
  if (c.fd >= 0) {
    if (!c.stalling)
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
}

void engine::start_connect(client& c) {
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0)
    return fail(c, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(cfg_.port);
  inet_pton(AF_INET, cfg_.host.c_str(), &a.sin_addr);
  int rc = ::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno != EINPROGRESS)
    return fail(c, std::string("connect: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = &c;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  ++signing_in_;
}

void engine::flush(client& c) {
  while (!c.out.empty() && c.fd >= 0) {
    auto n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.ptr = &c;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      return;
    } else {
      if (errno == EPIPE || errno == ECONNRESET)
        c.closed_by_server = true;
      return fail(c, std::string("send: ") + std::strerror(errno));
    }
  }
}

void engine::on_writable(client& c) {
  if (c.ph == phase::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      return fail(c, std::string("connect: ") + std::strerror(err));
    sockaddr_in l{};
    socklen_t ll = sizeof l;
    getsockname(c.fd, reinterpret_cast<sockaddr*>(&l), &ll);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &l.sin_addr, ip, sizeof ip);
    c.local = std::string(ip) + ":" + std::to_string(ntohs(l.sin_port));
    c.ph = phase::reg;
    advance(c);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &c;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  flush(c);
}

sip::message engine::new_request(client& c, const std::string& method, const std::string& uri,
                                 const std::string& to, const std::string& call_id, std::uint32_t cseq) {
  auto m = sip::message::request(method, uri);
  m.add("Via", "SIP/2.0/TCP " + c.local + ";branch=" + sip::random_branch() + ";rport");
  m.add("Max-Forwards", "70");
  m.add("From", "<" + c.user + ">;tag=" + c.tag);
  m.add("To", to);
  m.add("Call-ID", call_id);
  m.add("CSeq", std::to_string(cseq) + " " + method);
  m.add("Contact", "<" + c.user + ";transport=tcp>");
  return m;
}

sip::message engine::dialog_request(client& c, const std::string& method) {
  return new_request(c, method, c.dlg.target, "<" + c.channel_uri + ">;tag=" + c.dlg.remote_tag, c.dlg.call_id,
                     ++c.dlg.cseq);
}

void engine::send_request(client& c, sip::message m) {
  c.waiting_call_id = m.get_or("Call-ID");
  c.waiting_cseq = sip::parse_cseq(m.get_or("CSeq"))->number;
  c.out += sip::serialize(m);
  flush(c);
}

std::string engine::send_info_command(client& c, const std::string& name, const std::string& data) {
  auto envid = std::to_string(++envid_);
  auto m = dialog_request(c, "INFO");
  m.add("Content-Type", "text/plain");
  m.body = xccos::command_document(envid, name, data);
  c.out += sip::serialize(m);
  flush(c);
  return envid;
}

void engine::send_command(client& c, phase next, const std::string& name, const std::string& data) {
  c.ph = next;
  c.waiting_call_id.clear(); // the INFO's 200 is not what we wait for; the rpl is
  c.waiting_envid = send_info_command(c, name, data);
}

// Join probe k: a member that is not posting re-joins its room and reads the last 30 posts.
void engine::probe(std::size_t k) {
  const std::size_t total = clients_.size();
  std::size_t i = (k * 7919 + cfg_.posters) % total;
  for (std::size_t tries = 0; tries < total && clients_[i]->stalled; ++tries)
    i = (i + 1) % total; // a stalled member would not read the reply
  client& c = *clients_[i];
  if (c.ph != phase::ready || c.probe_stage != 0 || c.stalled)
    return;
  const auto& uri = cfg_.rooms[c.room];
  c.join_started_ns = now_ns();
  c.probe_stage = 1;
  c.probe_envid = send_info_command(c, "join", xccos::chanib_uri(uri));
}

// Sends what the current phase needs.
void engine::advance(client& c) {
  const std::string domain = cfg_.domain;
  switch (c.ph) {
    case phase::reg: {
      c.reg_call_id = sip::random_call_id();
      auto m = new_request(c, "REGISTER", "sip:" + domain, "<" + c.user + ">", c.reg_call_id, ++c.cseq);
      m.add("Expires", "3600");
      send_request(c, std::move(m));
      break;
    }
    case phase::subscribe: {
      auto m = new_request(c, "SUBSCRIBE", c.user, "<" + c.user + ">", sip::random_call_id(), 1);
      m.add("Event", "vnd-microsoft-provisioning-v2");
      m.add("Accept", "application/vnd-microsoft-roaming-provisioning-v2+xml");
      m.add("Supported", "ms-benotify");
      m.add("Proxy-Require", "ms-benotify");
      m.add("Expires", "0");
      send_request(c, std::move(m));
      break;
    }
    case phase::invite_lookup:
    case phase::invite_channel: {
      const std::string& target = c.ph == phase::invite_lookup ? c.pool : c.channel_uri;
      c.dlg = dialog_state{};
      c.dlg.call_id = sip::random_call_id();
      auto m = new_request(c, "INVITE", target, "<" + target + ">", c.dlg.call_id, 1);
      m.add("Content-Type", "application/sdp");
      m.body = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=message 5060 sip null\r\n";
      send_request(c, std::move(m));
      break;
    }
    case phase::requri: send_command(c, phase::requri, "requri", ""); break;
    case phase::bye_lookup: send_request(c, dialog_request(c, "BYE")); break;
    case phase::serverinfo:
      send_command(c, phase::serverinfo, "getserverinfo", xccos::serverinfo_query(domain));
      break;
    case phase::assoc: send_command(c, phase::assoc, "getassoc", ""); break;
    case phase::bjoin: {
      const auto& uri = cfg_.rooms[c.room];
      auto guid = uri.substr(uri.rfind('/') + 1);
      send_command(c, phase::bjoin, "bjoin", xccos::chanid(0, domain, guid));
      break;
    }
    case phase::bccontext:
      send_command(c, phase::bccontext, "bccontext", xccos::bccontext_last(cfg_.rooms[c.room], 30));
      break;
    case phase::getinv: send_command(c, phase::getinv, "getinv", xccos::invitations_query(domain)); break;
    default: break;
  }
}

void engine::on_readable(client& c) {
  char buf[65536];
  for (;;) {
    auto n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      auto t = now_ns(); // receipt time: before any parsing
      c.in.append(buf, static_cast<size_t>(n));
      std::size_t off = 0;
      for (;;) {
        auto r = sip::parse(std::string_view(c.in).substr(off));
        if (r.status == sip::parse_status::incomplete) {
          off += r.consumed;
          break;
        }
        if (r.status == sip::parse_status::error)
          return fail(c, "bad SIP from server: " + r.error);
        off += r.consumed;
        on_message(c, std::move(r.msg), t);
        if (c.fd < 0)
          return;
      }
      c.in.erase(0, off);
      if (static_cast<size_t>(n) < sizeof buf)
        return;
    } else if (n == 0) {
      c.closed_by_server = true;
      return fail(c, "server closed the connection");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      if (errno == ECONNRESET)
        c.closed_by_server = true;
      return fail(c, std::string("recv: ") + std::strerror(errno));
    }
  }
}

void engine::on_message(client& c, sip::message&& m, std::int64_t t) {
  if (m.status == 0)
    on_server_request(c, std::move(m), t);
  else
    on_response(c, std::move(m));
}

void engine::on_response(client& c, sip::message&& m) {
  if (m.status < 200)
    return;
  auto cs = sip::parse_cseq(m.get_or("CSeq"));
  if (!cs)
    return;
  if (cs->method == "INFO") {
    auto posted = c.post_of_cseq.find(cs->number);
    if (posted != c.post_of_cseq.end()) {
      if (m.status != 200) {
        // A refused post (503 under overload) will not be delivered: it is not owed to anyone.
        ++res_.posts_refused;
        auto room = post_room_[posted->second];
        res_.expected -= room_ready_[room];
        res_.stalled.expected -= room_stalled_[room];
        --room_posts_[room];
      }
      c.post_of_cseq.erase(posted);
    } else if (m.status != 200 && c.ph != phase::ready) {
      fail(c, "INFO answered " + std::to_string(m.status));
    }
    return;
  }
  if (m.get_or("Call-ID") != c.waiting_call_id || cs->number != c.waiting_cseq)
    return;
  if (m.status != 200)
    return fail(c, cs->method + " answered " + std::to_string(m.status));
  switch (c.ph) {
    case phase::reg: c.ph = phase::subscribe; break;
    case phase::subscribe: {
      auto p = m.body.find("DefaultPersistentChatPoolUri\">");
      if (p != std::string::npos) {
        p += std::strlen("DefaultPersistentChatPoolUri\">");
        c.pool = m.body.substr(p, m.body.find('<', p) - p);
      }
      if (c.pool.empty())
        return fail(c, "no pool URI in the provisioning document");
      c.channel_uri = c.pool;
      c.ph = phase::invite_lookup;
      break;
    }
    case phase::invite_lookup:
    case phase::invite_channel: {
      c.dlg.remote_tag = sip::header_param(m.get_or("To"), "tag").value_or("");
      auto contact = sip::parse_name_addr(m.get_or("Contact"));
      c.dlg.target = contact ? contact->uri : c.channel_uri;
      const std::string& target = c.ph == phase::invite_lookup ? c.pool : c.channel_uri;
      auto ack = new_request(c, "ACK", c.dlg.target, "<" + target + ">;tag=" + c.dlg.remote_tag, c.dlg.call_id, 1);
      c.out += sip::serialize(ack);
      c.ph = c.ph == phase::invite_lookup ? phase::requri : phase::serverinfo;
      break;
    }
    case phase::bye_lookup: c.ph = phase::invite_channel; break;
    default: return;
  }
  advance(c);
}

void engine::on_server_request(client& c, sip::message&& m, std::int64_t t) {
  c.out += sip::serialize(sip::make_response(m, 200));
  flush(c);
  if (m.method != "INFO" || c.fd < 0)
    return;
  const std::string& body = m.body;
  if (c.ph == phase::ready && c.probe_stage != 0 && body.find("<commandid") != std::string::npos
      && body.find("envid=\"" + c.probe_envid + "\"") != std::string::npos) {
    if (c.probe_stage == 1) {
      c.probe_stage = 2;
      c.probe_envid = send_info_command(c, "bccontext", xccos::bccontext_last(cfg_.rooms[c.room], 30));
    } else {
      res_.join_us.push_back(static_cast<std::uint32_t>((t - c.join_started_ns) / 1000));
      c.probe_stage = 0;
    }
    return;
  }
  if (c.ph == phase::ready) {
    // Only a fan-out grpchat counts; a history reply also holds <chat>B... lines.
    if (body.find("<grpchat") == std::string::npos)
      return;
    auto p = body.find("<chat>B");
    if (p == std::string::npos)
      return;
    std::size_t post = std::strtoull(body.c_str() + p + 7, nullptr, 10);
    if (post >= sent_ns_.size())
      return;
    if (ledger_.record(c.index, post)) {
      ++c.delivered;
      auto us = static_cast<std::uint32_t>((t - sent_ns_[post]) / 1000);
      if (c.stalled) { // read from the backlog after the resume: its own figures
        ++res_.stalled.delivered;
        res_.stalled.latency_us.push_back(us);
      } else {
        ++res_.delivered;
        res_.latency_us.push_back(us);
        last_delivery_ns_ = t;
      }
    }
    return;
  }
  // Sign-in: the rpl we wait for names our envelope in <commandid envid>.
  auto p = body.find("<commandid");
  if (p == std::string::npos || c.waiting_envid.empty())
    return;
  auto e = body.find("envid=\"", p);
  if (e == std::string::npos || body.compare(e + 7, c.waiting_envid.size() + 1, c.waiting_envid + "\"") != 0)
    return;
  if (body.find("<resp code=\"200\"") == std::string::npos)
    return fail(c, "command refused: " + body.substr(0, 300));
  c.waiting_envid.clear();
  switch (c.ph) {
    case phase::requri: {
      auto u = body.find("<uib uri=\"");
      if (u != std::string::npos) {
        u += 10;
        c.channel_uri = body.substr(u, body.find('"', u) - u);
      }
      c.ph = phase::bye_lookup;
      break;
    }
    case phase::serverinfo: c.ph = phase::assoc; break;
    case phase::assoc: c.ph = phase::bjoin; break;
    case phase::bjoin:
      if (body.find("<fib") != std::string::npos)
        return fail(c, "bjoin refused the room");
      c.ph = phase::bccontext;
      break;
    case phase::bccontext: c.ph = phase::getinv; break;
    case phase::getinv:
      c.ph = phase::ready;
      ++ready_;
      --signing_in_;
      ++(c.stalled ? room_stalled_ : room_ready_)[c.room];
      return;
    default: return;
  }
  advance(c);
}

void engine::post(std::size_t k) {
  // Poster j is member j / rooms of room j % rooms.
  const std::size_t rooms = cfg_.rooms.size();
  std::size_t j = k % cfg_.posters;
  std::size_t room = j % rooms;
  std::size_t member = (j / rooms) % cfg_.members;
  client& c = *clients_[room * cfg_.members + member];
  if (c.ph != phase::ready)
    return; // counted as not sent
  std::string id = "B" + std::to_string(sent_ns_.size()) + ":";
  std::string text = id + padding_.substr(0, cfg_.size > id.size() ? cfg_.size - id.size() : 0);
  auto m = dialog_request(c, "INFO");
  m.add("Content-Type", "text/plain");
  // The server stamps its own time (docs/xccos.md §4 grpchat); a fixed ts keeps the posts' bytes reproducible.
  m.body = xccos::grpchat_document(std::to_string(++envid_), cfg_.rooms[room], c.user, post_ts_ticks, text);
  auto wire = sip::serialize(m);
  c.post_of_cseq.emplace(c.dlg.cseq, sent_ns_.size());
  sent_ns_.push_back(now_ns()); // send time: right before the bytes leave
  post_room_.push_back(room);
  if (cfg_.on_post)
    cfg_.on_post(sent_ns_.size() - 1, room, sent_ns_.back());
  res_.expected += room_ready_[room];
  res_.stalled.expected += room_stalled_[room];
  ++room_posts_[room];
  ++res_.posts;
  c.out += wire;
  flush(c);
}

// --- stalled members ---------------------------------------------------------------------------------------------

// Never posters; taken from the last members of each room in turn, so they spread over the rooms.
void engine::choose_stalled() {
  const std::size_t rooms = cfg_.rooms.size();
  std::vector<bool> poster(clients_.size(), false);
  for (std::size_t j = 0; j < std::min<std::size_t>(cfg_.posters, clients_.size()); ++j)
    poster[(j % rooms) * cfg_.members + (j / rooms) % cfg_.members] = true;
  std::uint32_t chosen = 0;
  for (std::size_t m = cfg_.members; m-- > 0 && chosen < cfg_.stalled;)
    for (std::size_t r = 0; r < rooms && chosen < cfg_.stalled; ++r) {
      auto i = r * cfg_.members + m;
      if (!poster[i]) {
        clients_[i]->stalled = true;
        ++chosen;
      }
    }
}

// Posting starts: the stalled members leave the epoll set. Nothing reads their sockets any more, so the server's
// INFOs pile up in their receive buffers, then in the server's send queue, and their 200s never leave.
void engine::start_stall() {
  for (auto& c : clients_)
    if (c->stalled && c->ph == phase::ready) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
      c->stalling = true;
      stalled_.push_back(c.get());
    }
  res_.stalled.members = static_cast<std::uint32_t>(stalled_.size());
  stalling_ = !stalled_.empty();
}

// A close by the server shows in the socket's TCP state without reading it: a reset at once (CLOSE), a FIN
// (CLOSE_WAIT) once it gets through, which with a full receive window is only after the data queued before it.
void engine::watch_stalled(std::int64_t now) {
  if (now < next_watch_ns_)
    return;
  next_watch_ns_ = now + 100'000'000;
  for (auto* c : stalled_) {
    if (!c->stalling || c->seen_closed)
      continue;
    tcp_info ti{};
    socklen_t len = sizeof ti;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state == TCP_ESTABLISHED)
      continue;
    c->seen_closed = true;
    ++res_.stalled.disconnected_during_stall;
    if (res_.stalled.first_disconnect_seconds < 0)
      res_.stalled.first_disconnect_seconds = static_cast<double>(now - post_start_ns_) / 1e9;
  }
}

// The server's kernel send queue (tx_queue in /proc/net/tcp{,6}) on its side of our connections: local port the
// server's, remote port one of ours. False when no such socket is listed (the server in another namespace).
bool server_send_queues(std::uint16_t server_port, const std::vector<std::uint16_t>& ours, std::uint64_t& bytes) {
  bool found = false;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line); // header
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string sl, local, remote, st, queues;
      if (!(in >> sl >> local >> remote >> st >> queues))
        continue;
      auto port = [](const std::string& addr) {
        auto colon = addr.rfind(':');
        return colon == std::string::npos ? 0UL : std::strtoul(addr.c_str() + colon + 1, nullptr, 16);
      };
      if (port(local) != server_port
          || std::find(ours.begin(), ours.end(), static_cast<std::uint16_t>(port(remote))) == ours.end())
        continue;
      found = true;
      bytes += std::strtoull(queues.c_str(), nullptr, 16); // "tx_queue:rx_queue", hex
    }
  }
  return found;
}

// The stall ends: note how much waits (both kernels), then read again. The backlog is read and answered like any
// INFO; a connection the server closed ends in EOF or a reset (fail() marks it).
void engine::resume_stalled(std::int64_t now) {
  next_watch_ns_ = 0;
  watch_stalled(now);
  stalling_ = false;
  resumed_ = true;
  auto& s = res_.stalled;
  s.stalled_seconds = static_cast<double>(now - post_start_ns_) / 1e9;
  std::vector<std::uint16_t> ports;
  for (auto* c : stalled_) {
    int unread = 0;
    if (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0)
      s.unread_bytes += static_cast<std::uint64_t>(unread);
    ports.push_back(static_cast<std::uint16_t>(std::strtoul(c->local.c_str() + c->local.rfind(':') + 1, nullptr, 10)));
  }
  s.server_queue_known = server_send_queues(cfg_.server_port ? cfg_.server_port : cfg_.port, ports,
                                            s.server_queued_bytes);
  if (cfg_.on_stall_end)
    cfg_.on_stall_end();
  for (auto* c : stalled_) {
    c->stalling = false;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT; // on_writable flushes any 200 left unsent, then reads
    ev.data.ptr = c;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd, &ev);
  }
}

// Every resumed member has read all it is owed, or its connection is gone.
bool engine::stalled_settled() const {
  for (const auto* c : stalled_)
    if (c->fd >= 0 && c->delivered < room_posts_[c->room])
      return false;
  return true;
}

// --- the run -----------------------------------------------------------------------------------------------------

sip_load_result engine::run() {
  res_ = {};
  if (cfg_.rooms.empty() || cfg_.members == 0 || cfg_.posters == 0) {
    res_.error = "nothing to do: no rooms, members or posters";
    return res_;
  }
  std::size_t total = cfg_.rooms.size() * cfg_.members;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < total + 64) {
    rlimit wanted{total + 1024, std::max<rlim_t>(rl.rlim_max, total + 1024)}; // the hard limit only if privileged
    if (setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
      rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, total + 1024);
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  room_ready_.assign(cfg_.rooms.size(), 0);
  room_stalled_.assign(cfg_.rooms.size(), 0);
  room_posts_.assign(cfg_.rooms.size(), 0);
  padding_.assign(cfg_.size + 16, 'x');
  for (std::size_t i = 0; i < total; ++i) {
    auto c = std::make_unique<client>();
    c->index = i;
    c->room = i / cfg_.members;
    c->user = "sip:bench" + std::to_string(i) + "@" + cfg_.domain;
    clients_.push_back(std::move(c));
  }
  choose_stalled();
  // The posts planned, so the ledger can be sized once.
  std::size_t planned = static_cast<std::size_t>(cfg_.rate * cfg_.duration) + 1;
  ledger_.resize(total, planned);
  sent_ns_.reserve(planned);
  res_.latency_us.reserve(planned * cfg_.members);

  auto signin_start = clock_type::now();
  auto signin_deadline = signin_start + std::chrono::seconds(60 + total / 50);
  std::int64_t post_start = 0;
  std::size_t next_post = 0;
  std::size_t next_probe = 0;
  double cpu_at_post = 0;
  std::int64_t end_posting = 0, drain_deadline = 0, stalled_deadline = 0;
  const auto drain_ns = static_cast<std::int64_t>(cfg_.drain * 1e9);
  auto last_progress = clock_type::now();
  epoll_event events[256];
  for (;;) {
    // Keep `signin_parallel` clients signing in at once.
    while (!posting_ && next_to_start_ < total && signing_in_ < cfg_.signin_parallel)
      start_connect(*clients_[next_to_start_++]);
    int timeout_ms = 50;
    auto now = now_ns();
    if (!posting_ && next_to_start_ == total && signing_in_ == 0) {
      res_.sessions = ready_;
      res_.signin_seconds = std::chrono::duration<double>(clock_type::now() - signin_start).count();
      if (ready_ == 0) {
        res_.error = "no client could sign in";
        break;
      }
      if (cfg_.progress)
        std::fprintf(stderr, "pchat-bench: %u clients signed in and joined in %.1f s; posting\n", ready_,
                     res_.signin_seconds);
      posting_ = true;
      if (cfg_.on_posting_start)
        cfg_.on_posting_start();
      start_stall();
      post_start = now_ns();
      post_start_ns_ = post_start;
      cpu_at_post = cpu_seconds();
      end_posting = post_start + static_cast<std::int64_t>(cfg_.duration * 1e9);
      drain_deadline = end_posting + drain_ns;
    }
    if (!posting_ && clock_type::now() > signin_deadline) {
      res_.error = "sign-in did not finish in time";
      break;
    }
    if (posting_) {
      now = now_ns();
      while (now < end_posting
             && post_start + static_cast<std::int64_t>(static_cast<double>(next_post) * 1e9 / cfg_.rate) <= now)
        post(next_post++);
      while (cfg_.join_probes > 0 && now < end_posting
             && post_start + static_cast<std::int64_t>(static_cast<double>(next_probe) * 1e9 / cfg_.join_probes) <= now)
        probe(next_probe++);
      bool others_done = now >= end_posting && (res_.delivered >= res_.expected || now >= drain_deadline);
      if (stalling_) {
        watch_stalled(now);
        if (cfg_.stall_seconds >= 0 ? now >= post_start + static_cast<std::int64_t>(cfg_.stall_seconds * 1e9)
                                    : others_done) {
          resume_stalled(now);
          stalled_deadline = std::max(drain_deadline, now + drain_ns);
        }
      }
      bool stalled_done = stalled_.empty() || (resumed_ && (stalled_settled() || now >= stalled_deadline));
      if (others_done && stalled_done)
        break;
      auto next_at = post_start + static_cast<std::int64_t>(static_cast<double>(next_post) * 1e9 / cfg_.rate);
      timeout_ms = now < end_posting ? static_cast<int>(std::max<std::int64_t>(0, (next_at - now) / 1'000'000)) : 20;
      if (stalling_)
        timeout_ms = std::min(timeout_ms, 100); // watch their TCP state, resume on time
    }
    if (cfg_.progress && clock_type::now() - last_progress > std::chrono::seconds(5)) {
      last_progress = clock_type::now();
      std::fprintf(stderr, "pchat-bench: ready %u/%zu, posts %llu, delivered %llu/%llu", ready_, total,
                   static_cast<unsigned long long>(res_.posts), static_cast<unsigned long long>(res_.delivered),
                   static_cast<unsigned long long>(res_.expected));
      if (!stalled_.empty())
        std::fprintf(stderr, "; %zu stalled %s, read %llu/%llu", stalled_.size(),
                     stalling_ ? "(not reading)" : "(resumed)",
                     static_cast<unsigned long long>(res_.stalled.delivered),
                     static_cast<unsigned long long>(res_.stalled.expected));
      std::fprintf(stderr, "\n");
    }
    int n = epoll_wait(ep_, events, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<client*>(events[i].data.ptr);
      if (c->fd < 0)
        continue;
      if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        on_writable(*c);
      if (c->fd >= 0 && (events[i].events & EPOLLIN))
        on_readable(*c);
    }
  }
  if (posting_) {
    res_.client_cpu_seconds = cpu_seconds() - cpu_at_post;
    res_.posting_seconds = static_cast<double>(std::min(now_ns(), end_posting) - post_start) / 1e9;
    res_.delivery_seconds = static_cast<double>(std::max(last_delivery_ns_, post_start) - post_start) / 1e9;
    res_.duplicates = ledger_.duplicates;
    res_.lost = res_.expected > res_.delivered ? res_.expected - res_.delivered : 0;
    res_.stalled.until_others_served = cfg_.stall_seconds < 0;
    if (!resumed_ && !stalled_.empty())
      res_.stalled.stalled_seconds = static_cast<double>(now_ns() - post_start) / 1e9;
    for (const auto* c : stalled_)
      if (c->closed_by_server || c->seen_closed)
        ++res_.stalled.disconnected;
    res_.ok = res_.error.empty();
  }
  for (auto& c : clients_)
    if (c->fd >= 0)
      ::close(c->fd);
  ::close(ep_);
  return std::move(res_);
}

} // namespace

sip_load_result run_sip_load(const sip_load_config& cfg) {
  engine e{cfg};
  return e.run();
}

} // namespace pchat::bench
