// pchatd's logs as an admin's tools read them (docs/operations.md "Logs"): failed sign-ins over SIP and the web
// name the client's address with the failure counts, and the fail2ban filter the package installs finds exactly
// those addresses (fail2ban-regex over a real pchatd's log); pchat.log-format=json writes one JSON object a line.
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"

using pchat::test::pchatd_process;

TEST_CASE("failed sign-ins log the client address and the packaged fail2ban filter finds them") {
  std::string out;
  if (pchatd_process::run_capture("command -v fail2ban-regex", out) != 0) {
    std::cout << "SKIPPED: no fail2ban-regex (tools/deps.sh --test installs fail2ban)" << std::endl;
    return;
  }
  pchatd_process server{{"--sip.auth=digest"}};
  server.start();
  REQUIRE(server.ctl("user add alice@example.com --password right", &out) == 0);
  for (int i = 0; i < 3; ++i)
    CHECK(server.pchat("--timeout 10 --user alice@example.com --password wrong rooms", out) == 1);
  CHECK(server.pchat("--timeout 10 --user alice@example.com --password right rooms", out) == 0);
  httplib::Client web("127.0.0.1", server.web_port());
  auto r = web.Post("/api/signin", R"({"user":"alice@example.com","password":"nope"})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 403);
  server.stop();

  auto log = server.log();
  INFO(log);
  CHECK(log.find("[sip] sign-in failed user=sip:alice@example.com address=127.0.0.1 failures-for-user=3 "
                 "failures-from-address=3") != std::string::npos);
  CHECK(log.find("[web] sign-in refused user=sip:alice@example.com from=127.0.0.1\n") != std::string::npos);
  int rc = pchatd_process::run_capture("fail2ban-regex -v " + server.log_path() + " " PCHAT_SOURCE_DIR
                                       "/packaging/fail2ban/pchat.conf",
                                       out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("Failregex: 4 total") != std::string::npos); // three over SIP, one on the web
  CHECK(out.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("pchat.log-format=json writes every line as one JSON object with the context as members") {
  pchatd_process server{{"--pchat.log-format=json", "--pchat.log-level=debug"}};
  auto lobby = server.add_room("Lobby has spaces");
  server.start();
  {
    auto alice = pchat::test::sign_in(server, "alice@example.com");
    REQUIRE(alice->join(lobby));
  }
  server.stop();
  std::istringstream lines(server.log());
  std::string line;
  int objects = 0;
  bool room_named = false;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{')
      continue; // Sofia's own lines go to stderr unformatted
    auto j = nlohmann::json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j.contains("ts"));
    CHECK(j.contains("level"));
    CHECK(j.contains("component"));
    CHECK(j.contains("msg"));
    ++objects;
    // A value with spaces was written quoted and comes back whole.
    room_named = room_named || (j.contains("room") && j["room"] == "Lobby has spaces");
  }
  CHECK(objects >= 3);
  CHECK(room_named);
}
