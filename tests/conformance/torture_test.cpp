// Conformance: the RFC 4475 torture messages (tests/conformance/rfc4475/, the RFC's own bytes) sent to a real
// pchatd, one test per message. What pchatd answers to each, and why, is the table in docs/protocol.md
// "RFC 4475 torture messages"; the `answers` column of `cases` below is that table's.
//
// Each message goes first over the transport its topmost Via names (UDP for most; Sofia-SIP drops a request
// whose Via names another transport than the one it came over, so only there is a valid request answered),
// then over the other plain transport, where the only answers allowed are Sofia's parser refusals (400, 505).
// Then a fresh connection's OPTIONS must get 200, and pchatd must stop cleanly.
//
// Knowing that nothing (more) came back is an event, never a sleep: every message is followed by an OPTIONS
// probe on the same socket or connection, and whatever the message got arrives before the probe's answer.
//   UDP: the socket is bound to a random 127.x.y.z at the Via's sent-by port (responses go to the source
//        address and the sent-by port, RFC 3261 §18.2.2), the message and then the probe are sent from it; one
//        socket's datagrams are handled in order on pchatd's SIP thread and answered as they are handled.
//   TCP: the connection first gets an OPTIONS answered (pchatd has accepted it and reads it), then the message
//        and the probe in one write. A message can stop the stream (Sofia stops reading after bytes it cannot
//        parse, or waits for a body that never comes), so the probe behind it may get nothing: the sync point
//        is then an OPTIONS on a second connection, opened after that write. Sofia reads all that a
//        connection holds on each readable event, and the second connection has to be accepted and then read,
//        at least one turn of the SIP thread's loop later; so by the time the second probe is answered, all
//        that pchatd will write for the message is in our receive buffer, and is read without waiting.
//   TLS: (bext01 only) the probe behind the message is answered on the same connection; the socket's receive
//        timeout is the failure bound.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "conformance_support.hpp"
#include "support/temp_dir.hpp"

using namespace pchat;
using namespace pchat::conformance;
using pchat::test::pchatd_process;
using pchat::test::temp_dir;

namespace {

enum class via { udp, tcp, tls };

const char* name_of(via v) {
  return v == via::udp ? "UDP" : v == via::tcp ? "TCP" : "TLS";
}

// One message of RFC 4475 §3 and what pchatd answers to it over the transport of its topmost Via.
struct torture_case {
  const char* name;                         // the RFC's name, tests/conformance/rfc4475/NAME.dat
  via transport;                            // the transport its topmost Via names
  std::uint16_t sent_by = 5060;             // the Via's sent-by port, where UDP responses go
  std::vector<int> answers;                 // the final statuses allowed; a 0 among them: no answer at all is allowed
  const char* unanswered_call_id = nullptr; // a request inside the message that must get no answer at all
};

// docs/protocol.md "RFC 4475 torture messages" says why each answer is what it is.
const std::vector<torture_case> cases = {
    // 3.1.1 valid messages
    {"wsinv", via::udp, 5060, {481}}, // an INVITE whose To has a tag: no such dialog
    {"intmeth", via::tcp, 5060, {0}}, // Sofia-SIP 1.12.11 takes it for garbage ('+' and '`' in the method, NUL)
    {"esc01", via::udp, 5060, {200}},
    {"escnull", via::udp, 5060, {200}},
    {"esc02", via::tcp, 5060, {405}}, // RE%47IST%45R is an unknown method
    {"lwsdisp", via::udp, 5060, {200}},
    {"longreq", via::tcp, 5060, {200}},
    {"dblreq", via::udp, 5060, {200}, "dblreq.0ha0isnda977644900765@192.0.2.15"}, // the INVITE behind it is ignored
    {"semiuri", via::udp, 5060, {200}},
    {"transports", via::udp, 5060, {200}},
    {"mpart01", via::udp, 5070, {405}}, // MESSAGE: pchatd has no pager mode
    {"unreason", via::udp, 5060, {0}},  // responses to nothing pchatd sent are dropped
    {"noreason", via::udp, 5060, {0}},
    // 3.1.2 invalid messages
    {"badinv01", via::udp, 5060, {0}}, // its Via does not parse: nowhere to answer
    {"clerr", via::udp, 5060, {400}},
    {"ncl", via::udp, 5060, {400}},
    {"scalar02", via::tcp, 5060, {400}},
    {"scalarlg", via::tcp, 5060, {0}},
    {"quotbal", via::udp, 5050, {400}},
    {"ltgtruri", via::udp, 5060, {400}},
    {"lwsruri", via::udp, 5060, {0}},    // a Request-Line Sofia cannot parse is garbage
    {"lwsstart", via::udp, 5060, {200}}, // Sofia is liberal here (the RFC allows it)
    {"trws", via::tcp, 5060, {200}},     // likewise
    {"escruri", via::udp, 5060, {200}},  // the escaped headers are ignored (allowed)
    {"baddate", via::udp, 5060, {200}},  // pchatd does not read Date (allowed)
    {"regbadct", via::udp, 5060, {400}},
    {"badaspec", via::udp, 5060, {200}}, // Sofia ignores the spaces (allowed)
    {"baddn", via::udp, 5060, {400}},
    {"badvers", via::udp, 5060, {505, 0}}, // the 505 goes to the Via's host by name: c.example.com does not resolve
    {"mismatch01", via::udp, 5060, {400}},
    {"mismatch02", via::udp, 5060, {400}},
    {"bigcode", via::udp, 5060, {0}},
    // 3.2 transaction layer
    {"badbranch", via::udp, 5060, {200}},
    // 3.3 application layer
    {"insuf", via::udp, 5060, {400}},
    {"unkscm", via::tcp, 5060, {416}},
    {"novelsc", via::tcp, 5060, {416}},
    {"unksm2", via::udp, 5060, {400}}, // the From URI is no SIP URI
    {"bext01", via::tls, 5060, {420}},
    {"invut", via::udp, 5060, {200}},    // pchatd's INVITE takes no session description: the body is not read
    {"regaut01", via::tcp, 5060, {200}}, // anonymous sign-in (loopback): Authorization is not read
    {"multi01", via::udp, 5060, {400}},
    {"mcl01", via::udp, 5060, {400}},
    {"bcast", via::udp, 5060, {0}},
    {"zeromf", via::udp, 5060, {200}}, // Max-Forwards is a proxy's business
    {"cparam01", via::udp, 5060, {200}},
    {"cparam02", via::udp, 5060, {200}},
    {"regescrt", via::udp, 5060, {200}},
    {"sdp01", via::udp, 5060, {200}}, // pchatd's 200 carries no body, so Accept does not matter
    // 3.4 backward compatibility
    {"inv2543", via::udp, 5060, {400}}, // no From tag: a chat dialog needs one
};

const torture_case& case_named(const std::string& name) {
  auto i = std::find_if(cases.begin(), cases.end(), [&](const torture_case& c) { return c.name == name; });
  REQUIRE(i != cases.end());
  return *i;
}

std::string read_message(const std::string& name) {
  std::string path = std::string(PCHAT_SOURCE_DIR) + "/tests/conformance/rfc4475/" + name + ".dat";
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  REQUIRE(!bytes.empty());
  return bytes;
}

// --- reading what comes back ----------------------------------------------------------------------------------

// The value of header `name` (or its compact form) in a message's header section; empty when absent.
std::string header_of(std::string_view message, std::string_view name, std::string_view compact) {
  auto head = message.substr(0, message.find("\r\n\r\n"));
  std::size_t at = head.find("\r\n");
  while (at != std::string_view::npos) {
    auto next = head.find("\r\n", at + 2);
    auto line = head.substr(at + 2, next == std::string_view::npos ? std::string_view::npos : next - at - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      auto field = sip::trim(line.substr(0, colon));
      if (iequals(field, name) || iequals(field, compact))
        return std::string{sip::trim(line.substr(colon + 1))};
    }
    at = next;
  }
  return {};
}

// "SIP/2.0 NNN ..." -> NNN; 0 for anything else (a request).
int status_of(std::string_view message) {
  if (message.size() < 12 || message.substr(0, 8) != "SIP/2.0 ")
    return 0;
  int s = 0;
  for (std::size_t k = 8; k < 11; ++k) {
    if (message[k] < '0' || message[k] > '9')
      return 0;
    s = s * 10 + (message[k] - '0');
  }
  return s;
}

// One whole message off the front of a stream's bytes (header section, empty line, Content-Length octets);
// nullopt while it is incomplete.
std::optional<std::string> take_message(std::string& stream) {
  while (stream.rfind("\r\n", 0) == 0) // keep-alive CRLFs
    stream.erase(0, 2);
  auto end = stream.find("\r\n\r\n");
  if (end == std::string::npos)
    return std::nullopt;
  auto length = header_of(std::string_view{stream}.substr(0, end + 4), "Content-Length", "l");
  std::size_t total = end + 4 + (length.empty() ? 0 : std::stoul(length));
  if (stream.size() < total)
    return std::nullopt;
  auto m = stream.substr(0, total);
  stream.erase(0, total);
  return m;
}

// What came back for one message over one transport.
struct exchange {
  via transport = via::udp;
  std::vector<std::string> answers; // final responses to the message, in order, repeats (UDP retransmissions) left out
  bool probe_answered = false;      // the OPTIONS behind the message, on the same socket or connection
  bool closed = false;              // pchatd closed the connection
  std::string other;                // anything else that came (provisional responses, requests), for the log

  void add(const std::string& message, const std::string& probe_call_id) {
    int status = status_of(message);
    if (status >= 200 && header_of(message, "Call-ID", "i") == probe_call_id)
      probe_answered = true;
    else if (status >= 200 && std::find(answers.begin(), answers.end(), message) == answers.end())
      answers.push_back(message);
    else if (status < 200)
      other += message;
  }

  std::string describe() const {
    std::ostringstream out;
    out << name_of(transport) << ": " << answers.size() << " answer(s)" << (probe_answered ? ", probe answered" : "")
        << (closed ? ", closed by pchatd" : "") << "\n";
    for (const auto& a : answers)
      out << "---\n" << a << "\n";
    if (!other.empty())
      out << "--- other:\n" << other << "\n";
    return out.str();
  }
};

// The OPTIONS probe: the cheapest request pchatd answers 200, with its own Call-ID.
std::string probe(const std::string& transport, const std::string& host, std::uint16_t port,
                  const std::string& call_id) {
  return raw_message({
      "OPTIONS " + service_uri + " SIP/2.0",
      "Via: SIP/2.0/" + transport + " " + host + ":" + std::to_string(port) + ";rport;branch=z9hG4bK" + call_id,
      "Max-Forwards: 70",
      "From: <sip:probe@example.com>;tag=probe",
      "To: <" + service_uri + ">",
      "Call-ID: " + call_id,
      "CSeq: 1 OPTIONS",
  });
}

// --- sockets ------------------------------------------------------------------------------------------------

struct socket_fd {
  int fd = -1;
  explicit socket_fd(int type) : fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0)) { REQUIRE(fd >= 0); }
  ~socket_fd() {
    if (fd >= 0)
      ::close(fd);
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
};

sockaddr_in address(const std::string& ip, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) == 1);
  return sa;
}

using clock_type = std::chrono::steady_clock;

int ms_left(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// A TCP connection to pchatd's SIP port.
std::unique_ptr<socket_fd> connect_tcp(std::uint16_t port) {
  auto s = std::make_unique<socket_fd>(SOCK_STREAM);
  auto sa = address("127.0.0.1", port);
  REQUIRE(::connect(s->fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  return s;
}

std::uint16_t local_port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  return ntohs(sa.sin_port);
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads from a stream into `stream` until `done()` or the peer closes (true either way), or the failure bound
// passes (false).
template <class Done>
bool read_stream(int fd, std::string& stream, bool& closed, Done done) {
  auto deadline = clock_type::now() + wait_limit;
  while (!done()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms_left(deadline)) <= 0)
      return false;
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      closed = true;
      return true;
    }
    stream.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// An OPTIONS on a connection of its own; its final status (the test fails without one).
int options_on_new_connection(std::uint16_t port) {
  auto s = connect_tcp(port);
  std::string id = "probe-" + sip::random_call_id();
  send_all(s->fd, probe("TCP", "127.0.0.1", local_port(s->fd), id));
  std::string stream;
  bool closed = false;
  int status = 0;
  bool ok = read_stream(s->fd, stream, closed, [&] {
    while (auto m = take_message(stream))
      if (status_of(*m) >= 200 && header_of(*m, "Call-ID", "i") == id)
        status = status_of(*m);
    return status != 0;
  });
  INFO("OPTIONS on a new connection: " << (ok ? closed ? "closed" : "answered" : "no answer"));
  REQUIRE(status != 0);
  return status;
}

// --- the three ways of sending a message --------------------------------------------------------------------

exchange over_udp(std::uint16_t server_port, const std::string& message, std::uint16_t sent_by) {
  exchange got;
  got.transport = via::udp;
  socket_fd s{SOCK_DGRAM};
  // A random loopback address, so that parallel tests (and anything else on the sent-by port) do not collide.
  std::mt19937 rng{std::random_device{}()};
  std::string ip;
  bool bound = false;
  for (int attempt = 0; attempt < 32 && !bound; ++attempt) {
    ip = "127." + std::to_string(1 + rng() % 254) + "." + std::to_string(rng() % 256) + "." +
         std::to_string(1 + rng() % 254);
    auto sa = address(ip, sent_by);
    bound = ::bind(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  INFO("binding a UDP socket at a 127.x.y.z address, port " << sent_by << " (is a socket bound to 0.0.0.0:" << sent_by
                                                            << "?)");
  REQUIRE(bound);
  auto to = address("127.0.0.1", server_port);
  std::string id = "probe-" + sip::random_call_id();
  for (const std::string& datagram : {message, probe("UDP", ip, sent_by, id)})
    REQUIRE(::sendto(s.fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(datagram.size()));
  auto deadline = clock_type::now() + wait_limit;
  while (!got.probe_answered) {
    pollfd p{s.fd, POLLIN, 0};
    if (::poll(&p, 1, ms_left(deadline)) <= 0)
      break;
    char buf[65536];
    auto n = ::recv(s.fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    got.add(std::string(buf, static_cast<std::size_t>(n)), id);
  }
  INFO(got.describe());
  REQUIRE(got.probe_answered); // pchatd answers the next datagram from the same socket
  return got;
}

exchange over_tcp(std::uint16_t server_port, const std::string& message) {
  exchange got;
  got.transport = via::tcp;
  auto a = connect_tcp(server_port);
  std::string stream;
  // First an OPTIONS answered: pchatd has accepted the connection and reads it.
  std::string first = "probe-" + sip::random_call_id();
  send_all(a->fd, probe("TCP", "127.0.0.1", local_port(a->fd), first));
  bool seen_first = false;
  REQUIRE(read_stream(a->fd, stream, got.closed, [&] {
    while (auto m = take_message(stream))
      seen_first = seen_first || header_of(*m, "Call-ID", "i") == first;
    return seen_first;
  }));
  REQUIRE(seen_first);
  // The message and the probe in one write; then the sync point on a second connection (see the top).
  std::string id = "probe-" + sip::random_call_id();
  send_all(a->fd, message + probe("TCP", "127.0.0.1", local_port(a->fd), id));
  CHECK(options_on_new_connection(server_port) == 200);
  for (;;) {
    char buf[65536];
    auto n = ::recv(a->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      stream.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    got.closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    break;
  }
  while (auto m = take_message(stream))
    got.add(*m, id);
  return got;
}

// A key and self-signed certificate made by pchatctl, for pchatd's TLS listener.
struct test_certificate {
  temp_dir dir;
  std::string crt = dir.str("pchat.crt");
  std::string key = dir.str("pchat.key");
  test_certificate() {
    std::string out;
    int rc =
        pchatd_process::run_capture(std::string(PCHATCTL_PATH) + " cert self-signed --out '" + dir.str() + "'", out);
    INFO(out);
    REQUIRE(rc == 0);
  }
};

exchange over_tls(std::uint16_t tls_port, const std::string& message) {
  exchange got;
  got.transport = via::tls;
  auto a = connect_tcp(tls_port);
  // Blocking reads with a receive timeout: the failure bound.
  timeval tv{static_cast<time_t>(wait_limit.count() / 1000), 0};
  REQUIRE(::setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_client_method()), SSL_CTX_free};
  REQUIRE(ctx);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr); // the messages are the test here, not the certificate
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{SSL_new(ctx.get()), SSL_free};
  REQUIRE(ssl);
  REQUIRE(SSL_set_fd(ssl.get(), a->fd) == 1);
  INFO("TLS handshake");
  REQUIRE(SSL_connect(ssl.get()) == 1);
  std::string id = "probe-" + sip::random_call_id();
  std::string out = message + probe("TLS", "127.0.0.1", local_port(a->fd), id);
  REQUIRE(SSL_write(ssl.get(), out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
  std::string stream;
  while (!got.probe_answered && !got.closed) {
    char buf[65536];
    int n = SSL_read(ssl.get(), buf, sizeof buf);
    if (n <= 0) {
      int code = SSL_get_error(ssl.get(), n);
      ERR_clear_error();
      INFO("SSL_read: " << code << " (a timeout is the failure bound)");
      REQUIRE((code == SSL_ERROR_ZERO_RETURN || code == SSL_ERROR_SYSCALL));
      got.closed = true;
      break;
    }
    stream.append(buf, static_cast<std::size_t>(n));
    while (auto m = take_message(stream))
      got.add(*m, id);
  }
  return got;
}

// --- the checks ---------------------------------------------------------------------------------------------

// Every answer names the message: its Call-ID is one the message carries (a 400 to a request without one has
// none). `unanswered` is a Call-ID that must get nothing.
void check_answers_belong(const exchange& got, const std::string& message, const char* unanswered) {
  for (const auto& a : got.answers) {
    auto call_id = header_of(a, "Call-ID", "i");
    INFO(a);
    CHECK((call_id.empty() || message.find(call_id) != std::string::npos));
    if (unanswered)
      CHECK(call_id != unanswered);
  }
}

// Over the Via's own transport: only the statuses of the case, never a 5xx it does not list.
void check_answers(const torture_case& c, const exchange& got) {
  INFO(c.name << " over " << name_of(got.transport) << ", allowed: " << [&] {
    std::string s;
    for (int a : c.answers)
      s += (a == 0 ? std::string{"no answer"} : std::to_string(a)) + " ";
    return s;
  }() << "\n" << got.describe());
  if (got.answers.empty()) {
    CHECK(std::find(c.answers.begin(), c.answers.end(), 0) != c.answers.end());
    return;
  }
  for (const auto& a : got.answers) {
    int status = status_of(a);
    CHECK(std::find(c.answers.begin(), c.answers.end(), status) != c.answers.end());
  }
}

// Over the other plain transport Sofia drops the request for its Via before pchatd sees it, unless its parser
// refuses it first: 400 (or 505 for the version), or nothing.
void check_other_transport(const exchange& got) {
  INFO("over the transport its Via does not name: " << got.describe());
  for (const auto& a : got.answers)
    CHECK((status_of(a) == 400 || status_of(a) == 505));
}

void run_torture(const std::string& name) {
  const torture_case& c = case_named(name);
  std::string message = read_message(name);
  std::optional<test_certificate> cert;
  std::vector<std::string> args;
  std::uint16_t tls_port = 0;
  if (c.transport == via::tls) {
    cert.emplace();
    tls_port = pchatd_process::free_port();
    args = {"--tls.certificate=" + cert->crt, "--tls.key=" + cert->key, "--sip.tls-port=" + std::to_string(tls_port)};
  }
  pchatd_process server{args};
  server.start();
  // The exchanges close their sockets when they return: what pchatd still sends there (the BYEs of the dialogs
  // an INVITE opened, at its stop) fails at once instead of waiting for an answer.
  exchange own = c.transport == via::udp   ? over_udp(server.port(), message, c.sent_by)
                 : c.transport == via::tcp ? over_tcp(server.port(), message)
                                           : over_tls(tls_port, message);
  exchange other =
      c.transport == via::tcp ? over_udp(server.port(), message, c.sent_by) : over_tcp(server.port(), message);
  std::string log = server.log();
  INFO("pchatd log:\n" << log);
  check_answers(c, own);
  check_answers_belong(own, message, c.unanswered_call_id);
  check_other_transport(other);
  check_answers_belong(other, message, c.unanswered_call_id);
  REQUIRE(server.running());
  CHECK(options_on_new_connection(server.port()) == 200);
  CHECK(server.stop() == 0);
}

} // namespace

// One test per message, RFC 4475 §3 in order. "stays up": a fresh connection's OPTIONS gets 200 and pchatd
// then stops cleanly (exit status 0).

// 3.1.1 valid messages
TEST_CASE("rfc4475 3.1.1.1 wsinv (a short tortuous INVITE) gets 481 and pchatd stays up") {
  run_torture("wsinv");
}
TEST_CASE("rfc4475 3.1.1.2 intmeth (wide range of valid characters) gets no answer from Sofia-SIP and pchatd "
          "stays up") {
  run_torture("intmeth");
}
TEST_CASE("rfc4475 3.1.1.3 esc01 (valid use of percent escaping) gets 200 and pchatd stays up") {
  run_torture("esc01");
}
TEST_CASE("rfc4475 3.1.1.4 escnull (escaped nulls in URIs) gets 200 and pchatd stays up") {
  run_torture("escnull");
}
TEST_CASE("rfc4475 3.1.1.5 esc02 (percent that is not an escape) gets 405 and pchatd stays up") {
  run_torture("esc02");
}
TEST_CASE("rfc4475 3.1.1.6 lwsdisp (no LWS between display name and bracket) gets 200 and pchatd stays up") {
  run_torture("lwsdisp");
}
TEST_CASE("rfc4475 3.1.1.7 longreq (long values in header fields) gets 200 and pchatd stays up") {
  run_torture("longreq");
}
TEST_CASE("rfc4475 3.1.1.8 dblreq (extra trailing octets in a UDP datagram) gets 200 for the first request only "
          "and pchatd stays up") {
  run_torture("dblreq");
}
TEST_CASE("rfc4475 3.1.1.9 semiuri (semicolons in the URI user part) gets 200 and pchatd stays up") {
  run_torture("semiuri");
}
TEST_CASE("rfc4475 3.1.1.10 transports (varied and unknown transport types) gets 200 and pchatd stays up") {
  run_torture("transports");
}
TEST_CASE("rfc4475 3.1.1.11 mpart01 (multipart MIME MESSAGE) gets 405 and pchatd stays up") {
  run_torture("mpart01");
}
TEST_CASE("rfc4475 3.1.1.12 unreason (unusual reason phrase in a response) is dropped and pchatd stays up") {
  run_torture("unreason");
}
TEST_CASE("rfc4475 3.1.1.13 noreason (empty reason phrase in a response) is dropped and pchatd stays up") {
  run_torture("noreason");
}

// 3.1.2 invalid messages
TEST_CASE("rfc4475 3.1.2.1 badinv01 (extraneous header field separators) is dropped and pchatd stays up") {
  run_torture("badinv01");
}
TEST_CASE("rfc4475 3.1.2.2 clerr (Content-Length larger than the datagram) gets 400 and pchatd stays up") {
  run_torture("clerr");
}
TEST_CASE("rfc4475 3.1.2.3 ncl (negative Content-Length) gets 400 and pchatd stays up") {
  run_torture("ncl");
}
TEST_CASE("rfc4475 3.1.2.4 scalar02 (overlarge scalars in a request) gets 400 and pchatd stays up") {
  run_torture("scalar02");
}
TEST_CASE("rfc4475 3.1.2.5 scalarlg (overlarge scalars in a response) is dropped and pchatd stays up") {
  run_torture("scalarlg");
}
TEST_CASE("rfc4475 3.1.2.6 quotbal (unterminated quoted display name) gets 400 and pchatd stays up") {
  run_torture("quotbal");
}
TEST_CASE("rfc4475 3.1.2.7 ltgtruri (Request-URI in angle brackets) gets 400 and pchatd stays up") {
  run_torture("ltgtruri");
}
TEST_CASE("rfc4475 3.1.2.8 lwsruri (LWS inside the Request-URI) is dropped and pchatd stays up") {
  run_torture("lwsruri");
}
TEST_CASE("rfc4475 3.1.2.9 lwsstart (multiple SP in the Request-Line) is accepted with 200 and pchatd stays up") {
  run_torture("lwsstart");
}
TEST_CASE("rfc4475 3.1.2.10 trws (SP at the end of the Request-Line) is accepted with 200 and pchatd stays up") {
  run_torture("trws");
}
TEST_CASE("rfc4475 3.1.2.11 escruri (escaped headers in the Request-URI) is accepted with 200 and pchatd stays up") {
  run_torture("escruri");
}
TEST_CASE("rfc4475 3.1.2.12 baddate (invalid time zone in Date) is accepted with 200 and pchatd stays up") {
  run_torture("baddate");
}
TEST_CASE("rfc4475 3.1.2.13 regbadct (name-addr URI not in angle brackets) gets 400 and pchatd stays up") {
  run_torture("regbadct");
}
TEST_CASE("rfc4475 3.1.2.14 badaspec (spaces within addr-spec) is accepted with 200 and pchatd stays up") {
  run_torture("badaspec");
}
TEST_CASE("rfc4475 3.1.2.15 baddn (non-token characters in display name) gets 400 and pchatd stays up") {
  run_torture("baddn");
}
TEST_CASE("rfc4475 3.1.2.16 badvers (unknown protocol version) gets 505 or nothing and pchatd stays up") {
  run_torture("badvers");
}
TEST_CASE("rfc4475 3.1.2.17 mismatch01 (start line and CSeq method mismatch) gets 400 and pchatd stays up") {
  run_torture("mismatch01");
}
TEST_CASE("rfc4475 3.1.2.18 mismatch02 (unknown method with CSeq mismatch) gets 400 and pchatd stays up") {
  run_torture("mismatch02");
}
TEST_CASE("rfc4475 3.1.2.19 bigcode (overlarge response code) is dropped and pchatd stays up") {
  run_torture("bigcode");
}

// 3.2 transaction layer
TEST_CASE("rfc4475 3.2.1 badbranch (missing transaction identifier) gets 200 and pchatd stays up") {
  run_torture("badbranch");
}

// 3.3 application layer
TEST_CASE("rfc4475 3.3.1 insuf (missing required header fields) gets 400 and pchatd stays up") {
  run_torture("insuf");
}
TEST_CASE("rfc4475 3.3.2 unkscm (Request-URI with unknown scheme) gets 416 and pchatd stays up") {
  run_torture("unkscm");
}
TEST_CASE("rfc4475 3.3.3 novelsc (Request-URI with known but atypical scheme) gets 416 and pchatd stays up") {
  run_torture("novelsc");
}
TEST_CASE("rfc4475 3.3.4 unksm2 (unknown URI schemes in header fields) gets 400 and pchatd stays up") {
  run_torture("unksm2");
}
TEST_CASE("rfc4475 3.3.5 bext01 (Proxy-Require and Require) gets 420 over TLS and pchatd stays up") {
  run_torture("bext01");
}
TEST_CASE("rfc4475 3.3.6 invut (unknown Content-Type in an INVITE) gets 200 and pchatd stays up") {
  run_torture("invut");
}
TEST_CASE("rfc4475 3.3.7 regaut01 (unknown authorization scheme) gets 200 and pchatd stays up") {
  run_torture("regaut01");
}
TEST_CASE("rfc4475 3.3.8 multi01 (multiple values in single-value fields) gets 400 and pchatd stays up") {
  run_torture("multi01");
}
TEST_CASE("rfc4475 3.3.9 mcl01 (multiple Content-Length values) gets 400 and pchatd stays up") {
  run_torture("mcl01");
}
TEST_CASE("rfc4475 3.3.10 bcast (200 OK with a broadcast Via) is dropped and pchatd stays up") {
  run_torture("bcast");
}
TEST_CASE("rfc4475 3.3.11 zeromf (Max-Forwards of zero) gets 200 and pchatd stays up") {
  run_torture("zeromf");
}
TEST_CASE("rfc4475 3.3.12 cparam01 (REGISTER with a Contact header parameter) gets 200 and pchatd stays up") {
  run_torture("cparam01");
}
TEST_CASE("rfc4475 3.3.13 cparam02 (REGISTER with a url-parameter) gets 200 and pchatd stays up") {
  run_torture("cparam02");
}
TEST_CASE("rfc4475 3.3.14 regescrt (REGISTER with a URL escaped header) gets 200 and pchatd stays up") {
  run_torture("regescrt");
}
TEST_CASE("rfc4475 3.3.15 sdp01 (unacceptable Accept offering) gets 200 and pchatd stays up") {
  run_torture("sdp01");
}

// 3.4 backward compatibility
TEST_CASE("rfc4475 3.4.1 inv2543 (INVITE with RFC 2543 syntax) gets 400 and pchatd stays up") {
  run_torture("inv2543");
}

TEST_CASE("rfc4475: the 49 messages of section 3 are the data directory and each has its case") {
  std::vector<std::string> files;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(PCHAT_SOURCE_DIR) + "/tests/conformance/rfc4475"))
    if (e.path().extension() == ".dat")
      files.push_back(e.path().stem().string());
  std::vector<std::string> named;
  for (const auto& c : cases)
    named.push_back(c.name);
  std::sort(files.begin(), files.end());
  std::sort(named.begin(), named.end());
  CHECK(named.size() == 49);
  CHECK(files == named);
}
