// Running pchatd for real (docs/operations.md): the configuration is checked key by key with the file and line
// of every mistake, only `pchatctl init` makes a store (pchatd and every other command refuse a directory without
// one and create nothing), pchatctl finds the data directory, domain and run directory in pchatd's configuration,
// and `pchatctl check` reports what would stop pchatd or its users. Real pchatd and pchatctl processes.
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "support/temp_dir.hpp"

using pchat::test::pchatd_process;
using pchat::test::temp_dir;

namespace {

int run(const std::string& command, std::string& out) {
  return pchatd_process::run_capture(command, out);
}

std::string pchatctl() {
  return PCHATCTL_PATH;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

} // namespace

TEST_CASE("pchatd refuses a configuration with an unknown key a wrong type or a repeated key and names file and line") {
  temp_dir work;
  pchatd_process::init_store(work.str("data"));
  write(work.str("bad.ini"), "; a comment\n[pchat]\ndata-dir=\"" + work.str("data") +
                               "\"\nlog-levle=\"debug\"\n[sip]\nport=abc\nudp=yes\n[web]\nport=8081\nport=8082\n"
                               "[sipp]\nhost=\"x\"\n");
  std::string out;
  int rc = run(pchat::test::tests_pchatd() + " --config-file=" + work.str("bad.ini"), out);
  INFO(out);
  CHECK(rc == 2);
  CHECK(out.find("bad.ini:4: unknown option pchat.log-levle (did you mean pchat.log-level?)") != std::string::npos);
  CHECK(out.find("bad.ini:6: sip.port=abc: expected a whole number") != std::string::npos);
  CHECK(out.find("bad.ini:7: sip.udp=yes: expected true or false") != std::string::npos);
  CHECK(out.find("bad.ini:10: web.port is set twice (first at ") != std::string::npos);
  CHECK(out.find("bad.ini:11: unknown section [sipp]") != std::string::npos);
  CHECK(out.find("not started") != std::string::npos);

  // The command line is checked the same way.
  rc = run(pchat::test::tests_pchatd() + " --pchat.data-dir=" + work.str("data") + " --sip.prot=5070", out);
  CHECK(rc == 2);
  CHECK(out.find("the command line: unknown option sip.prot (did you mean sip.port?)") != std::string::npos);
  rc = run(pchat::test::tests_pchatd() + " --config-file=" + work.str("missing.ini"), out);
  CHECK(rc == 2);
  CHECK(out.find("missing.ini: cannot read it") != std::string::npos);
}

TEST_CASE("pchatd --help lists every option with its default on stdout and exits 0") {
  std::string out;
  int rc = run(pchat::test::tests_pchatd() + " --help 2>/dev/null", out);
  CHECK(rc == 0);
  for (const char* option : {"--pchat.data-dir=", "--pchat.run-dir=", "--sip.port=", "--sip.tls-port=",
                             "--tls.certificate=", "--compliance.enabled=true|false", "--web.port=",
                             "--scheduler.max-threads="})
    CHECK(out.find(option) != std::string::npos);
  CHECK(out.find("(default 5060)") != std::string::npos);
}

TEST_CASE("pchatd and pchatctl refuse a data directory without a store and create nothing") {
  temp_dir work;
  std::string out;
  int rc = run(pchat::test::tests_pchatd() + " --pchat.data-dir=" + work.str("typo") + " --sip.port=" +
                 std::to_string(pchatd_process::free_port()) + " --web.enabled=false",
               out);
  INFO(out);
  CHECK(rc == 2);
  CHECK(out.find("holds no pchat store: create one with `pchatctl init`") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(work.str("typo")));

  for (const char* command : {"room add X --category General", "category add General", "user add a@example.com "
                                                                                         "--password p",
                              "room list"}) {
    rc = run(pchatctl() + " --data " + work.str("typo") + " " + command, out);
    CHECK(rc == 1);
    CHECK(out.find("holds no pchat store: `pchatctl init` creates one") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(work.str("typo")));
  }
  // An empty directory (what systemd's StateDirectory= makes) is no store either.
  std::filesystem::create_directories(work.str("empty"));
  rc = run(pchatctl() + " --data " + work.str("empty") + " room list", out);
  CHECK(rc == 1);
  CHECK(std::filesystem::is_empty(work.str("empty")));
  rc = run(pchatctl() + " --data " + work.str("empty") + " init", out);
  CHECK(rc == 0);
  CHECK(out.find("data directory ready") != std::string::npos);
  rc = run(pchatctl() + " --data " + work.str("empty") + " room list", out);
  CHECK(rc == 0);
}

TEST_CASE("pchatctl reads pchatd's configuration for the data directory the domain and the run directory") {
  temp_dir run_dir;
  pchatd_process with_run({"--pchat.domain=corp.example", "--pchat.run-dir=" + run_dir.str("run")});
  std::string ini = std::filesystem::path(with_run.data_dir()).parent_path().string() + "/pchatd.ini";
  write(ini, "[pchat]\ndata-dir=\"" + with_run.data_dir() + "\"\ndomain=\"corp.example\"\nrun-dir=\"" +
               run_dir.str("run") + "\"\n");
  std::string out;
  // Offline: straight into the store, with the domain from the file (room URIs carry it).
  int rc = run(pchatctl() + " --config " + ini + " category add General", out);
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(out.find("ma-cat://corp.example/") != std::string::npos);
  // Running: through the socket in the run directory.
  with_run.start();
  CHECK(std::filesystem::exists(run_dir.str("run") + "/pchatd.sock"));
  CHECK_FALSE(std::filesystem::exists(with_run.data_dir() + "/pchatd.sock"));
  rc = run(pchatctl() + " --config " + ini + " room add Ops --category General", out);
  CHECK(rc == 0);
  CHECK(out.find("ma-chan://corp.example/") != std::string::npos);
  auto alice = pchat::test::sign_in(with_run, "alice@corp.example");
  auto found = alice->search("Ops");
  REQUIRE(found.ok());
  CHECK(found.value().size() == 1);
  // pchatd.stats is in the run directory too: the configuration finds it, --data alone does not.
  CHECK(with_run.wait_stat("pchat_build_info{version", [](long long v) { return v == -1; }));
  rc = run(pchatctl() + " --config " + ini + " stats", out);
  CHECK(rc == 0);
  CHECK(out.find("pchat_build_info") != std::string::npos);
  // A broken configuration stops pchatctl too, with the line.
  write(ini, "[pchat]\ndata-dir=\"" + with_run.data_dir() + "\"\ndomian=\"corp.example\"\n");
  rc = run(pchatctl() + " --config " + ini + " room list", out);
  CHECK(rc == 2);
  CHECK(out.find("pchatd.ini:3: unknown option pchat.domian") != std::string::npos);
}

TEST_CASE("pchatctl check passes a good configuration and names every problem in a bad one") {
  temp_dir work;
  pchatd_process::init_store(work.str("data"));
  auto port = std::to_string(pchatd_process::free_port());
  auto web_port = std::to_string(pchatd_process::free_port());
  write(work.str("good.ini"), "[pchat]\ndata-dir=\"" + work.str("data") + "\"\ndomain=\"example.com\"\n[sip]\nport=" +
                                port + "\n[web]\nport=" + web_port + "\n");
  std::string out;
  int rc = run(pchatctl() + " --config " + work.str("good.ini") + " check", out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("ok       configuration") != std::string::npos);
  CHECK(out.find("sip.port 127.0.0.1:" + port + " is free") != std::string::npos);
  CHECK(out.find("no errors") != std::string::npos);

  // An account made for another realm, the web on the SIP port, a certificate that is not there, a wrong enum.
  REQUIRE(run(pchatctl() + " --data " + work.str("data") + " --domain other.example user add bob@example.com "
                                                           "--password pw",
              out) == 0);
  write(work.str("bad.ini"), "[pchat]\ndata-dir=\"" + work.str("data") + "\"\ndomain=\"example.com\"\n[sip]\nport=" +
                               port + "\nauth=\"kerberos\"\n[web]\nport=" + port + "\n[tls]\ncertificate=\"" +
                               work.str("none.crt") + "\"\nkey=\"" + work.str("none.key") + "\"\n");
  rc = run(pchatctl() + " --config " + work.str("bad.ini") + " check", out);
  CHECK(rc == 2); // a value of the configuration is wrong: 2, which systemd does not restart on
  CHECK(out.find("sip.auth=kerberos: expected") != std::string::npos);
  CHECK(out.find("warning  1 account has its password for realm other.example but pchat.domain is example.com") !=
        std::string::npos);
  CHECK(out.find("sip.port and web.port are both " + port) != std::string::npos);
  CHECK(out.find("none.crt") != std::string::npos);

  // A syntax error is reported as such, and nothing else is checked.
  write(work.str("typo.ini"), "[pchat]\ndata-dri=\"x\"\n");
  rc = run(pchatctl() + " --config " + work.str("typo.ini") + " check", out);
  CHECK(rc == 2);
  CHECK(out.find("typo.ini:2: unknown option pchat.data-dri (did you mean pchat.data-dir?)") != std::string::npos);

  // A missing data directory.
  rc = run(pchatctl() + " --data " + work.str("nowhere") + " check", out);
  CHECK(rc == 1);
  CHECK(out.find("does not exist: pchatctl init creates it") != std::string::npos);
}

TEST_CASE("pchatctl --json prints every list and show command as JSON offline and through a running pchatd") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby \"quoted\"", "--topic 'a\ttab' --privacy closed");
  std::string out;
  REQUIRE(server.ctl("member add 'Lobby \"quoted\"' alice@example.com --role manager", &out) == 0);
  REQUIRE(server.ctl("user add bob@example.com --password pw --name 'Bob B'", &out) == 0);
  REQUIRE(server.ctl("policy set domain example.com disabled", &out) == 0);
  auto check = [&] {
    REQUIRE(server.ctl("room list --json", &out) == 0);
    auto rooms = nlohmann::json::parse(out);
    REQUIRE(rooms.size() == 1);
    CHECK(rooms[0]["name"] == "Lobby \"quoted\"");
    CHECK(rooms[0]["topic"] == "a\ttab");
    CHECK(rooms[0]["privacy"] == "closed");
    CHECK(rooms[0]["uri"] == lobby);
    REQUIRE(server.ctl("room show " + lobby + " --json", &out) == 0);
    auto room = nlohmann::json::parse(out);
    CHECK(room["members"][0]["user"] == "sip:alice@example.com");
    CHECK(room["members"][0]["roles"] == nlohmann::json::array({"manager"}));
    REQUIRE(server.ctl("category list --json", &out) == 0);
    CHECK(nlohmann::json::parse(out)[0]["name"] == "General");
    REQUIRE(server.ctl("category show General --json", &out) == 0);
    CHECK(nlohmann::json::parse(out)["logged"] == true);
    REQUIRE(server.ctl("member list " + lobby + " --json", &out) == 0);
    CHECK(nlohmann::json::parse(out).size() == 1);
    REQUIRE(server.ctl("user list --json", &out) == 0);
    auto users = nlohmann::json::parse(out);
    CHECK(users[0]["user"] == "sip:bob@example.com");
    CHECK(users[0]["name"] == "Bob B");
    CHECK(users[0]["enabled"] == true);
    REQUIRE(server.ctl("policy show --json", &out) == 0);
    CHECK(nlohmann::json::parse(out)[0]["scope"] == "domain");
    REQUIRE(server.ctl("policy show user carol@example.com --json", &out) == 0);
    CHECK(nlohmann::json::parse(out)["persistent_chat"] == false);
    REQUIRE(server.ctl("history " + lobby + " 5 --json", &out) == 0);
    CHECK(nlohmann::json::parse(out).is_array());
  };
  check(); // offline: pchatctl opens the store
  server.start();
  check(); // online: pchatd runs the same commands for it
  CHECK(server.ctl("history " + lobby + " five", &out) == 2);
  CHECK(out.find("five is not a number") != std::string::npos);
}

TEST_CASE("the programs answer --help on stdout with exit 0 and refuse bad numbers with a message and exit 2") {
  std::string out;
  for (const std::string& program : {std::string{PCHAT_PATH}, std::string{PCHATCTL_PATH}, pchat::test::tests_pchatd()}) {
    INFO(program);
    CHECK(pchatd_process::run_capture(program + " --help 2>/dev/null", out) == 0);
    CHECK(out.find("sage") != std::string::npos); // "usage:" or "Usage:"
  }
  CHECK(pchatd_process::run_capture(PCHAT_PATH " --user a@example.com --timeout abc rooms", out) == 2);
  CHECK(out.find("--timeout") != std::string::npos);
  CHECK(pchatd_process::run_capture(PCHAT_PATH " --user a@example.com --server host:70000 rooms", out) == 2);
  CHECK(out.find("port 1..65535") != std::string::npos);
  CHECK(pchatd_process::run_capture(PCHAT_PATH " rooms", out) == 2);
  CHECK(out.find("--user is required") != std::string::npos);
  CHECK(pchatd_process::run_capture(pchat::test::tests_pchatd() + " --sip.port=http", out) == 2);
  CHECK(out.find("sip.port=http: expected a whole number") != std::string::npos);
}
