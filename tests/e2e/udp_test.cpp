// SIP over UDP: pchatd listens on UDP as well as TCP; a client on UDP gets its answers and the server's
// result INFOs as datagrams to its source address. Raw datagrams built and parsed with the SIP text codec.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <catch2/catch.hpp>

#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "support/pchatd_process.hpp"

using pchat::test::pchatd_process;
namespace sip = pchat::sip;

namespace {

class udp_peer {
public:
  explicit udp_peer(std::uint16_t server_port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
    socklen_t len = sizeof local;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) == 0);
    port_ = ntohs(local.sin_port);
    server_.sin_family = AF_INET;
    server_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server_.sin_port = htons(server_port);
  }
  ~udp_peer() { ::close(fd_); }

  std::uint16_t port() const { return port_; }

  void send(const sip::message& m) {
    auto text = sip::serialize(m);
    REQUIRE(::sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&server_), sizeof server_)
            == static_cast<ssize_t>(text.size()));
  }

  // The next datagram, parsed; fails the test after 10 s.
  sip::message receive() {
    pollfd p{fd_, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    char buf[65536];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    sip::parse_options o;
    o.datagram = true;
    auto r = sip::parse(std::string_view(buf, static_cast<size_t>(n)), o);
    INFO(std::string(buf, static_cast<size_t>(n)));
    REQUIRE(r.status == sip::parse_status::ok);
    return std::move(r.msg);
  }

  // Receives until a response (skipping 1xx) arrives; requests met on the way are answered 200 and returned
  // through `requests`.
  sip::message final_response(std::vector<sip::message>* requests = nullptr) {
    for (;;) {
      auto m = receive();
      if (m.status == 0) {
        send(sip::make_response(m, 200));
        if (requests)
          requests->push_back(std::move(m));
        continue;
      }
      if (m.status >= 200)
        return m;
    }
  }

  sip::message request(const std::string& method, const std::string& uri, const std::string& call_id,
                       std::uint32_t cseq, const std::string& to) {
    auto m = sip::message::request(method, uri);
    m.add("Via", "SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=" + sip::random_branch() + ";rport");
    m.add("Max-Forwards", "70");
    m.add("From", "<sip:alice@example.com>;tag=" + tag_);
    m.add("To", to);
    m.add("Call-ID", call_id);
    m.add("CSeq", std::to_string(cseq) + " " + method);
    m.add("Contact", "<sip:alice@127.0.0.1:" + std::to_string(port_) + ">");
    return m;
  }

private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  sockaddr_in server_{};
  std::string tag_ = sip::random_tag();
};

} // namespace

TEST_CASE("a client on UDP registers, opens a chat dialog and gets its results as datagrams") {
  pchatd_process server;
  server.add_room("Lobby");
  server.start();
  udp_peer peer{server.port()};

  auto reg = peer.request("REGISTER", "sip:example.com", sip::random_call_id(), 1, "<sip:alice@example.com>");
  reg.add("Expires", "600");
  peer.send(reg);
  auto r = peer.final_response();
  CHECK(r.status == 200);
  CHECK(r.get_or("Expires") == "600");

  auto call_id = sip::random_call_id();
  auto inv = peer.request("INVITE", "sip:pchat@example.com", call_id, 1, "<sip:pchat@example.com>");
  inv.add("Content-Type", "application/sdp");
  inv.body = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\n";
  peer.send(inv);
  auto ok = peer.final_response();
  REQUIRE(ok.status == 200);
  auto to = ok.get_or("To");
  REQUIRE(sip::header_param(to, "tag"));
  auto contact = sip::parse_name_addr(ok.get_or("Contact"));
  REQUIRE(contact);
  auto ack = peer.request("ACK", contact->uri, call_id, 1, to);
  peer.send(ack);

  auto info = peer.request("INFO", contact->uri, call_id, 2, to);
  info.add("Content-Type", "text/plain");
  info.body = "<xccos ver=\"1\" envid=\"7\" xmlns=\"urn:parlano:xml:ns:xccos\"><cmd id=\"cmd:chansrch\" seqid=\"1\">"
              "<data><qib qtype=\"BYNAME\" criteria=\"\" extended=\"false\"/></data></cmd></xccos>";
  peer.send(info);
  // The 200 to our INFO and the server's INFO with rpl:chansrch may come in either order.
  std::vector<sip::message> requests;
  auto info_ok = peer.final_response(&requests);
  CHECK(info_ok.status == 200);
  while (requests.empty())
    requests.push_back([&] {
      auto m = peer.receive();
      if (m.status == 0)
        peer.send(sip::make_response(m, 200));
      return m;
    }());
  REQUIRE(requests.front().method == "INFO");
  CHECK(requests.front().get_or("Call-ID") == call_id);
  auto parsed = pchat::xccos::parse(requests.front().body);
  REQUIRE(std::holds_alternative<pchat::xccos::envelope>(parsed));
  const auto& item = std::get<pchat::xccos::envelope>(parsed).items.at(0);
  CHECK(item.id == "rpl:chansrch");
  CHECK(item.cmd_envid == "7");
  REQUIRE(item.data());
  REQUIRE(item.data()->child("chanib"));
  CHECK(item.data()->child("chanib")->attr_or("name") == "Lobby");

  peer.send(peer.request("BYE", contact->uri, call_id, 3, to));
  CHECK(peer.final_response().status == 200);
}
