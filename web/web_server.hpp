#pragma once
// pchatd's web services (docs/web.md): the room-management page and its JSON API, file upload and download for
// rooms, /metrics (Prometheus text) and /healthz. One HTTP listener inside pchatd: its own acceptor takes
// connections and waits for their requests (web/http_listener.hpp), then cpp-httplib parses, routes and answers
// each on a small pool of worker threads; handlers block on those threads and ask the directory actor (never the
// other way).
//
// Why cpp-httplib: Debian ships it (libcpp-httplib-dev 0.11.4), it routes, streams request bodies and responses,
// answers Range requests and serves static files, which is everything this needs in a few hundred lines;
// Boost.Beast would mean hand-writing all of that on asio (docs/dependencies.md §6).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/protocol.hpp"
#include "web/chat_hub.hpp"

namespace caf {
class actor_system;
}

namespace pchat::web {

// How the page signs users in: with the same credentials as SIP (sip.auth).
enum class sign_in_mode {
  password, // sip.auth=digest: the password is checked against the account's stored HA1 (SHA-256)
  known,    // sip.auth=known: any enabled account, no password
  anonymous // sip.auth=anonymous: whoever the user says (loopback and tests only, as for SIP)
};
const char* to_string(sign_in_mode m);

// Whether the page takes passwords over plain HTTP (HTTPS always may): as SIP's sip.plaintext-auth.
enum class plaintext_passwords {
  loopback, // only from loopback clients (a TLS proxy on the same host): the default
  allowed,  // from anywhere (the admin said so)
  refused   // never
};

struct web_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (tests); web_server::port() tells which
  std::string public_url;     // how clients reach us (file links, serveruri); default http(s)://host:port
  // HTTPS (docs/web.md "HTTPS"): the certificate chain and key as PEM, already checked (base/tls.hpp); empty: HTTP.
  std::string tls_certificate_pem;
  std::string tls_key_pem;
  plaintext_passwords plaintext = plaintext_passwords::loopback;
  sign_in_mode sign_in = sign_in_mode::password;
  std::string realm = "example.com"; // the SIP domain the stored HA1s were computed for
  std::string domain = "example.com";
  std::size_t threads = 4;
  // Connections (web/http_listener.hpp): the time from connecting until the request head (and a body of at most
  // 64 KiB) must have arrived, and how many connections one client address (IPv6: one /64) may have open.
  std::chrono::milliseconds header_timeout{10000};
  std::size_t max_connections_per_address = 32;
  std::chrono::seconds session_ttl{8 * 3600}; // a web sign-in lasts this long without use
  std::string static_dir; // serve the page from here instead of the copy built into the binary (development)
  // Prometheus text for /metrics (pchatd renders the actors' and the SIP thread's counters).
  std::function<std::string()> metrics_text;
  // Room files (web/file_api.cpp): the /files routes exist when set; compliance null when it is off.
  std::shared_ptr<file_service> files;
  compliance_actor compliance;
  // Chat in the browser (docs/web.md "Chat in the browser"): the settings the session actors get, as SIP's do;
  // without them there are no /api/chat routes.
  std::optional<server_options> chat;
  chat_limits chat_limit{};
};

class web_server {
public:
  web_server(caf::actor_system& sys, directory_actor directory, std::shared_ptr<storage::store> store,
             web_options opts);
  ~web_server();
  web_server(const web_server&) = delete;
  web_server& operator=(const web_server&) = delete;

  // Binds and starts serving on its own thread; false with `error` when it cannot listen.
  bool start(std::string& error);
  // Stops listening and waits for requests in flight. Idempotent.
  void stop();
  // The port bound (after start), the URL clients use.
  std::uint16_t port() const;
  std::string public_url() const;
  // The connection counters as Prometheus text (pchat_web_*; also part of /metrics).
  std::string metrics_text() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace pchat::web
