#pragma once
// Runs a real pchatd for end-to-end tests: a free loopback port, a fresh data directory, synchronised on the
// "pchatd ready" line it prints once SIP is listening (never on sleeps). Restart keeps the data directory;
// kill9() is the crash case. pchatctl runs against the same directory.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "client/launcher.hpp"

namespace pchat::test {

// The pchatd the tests start: this build's, or the one PCHAT_TEST_PCHATD names. ctest runs the e2e and
// conformance tests a second time with it set to the AddressSanitizer+UBSan build (build-asan/, tests/CMakeLists.txt):
// every pchatd those tests start is then sanitized, and any report in its log fails the test (stop()).
// The pchatd the tests run. Only the sanitized run can name one that is not there (tools/test.sh builds it): then
// the test says SKIPPED (ctest's SKIP_REGULAR_EXPRESSION for that run) and stops, whether it starts pchatd
// through pchatd_process or runs the binary itself.
inline std::string tests_pchatd() {
  const char* p = std::getenv("PCHAT_TEST_PCHATD");
  std::string binary = p && *p ? std::string{p} : std::string{PCHATD_PATH};
  if (!std::filesystem::exists(binary)) {
    std::cout << "SKIPPED: no pchatd at " << binary << " (tools/test.sh builds the sanitizer build)" << std::endl;
    throw std::runtime_error("no pchatd at " + binary);
  }
  return binary;
}

class pchatd_process {
public:
  // `binary`: another pchatd build than the tests' own (the sanitizer build, tests/e2e/sanitized/).
  explicit pchatd_process(std::vector<std::string> extra_args = {}, std::string binary = tests_pchatd())
    : extra_(std::move(extra_args)), binary_(std::move(binary)) {
    if (!std::filesystem::exists(binary_)) {
      // Only the sanitized run can name a pchatd that is not there (tools/test.sh builds it): skipped, not failed
      // (ctest's SKIP_REGULAR_EXPRESSION for that run).
      std::cout << "SKIPPED: no pchatd at " << binary_ << " (tools/test.sh builds the sanitizer build)" << std::endl;
      throw std::runtime_error("no pchatd at " + binary_);
    }
    if (binary_ != PCHATD_PATH) {
      // Sofia-SIP keeps allocations it never frees until exit by design, so LeakSanitizer would always report:
      // leaks are not checked (docs/security.md "Sanitizers"). Inherited by every pchatd started from here.
      ::setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
      ::setenv("UBSAN_OPTIONS", "print_stacktrace=1", 1);
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "pchat-e2e-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    port_ = free_port();
    init_store(data_dir());
  }

  // `pchatctl init` on `dir`: pchatd starts only on a store that init made.
  static void init_store(const std::string& dir) {
    std::string out;
    INFO(out);
    REQUIRE(run_capture(std::string(PCHATCTL_PATH) + " --data '" + dir + "' init", out) == 0);
  }

  ~pchatd_process() {
    stop();
    if (std::getenv("PCHAT_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  pchatd_process(const pchatd_process&) = delete;
  pchatd_process& operator=(const pchatd_process&) = delete;

  std::uint16_t port() const { return port_; }
  std::string data_dir() const { return (dir_ / "data").string(); }
  std::string log_path() const { return (dir_ / "pchatd.log").string(); }

  // Starts pchatd and waits (up to 20 s) for its ready line; fails the test with its log otherwise.
  void start() {
    REQUIRE(pid_ <= 0);
    client::launched r;
    for (int attempt = 0;; ++attempt) {
      std::vector<std::string> args = {"--pchat.data-dir=" + data_dir(), "--sip.port=" + std::to_string(port_),
                                       "--pchat.log-level=info", "--scheduler.max-threads=2", "--web.port=0"};
      args.insert(args.end(), extra_.begin(), extra_.end());
      auto log_before = log().size();
      r = client::launch_pchatd(binary_, args, dir_.string(), log_path(), std::chrono::seconds(20));
      // Another process may bind the port free_port() found before pchatd does. Before the first start no client
      // knows the port yet, so a new one is as good: try again (a restart keeps its port).
      bool port_taken = !r.error.empty() && log().find("cannot listen on sip:", log_before) != std::string::npos;
      if (!port_taken || started_ || attempt == 3)
        break;
      port_ = free_port();
    }
    INFO("pchatd stdout: " << r.output << "\npchatd log:\n" << log());
    REQUIRE(r.error.empty());
    pid_ = r.pid;
    started_ = true;
    // "... web=http://127.0.0.1:PORT" (any free port: --web.port=0, unless the test chose one)
    web_url_.clear();
    if (auto at = r.output.find(" web="); at != std::string::npos) {
      auto end = r.output.find_first_of(" \r\n", at + 5);
      web_url_ = r.output.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5);
    }
  }

  // The web server's base URL ("http://127.0.0.1:PORT"), empty when web is off.
  const std::string& web_url() const { return web_url_; }
  // Its port (0 when web is off).
  std::uint16_t web_port() const {
    auto colon = web_url_.rfind(':');
    return colon == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(web_url_.substr(colon + 1)));
  }

  // SIGTERM and wait; returns the exit status (or -1 if it had to be killed).
  int stop() {
    if (pid_ <= 0)
      return 0;
    ::kill(pid_, SIGTERM);
    int status = wait_exit(std::chrono::seconds(15));
    pid_ = -1;
    check_sanitizer_reports();
    return status;
  }

  // The crash case: no shutdown at all.
  void kill9() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
    pid_ = -1;
    check_sanitizer_reports();
  }

  // A report of AddressSanitizer or UBSan in pchatd's log (its stderr) fails the test: UBSan goes on after one,
  // and an ASan abort in the middle of a test might otherwise look like any other lost connection.
  void check_sanitizer_reports() {
    auto text = log();
    for (const char* marker : {"ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"}) {
      auto at = text.find(marker);
      if (at == std::string::npos)
        continue;
      auto from = text.rfind('\n', at);
      FAIL_CHECK("pchatd's log has a sanitizer report:\n"
                 << text.substr(from == std::string::npos ? 0 : from + 1, 4000));
      return;
    }
  }

  void restart() {
    stop();
    start();
  }

  bool running() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
  pid_t pid() const { return pid_; }

  std::string log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Runs pchatctl against this data directory; returns its exit code and output.
  int ctl(const std::string& args, std::string* output = nullptr) const {
    std::string text;
    int rc = run_capture(std::string(PCHATCTL_PATH) + " --data '" + data_dir() + "' " + args, text);
    if (output)
      *output = text;
    return rc;
  }

  // The value of one line "name value" of the running server's metrics (pchatctl stats); -1 when absent.
  long long stat(const std::string& name) const {
    std::string out;
    if (ctl("stats", &out) != 0)
      return -1;
    out.insert(0, "\n");
    auto at = out.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stoll(out.substr(at + name.size() + 2));
  }

  // pchatd rewrites its stats once a second: polls until `ok(stat(name))` holds (true) or `limit` passes (false).
  template <class Pred>
  bool wait_stat(const std::string& name, Pred ok, std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ok(stat(name)))
        return true;
      ::poll(nullptr, 0, 50);
    }
    return false;
  }

  // Runs the pchat CLI against this server, with `env` in front (e.g. "PCHAT_PASSWORD=x"); exit code and output.
  int pchat(const std::string& args, std::string& out, const std::string& env = {}) const {
    return run_capture(env + " " + std::string(PCHAT_PATH) + " --server 127.0.0.1:" + std::to_string(port_) + " " +
                         args,
                       out);
  }

  // Runs a shell command, stdout and stderr into `out`; its exit status (-1 if it did not exit).
  static int run_capture(const std::string& command, std::string& out) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    out.clear();
    char buf[512];
    while (auto n = std::fread(buf, 1, sizeof buf, p))
      out.append(buf, n);
    int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Creates a room offline and returns its ma-chan:// URI (pchatd must be stopped).
  std::string add_room(const std::string& name, const std::string& extra = "") const {
    std::string out;
    ctl("category list", &out);
    if (out.find("General\t") == std::string::npos)
      REQUIRE(ctl("category add General") == 0);
    REQUIRE(ctl("room add '" + name + "' --category General " + extra, &out) == 0);
    auto tab = out.find('\t');
    REQUIRE(tab != std::string::npos);
    auto uri = out.substr(tab + 1);
    while (!uri.empty() && (uri.back() == '\n' || uri.back() == '\r'))
      uri.pop_back();
    return uri;
  }

  static std::uint16_t free_port() {
    auto port = client::free_loopback_port();
    REQUIRE(port != 0);
    return port;
  }

private:
  int wait_exit(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pollfd none{};
      ::poll(&none, 0, 20); // waitpid has no timeout; poll(0 fds) is a short, signal-safe wait
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    return -1;
  }

  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool started_ = false; // started once: clients may know port_
  std::vector<std::string> extra_;
  std::string binary_;
  std::string web_url_;
};

} // namespace pchat::test
