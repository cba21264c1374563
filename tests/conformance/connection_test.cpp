// Client connections as the SIP edge sees them (sip/sip_stack.hpp, docs/architecture.md "The SIP edge"): the
// edge learns of a close from the transport layer, closes a connection that sent no valid request, and
// disconnects a client that stops reading or stops answering, without anyone else waiting for it. Each case
// waits for an event (a ntc:part, a closed socket, a counter in pchatctl stats); the timeouts are failure bounds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "conformance_support.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;

namespace {

auto equals(long long want) {
  return [want](long long v) { return v == want; };
}
auto at_least(long long want) {
  return [want](long long v) { return v >= want; };
}

// Blocks until the agent's connection is gone (the server closed it); false at the failure bound.
bool wait_disconnected(client::sip_agent& agent) {
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (agent.connected() && std::chrono::steady_clock::now() < deadline)
    agent.wait_info(std::chrono::milliseconds(100)); // returns at once when the connection is gone
  return !agent.connected();
}

} // namespace

TEST_CASE("a client that stops reading is disconnected at sip.max-connection-pending and the others get every post") {
  pchatd_process server({"--sip.max-connection-pending=20"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  auto carol = sign_in(server, "carol@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));
  REQUIRE(carol->join(lobby));

  // Carol's client stops reading: the server's INFOs to her pile up unanswered.
  carol->agent().pause_reading(true);
  const int posts = 40;
  for (int i = 0; i < posts; ++i) {
    auto posted = alice->post(lobby, "post " + std::to_string(i));
    INFO("post " << i << ": " << (posted ? std::string{} : posted.err().message));
    REQUIRE(posted);
  }
  // Bob sees every post, in order, and carol's part: the server closed her connection at 20 unanswered INFOs.
  int seen = 0;
  bool carol_parted = false;
  while (seen < posts || !carol_parted) {
    auto ev = bob->next_event(wait_limit);
    if (!ev)
      break;
    if (is_chat(ev->item, "post " + std::to_string(seen)))
      ++seen;
    else if (is_part_notice(ev->item, lobby, carol->user()))
      carol_parted = true;
  }
  INFO("pchatd log:\n" << server.log());
  CHECK(seen == posts);
  CHECK(carol_parted);
  CHECK(server.wait_stat("pchat_sip_slow_disconnects_total", equals(1)));
  // Nothing she left behind counts against the server-wide bound.
  CHECK(server.wait_stat("pchat_sip_outbound_pending", equals(0)));

  // When carol reads again she finds what the kernel still held, then the closed connection.
  carol->agent().pause_reading(false);
  CHECK(wait_disconnected(carol->agent()));
  require_server_healthy(server, lobby, "dave@example.com");
}

TEST_CASE("a client that stops answering INFOs loses its dialog and connection after sip.request-timeout") {
  pchatd_process server({"--sip.request-timeout=2"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(alice->join(lobby));
  REQUIRE(bob->join(lobby));

  bob->agent().set_info_status(0); // reads, but answers nothing (a hung client)
  REQUIRE(alice->post(lobby, "are you there?"));
  auto part = wait_event(*alice, [&](const xccos::item& it) { return is_part_notice(it, lobby, bob->user()); });
  INFO("pchatd log:\n" << server.log());
  CHECK(part);
  CHECK(wait_disconnected(bob->agent()));
  CHECK(server.wait_stat("pchat_sip_request_timeouts_total", at_least(1)));
  CHECK(server.wait_stat("pchat_sip_outbound_pending", equals(0)));
  require_server_healthy(server, lobby, "carol@example.com");
}

TEST_CASE("a connection that sends only bytes that are not SIP is closed by the server") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));

  auto junk = connect_agent(server, "sip:mallory@example.com");
  // A TLS ClientHello on the plain port: nothing Sofia's parser can frame, so nothing is answered.
  REQUIRE(junk->send_raw_bytes(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 21)).ok());
  CHECK(wait_disconnected(*junk));
  CHECK(junk->disconnect_reason().find("closed by peer") != std::string::npos);
  auto posted = bob->post(lobby, "nothing happened");
  CHECK(posted);
}

namespace {

// An OPTIONS outside any dialog from `agent`: the cheapest valid request (it makes the connection a tracked one).
client::result<sip::message> options(client::sip_agent& agent) {
  auto m = sip::message::request("OPTIONS", service_uri);
  m.add("Via", "SIP/2.0/TCP " + agent.local_ip() + ":" + std::to_string(agent.local_port()) +
                   ";branch=" + sip::random_branch());
  m.add("Max-Forwards", "70");
  m.add("From", "<sip:probe@example.com>;tag=" + sip::random_tag());
  m.add("To", "<" + service_uri + ">");
  m.add("Call-ID", sip::random_call_id());
  m.add("CSeq", "1 OPTIONS");
  return agent.send_message(m);
}

// Plain TCP connections to the server's SIP port that send nothing (each one pchatd accepts holds a descriptor).
struct silent_connections {
  std::vector<int> fds;
  silent_connections(std::uint16_t port, int n) {
    for (int i = 0; i < n; ++i) {
      // Non-blocking: once pchatd stops accepting, the kernel's backlog fills and a blocking connect would wait.
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      REQUIRE(fd >= 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      REQUIRE((rc == 0 || errno == EINPROGRESS));
      fds.push_back(fd);
    }
  }
  ~silent_connections() { close_all(); }
  void close_all() {
    for (int fd : fds)
      ::close(fd);
    fds.clear();
  }
};

// CPU seconds (user + system) pchatd used so far, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text{std::istreambuf_iterator<char>(in), {}};
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {
    if (i == 14)
      utime = std::stoull(f);
    if (i == 15) {
      stime = std::stoull(f);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

template <class Pred>
bool eventually(Pred ok, std::chrono::milliseconds limit = wait_limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ok())
      return true;
    ::poll(nullptr, 0, 20);
  }
  return ok();
}

} // namespace

TEST_CASE("past sip.max-connections-per-address a new connection gets 503 and is closed and the others stay") {
  pchatd_process server({"--sip.max-connections-per-address=4"});
  server.start();
  std::vector<std::unique_ptr<client::sip_agent>> four;
  for (int i = 0; i < 4; ++i) {
    four.push_back(connect_agent(server, "sip:probe@example.com"));
    CHECK(answered(options(*four.back())).status == 200);
  }
  auto fifth = connect_agent(server, "sip:probe@example.com");
  auto refused = answered(options(*fifth));
  CHECK(refused.status == 503);
  CHECK(wait_disconnected(*fifth));
  for (auto& a : four)
    CHECK(answered(options(*a)).status == 200); // still connected and served
  CHECK(server.log().find("too many connections from address=127.0.0.1") != std::string::npos);
  CHECK(server.wait_stat("pchat_sip_address_refusals_total", at_least(1)));
  // One leaves: there is room for one more.
  four.pop_back();
  CHECK(server.wait_stat("pchat_sip_connections", equals(4 - 1)));
  auto again = connect_agent(server, "sip:probe@example.com");
  CHECK(answered(options(*again)).status == 200);
}

TEST_CASE("a connection without a chat dialog is closed after sip.sign-in-timeout and a signed-in one stays") {
  pchatd_process server({"--sip.sign-in-timeout=1"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto bob = sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));
  auto idle = connect_agent(server, "sip:idle@example.com");
  CHECK(answered(options(*idle)).status == 200);
  CHECK(wait_disconnected(*idle));
  CHECK(server.wait_stat("pchat_sip_sign_in_timeouts_total", at_least(1)));
  CHECK(bob->post(lobby, "still here")); // bob's connection carries a dialog: it stays
  CHECK(server.log().find("no chat dialog within 1000 ms") != std::string::npos);
}

TEST_CASE("when descriptors run short pchatd stops accepting without spinning or flooding its log and serves again") {
  // A low descriptor limit (pchat.max-open-files) stands in for 20,000 connections against LimitNOFILE.
  pchatd_process server({"--pchat.max-open-files=160"});
  server.start();
  silent_connections flood{server.port(), 200}; // more than the limit: the kernel's backlog holds the rest
  REQUIRE(eventually([&] { return server.log().find("not accepting connections") != std::string::npos; }));
  // Paused, not spinning: well under a tenth of a core over a second, and the log stays small.
  double before = cpu_seconds(server.pid());
  ::poll(nullptr, 0, 1000);
  CHECK(cpu_seconds(server.pid()) - before < 0.1);
  auto log = server.log();
  CHECK(log.size() < 200 * 1024);
  // The silent connections go (ours, or pchatd's own first-request timeout): it accepts again and serves.
  flood.close_all();
  REQUIRE(eventually([&] { return server.log().find("descriptors free again") != std::string::npos; },
                     std::chrono::seconds(20)));
  auto carol = sign_in(server, "carol@example.com");
  CHECK(carol->search(""));
  CHECK(server.running());
}
