// Accounts and policy end to end: pchatctl manages users and the persistent chat policy of a running pchatd
// (admin socket) and the pchat client signs in with SIP Digest, or is refused.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/pchatd_process.hpp"
#include "client/chat_client.hpp"

using namespace pchat;
using namespace pchat::client;
using pchat::test::pchatd_process;

namespace {

// The pchat CLI against `server`, with `env` in front (e.g. "PCHAT_PASSWORD=x").
int run_pchat(const pchatd_process& server, const std::string& args, std::string& out, const std::string& env = {}) {
  return server.pchat("--timeout 10 " + args, out, env);
}

chat_config config_for(const pchatd_process& server, const std::string& user, const std::string& password) {
  chat_config cfg;
  cfg.user = user;
  cfg.port = server.port();
  cfg.timeout = duration{10000};
  cfg.password = password;
  return cfg;
}

} // namespace

TEST_CASE("pchatctl user add on a running pchatd, then pchat with the right and the wrong password (digest)") {
  pchatd_process server{{"--sip.auth=digest"}};
  REQUIRE(server.ctl("init --demo") == 0);
  server.start();

  std::string out;
  auto file = server.data_dir() + "/../alice.password";
  std::ofstream(file) << "first secret\n";
  REQUIRE(server.ctl("user add alice@example.com --password-file '" + file + "' --name 'Alice L'", &out) == 0);
  CHECK(out.find("sip:alice@example.com\tAlice L\tenabled") != std::string::npos);
  REQUIRE(server.ctl("user list", &out) == 0);
  CHECK(out.find("sip:alice@example.com") != std::string::npos);
  CHECK(out.find("first secret") == std::string::npos); // only digests are kept

  REQUIRE(run_pchat(server, "--user alice@example.com --password 'first secret' rooms", out) == 0);
  CHECK(out.find("Lobby") != std::string::npos);
  CHECK(run_pchat(server, "--user alice@example.com --password 'wrong' rooms", out) == 1);
  CHECK(out.find("403") != std::string::npos);
  CHECK(out.find("Lobby") == std::string::npos);
  CHECK(run_pchat(server, "--user alice@example.com rooms", out) == 1); // no password: the 401 stays unanswered
  CHECK(out.find("401") != std::string::npos);
  CHECK(run_pchat(server, "--user mallory@example.com --password 'first secret' rooms", out) == 1);
  CHECK(out.find("403") != std::string::npos);
  REQUIRE(run_pchat(server, "--user alice@example.com post Lobby 'hello with Digest'", out,
                    "PCHAT_PASSWORD='first secret'") == 0);
  CHECK(out.find("posted #1") != std::string::npos);

  // A new password applies to the next sign-in, the old one stops working; a removed user cannot sign in.
  REQUIRE(server.ctl("user passwd alice@example.com --password 'second secret'") == 0);
  CHECK(run_pchat(server, "--user alice@example.com --password 'first secret' rooms", out) == 1);
  REQUIRE(run_pchat(server, "--user alice@example.com --password 'second secret' history Lobby 1", out) == 0);
  CHECK(out.find("sip:alice@example.com: hello with Digest") != std::string::npos);
  REQUIRE(server.ctl("user set alice@example.com --disabled true") == 0);
  CHECK(run_pchat(server, "--user alice@example.com --password 'second secret' rooms", out) == 1);
  REQUIRE(server.ctl("user remove alice@example.com") == 0);
  CHECK(run_pchat(server, "--user alice@example.com --password 'second secret' rooms", out) == 1);
  CHECK(server.ctl("user remove alice@example.com") == 1); // not found
}

TEST_CASE("policy: a user with persistent chat disabled is told so in provisioning and gets 403 on INVITE") {
  pchatd_process server{{"--sip.auth=digest"}};
  REQUIRE(server.ctl("init --demo") == 0);
  REQUIRE(server.ctl("user add alice@example.com --password a") == 0);
  REQUIRE(server.ctl("user add bob@example.com --password b") == 0);
  server.start();
  // Changed while pchatd runs: the domain is off, alice is the exception.
  REQUIRE(server.ctl("policy set domain example.com disabled") == 0);
  REQUIRE(server.ctl("policy set user alice@example.com enabled") == 0);
  std::string out;
  REQUIRE(server.ctl("policy show user bob@example.com", &out) == 0);
  CHECK(out.find("disabled\tfrom the setting of domain example.com") != std::string::npos);

  chat_client bob{config_for(server, "bob@example.com", "b")};
  auto refused = bob.sign_in();
  REQUIRE_FALSE(refused.ok());
  CHECK_FALSE(bob.enabled()); // the provisioning document said EnablePersistentChat false
  CHECK(refused.message.find("not enabled") != std::string::npos);
  // bob INVITEs the chat service anyway (authenticated, on the connection the sign-in left open).
  auto invite = bob.agent().invite(bob.pool_uri().empty() ? "sip:pchat@example.com" : bob.pool_uri());
  REQUIRE_FALSE(invite);
  CHECK(invite.err().code == errc::rejected);
  CHECK(invite.err().status == 403);

  chat_client alice{config_for(server, "alice@example.com", "a")};
  REQUIRE(alice.sign_in().ok());
  CHECK(alice.enabled());
  alice.sign_out();

  // Back to the default for everyone: bob gets in without a restart.
  REQUIRE(server.ctl("policy set domain example.com inherit") == 0);
  chat_client bob_again{config_for(server, "bob@example.com", "b")};
  auto e = bob_again.sign_in();
  INFO(e.message);
  REQUIRE(e.ok());
  CHECK(bob_again.enabled());
  bob_again.sign_out();
  bob.sign_out();
}

TEST_CASE("policy: the global setting applies in anonymous mode too, and pchat says why it cannot sign in") {
  pchatd_process server; // loopback: sip.auth=auto is anonymous
  REQUIRE(server.ctl("init --demo") == 0);
  REQUIRE(server.ctl("policy set global disabled") == 0);
  server.start();
  std::string out;
  CHECK(run_pchat(server, "--user carol@example.com rooms", out) == 1);
  CHECK(out.find("persistent chat is not enabled for sip:carol@example.com") != std::string::npos);
  REQUIRE(server.ctl("policy set user carol@example.com enabled") == 0);
  REQUIRE(run_pchat(server, "--user carol@example.com rooms", out) == 0);
  CHECK(out.find("Lobby") != std::string::npos);
}
