#pragma once
// A minimal W3C WebDriver client for browser tests: starts Debian's chromedriver on a free loopback port, opens a
// headless Chromium session and drives it over HTTP (cpp-httplib's client, nlohmann-json). Only what the tests
// use: navigate, find, click, type, choose, read text, wait for a condition, screenshot.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/pchatd_process.hpp"

namespace pchat::test {

class webdriver {
public:
  using json = nlohmann::json;

  webdriver() {
    const char* driver = std::getenv("CHROMEDRIVER") ? std::getenv("CHROMEDRIVER") : "/usr/bin/chromedriver";
    const char* browser = std::getenv("CHROMIUM") ? std::getenv("CHROMIUM") : "/usr/bin/chromium";
    INFO("the browser tests need Debian's chromium and chromium-driver: run tools/deps.sh --test");
    REQUIRE(std::filesystem::exists(driver));
    REQUIRE(std::filesystem::exists(browser));
    std::string tmpl = (std::filesystem::temp_directory_path() / "pchat-browser-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    port_ = pchatd_process::free_port();
    log_ = (dir_ / "chromedriver.log").string();
    driver_.pid = ::fork();
    REQUIRE(driver_.pid >= 0);
    if (driver_.pid == 0) {
      std::string port_arg = "--port=" + std::to_string(port_);
      std::string log_arg = "--log-path=" + log_;
      ::execl(driver, driver, port_arg.c_str(), log_arg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    http_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    http_->set_read_timeout(60, 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool ready = false;
    while (!ready && std::chrono::steady_clock::now() < deadline) {
      if (auto r = http_->Get("/status"); r && r->status == 200) {
        auto j = json::parse(r->body, nullptr, false);
        ready = j.is_object() && j.contains("value") && j["value"].is_object() && j["value"].value("ready", false);
      }
      if (!ready)
        std::this_thread::sleep_for(std::chrono::milliseconds(50)); // chromedriver has no readiness signal
    }
    INFO("chromedriver did not become ready; its log: " << log_);
    REQUIRE(ready);
    json args = {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1000,1300", "--user-data-dir=" + (dir_ / "profile").string()};
    json caps = {{"capabilities",
                  {{"alwaysMatch",
                    {{"browserName", "chrome"},
                     {"goog:chromeOptions", {{"binary", browser}, {"args", args}}}}}}}};
    auto created = call("POST", "/session", caps);
    session_ = created.at("sessionId").get<std::string>();
  }

  ~webdriver() {
    if (!session_.empty())
      http_->Delete(("/session/" + session_).c_str()); // closes the browser
  }

  webdriver(const webdriver&) = delete;
  webdriver& operator=(const webdriver&) = delete;

  void navigate(const std::string& url) { session_call("POST", "/url", {{"url", url}}); }

  // The element matching a CSS selector, or nullopt.
  std::optional<std::string> find(const std::string& css) {
    auto r = raw("POST", "/session/" + session_ + "/element", {{"using", "css selector"}, {"value", css}});
    if (r.status != 200)
      return std::nullopt;
    return r.body.at("value").at("element-6066-11e4-a52e-4f735466cecf").get<std::string>();
  }

  std::string element(const std::string& css) {
    auto e = find(css);
    INFO("no element " << css);
    REQUIRE(e);
    return *e;
  }

  void click(const std::string& css) { session_call("POST", "/element/" + element(css) + "/click", json::object()); }
  void type(const std::string& css, const std::string& text) {
    auto e = element(css);
    session_call("POST", "/element/" + e + "/clear", json::object());
    session_call("POST", "/element/" + e + "/value", {{"text", text}});
  }
  // Chooses the <option> with this value in a <select>.
  void choose(const std::string& select_css, const std::string& value) {
    click(select_css + " option[value=\"" + value + "\"]");
  }
  // Runs JavaScript in the page; its return value.
  json script(const std::string& body, json args = json::array()) {
    return session_call("POST", "/execute/sync", {{"script", body}, {"args", std::move(args)}});
  }
  std::string text(const std::string& css) {
    return session_call("GET", "/element/" + element(css) + "/text").get<std::string>();
  }
  bool visible(const std::string& css) {
    auto e = find(css);
    return e && session_call("GET", "/element/" + *e + "/displayed").get<bool>();
  }

  // Waits (up to `limit`) until `cond` holds; fails the test naming `what`, with the page's text, otherwise.
  void wait_until(const std::string& what, const std::function<bool()>& cond,
                  std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) {
        INFO("page text:\n" << script("return document.body.innerText;").get<std::string>());
        FAIL("timed out waiting for: " << what);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50)); // the page has no event we can wait on from here
    }
  }

  // A PNG of the viewport.
  std::string screenshot() { return base64_decode(session_call("GET", "/screenshot").get<std::string>()); }

private:
  struct reply {
    int status = 0;
    json body;
  };

  reply raw(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Result r = method == "GET"      ? http_->Get(path.c_str())
                        : method == "DELETE" ? http_->Delete(path.c_str())
                                             : http_->Post(path.c_str(), body.dump(), "application/json");
    INFO(method << " " << path << ": no answer from chromedriver");
    REQUIRE(r);
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  json call(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto r = raw(method, path, body);
    INFO(method << " " << path << " -> " << r.status << " " << r.body.dump());
    REQUIRE(r.status == 200);
    return r.body.at("value");
  }

  json session_call(const std::string& method, const std::string& path, const json& body = nullptr) {
    return call(method, "/session/" + session_ + path, body);
  }

  static std::string base64_decode(const std::string& in) {
    auto val = [](char c) -> int {
      if (c >= 'A' && c <= 'Z')
        return c - 'A';
      if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
      if (c >= '0' && c <= '9')
        return c - '0' + 52;
      return c == '+' ? 62 : c == '/' ? 63 : -1;
    };
    std::string out;
    int bits = 0;
    unsigned acc = 0;
    for (char c : in) {
      int v = val(c);
      if (v < 0)
        continue;
      acc = (acc << 6) | static_cast<unsigned>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
    return out;
  }

  // Owned resources as members, so a failed REQUIRE in the constructor still stops chromedriver and removes the
  // directory (the members' destructors run; the class's would not).
  struct scratch_dir {
    std::filesystem::path path;
    ~scratch_dir() {
      if (!path.empty() && std::getenv("PCHAT_KEEP_TEST_DIRS") == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
      }
    }
  };
  struct child {
    pid_t pid = -1;
    ~child() {
      if (pid > 0) {
        ::kill(pid, SIGTERM);
        ::waitpid(pid, nullptr, 0);
      }
    }
  };

  scratch_dir dir_holder_;
  std::filesystem::path& dir_ = dir_holder_.path;
  child driver_;
  std::string log_;
  std::uint16_t port_ = 0;
  std::unique_ptr<httplib::Client> http_;
  std::string session_;
};

} // namespace pchat::test
