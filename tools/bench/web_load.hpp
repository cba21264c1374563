#pragma once
// The browser side of pchat-bench (--mode web): N members signed in over the web API, each a chat tab with its own
// Server-Sent Events stream, all read by one epoll thread. The posts come from the SIP posters of the SIP side
// (tools/bench/sip_load.hpp), so a SIP run and a web run differ only in how the posts reach their readers: every
// (post, web member) pair is timed from the SIP poster's send to the member's read of the event.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pchat::bench {

struct web_load_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;           // pchatd's web port
  std::vector<std::string> rooms;      // ma-chan:// URIs; members are spread evenly over them
  std::uint32_t members = 100;         // per room
  std::uint32_t signin_parallel = 32;  // members signing in at once (threads)
  std::size_t planned_posts = 0;       // posts the SIP side will send at most (sizes the ledger)
  bool progress = true;
};

struct web_load_result {
  bool ok = false;
  std::string error;
  std::uint32_t sessions = 0;        // signed in, joined, stream open
  std::uint32_t signin_failures = 0;
  double signin_seconds = 0;
  std::uint64_t expected = 0;        // (post, web member) pairs
  std::uint64_t delivered = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t lost = 0;
  double delivery_seconds = 0;       // first post sent -> last delivery read
  std::vector<std::uint32_t> latency_us;
  double client_cpu_seconds = 0;     // this process while the streams were read (SIP posters included)
  std::uint32_t disconnected = 0;    // streams that ended before the end
};

class web_members {
public:
  explicit web_members(web_load_config cfg);
  ~web_members();
  web_members(const web_members&) = delete;
  web_members& operator=(const web_members&) = delete;

  // Signs every member in (sign-in, tab, join), opens their streams and starts reading them. False with `error`
  // when none could.
  bool start(std::string& error);
  // From the SIP side's thread, as each post is sent.
  void posted(std::size_t post, std::size_t room, std::int64_t sent_ns);
  // After the SIP side is done: waits until every member has every post sent to its room (at most `drain_seconds`),
  // stops reading and reports.
  web_load_result finish(double drain_seconds);

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace pchat::bench
