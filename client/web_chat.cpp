#include "client/web_chat.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <httplib.h>

namespace pchat::client {

using json = nlohmann::json;

web_chat::web_chat(web_chat_config config) : config_(std::move(config)) {}

web_chat::~web_chat() { disconnect(); }

result<json> web_chat::request(const std::string& method, const std::string& path, const json& body) {
  httplib::Client http{config_.host, config_.port};
  auto secs = static_cast<time_t>(config_.timeout.count() / 1000);
  auto usecs = static_cast<time_t>(config_.timeout.count() % 1000 * 1000);
  http.set_connection_timeout(secs, usecs);
  http.set_read_timeout(secs, usecs);
  http.set_write_timeout(secs, usecs);
  httplib::Headers h;
  if (!cookie_.empty())
    h.emplace("Cookie", cookie_);
  if (method != "GET" && !csrf_.empty())
    h.emplace("X-CSRF-Token", csrf_);
  httplib::Result r = method == "GET"      ? http.Get(path.c_str(), h)
                      : method == "DELETE" ? http.Delete(path.c_str(), h)
                                           : http.Post(path.c_str(), h, body.dump(), "application/json");
  if (!r)
    return fail(errc::connect_failed, method + " " + path + ": " + httplib::to_string(r.error()));
  auto set = r->get_header_value("Set-Cookie");
  if (set.rfind("pchat_session=", 0) == 0)
    cookie_ = set.substr(0, set.find(';'));
  auto answer = json::parse(r->body, nullptr, false);
  if (r->status / 100 != 2) {
    std::string message = answer.is_object() && answer.value("message", json{}).is_string()
                            ? answer["message"].get<std::string>()
                            : r->body.substr(0, 200);
    return fail(errc::rejected, message, r->status);
  }
  if (!answer.is_object())
    return fail(errc::protocol_error, method + " " + path + ": the answer is not a JSON object");
  return answer;
}

error web_chat::sign_in() {
  auto in = request("POST", "/api/signin", {{"user", config_.user}, {"password", config_.password}});
  if (!in)
    return in.err();
  user_ = in->value("user", "");
  csrf_ = in->value("csrf", "");
  auto tab = request("POST", "/api/chat/tabs", json::object());
  if (!tab)
    return tab.err();
  tab_ = tab->value("tab", "");
  return {};
}

result<json> web_chat::call(const std::string& method, const std::string& path, const json& body) {
  return request(method, "/api/chat/tabs/" + tab_ + path, body);
}

result<std::uint64_t> web_chat::post(const std::string& room_uri, const std::string& text) {
  auto r = call("POST", "/post", {{"room", room_uri}, {"text", text}});
  if (!r)
    return r.err();
  return r->value("seq", std::uint64_t{0});
}

error web_chat::connect(std::optional<std::uint64_t> last_event) {
  disconnect();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(config_.port);
  if (::getaddrinfo(config_.host.c_str(), port.c_str(), &hints, &found) != 0 || !found)
    return fail(errc::connect_failed, "cannot resolve " + config_.host);
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  ::freeaddrinfo(found);
  if (!ok) {
    auto why = std::string{std::strerror(errno)};
    if (fd >= 0)
      ::close(fd);
    return fail(errc::connect_failed, "event stream: " + why);
  }
  std::string req = "GET /api/chat/tabs/" + tab_ + "/events HTTP/1.1\r\nHost: " + config_.host + ":" + port +
                    "\r\nAccept: text/event-stream\r\nCookie: " + cookie_ + "\r\n";
  if (last_event)
    req += "Last-Event-ID: " + std::to_string(*last_event) + "\r\n";
  req += "\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return fail(errc::io_error, "event stream: the request could not be sent");
  }
  fd_ = fd;
  buf_.clear();
  auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  std::size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(left)) {
      disconnect();
      return fail(errc::timeout, "event stream: no answer");
    }
  }
  auto head = buf_.substr(0, head_end);
  buf_.erase(0, head_end + 4);
  if (head.rfind("HTTP/1.1 200", 0) != 0) {
    auto status_text = head.substr(0, head.find('\r'));
    int status = status_text.size() > 12 ? std::atoi(status_text.c_str() + 9) : 0;
    disconnect();
    return fail(errc::rejected, "event stream: " + status_text, status);
  }
  if (last_event)
    last_event_ = *last_event;
  return {};
}

void web_chat::disconnect() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

bool web_chat::fill(duration timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return false;
  char chunk[16384];
  auto n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    disconnect();
    return false;
  }
  buf_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<web_event> web_chat::next_event(duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // One event: lines up to an empty line (text/event-stream; comments and retry: lines carry no event).
    std::size_t end;
    while ((end = buf_.find("\n\n")) != std::string::npos) {
      auto frame = buf_.substr(0, end);
      buf_.erase(0, end + 2);
      web_event ev;
      bool has_data = false;
      std::size_t at = 0;
      while (at <= frame.size()) {
        auto nl = frame.find('\n', at);
        auto line = frame.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
        at = nl == std::string::npos ? frame.size() + 1 : nl + 1;
        if (line.rfind("id: ", 0) == 0) {
          std::from_chars(line.data() + 4, line.data() + line.size(), ev.id);
          last_event_ = ev.id;
        } else if (line.rfind("data: ", 0) == 0) {
          ev.data = json::parse(line.substr(6), nullptr, false);
          has_data = !ev.data.is_discarded();
        }
      }
      if (has_data)
        return ev;
    }
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (fd_ < 0 || left.count() <= 0 || !fill(left))
      return std::nullopt;
  }
}

} // namespace pchat::client
