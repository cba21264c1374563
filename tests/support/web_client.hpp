#pragma once
// One browser-like HTTP client of a test pchatd's web server: keeps the pchat_session cookie it was given and the
// sign-in's CSRF token, which it sends with every request that changes something, as the page does.
#include <string>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/pchatd_process.hpp"

namespace pchat::test {

using json = nlohmann::json;

// The status of an answer that must have come.
inline int code(const httplib::Result& r) {
  REQUIRE(r);
  return r->status;
}

// The JSON object an answer carries.
inline json body_of(const httplib::Result& r) {
  REQUIRE(r);
  auto j = json::parse(r->body, nullptr, false);
  INFO(r->body);
  REQUIRE(j.is_object());
  return j;
}

class web_client {
public:
  explicit web_client(const pchatd_process& server) : http_("127.0.0.1", server.web_port()) {
    REQUIRE(server.web_port() != 0);
    http_.set_read_timeout(20, 0);
  }

  httplib::Result get(const std::string& path) { return http_.Get(path.c_str(), headers(false)); }
  httplib::Result del(const std::string& path) {
    auto r = http_.Delete(path.c_str(), headers(true));
    REQUIRE(r);
    return r;
  }
  httplib::Result send(const std::string& method, const std::string& path, const json& body) {
    return send_raw(method, path, body.dump(), "application/json");
  }
  httplib::Result send_raw(const std::string& method, const std::string& path, const std::string& body,
                           const std::string& type) {
    auto h = headers(true);
    httplib::Result r = method == "POST"  ? http_.Post(path.c_str(), h, body, type.c_str())
                        : method == "PUT" ? http_.Put(path.c_str(), h, body, type.c_str())
                                          : http_.Patch(path.c_str(), h, body, type.c_str());
    REQUIRE(r);
    auto set = r->get_header_value("Set-Cookie");
    if (set.rfind("pchat_session=", 0) == 0)
      cookie_ = set.substr(0, set.find(';'));
    if (path == "/api/signin" && r->status == 200) {
      auto j = json::parse(r->body, nullptr, false);
      if (j.is_object() && j.contains("csrf") && j["csrf"].is_string())
        csrf_ = j["csrf"].get<std::string>();
    }
    return r;
  }
  // Signs in; the status of the answer.
  int sign_in(const std::string& user, const std::string& password = {}) {
    return code(send("POST", "/api/signin", {{"user", user}, {"password", password}}));
  }
  std::string& cookie() { return cookie_; }
  std::string& csrf() { return csrf_; }

private:
  httplib::Headers headers(bool changes) const {
    httplib::Headers h;
    if (!cookie_.empty())
      h.emplace("Cookie", cookie_);
    if (changes && !csrf_.empty())
      h.emplace("X-CSRF-Token", csrf_);
    return h;
  }
  httplib::Client http_;
  std::string cookie_;
  std::string csrf_;
};

} // namespace pchat::test
