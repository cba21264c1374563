// The web server against hostile clients, over real sockets against a real pchatd (docs/web.md "Connections"):
// paths long enough to overflow a backtracking regex, slow and silent connections (slowloris), too many
// connections from one address, and heads that could be read two ways. Every wait is on an event (an answer, a
// closed connection), bounded; the slow clients' one-byte-a-second pace is the only timed thing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/pchatd_process.hpp"
#include "support/raw_http.hpp"

using pchat::test::pchatd_process;
using pchat::test::raw_connection;
using pchat::test::raw_exchange;
using steady = std::chrono::steady_clock;

namespace {

std::string host_of(const pchatd_process& server) {
  return "Host: 127.0.0.1:" + std::to_string(server.web_port()) + "\r\n";
}

// GET /healthz over a fresh connection; the status (0: no answer) and how long the answer took.
std::pair<int, std::chrono::microseconds> healthz(const pchatd_process& server, const std::string& source = "127.0.0.1") {
  auto start = steady::now();
  raw_connection c{server.web_port(), source};
  int status = 0;
  if (c.ok()) {
    c.send("GET /healthz HTTP/1.1\r\n" + host_of(server) + "\r\n");
    if (c.wait_closed(std::chrono::seconds(5)))
      status = c.status();
  }
  return {status, std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start)};
}

// The value of one series of /metrics ("pchat_web_connections_total", or with its labels); -1 when absent.
// Asked from an address of its own (127.0.0.250), so that it never counts against the tests' clients.
long long metric(const pchatd_process& server, const std::string& series) {
  raw_connection c{server.web_port(), "127.0.0.250"};
  if (!c.ok())
    return -1;
  c.send("GET /metrics HTTP/1.1\r\n" + host_of(server) + "\r\n");
  if (!c.wait_closed(std::chrono::seconds(5)) || c.status() != 200)
    return -1;
  auto text = "\n" + c.body();
  auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + series.size() + 2));
}

// Polls metric() until `ok` holds or `limit` passes.
template <class Pred>
bool wait_metric(const pchatd_process& server, const std::string& series, Pred ok,
                 std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    if (ok(metric(server, series)))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string error_of(const raw_connection& c) {
  auto j = nlohmann::json::parse(c.body(), nullptr, false);
  return j.is_object() ? j.value("error", std::string{}) : std::string{};
}

// Connections that send a request a byte a second and never finish it (slowloris), spread over `sources`.
class slow_clients {
public:
  slow_clients(const pchatd_process& server, std::size_t n, const std::vector<std::string>& sources) {
    for (std::size_t i = 0; i < n; ++i) {
      conns_.emplace_back(server.web_port(), sources[i % sources.size()]);
      REQUIRE(conns_.back().ok());
      conns_.back().send("GET /");
    }
    drip_ = std::thread([this] {
      while (!stop_) {
        for (auto& c : conns_)
          c.send("a");
        for (int i = 0; i < 10 && !stop_; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~slow_clients() {
    stop_ = true;
    drip_.join();
  }
  std::vector<raw_connection>& connections() { return conns_; }

private:
  std::vector<raw_connection> conns_;
  std::atomic<bool> stop_{false};
  std::thread drip_;
};

} // namespace

TEST_CASE("long paths in every route family get a clear 4xx and the server goes on answering") {
  pchatd_process server;
  REQUIRE(server.ctl("init --demo") == 0);
  server.start();
  const auto host = host_of(server);
  const std::string json_body = "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  for (std::size_t size : {2048u, 8192u, 65536u}) {
    const std::string seg(size, 'a');
    const std::string requests[] = {
      "GET /files/" + seg + "/x HTTP/1.1\r\n" + host + "\r\n",
      "GET /files/room/" + seg + " HTTP/1.1\r\n" + host + "\r\n",
      "PUT /files/" + seg + "/x HTTP/1.1\r\n" + host + "Content-Length: 1\r\n\r\nx",
      "GET /api/rooms/" + seg + " HTTP/1.1\r\n" + host + "\r\n",
      "PATCH /api/rooms/" + seg + " HTTP/1.1\r\n" + host + json_body,
      "PUT /api/rooms/" + seg + "/roles HTTP/1.1\r\n" + host + json_body,
      "GET /" + seg + " HTTP/1.1\r\n" + host + "\r\n",
      "GET /no/such/" + seg + "/page HTTP/1.1\r\n" + host + "\r\n",
    };
    for (const auto& request : requests) {
      INFO(request.substr(0, 40) << "... (" << size << " bytes)");
      auto answer = raw_exchange(server.web_port(), request);
      CHECK(answer.status() >= 400);
      CHECK(answer.status() < 500);
      if (size > 4096) // over the request-target limit: refused before cpp-httplib parses anything
        CHECK(answer.status() == 414);
      CHECK(!error_of(answer).empty());
      REQUIRE(server.running());
      CHECK(healthz(server).first == 200);
    }
  }
  // A long query is part of the request-target too.
  auto query = raw_exchange(server.web_port(), "GET /healthz?q=" + std::string(8192, 'q') + " HTTP/1.1\r\n" + host + "\r\n");
  CHECK(query.status() == 414);
  CHECK(error_of(query) == "uri_too_long");
  // The other regex cpp-httplib runs before routing (its Range parser) and the head as a whole are bounded too.
  std::string ranges = "bytes=0-1";
  while (ranges.size() < 8000)
    ranges += ",0-1";
  auto range = raw_exchange(server.web_port(), "GET /healthz HTTP/1.1\r\n" + host + "Range: " + ranges + "\r\n\r\n");
  CHECK(range.status() == 416);
  auto big_head = raw_exchange(server.web_port(), "GET /healthz HTTP/1.1\r\n" + host + "X-Pad: " +
                                                    std::string(64 * 1024, 'p') + "\r\n\r\n");
  CHECK(big_head.status() == 431);
  CHECK(error_of(big_head) == "header_too_large");
  CHECK(healthz(server).first == 200);
  CHECK(metric(server, "pchat_web_bad_requests_total") >= 14);
}

TEST_CASE("200 slowloris connections do not keep /healthz and the page from answering") {
  pchatd_process server;
  server.start();
  // Ten client addresses with 20 slow connections each: under web.max-connections-per-address (32), so every
  // one of them is held open by the server (none is refused), as many slow clients from many places would be.
  std::vector<std::string> sources;
  for (int i = 2; i < 12; ++i)
    sources.push_back("127.0.0." + std::to_string(i));
  slow_clients slow{server, 200, sources};
  REQUIRE(wait_metric(server, "pchat_web_connections_waiting", [](long long v) { return v >= 200; }));

  std::vector<long long> us;
  for (int i = 0; i < 20; ++i) {
    auto [status, took] = healthz(server);
    CHECK(status == 200);
    CHECK(took < std::chrono::seconds(1));
    us.push_back(took.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // spread over the slow clients' drips
  }
  httplib::Client cli{"127.0.0.1", server.web_port()};
  cli.set_read_timeout(5, 0);
  auto page = cli.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  std::sort(us.begin(), us.end());
  WARN("/healthz under 200 slow connections: p50 " << us[us.size() / 2] << " us, max " << us.back() << " us");
  CHECK(us[us.size() / 2] < 100000);
  // All 200 were still open and waiting: they were outwaited, not refused.
  CHECK(metric(server, "pchat_web_connections_waiting") >= 200);
  CHECK(metric(server, "pchat_web_connections_refused_total{reason=\"per_address\"}") == 0);
}

TEST_CASE("past web.max-connections-per-address a connection is closed at once and the address is served again once its connections close") {
  pchatd_process server{{"--web.max-connections-per-address=4"}};
  server.start();
  std::vector<raw_connection> idle;
  for (int i = 0; i < 4; ++i) {
    idle.emplace_back(server.web_port());
    REQUIRE(idle.back().ok());
  }
  REQUIRE(wait_metric(server, "pchat_web_connections_waiting", [](long long v) { return v >= 4; }));

  // The fifth from the same address: closed at once, with a 503 when the client gets to read it.
  raw_connection fifth{server.web_port()};
  REQUIRE(fifth.ok());
  fifth.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto start = steady::now();
  CHECK(fifth.wait_closed(std::chrono::seconds(2)));
  CHECK(steady::now() - start < std::chrono::seconds(1));
  CHECK((fifth.status() == 503 || fifth.status() == 0));
  CHECK(metric(server, "pchat_web_connections_refused_total{reason=\"per_address\"}") >= 1);

  // Another address is not affected.
  CHECK(healthz(server, "127.0.0.2").first == 200);

  // Once the idle ones go, the address is served again (the server sees them close: no timeout involved).
  for (auto& c : idle)
    c.close();
  REQUIRE(wait_metric(server, "pchat_web_connections_waiting", [](long long v) { return v == 0; }));
  CHECK(healthz(server).first == 200);
}

TEST_CASE("a connection that sends nothing or its head too slowly is closed at web.header-timeout") {
  pchatd_process server{{"--web.header-timeout=1"}};
  server.start();

  // Silent: closed after the deadline, with nothing said.
  raw_connection silent{server.web_port()};
  REQUIRE(silent.ok());
  auto start = steady::now();
  REQUIRE(silent.wait_closed(std::chrono::seconds(5)));
  auto took = steady::now() - start;
  CHECK(took >= std::chrono::milliseconds(900));
  CHECK(took < std::chrono::seconds(3));
  CHECK(silent.received().empty());

  // Slow: a byte every 200 ms does not move the deadline (it is for the whole head, not for each read).
  raw_connection slow{server.web_port()};
  REQUIRE(slow.ok());
  start = steady::now();
  slow.send("GET /healthz HTTP/1.1\r\n");
  bool closed = false;
  for (int i = 0; i < 25 && !closed; ++i) {
    slow.send("X");
    closed = slow.wait_closed(std::chrono::milliseconds(200));
  }
  took = steady::now() - start;
  CHECK(closed);
  CHECK(took < std::chrono::seconds(3));
  CHECK(slow.status() == 408);

  CHECK(metric(server, "pchat_web_connections_timed_out_total") == 2);
  CHECK(healthz(server).first == 200);
}

TEST_CASE("heads that could be read two ways are refused with 400") {
  pchatd_process server;
  server.start();
  const auto host = host_of(server);
  const std::string signin = "POST /api/signin HTTP/1.1\r\n" + host + "Content-Type: application/json\r\n";
  const std::string body = R"({"user":"alice@example.com"})";
  const auto length = "Content-Length: " + std::to_string(body.size()) + "\r\n";

  // RFC 9112 §6.3: two different Content-Length values.
  auto two = raw_exchange(server.web_port(), signin + length + "Content-Length: 5\r\n\r\n" + body);
  CHECK(two.status() == 400);
  CHECK(error_of(two) == "bad_length");
  // The same value twice is one length: served.
  auto same = raw_exchange(server.web_port(), signin + length + length + "\r\n" + body);
  CHECK(same.status() == 200);
  // A length that cpp-httplib would percent-decode into a number.
  auto encoded = raw_exchange(server.web_port(), signin + "Content-Length: %32%38\r\n\r\n" + body);
  CHECK(encoded.status() == 400);
  CHECK(error_of(encoded) == "bad_length");
  // Content-Length with Transfer-Encoding, a folded line, a space before the colon, a bare LF.
  for (const auto& bad : {signin + length + "Transfer-Encoding: chunked\r\n\r\n" + body,
                          signin + "X-A: 1\r\n folded\r\n" + length + "\r\n" + body,
                          signin + "Content-Length : 5\r\n" + length + "\r\n" + body,
                          signin + "X-A: 1\n" + length + "\r\n" + body,
                          "GET /healthz HTTP/1.1\r\n" + host + "Host: evil.example\r\n\r\n"}) {
    INFO(bad);
    auto answer = raw_exchange(server.web_port(), bad);
    CHECK(answer.status() == 400);
  }
  // Expect: 100-continue where no body is streamed: refused rather than a worker waiting on the body.
  auto expect = raw_exchange(server.web_port(), signin + length + "Expect: 100-continue\r\n\r\n");
  CHECK(expect.status() == 417);
  CHECK(healthz(server).first == 200);
}
