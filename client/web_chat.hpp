#pragma once
// A chat client over pchatd's web API, as the browser page uses it (docs/web.md "Chat API"): sign in, open a tab,
// read its Server-Sent Events, send commands as JSON. pchat-bench's web mode and the tests use it; it keeps the
// session cookie and the CSRF token and sends them as the page does.
//
// Threading: one thread drives a web_chat. The event stream is its own connection; next_event() reads it.
// Errors are values, as in chat_client.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "client/sip_agent.hpp"

namespace pchat::client {

struct web_chat_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string user;     // alice@example.com
  std::string password; // empty: the server signs in without one (sip.auth known or anonymous)
  duration timeout{10000};
};

// One event of the tab's stream: its number (the SSE id) and what it says ({"type": "post", ...}).
struct web_event {
  std::uint64_t id = 0;
  nlohmann::json data;
};

class web_chat {
public:
  explicit web_chat(web_chat_config config);
  ~web_chat();
  web_chat(const web_chat&) = delete;
  web_chat& operator=(const web_chat&) = delete;

  // POST /api/signin, then POST /api/chat/tabs.
  error sign_in();
  // Opens the tab's event stream; with `last_event`, resumes after that event (Last-Event-ID).
  error connect(std::optional<std::uint64_t> last_event = std::nullopt);
  // Closes the event stream (the tab stays open on the server for its grace time).
  void disconnect();
  // The next event of the stream; nullopt on timeout or when the stream ended (then connected() is false).
  std::optional<web_event> next_event(duration timeout);
  bool connected() const { return fd_ >= 0; }
  // The id of the last event read (what a reconnect passes as last_event).
  std::uint64_t last_event() const { return last_event_; }

  // A request to the tab: "POST" or "GET", path below /api/chat/tabs/<tab> ("/join", "/rooms?q=x"), a JSON body
  // for POST. The answer's JSON; an HTTP refusal is errc::rejected with the status and the server's message.
  result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nlohmann::json::object());
  // POST .../post: the post's sequence number.
  result<std::uint64_t> post(const std::string& room_uri, const std::string& text);

  const std::string& user() const { return user_; }
  const std::string& tab() const { return tab_; }
  const std::string& cookie() const { return cookie_; } // "pchat_session=…", for a stream of one's own

private:
  result<nlohmann::json> request(const std::string& method, const std::string& path, const nlohmann::json& body);
  bool fill(duration timeout); // reads more of the stream into buf_

  web_chat_config config_;
  std::string user_;
  std::string cookie_;
  std::string csrf_;
  std::string tab_;
  int fd_ = -1;
  std::string buf_;
  std::uint64_t last_event_ = 0;
};

} // namespace pchat::client
