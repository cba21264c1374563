// The way a new user starts pchatd (tools/run.sh): a data directory made by `pchatctl init --demo`, the shipped
// tools/pchatd.ini, the web server on. pchatd must come up, stay up and serve a sign-in and the demo rooms. The
// other end-to-end tests start from an empty directory, which once hid a start-up crash in Sofia's parameter
// handling (NUTAG_ALLOW: msg_params_join read uninitialised memory inside nua_set_params). Whether such a read
// crashes depends on what the heap held; glibc's MALLOC_PERTURB_ fills fresh allocations with a pattern, which
// turned that crash from "often" into "every start", so pchatd runs with it here.
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "client/chat_client.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"

using pchat::test::pchatd_process;

TEST_CASE("pchatd starts on a demo data directory with the shipped configuration and the web server on") {
  ::setenv("MALLOC_PERTURB_", "165", 1); // inherited by pchatd and pchatctl
  for (int round = 0; round < 2; ++round) {
    pchatd_process server({"--config-file=" PCHAT_SOURCE_DIR "/tools/pchatd.ini"});
    std::string out;
    REQUIRE(server.ctl("init --demo", &out) == 0);
    server.start();
    CHECK_FALSE(server.web_url().empty());
    auto alice = pchat::test::sign_in(server, "alice@example.com");
    auto rooms = alice->search("");
    INFO(out);
    REQUIRE(rooms.ok());
    bool lobby = false;
    for (const auto& r : rooms.value())
      lobby = lobby || r.name == "Lobby";
    CHECK(lobby);
    CHECK(server.running());
  }
  ::unsetenv("MALLOC_PERTURB_");
}

TEST_CASE("pchatd pchatctl and pchat say their version and a running pchatd reports it in its metrics") {
  for (const std::string& program : {pchat::test::tests_pchatd(), std::string{PCHATCTL_PATH}, std::string{PCHAT_PATH}}) {
    std::string out;
    CHECK(pchatd_process::run_capture(program + " --version", out) == 0);
    INFO(out);
    CHECK(out.find(" 0.") != std::string::npos); // "pchatd 0.1.0"
    CHECK(out.find('\n') == out.size() - 1);     // one line
  }
  pchatd_process server;
  server.start();
  // pchatd writes its stats once a second.
  CHECK(server.wait_stat("pchat_sip_registers_total", [](long long v) { return v >= 0; }));
  std::string stats;
  REQUIRE(server.ctl("stats", &stats) == 0);
  INFO(stats.substr(0, 2000));
  CHECK(stats.find("pchat_build_info{version=\"0.") != std::string::npos);
}
