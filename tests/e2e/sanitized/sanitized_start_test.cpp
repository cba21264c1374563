// pchatd built with AddressSanitizer and UBSan (cmake -DPCHAT_SANITIZE=address,undefined, the build-asan/ that
// tools/test.sh builds) starts the way tools/run.sh starts it, signs a client in over SIP/TCP and stops on SIGTERM
// without a single sanitizer report. A memory error in the SIP edge at start-up (Sofia's parameter handling once
// read memory it should not have, see demo_start_test.cpp) may not crash an ordinary build; here it fails.
//
// Its own executable, not part of e2e_tests: when there is no sanitizer build it must be reported as skipped, and
// ctest's SKIP_RETURN_CODE needs a process whose exit code means only that (a Catch2 runner returns the number
// of failed assertions, which could be anything). The client side is the ordinary client library in this
// process; only pchatd is sanitized.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>
#include <exception>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "client/chat_client.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"

using pchat::test::pchatd_process;

namespace {

constexpr int skip_code = 77; // SKIP_RETURN_CODE in tests/CMakeLists.txt

// The sanitizer runtimes a -fsanitize=address,undefined build links (GCC links both as shared libraries): a pchatd
// path that points at an ordinary build would otherwise pass without checking anything.
// The binary is read in chunks (with debug info it is hundreds of MB); the names are in its dynamic string table.
bool links_sanitizers(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  bool asan = false, ubsan = false;
  std::string window;
  std::vector<char> chunk(1 << 20);
  while (!(asan && ubsan) && in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    // Keep the previous chunk's last bytes, so a name that straddles two chunks is still found.
    window = window.substr(window.size() > 16 ? window.size() - 16 : 0);
    window.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    asan = asan || window.find("libasan.so") != std::string::npos;
    ubsan = ubsan || window.find("libubsan.so") != std::string::npos;
  }
  return asan && ubsan;
}

// A REQUIRE that fails before the end (pchatd died of a report during sign-in) unwinds past the final checks:
// pchatd's stderr, with the report, goes to the test's output then.
struct log_on_failure {
  const pchatd_process& server;
  ~log_on_failure() {
    if (std::uncaught_exceptions() > 0)
      std::cerr << "pchatd's stderr:\n" << server.log() << std::endl;
  }
};

} // namespace

TEST_CASE("pchatd built with AddressSanitizer and UBSan starts, signs a client in and stops without a report") {
  REQUIRE(links_sanitizers(SANITIZED_PCHATD_PATH));
  // Sofia-SIP keeps allocations it never frees until exit by design (its home-based memory and global state),
  // so LeakSanitizer's report at exit would always be there and say nothing about pchat: leaks are not checked.
  ::setenv("ASAN_OPTIONS", "detect_leaks=0", 1); // inherited by pchatd
  ::setenv("UBSAN_OPTIONS", "print_stacktrace=1", 1);

  // The shipped configuration on a demo data directory, the web server on (any free port): the start-up of
  // tools/run.sh, on free loopback ports and a temporary directory.
  pchatd_process server({"--config-file=" PCHAT_SOURCE_DIR "/tools/pchatd.ini"}, SANITIZED_PCHATD_PATH);
  log_on_failure guard{server};
  std::string out;
  REQUIRE(server.ctl("init --demo", &out) == 0);
  server.start(); // waits for "pchatd ready"; fails with pchatd's log (its stderr) if it dies first
  CHECK_FALSE(server.web_url().empty());

  // REGISTER, SUBSCRIBE provisioning, INVITE the pool, cmd:requri (INFO), BYE, INVITE the channel.
  auto alice = pchat::test::sign_in(server, "alice@example.com");
  auto rooms = alice->search(""); // one more INFO command on the channel dialog: the room list
  REQUIRE(rooms.ok());
  bool lobby = false;
  for (const auto& r : rooms.value())
    lobby = lobby || r.name == "Lobby";
  CHECK(lobby);
  alice->sign_out(); // BYE the channel dialog, unsubscribe, unregister
  alice.reset();

  REQUIRE(server.running());
  int status = server.stop(); // SIGTERM, then the exit status (128 + signal when a signal ended it)
  auto log = server.log();
  INFO("pchatd's stderr:\n" << log);
  CHECK(log.find("ERROR: AddressSanitizer") == std::string::npos);
  CHECK(log.find("runtime error:") == std::string::npos); // UBSan
  CHECK(status == 0);
}

int main(int argc, char* argv[]) {
  std::signal(SIGPIPE, SIG_IGN); // as tests/main.cpp: a closed connection is an error the test sees
  if (!std::filesystem::exists(SANITIZED_PCHATD_PATH)) {
    std::cout << "SKIPPED: no sanitizer build of pchatd at " SANITIZED_PCHATD_PATH " (tools/test.sh builds it: "
                 "cmake -S . -B build-asan -DPCHAT_SANITIZE=address,undefined && cmake --build build-asan --target "
                 "pchatd; the CMake cache variable PCHAT_SANITIZED_PCHATD names another)\n";
    return skip_code;
  }
  return Catch::Session().run(argc, argv) == 0 ? 0 : 1;
}
