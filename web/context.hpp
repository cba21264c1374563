#pragma once
// What the web handlers share (internal to web/): the actor system and directory, the store (accounts and file
// metadata), the options, web sign-ins, and small helpers for JSON answers and blocking requests to actors.
// Handlers run on cpp-httplib's pool threads, never on actor threads, so blocking on a reply is fine here.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/protocol.hpp"
#include "base/attempts.hpp"
#include "web/chat_hub.hpp"
#include "web/requests.hpp"
#include "web/web_server.hpp"

namespace pchat::web {

// Web sign-ins: a random token (the pchat_session cookie) -> the user and the sign-in's CSRF token, forgotten
// after `ttl` without use and after max(ttl, max_lifetime) in any case. Sign-in attempts are counted per key
// (user, client address).
//
// CSRF (docs/web.md "Security"): the cookie is SameSite=Strict, and every request that changes something must also
// carry the sign-in's CSRF token in an X-CSRF-Token header, which the page got from /api/signin or /api/me. A
// page of another site can make a browser send the cookie (in browsers without SameSite) but can neither read the
// token nor set that header without a CORS preflight, which this server never grants.
class sign_ins {
public:
  static constexpr std::chrono::seconds max_lifetime{7 * 24 * 3600};

  struct found {
    std::string user;
    std::string csrf;
  };

  explicit sign_ins(std::chrono::seconds ttl) : ttl_(ttl) {}
  std::string create(const std::string& user);
  std::optional<found> find(const std::string& token);
  // find() without counting as a use (the idle limit does not move).
  std::optional<found> peek(const std::string& token);
  void remove(const std::string& token);

  // One sign-in attempt for `key`: false (and not counted) when `limit` attempts were already made in the
  // current one-minute window. Check and count are one step, so parallel requests cannot slip past the limit.
  bool admit(const std::string& key, unsigned limit);
  // A successful sign-in forgets the key's attempts.
  void succeeded(const std::string& key);
  // A successful sign-in's attempt does not count for `key` (its failures still do).
  void refund(const std::string& key);

private:
  using clock = std::chrono::steady_clock;
  struct entry {
    std::string user;
    std::string csrf;
    clock::time_point expires; // idle limit, moved on by every use
    clock::time_point ends;    // absolute limit
  };
  void expire(clock::time_point now);
  std::optional<found> look_up(const std::string& token, bool use);

  std::mutex mtx_;
  std::chrono::seconds ttl_;
  std::map<std::string, entry> entries_;
  attempt_limiter attempts_{std::chrono::seconds(60), 10000}; // its own lock
};

// Routes are matched without regular expressions on the client's path: cpp-httplib compiles every route pattern
// to a std::regex, and libstdc++'s backtracking matcher recurses once per character a repetition such as
// "([^/]+)" takes, so one request with a long path segment overflows the worker's stack. Every route is therefore
// registered as a fixed path (exact()), and a route with parameters as a pattern such as "/api/rooms/:id"
// (route_table::add). Before routing, route_table::rewrite() splits the request's path by hand; when it fits a
// pattern, the path becomes the pattern itself (which matches its exact() route) and the segments become
// pseudo-headers ":id" (no client can send those: a header name has no colon), read with path_param().
//
// A regular expression matching exactly `path` (its special characters escaped), for cpp-httplib's routes.
std::string exact(const std::string& path);

class route_table {
public:
  // Registers `pattern` ("/files/:room/:file": a ":name" segment takes any one non-empty segment);
  // returns exact(pattern) for cpp-httplib. Called while the server is set up, before it serves.
  std::string add(const std::string& pattern);
  // On the first pattern `req.path` fits: its segments as pseudo-headers, the path itself as ":path", and
  // req.path = the pattern. Otherwise nothing changes.
  void rewrite(httplib::Request& req) const;

private:
  std::vector<std::string> patterns_;
};

// A parameter of the request's route ("room" for ":room"); empty when there is none.
std::string path_param(const httplib::Request& req, const char* name);
// The path the client asked for (req.path before route_table::rewrite), for logs.
std::string request_path(const httplib::Request& req);

// The file routes' pattern (web/file_api.cpp).
inline constexpr const char* files_route = "/files/:room/:file";

struct web_context {
  caf::actor_system& sys;
  directory_actor directory;
  std::shared_ptr<storage::store> store;
  web_options opts;
  std::string public_url;
  sign_ins sessions;
  std::atomic<int> transfers{0}; // file uploads and downloads in flight (web/file_api.cpp)
  route_table routes{};          // the routes with parameters (filled while the server is set up)
  bool https = false;            // the listener speaks TLS
  std::shared_ptr<chat_hub> chat{}; // the browser's chat sessions; null when web_options::chat is not set
  chat_limits chat_limit{};

  // One request to the directory, waited for (30 s); the reply or the error.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    return ask_within<T>(std::chrono::seconds(30), std::forward<Ts>(xs)...);
  }
  template <class T, class... Ts>
  caf::expected<T> ask_within(std::chrono::milliseconds timeout, Ts&&... xs) {
    caf::expected<T> out{caf::sec::request_timeout};
    caf::scoped_actor self{sys};
    self->request(directory, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }
};

// {"error": code, "message": text} with the status and "error" field the error table gives `code`
// (base/error.hpp); `message` says what and why (empty: the table's default text).
void send_error(httplib::Response& res, pchat_errc code, const std::string& message = {});
// A pchat error from the actors as HTTP, through the same table, its detail appended to the message. An error
// from CAF itself is timed_out (503) when the directory did not answer in time, else server_error (500).
void send_error(httplib::Response& res, const caf::error& err);
void send_json(httplib::Response& res, int status, const json& body);
// The request's JSON body (web/requests.hpp's json_object), or nullopt after answering 400/413/415. The fields
// each route reads are checked by web/requests.hpp too.
std::optional<json> json_body(const httplib::Request& req, httplib::Response& res);
// The signed-in user of the request (its pchat_session cookie), or nullopt after answering 401; a request of any
// method but GET and HEAD must also carry the sign-in's X-CSRF-Token (else 403).
std::optional<std::string> require_user(const httplib::Request& req, httplib::Response& res, web_context& ctx);
// The same with the sign-in's token (what the chat's tabs belong to).
struct sign_in_of_request {
  std::string user;
  std::string token;
};
std::optional<sign_in_of_request> require_sign_in(const httplib::Request& req, httplib::Response& res,
                                                  web_context& ctx);

// Whether the request goes to a route that reads its body as a stream (file uploads, web/file_api.cpp), which
// sets its own size limit; every other body is at most 64 KiB with a Content-Length.
bool streams_body(const web_context& ctx, const httplib::Request& req);

// Route groups, each in its own file.
void add_manage_routes(httplib::Server& srv, web_context& ctx); // web/manage_api.cpp: /api/...
void add_file_routes(httplib::Server& srv, web_context& ctx);   // web/file_api.cpp: /files/...
void add_chat_routes(httplib::Server& srv, web_context& ctx);   // web/chat_api.cpp: /api/chat/...

} // namespace pchat::web
