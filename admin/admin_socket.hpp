#pragma once
// The local administration socket: pchatd listens on <data-dir>/pchatd.sock (a Unix stream socket, mode 0600, so
// only the account running pchatd may use it) and runs the pchatctl commands it receives.
//
// Wire format, one exchange per connection: request = u32 word count, then per word u32 length + bytes;
// response = i32 exit code, u32 length + stdout bytes, u32 length + stderr bytes. Integers are big-endian.
// Requests over 1 MiB are refused.
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin.hpp"

namespace pchat::admin {

class socket_server {
public:
  using handler = std::function<result(const std::vector<std::string>&)>;
  socket_server() = default;
  ~socket_server() { stop(); }
  socket_server(const socket_server&) = delete;
  socket_server& operator=(const socket_server&) = delete;

  // Binds `path` (replacing a stale socket file) and serves requests one at a time on a thread of its own.
  bool start(const std::string& path, handler h, std::string& error);
  // Stops serving and removes the socket file.
  void stop();

private:
  void serve();
  std::string path_;
  handler handler_;
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// pchatctl's side: nullopt when nothing listens on `path` (pchatd not running, or too old to have the socket).
std::optional<result> call(const std::string& path, const std::vector<std::string>& args, std::string& error);

} // namespace pchat::admin
