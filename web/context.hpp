#pragma once
// What the web handlers share (internal to web/): the actor system and directory, the store (accounts and file
// metadata), the options, web sign-ins, and small helpers for JSON answers and blocking requests to actors.
// Handlers run on cpp-httplib's pool threads, never on actor threads, so blocking on a reply is fine here.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/protocol.hpp"
#include "web/web_server.hpp"

namespace pchat::web {

using json = nlohmann::json;

// Web sign-ins: a random token (the pchat_session cookie) -> the user, forgotten after `ttl` without use.
class sign_ins {
public:
  explicit sign_ins(std::chrono::seconds ttl) : ttl_(ttl) {}
  std::string create(const std::string& user);
  std::optional<std::string> find(const std::string& token);
  void remove(const std::string& token);

  // Failed sign-ins per user: after `limit` failures within a window the user must wait (429).
  bool throttled(const std::string& user);
  void failed(const std::string& user);
  void succeeded(const std::string& user);

private:
  using clock = std::chrono::steady_clock;
  struct entry {
    std::string user;
    clock::time_point expires;
  };
  struct failures {
    unsigned count = 0;
    clock::time_point since;
  };
  void expire(clock::time_point now);

  std::mutex mtx_;
  std::chrono::seconds ttl_;
  std::map<std::string, entry> entries_;
  std::map<std::string, failures> failures_;
};

struct web_context {
  caf::actor_system& sys;
  directory_actor directory;
  std::shared_ptr<storage::store> store;
  web_options opts;
  std::string public_url;
  sign_ins sessions;

  // One request to the directory, waited for (30 s); the reply or the error.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> out{caf::sec::request_timeout};
    caf::scoped_actor self{sys};
    self->request(directory, std::chrono::seconds(30), std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }
};

// {"error": code, "message": text} with `status`.
void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message);
// A pchat error as HTTP: room_not_found/category_not_found 404, forbidden/not_joined 403, invalid_argument 400,
// already_exists 409, too_large 413, store_failed 503, file_not_found 404, token_invalid 401, anything else 500;
// the message says what and why.
void send_error(httplib::Response& res, const caf::error& err);
void send_json(httplib::Response& res, int status, const json& body);
// The request's JSON body, or nullopt after answering 400/415.
std::optional<json> json_body(const httplib::Request& req, httplib::Response& res);
// The signed-in user of the request (its pchat_session cookie), or nullopt after answering 401.
std::optional<std::string> require_user(const httplib::Request& req, httplib::Response& res, web_context& ctx);

// Route groups, each in its own file.
void add_manage_routes(httplib::Server& srv, web_context& ctx); // web/manage_api.cpp: /api/...
void add_file_routes(httplib::Server& srv, web_context& ctx);   // web/file_api.cpp: /files/...

} // namespace pchat::web
