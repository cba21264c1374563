#include "client/sip_agent.hpp"
#include "base/text.hpp"
#include "base/random.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

namespace pchat::client {

namespace {

using std::chrono::steady_clock;

constexpr std::size_t max_strays = 256;

// pidgin-sipe's INVITE SDP for an IM/group chat session (sipe-im.c), with the port fixed as the brief says.
std::string make_sdp(const std::string& ip) {
  std::string addr = (ip.find(':') != std::string::npos ? "IP6 " : "IP4 ") + ip;
  std::string sdp = "v=0\r\n";
  sdp += "o=- 0 0 IN " + addr + "\r\n";
  sdp += "s=session\r\n";
  sdp += "c=IN " + addr + "\r\n";
  sdp += "t=0 0\r\n";
  sdp += "m=message 5060 sip null\r\n";
  sdp += "a=accept-types:text/plain text/html image/gif multipart/alternative application/im-iscomposing+xml "
         "application/ms-imdn+xml text/x-msmsgsinvite\r\n";
  return sdp;
}

std::string host_for_uri(const std::string& ip) {
  return ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
}

std::string errno_text(int e) {
  return std::error_code(e, std::generic_category()).message();
}

// "Call-ID\nCSeq-number METHOD": the transaction key (Call-ID + CSeq number + method).
std::optional<std::string> transaction_key(std::string_view call_id, std::string_view cseq_value) {
  auto cs = sip::parse_cseq(cseq_value);
  auto id = sip::trim(call_id);
  if (!cs || id.empty())
    return std::nullopt;
  std::string key(id);
  key += '\n';
  key += std::to_string(cs->number);
  key += ' ';
  key += cs->method;
  return key;
}

std::optional<std::string> transaction_key(const sip::message& m) {
  auto id = m.get("Call-ID");
  auto cs = m.get("CSeq");
  if (!id || !cs)
    return std::nullopt;
  return transaction_key(*id, *cs);
}

// For raw text that may not parse: scan the lines before the first blank line for Call-ID/i and CSeq.
std::optional<std::string> scan_transaction_key(std::string_view text) {
  std::string_view call_id;
  std::string_view cseq_value;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    auto line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty())
      break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto name = sip::long_header_name(sip::trim(line.substr(0, colon)));
    if (iequals(name, "Call-ID") && call_id.empty())
      call_id = sip::trim(line.substr(colon + 1));
    else if (iequals(name, "CSeq") && cseq_value.empty())
      cseq_value = sip::trim(line.substr(colon + 1));
  }
  return transaction_key(call_id, cseq_value);
}

} // namespace

const char* to_string(errc code) {
  switch (code) {
  case errc::none:
    return "none";
  case errc::not_connected:
    return "not_connected";
  case errc::connect_failed:
    return "connect_failed";
  case errc::timeout:
    return "timeout";
  case errc::connection_lost:
    return "connection_lost";
  case errc::io_error:
    return "io_error";
  case errc::protocol_error:
    return "protocol_error";
  case errc::rejected:
    return "rejected";
  case errc::bad_input:
    return "bad_input";
  }
  return "unknown";
}

sip_agent::sip_agent(agent_config config) : config_(std::move(config)) {
  user_host_ = sip::uri_user_host(config_.aor);
  config_.limits.datagram = false;
}

sip_agent::~sip_agent() {
  close();
}

// --- connection -----------------------------------------------------------------------------------------------

error sip_agent::connect(const std::string& host, std::uint16_t port) {
  if (connected())
    return {errc::bad_input, 0, "already connected"};
  close(); // reap the reader and socket of an earlier connection that was lost

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0)
    return {errc::connect_failed, 0, "cannot resolve " + host + ": " + ::gai_strerror(rc)};

  auto until = steady_clock::now() + config_.connect_timeout;
  int fd = -1;
  std::string why = "no address";
  for (auto ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      why = "socket: " + errno_text(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      auto left = std::chrono::duration_cast<duration>(until - steady_clock::now()).count();
      rc = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
      if (rc == 0) {
        errno = ETIMEDOUT;
        rc = -1;
      } else if (rc > 0) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        errno = soerr;
        rc = soerr == 0 ? 0 : -1;
      }
    }
    if (rc != 0) {
      why = "connect: " + errno_text(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    return {errc::connect_failed, 0, host + ":" + port_text + ": " + why};

  // Blocking from now on: the reader blocks in recv(), writers in send() bounded by SO_SNDTIMEO.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto send_ms = config_.request_timeout.count() > 0 ? config_.request_timeout.count() : 10000;
  timeval tv{static_cast<time_t>(send_ms / 1000), static_cast<suseconds_t>((send_ms % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  std::unique_ptr<tls_stream> tls;
  if (config_.tls.enabled) {
    auto left = std::chrono::duration_cast<duration>(until - steady_clock::now());
    std::string why_tls;
    tls = tls_stream::connect(fd, host, config_.tls, std::max(left, duration{1}), why_tls);
    if (!tls) {
      ::close(fd);
      return {errc::connect_failed, 0, host + ":" + port_text + ": " + why_tls};
    }
  }

  sockaddr_storage local{};
  socklen_t len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  char ip[INET6_ADDRSTRLEN] = {};
  if (local.ss_family == AF_INET6) {
    auto sa = reinterpret_cast<sockaddr_in6*>(&local);
    ::inet_ntop(AF_INET6, &sa->sin6_addr, ip, sizeof ip);
    local_port_ = ntohs(sa->sin6_port);
  } else {
    auto sa = reinterpret_cast<sockaddr_in*>(&local);
    ::inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip);
    local_port_ = ntohs(sa->sin_port);
  }
  local_ip_ = ip;

  {
    std::lock_guard<std::mutex> guard{mtx_};
    fd_ = fd;
    tls_ = std::move(tls);
    connected_ = true;
    closing_ = false;
    reading_paused_ = false;
    disconnect_reason_.clear();
    disconnect_code_ = errc::none;
    pending_.clear();
    infos_.clear();
    notifies_.clear();
    strays_.clear();
    ended_.clear();
  }
  try {
    reader_ = std::thread([this] { reader_loop(); });
  } catch (const std::system_error& e) {
    std::lock_guard<std::mutex> guard{mtx_};
    connected_ = false;
    disconnect_reason_ = std::string("cannot start reader thread: ") + e.what();
    ::close(fd_);
    fd_ = -1;
    return {errc::connect_failed, 0, disconnect_reason_};
  }
  return {};
}

void sip_agent::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (fd_ < 0)
      return;
    closing_ = true;
  }
  ::shutdown(fd_, SHUT_RDWR); // wakes the reader's recv()
  if (reader_.joinable()) {
    if (reader_.get_id() == std::this_thread::get_id())
      return; // misuse from a handler: the owner's close()/destructor finishes the job
    reader_.join();
  }
  std::lock_guard<std::mutex> guard{mtx_};
  tls_.reset();
  ::close(fd_);
  fd_ = -1;
  if (connected_) {
    connected_ = false;
    disconnect_code_ = errc::not_connected;
    disconnect_reason_ = "closed locally";
  }
  cv_.notify_all();
}

bool sip_agent::connected() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return connected_;
}

std::string sip_agent::disconnect_reason() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return disconnect_reason_;
}

std::string sip_agent::contact() const {
  return "<sip:" + user_host_ + ":" + std::to_string(local_port_) + ";maddr=" + host_for_uri(local_ip_) +
         (tls_ ? ";transport=tls>" : ";transport=tcp>");
}

std::string sip_agent::via() const {
  return std::string{tls_ ? "SIP/2.0/TLS " : "SIP/2.0/TCP "} + host_for_uri(local_ip_) + ":" + std::to_string(local_port_) +
         ";branch=" + sip::random_branch() + ";rport";
}

void sip_agent::lose_connection(errc code, std::string why) {
  std::function<void(const error&)> handler;
  error e{code, 0, why};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!connected_)
      return;
    connected_ = false;
    if (closing_) {
      // The reader saw the effect of our own shutdown().
      disconnect_code_ = errc::not_connected;
      disconnect_reason_ = "closed locally";
    } else {
      disconnect_code_ = code;
      disconnect_reason_ = std::move(why);
      handler = disconnect_handler_;
    }
  }
  cv_.notify_all();
  if (handler)
    handler(e);
}

error sip_agent::write(std::string_view bytes) {
  std::lock_guard<std::mutex> guard{write_mtx_};
  if (!connected())
    return {errc::not_connected, 0, "not connected"};
  if (tls_) {
    std::string why;
    auto send_ms = config_.request_timeout.count() > 0 ? config_.request_timeout : duration{10000};
    if (!tls_->write(bytes, send_ms, why))
      return {errc::io_error, 0, "send: " + why};
    return {};
  }
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      auto why = errno == EAGAIN || errno == EWOULDBLOCK ? std::string("send timed out") : errno_text(errno);
      return {errc::io_error, 0, "send: " + why};
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// --- reader thread --------------------------------------------------------------------------------------------

void sip_agent::reader_loop() {
  std::string buf;
  char chunk[16 * 1024];
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{mtx_};
      cv_.wait(lock, [&] { return !reading_paused_ || closing_; });
    }
    std::string tls_error;
    auto n = tls_ ? tls_->read(chunk, sizeof chunk, tls_error) : ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && tls_) {
      lose_connection(errc::connection_lost, "TLS: " + tls_error);
      return;
    }
    if (n == 0) {
      lose_connection(errc::connection_lost, "connection closed by peer");
      return;
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      lose_connection(errc::connection_lost, "recv: " + errno_text(errno));
      return;
    }
    auto received = steady_clock::now();
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t off = 0;
    for (;;) {
      auto r = sip::parse(std::string_view(buf).substr(off), config_.limits);
      off += r.consumed;
      if (r.status == sip::parse_status::incomplete)
        break;
      if (r.status == sip::parse_status::error) {
        lose_connection(errc::protocol_error, "unparsable message from server: " + r.error);
        ::shutdown(fd_, SHUT_RDWR);
        return;
      }
      on_message(std::move(r.msg), received);
    }
    buf.erase(0, off);
  }
}

void sip_agent::on_message(sip::message&& m, time_point received) {
  if (m.is_request()) {
    on_request(std::move(m), received);
    return;
  }
  if (m.status < 200)
    return; // provisional: the transaction goes on
  auto key = transaction_key(m);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = key ? pending_.find(*key) : pending_.end();
    if (i != pending_.end() && !i->second.final) {
      i->second.final = std::move(m);
    } else {
      if (strays_.size() >= max_strays)
        strays_.pop_front();
      strays_.push_back(std::move(m));
    }
  }
  cv_.notify_all();
}

void sip_agent::on_request(sip::message&& m, time_point received) {
  auto& method = m.method;
  if (iequals(method, "ACK"))
    return; // never answered (RFC 3261 §17.2.1)
  std::string call_id(sip::trim(m.get_or("Call-ID")));
  int status = 501;
  bool deliver = false;
  if (iequals(method, "INFO")) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = info_status_.find(call_id);
    if (i == info_status_.end())
      i = info_status_.find(std::string());
    status = i == info_status_.end() ? 200 : i->second;
    deliver = status >= 200 && status < 300;
    if (status == 0)
      return; // playing a client that hangs: no answer, nothing delivered
  } else if (iequals(method, "NOTIFY")) {
    status = 200;
    deliver = true;
  } else if (iequals(method, "BYE")) {
    status = 200;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ended_.insert(call_id);
    }
    cv_.notify_all(); // marked before the 200 leaves, so the server's view never runs ahead of ours
  } else if (iequals(method, "OPTIONS")) {
    status = 200;
  }

  auto response = sip::make_response(m, status, {}, sip::random_tag());
  response.add("User-Agent", config_.user_agent);
  auto sent = write(sip::serialize(response));
  (void)sent; // a failed write means the connection is going away; the reader sees that next

  if (!deliver)
    return;
  incoming in;
  in.method = iequals(method, "INFO") ? "INFO" : "NOTIFY";
  in.call_id = std::move(call_id);
  in.content_type = m.get_or("Content-Type");
  in.body = m.body;
  in.request = std::move(m);
  in.received = received;
  if (incoming_handler_) {
    incoming_handler_(std::move(in));
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    (in.method == "INFO" ? infos_ : notifies_).push_back(std::move(in));
  }
  cv_.notify_all();
}

// --- transactions ---------------------------------------------------------------------------------------------

time_point sip_agent::deadline(duration timeout) const {
  return steady_clock::now() + (timeout.count() > 0 ? timeout : config_.request_timeout);
}

sip::message sip_agent::new_request(const std::string& method, const std::string& uri, const std::string& to,
                                    const std::string& from_tag, const std::string& call_id, std::uint32_t cseq) const {
  // RFC 3261 §8.1.1: the mandatory headers, in the order sipe writes them.
  auto m = sip::message::request(method, uri);
  m.add("Via", via());
  m.add("Max-Forwards", "70");
  m.add("From", "<" + config_.aor + ">;tag=" + from_tag);
  m.add("To", to);
  m.add("Call-ID", call_id);
  m.add("CSeq", std::to_string(cseq) + " " + method);
  m.add("User-Agent", config_.user_agent);
  return m;
}

result<sip::message> sip_agent::transact_text(const std::string& key, std::string_view text, duration timeout) {
  auto until = deadline(timeout);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!connected_)
      return error{errc::not_connected, 0, disconnect_reason_.empty() ? "not connected" : disconnect_reason_};
    if (pending_.count(key) != 0)
      return error{errc::bad_input, 0, "a transaction with this Call-ID and CSeq is already waiting"};
    pending_[key]; // registered before sending, so an immediate answer is not taken for a stray
  }
  if (auto e = write(text); !e.ok()) {
    std::lock_guard<std::mutex> guard{mtx_};
    pending_.erase(key);
    return e;
  }
  std::unique_lock<std::mutex> lock{mtx_};
  auto& slot = pending_[key];
  cv_.wait_until(lock, until, [&] { return slot.final.has_value() || !connected_; });
  auto final = std::move(slot.final);
  pending_.erase(key); // invalidates slot
  if (final)
    return std::move(*final);
  if (!connected_)
    return error{disconnect_code_ == errc::protocol_error ? errc::protocol_error : errc::connection_lost, 0,
                 disconnect_reason_};
  return error{errc::timeout, 0, "no final response within the timeout"};
}

void sip_agent::authorize(sip::message& m) {
  if (config_.password.empty() || !challenge_ || sip::header_param(m.get_or("To"), "tag"))
    return;
  namespace digest = sip::digest;
  digest::credentials c;
  c.alg = challenge_->alg;
  c.username = digest::username_of(sip::normalize_aor(config_.aor));
  c.realm = challenge_->realm;
  c.nonce = challenge_->nonce;
  c.opaque = challenge_->opaque;
  c.uri = m.uri;
  c.qop = "auth";
  c.nc = ++nc_;
  c.cnonce = random_hex(8);
  c.response = digest::response(c.alg, digest::ha1(c.alg, c.username, c.realm, config_.password), c.nonce,
                                digest::nc_text(c.nc), c.cnonce, m.method, c.uri);
  auto header = proxy_challenge_ ? "Proxy-Authorization" : "Authorization";
  m.remove("Authorization");
  m.remove("Proxy-Authorization");
  m.add(header, digest::format(c));
}

void sip_agent::ack_failure(const sip::message& invite, const sip::message& response) {
  auto ack = sip::message::request("ACK", invite.uri);
  ack.add("Via", invite.get_or("Via"));
  ack.add("Max-Forwards", "70");
  ack.add("From", invite.get_or("From"));
  ack.add("To", response.get_or("To"));
  ack.add("Call-ID", invite.get_or("Call-ID"));
  ack.add("CSeq", std::to_string(sip::parse_cseq(invite.get_or("CSeq")).value_or(sip::cseq{}).number) + " ACK");
  ack.add("User-Agent", config_.user_agent);
  (void)write(sip::serialize(ack));
}

result<sip::message> sip_agent::send_authenticated(sip::message& m, std::uint32_t& cseq, duration timeout) {
  authorize(m);
  auto r = send_message(m, timeout);
  // At most two answers: one to the challenge, one more if the server says that nonce went stale meanwhile.
  for (int round = 0; round < 2 && r && (r->status == 401 || r->status == 407) && !config_.password.empty();
       ++round) {
    std::optional<sip::digest::challenge> best; // SHA-256 before MD5, whatever the server's order
    for (const auto& value : r->get_all(r->status == 401 ? "WWW-Authenticate" : "Proxy-Authenticate"))
      if (auto c = sip::digest::parse_challenge(value); c && c->qop_auth)
        if (!best || (c->alg == sip::digest::algorithm::sha256 && best->alg != c->alg))
          best = std::move(c);
    if (!best || (round > 0 && !best->stale))
      break; // nothing we can answer, or our fresh credentials were turned down
    if (iequals(m.method, "INVITE"))
      ack_failure(m, r.value());
    challenge_ = std::move(best);
    proxy_challenge_ = r->status == 407;
    nc_ = 0;
    m.set("Via", via());
    m.set("CSeq", std::to_string(++cseq) + " " + m.method);
    authorize(m);
    r = send_message(m, timeout);
  }
  return r;
}

result<sip::message> sip_agent::send_message(const sip::message& m, duration timeout) {
  auto key = transaction_key(m);
  if (!m.is_request() || !key)
    return error{errc::bad_input, 0, "a request with Call-ID and CSeq is needed to match a response"};
  return transact_text(*key, sip::serialize(m), timeout);
}

result<sip::message> sip_agent::send_raw_request(std::string_view text, duration timeout) {
  sip::parse_options opts;
  opts.datagram = true;
  auto parsed = sip::parse(text, opts);
  auto key = parsed.status == sip::parse_status::ok ? transaction_key(parsed.msg) : std::nullopt;
  if (!key)
    key = scan_transaction_key(text);
  if (!key) {
    if (auto e = send_raw_bytes(text); !e.ok())
      return e;
    return error{errc::bad_input, 0, "sent, but no Call-ID/CSeq to match a response (see wait_stray_response)"};
  }
  return transact_text(*key, text, timeout);
}

error sip_agent::send_raw_bytes(std::string_view bytes) {
  return write(bytes);
}

// --- requests -------------------------------------------------------------------------------------------------

result<sip::message> sip_agent::register_user(const std::string& registrar, int expires, duration timeout) {
  // docs/xccos.md §2.1: one Call-ID for every REGISTER, increasing CSeq.
  if (register_call_id_.empty()) {
    register_call_id_ = sip::random_call_id();
    register_tag_ = sip::random_tag();
  }
  auto m =
      new_request("REGISTER", registrar, "<" + config_.aor + ">", register_tag_, register_call_id_, ++register_cseq_);
  m.add("Contact", contact());
  m.add("Expires", std::to_string(expires));
  return send_authenticated(m, register_cseq_, timeout);
}

result<sip::message> sip_agent::subscribe(const std::string& target, const std::string& event,
                                          const std::string& accept, const std::string& body,
                                          const std::vector<sip::header>& extra, duration timeout) {
  auto m = new_request("SUBSCRIBE", target, "<" + target + ">", sip::random_tag(), sip::random_call_id(), 1);
  m.add("Contact", contact());
  m.add("Event", event);
  if (!accept.empty())
    m.add("Accept", accept);
  for (auto& h : extra)
    m.add(h.name, h.value);
  if (!body.empty()) {
    if (!m.has("Content-Type"))
      m.add("Content-Type", accept);
    m.body = body;
  }
  std::uint32_t cseq = 1;
  return send_authenticated(m, cseq, timeout);
}

result<dialog> sip_agent::invite(const std::string& target, const std::vector<sip::header>& extra, duration timeout) {
  auto local_tag = sip::random_tag();
  auto call_id = sip::random_call_id();
  auto m = new_request("INVITE", target, "<" + target + ">", local_tag, call_id, 1);
  m.add("Contact", contact());
  m.add("Supported", "ms-sender");
  for (auto& h : extra)
    m.add(h.name, h.value);
  m.add("Content-Type", "application/sdp");
  m.body = make_sdp(local_ip_);
  std::uint32_t cseq = 1;
  auto r = send_authenticated(m, cseq, timeout); // m is now what was sent last (CSeq, branch)
  if (!r)
    return r.err();
  auto& resp = r.value();
  auto to = resp.get_or("To");

  if (resp.status >= 300) {
    ack_failure(m, resp);
    return error{errc::rejected, resp.status, std::to_string(resp.status) + " " + resp.reason};
  }

  dialog d;
  d.call_id = call_id;
  d.local_tag = local_tag;
  d.remote_tag = sip::header_param(to, "tag").value_or("");
  d.peer_uri = target;
  d.local_cseq = cseq;
  d.remote_target = target;
  if (auto c = resp.get("Contact"))
    if (auto na = sip::parse_name_addr(*c))
      d.remote_target = na->uri;
  // RFC 3261 §13.2.2.4: the ACK for a 2xx is a new transaction to the remote target, CSeq number of the INVITE.
  if (d.remote_tag.empty())
    return error{errc::protocol_error, resp.status, "2xx to INVITE without a To tag"};
  auto ack = new_request("ACK", d.remote_target, "<" + target + ">;tag=" + d.remote_tag, local_tag, call_id, cseq);
  if (auto e = write(sip::serialize(ack)); !e.ok())
    return e;
  d.response = std::move(resp);
  return d;
}

result<sip::message> sip_agent::request(dialog& d, const std::string& method, const std::string& body,
                                        const std::string& content_type, const std::vector<sip::header>& extra,
                                        duration timeout) {
  auto m = new_request(method, d.remote_target, "<" + d.peer_uri + ">;tag=" + d.remote_tag, d.local_tag, d.call_id,
                       ++d.local_cseq);
  if (iequals(method, "UPDATE") || iequals(method, "INVITE"))
    m.add("Contact", contact());
  for (auto& h : extra)
    m.add(h.name, h.value);
  if (!content_type.empty() && !m.has("Content-Type"))
    m.add("Content-Type", content_type);
  m.body = body;
  return send_authenticated(m, d.local_cseq, timeout);
}

result<sip::message> sip_agent::request(const std::string& method, const std::string& target, const std::string& body,
                                        const std::string& content_type, const std::vector<sip::header>& extra,
                                        duration timeout) {
  auto m = new_request(method, target, "<" + target + ">", sip::random_tag(), sip::random_call_id(), 1);
  m.add("Contact", contact());
  for (auto& h : extra)
    m.add(h.name, h.value);
  if (!content_type.empty() && !m.has("Content-Type"))
    m.add("Content-Type", content_type);
  m.body = body;
  std::uint32_t cseq = 1;
  return send_authenticated(m, cseq, timeout);
}

result<sip::message> sip_agent::info(dialog& d, const std::string& body, const std::string& content_type,
                                     duration timeout) {
  return request(d, "INFO", body, content_type, {}, timeout);
}

result<sip::message> sip_agent::update(dialog& d, duration timeout) {
  return request(d, "UPDATE", {}, {}, {}, timeout);
}

result<sip::message> sip_agent::bye(dialog& d, duration timeout) {
  return request(d, "BYE", {}, {}, {}, timeout);
}

// --- incoming ------------------------------------------------------------------------------------------------

namespace {

template <class T>
std::optional<T> pop_until(std::mutex& mtx, std::condition_variable& cv, std::deque<T>& queue, const bool& connected,
                           duration timeout) {
  std::unique_lock<std::mutex> lock{mtx};
  cv.wait_for(lock, timeout, [&] { return !queue.empty() || !connected; });
  if (queue.empty())
    return std::nullopt;
  auto item = std::move(queue.front());
  queue.pop_front();
  return item;
}

} // namespace

std::optional<incoming> sip_agent::wait_info(duration timeout) {
  return pop_until(mtx_, cv_, infos_, connected_, timeout);
}

std::optional<incoming> sip_agent::wait_notify(duration timeout) {
  return pop_until(mtx_, cv_, notifies_, connected_, timeout);
}

std::optional<sip::message> sip_agent::wait_stray_response(duration timeout) {
  return pop_until(mtx_, cv_, strays_, connected_, timeout);
}

void sip_agent::set_info_status(int status, const std::string& call_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (status == 200)
    info_status_.erase(call_id);
  else
    info_status_[call_id] = status;
}

void sip_agent::pause_reading(bool paused) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    reading_paused_ = paused;
  }
  cv_.notify_all();
}

bool sip_agent::dialog_ended(const std::string& call_id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ended_.count(call_id) != 0;
}

bool sip_agent::wait_dialog_ended(const std::string& call_id, duration timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait_for(lock, timeout, [&] { return ended_.count(call_id) != 0 || !connected_; });
  return ended_.count(call_id) != 0;
}

void sip_agent::set_incoming_handler(std::function<void(incoming&&)> handler) {
  incoming_handler_ = std::move(handler);
}

void sip_agent::set_disconnect_handler(std::function<void(const error&)> handler) {
  std::lock_guard<std::mutex> guard{mtx_};
  disconnect_handler_ = std::move(handler);
}

} // namespace pchat::client
