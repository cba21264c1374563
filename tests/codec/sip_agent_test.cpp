// client/sip_agent against a scripted in-process server on a loopback TCP socket. The server side runs on
// the test thread; agent calls that block run in std::async. Timeouts below are failure bounds only: every step
// waits for an event (a message, a response, a future), never for time to pass.
#include "client/sip_agent.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>

using namespace pchat;
using namespace std::chrono_literals;
using client::errc;
using client::sip_agent;

namespace {

constexpr auto bound = 5s; // failure bound for every wait

// One listening socket, one accepted connection, SIP framing with sip::parse.
class scripted_server {
public:
  scripted_server() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::listen(listen_fd_, 4);
    socklen_t len = sizeof sa;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~scripted_server() {
    close_client();
    ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }

  bool accept() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(bound).count())) != 1)
      return false;
    fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    return fd_ >= 0;
  }

  // The next complete message from the client, or nullopt on timeout/EOF/parse error.
  std::optional<sip::message> read() {
    auto until = std::chrono::steady_clock::now() + bound;
    for (;;) {
      auto r = sip::parse(buf_);
      if (r.status == sip::parse_status::ok) {
        buf_.erase(0, r.consumed);
        return std::move(r.msg);
      }
      if (r.status == sip::parse_status::error || !fill(until))
        return std::nullopt;
    }
  }

  // Raw bytes up to and including the first blank line (for malformed requests sip::parse refuses).
  std::string read_raw_head() {
    auto until = std::chrono::steady_clock::now() + bound;
    for (;;) {
      auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto out = buf_.substr(0, end + 4);
        buf_.erase(0, end + 4);
        return out;
      }
      if (!fill(until))
        return {};
    }
  }

  void send(const sip::message& m) { send_text(sip::serialize(m)); }
  void send_text(const std::string& text) {
    auto n = ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
    REQUIRE(n == static_cast<ssize_t>(text.size()));
  }
  void close_client() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }
  // True when the client closed its side (EOF) within the bound.
  bool wait_eof() {
    auto until = std::chrono::steady_clock::now() + bound;
    while (fill(until)) {
    }
    return eof_;
  }

private:
  bool fill(std::chrono::steady_clock::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1)
      return false;
    char chunk[4096];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int listen_fd_ = -1;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string buf_;
  bool eof_ = false;
};

client::agent_config alice() {
  client::agent_config c;
  c.aor = "sip:alice@example.com";
  c.request_timeout = bound;
  return c;
}

template <class T>
T get(std::future<T>& f) {
  REQUIRE(f.wait_for(bound) == std::future_status::ready);
  return f.get();
}

// Connects the agent to the server and accepts.
void connect(sip_agent& a, scripted_server& srv) {
  auto e = a.connect("127.0.0.1", srv.port());
  INFO(e.message);
  REQUIRE(e.ok());
  REQUIRE(srv.accept());
  REQUIRE(a.connected());
}

// Runs invite() against the server: 200 with To tag and Contact, then the ACK. Returns the dialog.
client::dialog establish(sip_agent& a, scripted_server& srv, sip::message* ack_out = nullptr) {
  auto fut = std::async(std::launch::async, [&] { return a.invite("sip:pchat@example.com"); });
  auto inv = srv.read();
  REQUIRE(inv);
  auto ok = sip::make_response(*inv, 200, {}, "srvtag");
  ok.add("Contact", "<sip:pchat@127.0.0.1:5061;transport=tcp>");
  ok.add("Session-Expires", "1800");
  srv.send(ok);
  auto ack = srv.read();
  REQUIRE(ack);
  if (ack_out)
    *ack_out = *ack;
  auto r = get(fut);
  INFO(r.err().message);
  REQUIRE(r);
  return r.value();
}

// A server-originated in-dialog request, as docs/pidgin-sipe.md §2 describes the server's INFO.
sip::message server_request(const std::string& method, const client::dialog& d, std::uint32_t cseq,
                            const std::string& body = {}) {
  auto m = sip::message::request(method, "sip:alice@example.com:1;maddr=127.0.0.1;transport=tcp");
  m.add("Via", "SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKsrv" + std::to_string(cseq));
  m.add("Via", "SIP/2.0/TCP 10.0.0.9:5061;branch=z9hG4bKproxy;received=10.0.0.9");
  m.add("From", "<sip:pchat@example.com>;tag=" + d.remote_tag);
  m.add("To", "<sip:alice@example.com>;tag=" + d.local_tag);
  m.add("Call-ID", d.call_id);
  m.add("CSeq", std::to_string(cseq) + " " + method);
  if (!body.empty()) {
    m.add("Content-Type", "text/plain");
    m.body = body;
  }
  return m;
}

void check_copied(const sip::message& resp, const sip::message& req) {
  CHECK(resp.get_all("Via") == req.get_all("Via"));
  CHECK(resp.get_or("From") == req.get_or("From"));
  CHECK(resp.get_or("To") == req.get_or("To"));
  CHECK(resp.get_or("Call-ID") == req.get_or("Call-ID"));
  CHECK(resp.get_or("CSeq") == req.get_or("CSeq"));
}

} // namespace

TEST_CASE("agent: connect failure is a value", "[sip_agent]") {
  std::uint16_t port = 0;
  {
    scripted_server srv; // bound then closed: nothing listens on this port afterwards
    port = srv.port();
  }
  sip_agent a(alice());
  auto e = a.connect("127.0.0.1", port);
  CHECK(e.code == errc::connect_failed);
  CHECK_FALSE(a.connected());
  auto r = a.register_user("sip:example.com", 3600);
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::not_connected);
}

TEST_CASE("agent: REGISTER gets its final 200, skipping 1xx", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  CHECK(a.contact() == "<sip:alice@example.com:" + std::to_string(a.local_port()) + ";maddr=127.0.0.1;transport=tcp>");

  auto fut = std::async(std::launch::async, [&] { return a.register_user("sip:example.com", 3600); });
  auto req = srv.read();
  REQUIRE(req);
  CHECK(req->method == "REGISTER");
  CHECK(req->uri == "sip:example.com");
  auto via = req->get_or("Via");
  CHECK(via.rfind("SIP/2.0/TCP 127.0.0.1:" + std::to_string(a.local_port()) + ";", 0) == 0);
  CHECK(sip::header_param(via, "branch").value_or("").rfind("z9hG4bK", 0) == 0);
  CHECK(sip::header_param(via, "rport"));
  CHECK(req->get_or("Max-Forwards") == "70");
  CHECK(req->has("User-Agent"));
  CHECK(sip::header_param(req->get_or("From"), "tag"));
  CHECK(sip::uri_user_host(req->get_or("From")) == "alice@example.com");
  CHECK(sip::uri_user_host(req->get_or("To")) == "alice@example.com");
  CHECK(req->get_or("Contact") == a.contact());
  CHECK(req->get_or("Expires") == "3600");
  auto cseq = sip::parse_cseq(req->get_or("CSeq"));
  REQUIRE(cseq);
  CHECK(cseq->method == "REGISTER");

  srv.send(sip::make_response(*req, 100));
  srv.send_text("\r\n\r\n"); // keep-alive in between must be ignored
  auto ok = sip::make_response(*req, 200, {}, "regtag");
  ok.add("Expires", "3600");
  ok.add("Supported", "msrtc-event-categories");
  ok.add("Allow-Events", "vnd-microsoft-provisioning-v2");
  srv.send(ok);
  auto r = get(fut);
  INFO(r.err().message);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_or("Expires") == "3600");
  CHECK(r->get_or("Supported") == "msrtc-event-categories");

  // Re-REGISTER: same Call-ID, higher CSeq (docs/xccos.md §2.1).
  auto fut2 = std::async(std::launch::async, [&] { return a.register_user("sip:example.com", 0); });
  auto req2 = srv.read();
  REQUIRE(req2);
  CHECK(req2->get_or("Call-ID") == req->get_or("Call-ID"));
  CHECK(sip::parse_cseq(req2->get_or("CSeq"))->number == cseq->number + 1);
  srv.send(sip::make_response(*req2, 200, {}, "regtag"));
  CHECK(get(fut2)->status == 200);
}

TEST_CASE("agent: SUBSCRIBE returns the piggy-backed 200, a later NOTIFY is answered and queued", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  const std::string ct = "application/vnd-microsoft-roaming-provisioning-v2+xml";
  auto fut = std::async(std::launch::async, [&] {
    return a.subscribe("sip:alice@example.com", "vnd-microsoft-provisioning-v2", ct, "<provisioningGroupList/>",
                       {{"Supported", "ms-piggyback-first-notify"}, {"Expires", "0"}});
  });
  auto req = srv.read();
  REQUIRE(req);
  CHECK(req->method == "SUBSCRIBE");
  CHECK(req->get_or("Event") == "vnd-microsoft-provisioning-v2");
  CHECK(req->get_or("Accept") == ct);
  CHECK(req->get_or("Content-Type") == ct);
  CHECK(req->get_or("Expires") == "0");
  CHECK(req->body == "<provisioningGroupList/>");
  auto ok = sip::make_response(*req, 200, {}, "subtag");
  ok.add("Event", "vnd-microsoft-provisioning-v2");
  ok.add("ms-piggyback-cseq", "1");
  ok.add("Content-Type", "application/vnd-microsoft-roaming-provisioning-v2+xml");
  ok.body = "<provisionGroupList/>";
  srv.send(ok);
  auto r = get(fut);
  REQUIRE(r);
  CHECK(r->body == "<provisionGroupList/>");
  CHECK(r->has("ms-piggyback-cseq"));

  auto notify = sip::message::request("NOTIFY", a.contact());
  notify.add("Via", "SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKn1");
  notify.add("From", "<sip:alice@example.com>;tag=subtag");
  notify.add("To", req->get_or("From"));
  notify.add("Call-ID", req->get_or("Call-ID"));
  notify.add("CSeq", "1 NOTIFY");
  notify.add("Event", "vnd-microsoft-provisioning-v2");
  notify.add("Subscription-State", "terminated");
  notify.add("Content-Type", ct);
  notify.body = "<doc/>";
  srv.send(notify);
  auto resp = srv.read();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  check_copied(*resp, notify);
  auto n = a.wait_notify(bound);
  REQUIRE(n);
  CHECK(n->method == "NOTIFY");
  CHECK(n->body == "<doc/>");
  CHECK(n->content_type == ct);
  CHECK(n->call_id == req->get_or("Call-ID"));
  CHECK_FALSE(a.wait_info(0ms)); // NOTIFYs do not go to the INFO queue
}

TEST_CASE("agent: INVITE, ACK and the dialog", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);

  auto fut = std::async(std::launch::async, [&] { return a.invite("sip:pchat@example.com"); });
  auto inv = srv.read();
  REQUIRE(inv);
  CHECK(inv->method == "INVITE");
  CHECK(inv->uri == "sip:pchat@example.com");
  CHECK(inv->get_or("Content-Type") == "application/sdp");
  CHECK(inv->get_or("Supported") == "ms-sender");
  CHECK(inv->get_or("Contact") == a.contact());
  CHECK(inv->body.find("m=message 5060 sip null\r\n") != std::string::npos);
  CHECK(inv->body.rfind("v=0\r\n", 0) == 0);
  srv.send(sip::make_response(*inv, 100));
  auto ok = sip::make_response(*inv, 200, {}, "srvtag");
  ok.add("Contact", "<sip:pchat@127.0.0.1:5061;transport=tcp>");
  ok.add("Session-Expires", "1800");
  srv.send(ok);

  auto ack = srv.read();
  REQUIRE(ack);
  CHECK(ack->method == "ACK");
  CHECK(ack->uri == "sip:pchat@127.0.0.1:5061;transport=tcp");
  CHECK(ack->get_or("Call-ID") == inv->get_or("Call-ID"));
  CHECK(ack->get_or("CSeq") == "1 ACK");
  CHECK(sip::header_param(ack->get_or("To"), "tag") == std::string("srvtag"));
  CHECK(sip::header_param(ack->get_or("From"), "tag") == sip::header_param(inv->get_or("From"), "tag"));

  auto r = get(fut);
  REQUIRE(r);
  auto d = r.value();
  CHECK(d.call_id == inv->get_or("Call-ID"));
  CHECK(d.remote_tag == "srvtag");
  CHECK(d.local_tag == sip::header_param(inv->get_or("From"), "tag"));
  CHECK(d.remote_target == "sip:pchat@127.0.0.1:5061;transport=tcp");
  CHECK(d.peer_uri == "sip:pchat@example.com");
  CHECK(d.response.get_or("Session-Expires") == "1800");

  // In-dialog INFO: remote target as Request-URI, next CSeq, tags; a 503 comes back as a value.
  auto info = std::async(std::launch::async, [&] { return a.info(d, "<xccos/>"); });
  auto req = srv.read();
  REQUIRE(req);
  CHECK(req->method == "INFO");
  CHECK(req->uri == d.remote_target);
  CHECK(req->get_or("CSeq") == "2 INFO");
  CHECK(req->get_or("Content-Type") == "text/plain");
  CHECK(req->body == "<xccos/>");
  CHECK(sip::header_param(req->get_or("To"), "tag") == std::string("srvtag"));
  CHECK(sip::uri_user_host(req->get_or("To")) == "pchat@example.com");
  auto busy = sip::make_response(*req, 503);
  busy.add("Ms-diagnostics", "20000;reason=\"Chat service busy\";component=\"GroupChat\"");
  srv.send(busy);
  auto ir = get(info);
  REQUIRE(ir);
  CHECK(ir->status == 503);
  CHECK(ir->has("ms-diagnostics"));

  // UPDATE and BYE: further CSeqs; BYE answered 481 is returned too.
  auto upd = std::async(std::launch::async, [&] { return a.update(d); });
  auto ureq = srv.read();
  REQUIRE(ureq);
  CHECK(ureq->get_or("CSeq") == "3 UPDATE");
  CHECK(ureq->has("Contact"));
  srv.send(sip::make_response(*ureq, 200));
  CHECK(get(upd)->status == 200);
  auto bye = std::async(std::launch::async, [&] { return a.bye(d); });
  auto breq = srv.read();
  REQUIRE(breq);
  CHECK(breq->get_or("CSeq") == "4 BYE");
  srv.send(sip::make_response(*breq, 481));
  CHECK(get(bye)->status == 481);
  CHECK(d.local_cseq == 4);
}

TEST_CASE("agent: a rejected INVITE is an error with the status, and is ACKed", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  auto fut = std::async(std::launch::async, [&] { return a.invite("sip:ocschat@example.com"); });
  auto inv = srv.read();
  REQUIRE(inv);
  srv.send(sip::make_response(*inv, 404, {}, "t404"));
  auto ack = srv.read();
  REQUIRE(ack);
  CHECK(ack->method == "ACK");
  CHECK(ack->uri == inv->uri);
  CHECK(ack->get_or("Via") == inv->get_or("Via")); // same branch for a non-2xx ACK
  CHECK(ack->get_or("CSeq") == "1 ACK");
  CHECK(sip::header_param(ack->get_or("To"), "tag") == std::string("t404"));
  auto r = get(fut);
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::rejected);
  CHECK(r.err().status == 404);
}

TEST_CASE("agent: server requests are answered with copied headers, INFO bodies reach wait_info", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  auto d = establish(a, srv);

  auto info = server_request("INFO", d, 1, "<xccos><rpl id=\"rpl:requri\"/></xccos>");
  srv.send_text("\r\n\r\n" + sip::serialize(info));
  auto resp = srv.read();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  check_copied(*resp, info);
  auto got = a.wait_info(bound);
  REQUIRE(got);
  CHECK(got->method == "INFO");
  CHECK(got->call_id == d.call_id);
  CHECK(got->body == "<xccos><rpl id=\"rpl:requri\"/></xccos>");
  CHECK(got->content_type == "text/plain");
  CHECK(got->received <= std::chrono::steady_clock::now());
  CHECK_FALSE(a.wait_info(0ms));

  // Several INFOs in one segment are delivered in order.
  srv.send_text(sip::serialize(server_request("INFO", d, 2, "two")) +
                sip::serialize(server_request("INFO", d, 3, "three")));
  REQUIRE(srv.read());
  REQUIRE(srv.read());
  auto two = a.wait_info(bound);
  auto three = a.wait_info(bound);
  REQUIRE(two);
  REQUIRE(three);
  CHECK(two->body == "two");
  CHECK(three->body == "three");

  // A client that dropped the dialog answers 487 and delivers nothing (sipe, docs/xccos.md §2.2).
  a.set_info_status(487, d.call_id);
  srv.send(server_request("INFO", d, 4, "dropped"));
  auto r487 = srv.read();
  REQUIRE(r487);
  CHECK(r487->status == 487);
  a.set_info_status(200, d.call_id);
  srv.send(server_request("INFO", d, 5, "back"));
  CHECK(srv.read()->status == 200);
  auto back = a.wait_info(bound);
  REQUIRE(back);
  CHECK(back->body == "back"); // "dropped" was never queued

  // OPTIONS -> 200, unknown methods -> 501, ACK -> nothing (the next answer is the OPTIONS one).
  srv.send(server_request("ACK", d, 1));
  auto options = server_request("OPTIONS", d, 6);
  srv.send(options);
  auto ro = srv.read();
  REQUIRE(ro);
  CHECK(ro->status == 200);
  CHECK(ro->get_or("CSeq") == "6 OPTIONS");
  srv.send(server_request("MESSAGE", d, 7, "hi"));
  auto rm = srv.read();
  REQUIRE(rm);
  CHECK(rm->status == 501);
  CHECK(rm->get_or("CSeq") == "7 MESSAGE");
}

TEST_CASE("agent: BYE from the server ends the dialog", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  auto d = establish(a, srv);
  CHECK_FALSE(a.dialog_ended(d.call_id));
  auto bye = server_request("BYE", d, 2);
  srv.send(bye);
  auto resp = srv.read();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  check_copied(*resp, bye);
  CHECK(a.dialog_ended(d.call_id)); // marked before the 200 was written
  CHECK(a.wait_dialog_ended(d.call_id, bound));
  CHECK_FALSE(a.dialog_ended("other"));
  CHECK(a.connected());
}

TEST_CASE("agent: the server closing the socket fails a pending request promptly", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  auto d = establish(a, srv);
  auto started = std::chrono::steady_clock::now();
  auto info = std::async(std::launch::async, [&] { return a.info(d, "x", "text/plain", 60s); });
  REQUIRE(srv.read()); // the INFO arrived; now drop the connection instead of answering
  srv.close_client();
  auto r = get(info);
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::connection_lost);
  CHECK(std::chrono::steady_clock::now() - started < bound);
  CHECK_FALSE(a.connected());
  CHECK_FALSE(a.disconnect_reason().empty());
  CHECK_FALSE(a.wait_info(60s)); // returns at once: nothing queued and no connection
  CHECK_FALSE(a.wait_dialog_ended(d.call_id, 60s));
  auto again = a.info(d, "y");
  REQUIRE_FALSE(again);
  CHECK(again.err().code == errc::not_connected);
  CHECK(std::chrono::steady_clock::now() - started < bound);
}

TEST_CASE("agent: garbage from the server is a protocol error and closes the connection", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  auto fut = std::async(std::launch::async, [&] { return a.request("OPTIONS", "sip:example.com"); });
  REQUIRE(srv.read());
  srv.send_text("this is not SIP\r\n\r\n");
  auto r = get(fut);
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::protocol_error);
  CHECK_FALSE(a.connected());
  CHECK(srv.wait_eof());
}

TEST_CASE("agent: timeouts, stray responses and raw requests", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);

  // No answer: the call returns timeout; the late answer becomes a stray response.
  auto r = a.request("OPTIONS", "sip:example.com", {}, {}, {}, 20ms);
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::timeout);
  auto req = srv.read();
  REQUIRE(req);
  srv.send(sip::make_response(*req, 200));
  auto stray = a.wait_stray_response(bound);
  REQUIRE(stray);
  CHECK(stray->get_or("Call-ID") == req->get_or("Call-ID"));

  // A malformed request with Call-ID and CSeq still gets its response matched.
  std::string raw = "INFO sip:pchat@example.com SIP/2.0\r\n"
                    "Via: SIP/2.0/TCP 127.0.0.1:1\r\n"
                    "this line has no colon\r\n"
                    "Call-ID: raw-1\r\n"
                    "CSeq: 9 INFO\r\n"
                    "Content-Length: 0\r\n\r\n";
  auto fut = std::async(std::launch::async, [&] { return a.send_raw_request(raw); });
  auto head = srv.read_raw_head();
  CHECK(head == raw);
  srv.send_text("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/TCP 127.0.0.1:1\r\nCall-ID: raw-1\r\nCSeq: 9 INFO\r\n"
                "Content-Length: 0\r\n\r\n");
  auto rr = get(fut);
  REQUIRE(rr);
  CHECK(rr->status == 400);

  // Raw text without Call-ID is sent, reported as unmatchable; its answer is a stray.
  auto unmatched = a.send_raw_request("BROKEN\r\n\r\n");
  REQUIRE_FALSE(unmatched);
  CHECK(unmatched.err().code == errc::bad_input);
  CHECK(srv.read_raw_head() == "BROKEN\r\n\r\n");
  CHECK(a.send_raw_bytes("\r\n\r\n").ok());
  srv.send_text("SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  auto s2 = a.wait_stray_response(bound);
  REQUIRE(s2);
  CHECK(s2->status == 400);
}

TEST_CASE("agent: the incoming handler runs on the reader thread instead of the queues", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<client::incoming> got;
  std::thread::id handler_thread;
  std::optional<client::error> lost;
  a.set_incoming_handler([&](client::incoming&& in) {
    std::lock_guard<std::mutex> guard{mtx};
    handler_thread = std::this_thread::get_id();
    got.push_back(std::move(in));
    cv.notify_all();
  });
  a.set_disconnect_handler([&](const client::error& e) {
    std::lock_guard<std::mutex> guard{mtx};
    lost = e;
    cv.notify_all();
  });
  connect(a, srv);
  auto d = establish(a, srv);
  srv.send(server_request("INFO", d, 1, "via handler"));
  CHECK(srv.read()->status == 200);
  {
    std::unique_lock<std::mutex> lock{mtx};
    REQUIRE(cv.wait_for(lock, bound, [&] { return !got.empty(); }));
    CHECK(got[0].body == "via handler");
    CHECK(handler_thread != std::this_thread::get_id());
  }
  CHECK_FALSE(a.wait_info(0ms));
  srv.close_client();
  std::unique_lock<std::mutex> lock{mtx};
  REQUIRE(cv.wait_for(lock, bound, [&] { return lost.has_value(); }));
  CHECK(lost->code == errc::connection_lost);
}

TEST_CASE("agent: close() wakes waiters and can reconnect", "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice());
  connect(a, srv);
  auto waiter = std::async(std::launch::async, [&] { return a.wait_info(60s); });
  auto fut = std::async(std::launch::async, [&] { return a.request("OPTIONS", "sip:example.com", {}, {}, {}, 60s); });
  REQUIRE(srv.read()); // the request is on the wire, so its transaction is waiting
  a.close();
  CHECK_FALSE(get(waiter));
  auto r = get(fut);
  REQUIRE_FALSE(r);
  CHECK((r.err().code == errc::connection_lost || r.err().code == errc::not_connected));
  CHECK_FALSE(a.connected());
  CHECK(srv.wait_eof());
  a.close(); // idempotent

  scripted_server srv2;
  connect(a, srv2);
  auto fut2 = std::async(std::launch::async, [&] { return a.register_user("sip:example.com", 60); });
  auto req = srv2.read();
  REQUIRE(req);
  srv2.send(sip::make_response(*req, 200));
  CHECK(get(fut2)->status == 200);
}

// --- SIP Digest (the agent answers 401/407 when it has a password) ----------------------------------------------

namespace {

client::agent_config alice_with_password() {
  auto c = alice();
  c.password = "wonderland";
  return c;
}

sip::message challenged(const sip::message& req, int status, std::vector<sip::digest::challenge> offers) {
  auto r = sip::make_response(req, status, {}, "authtag");
  for (const auto& c : offers)
    r.add(status == 401 ? "WWW-Authenticate" : "Proxy-Authenticate", sip::digest::format(c));
  return r;
}

sip::digest::challenge offer(sip::digest::algorithm alg, const std::string& nonce, bool stale = false) {
  sip::digest::challenge c;
  c.alg = alg;
  c.realm = "example.com";
  c.nonce = nonce;
  c.opaque = "op";
  c.stale = stale;
  return c;
}

// The credentials in `req`'s `header`, checked against what alice's password gives for that request.
sip::digest::credentials check_credentials(const sip::message& req, const std::string& header = "Authorization") {
  INFO(sip::serialize(req));
  auto cred = sip::digest::parse_credentials(req.get_or(header));
  REQUIRE(cred);
  CHECK(cred->username == "alice@example.com");
  CHECK(cred->realm == "example.com");
  CHECK(cred->uri == req.uri);
  CHECK(cred->qop == "auth");
  CHECK(cred->opaque == "op");
  CHECK_FALSE(cred->cnonce.empty());
  auto ha1 = sip::digest::ha1(cred->alg, "alice@example.com", "example.com", "wonderland");
  CHECK(cred->response == sip::digest::response(cred->alg, ha1, cred->nonce, sip::digest::nc_text(cred->nc),
                                                cred->cnonce, req.method, req.uri));
  return *cred;
}

std::uint32_t cseq_of(const sip::message& m) { return sip::parse_cseq(m.get_or("CSeq")).value_or(sip::cseq{}).number; }

} // namespace

TEST_CASE("agent: a 401 is answered once, SHA-256 preferred, and later requests reuse the nonce with nc+1",
          "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice_with_password());
  connect(a, srv);
  auto fut = std::async(std::launch::async, [&] { return a.register_user("sip:example.com", 3600); });
  auto first = srv.read();
  REQUIRE(first);
  CHECK_FALSE(first->has("Authorization")); // nothing to answer yet
  srv.send(challenged(*first, 401, {offer(sip::digest::algorithm::md5, "n1"),
                                    offer(sip::digest::algorithm::sha256, "n1")}));
  auto second = srv.read();
  REQUIRE(second);
  CHECK(second->get_or("Call-ID") == first->get_or("Call-ID"));
  CHECK(cseq_of(*second) == cseq_of(*first) + 1);
  CHECK(sip::header_param(second->get_or("Via"), "branch") != sip::header_param(first->get_or("Via"), "branch"));
  auto cred = check_credentials(*second);
  CHECK(cred.alg == sip::digest::algorithm::sha256);
  CHECK(cred.nonce == "n1");
  CHECK(cred.nc == 1);
  srv.send(sip::make_response(*second, 200, {}, "regtag"));
  REQUIRE(get(fut)->status == 200);

  auto sub = std::async(std::launch::async,
                        [&] { return a.subscribe("sip:alice@example.com", "vnd-microsoft-provisioning-v2", ""); });
  auto third = srv.read();
  REQUIRE(third);
  auto again = check_credentials(*third); // sent before any challenge
  CHECK(again.nonce == "n1");
  CHECK(again.nc == 2);
  CHECK(again.cnonce != cred.cnonce);
  srv.send(sip::make_response(*third, 200, {}, "subtag"));
  CHECK(get(sub)->status == 200);
}

TEST_CASE("agent: a 407 to INVITE is ACKed, the INVITE goes again with CSeq 2, and the dialog goes on from there",
          "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice_with_password());
  connect(a, srv);
  auto fut = std::async(std::launch::async, [&] { return a.invite("sip:pchat@example.com"); });
  auto inv1 = srv.read();
  REQUIRE(inv1);
  srv.send(challenged(*inv1, 407, {offer(sip::digest::algorithm::md5, "p1")}));
  auto ack1 = srv.read();
  REQUIRE(ack1);
  CHECK(ack1->method == "ACK");
  CHECK(ack1->get_or("CSeq") == "1 ACK");
  CHECK(ack1->get_or("Via") == inv1->get_or("Via")); // the ACK of a non-2xx belongs to the INVITE's transaction
  CHECK(sip::header_param(ack1->get_or("To"), "tag") == std::string{"authtag"});
  auto inv2 = srv.read();
  REQUIRE(inv2);
  CHECK(inv2->method == "INVITE");
  CHECK(inv2->get_or("CSeq") == "2 INVITE");
  CHECK_FALSE(inv2->has("Authorization"));
  auto cred = check_credentials(*inv2, "Proxy-Authorization");
  CHECK(cred.alg == sip::digest::algorithm::md5);
  auto ok = sip::make_response(*inv2, 200, {}, "srvtag");
  ok.add("Contact", "<sip:pchat@127.0.0.1:5061;transport=tcp>");
  srv.send(ok);
  auto ack2 = srv.read();
  REQUIRE(ack2);
  CHECK(ack2->get_or("CSeq") == "2 ACK");
  auto d = get(fut);
  REQUIRE(d);
  CHECK(d->local_cseq == 2);

  auto info = std::async(std::launch::async, [&] { return a.info(d.value(), "<xccos/>"); });
  auto in_dialog = srv.read();
  REQUIRE(in_dialog);
  CHECK(in_dialog->get_or("CSeq") == "3 INFO");
  CHECK_FALSE(in_dialog->has("Proxy-Authorization")); // requests in the dialog ride it
  srv.send(sip::make_response(*in_dialog, 200));
  CHECK(get(info)->status == 200);
}

TEST_CASE("agent: stale=true is followed with the new nonce, a second plain 401 or no password ends it",
          "[sip_agent]") {
  scripted_server srv;
  sip_agent a(alice_with_password());
  connect(a, srv);
  auto fut = std::async(std::launch::async, [&] { return a.register_user("sip:example.com", 3600); });
  auto r1 = srv.read();
  REQUIRE(r1);
  srv.send(challenged(*r1, 401, {offer(sip::digest::algorithm::md5, "old")}));
  auto r2 = srv.read();
  REQUIRE(r2);
  CHECK(check_credentials(*r2).nonce == "old");
  srv.send(challenged(*r2, 401, {offer(sip::digest::algorithm::md5, "new", true)}));
  auto r3 = srv.read();
  REQUIRE(r3);
  auto cred = check_credentials(*r3);
  CHECK(cred.nonce == "new");
  CHECK(cred.nc == 1);
  srv.send(sip::make_response(*r3, 200, {}, "regtag"));
  CHECK(get(fut)->status == 200);

  // Fresh credentials refused with a plain 401 (a wrong password, to a server that re-challenges): returned.
  auto fut2 = std::async(std::launch::async, [&] { return a.register_user("sip:example.com", 3600); });
  auto r4 = srv.read();
  REQUIRE(r4);
  srv.send(challenged(*r4, 401, {offer(sip::digest::algorithm::md5, "n4")}));
  auto r5 = srv.read();
  REQUIRE(r5);
  srv.send(challenged(*r5, 401, {offer(sip::digest::algorithm::md5, "n5")}));
  CHECK(get(fut2)->status == 401);

  // Without a password nothing is answered.
  scripted_server srv2;
  sip_agent anonymous(alice());
  connect(anonymous, srv2);
  auto fut3 = std::async(std::launch::async, [&] { return anonymous.register_user("sip:example.com", 3600); });
  auto r6 = srv2.read();
  REQUIRE(r6);
  srv2.send(challenged(*r6, 401, {offer(sip::digest::algorithm::md5, "n6")}));
  CHECK(get(fut3)->status == 401);
  // The next request the server sees is the next REGISTER (Expires 0), not the first one sent again.
  auto fut4 = std::async(std::launch::async, [&] { return anonymous.register_user("sip:example.com", 0); });
  auto r7 = srv2.read();
  REQUIRE(r7);
  CHECK(r7->get_or("Expires") == "0");
  CHECK_FALSE(r7->has("Authorization"));
  srv2.send(sip::make_response(*r7, 200, {}, "regtag"));
  CHECK(get(fut4)->status == 200);
}
