#pragma once
// The SIP side of pchat-bench: N real SIP clients, each on its own TCP connection, driven by one epoll thread.
// Every client goes through the full sign-in (REGISTER, provisioning SUBSCRIBE, lookup INVITE + cmd:requri +
// BYE, channel INVITE, getserverinfo, getassoc, bjoin of its room, bccontext, getinv). Then posters post at a
// fixed total rate and every (post, recipient) pair is timed from the poster's send to the recipient's read of
// the fan-out INFO (one steady clock: clients and timing live in this process).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pchat::bench {

struct sip_load_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5060;
  std::string domain = "example.com";
  std::vector<std::string> rooms; // ma-chan:// URIs; members are spread evenly over them
  std::uint32_t members = 100;    // per room
  std::uint32_t posters = 10;     // in all, spread over the rooms
  double rate = 10;               // posts per second, all posters together
  double duration = 10;           // seconds of posting
  std::uint32_t size = 200;       // bytes of chat text per post
  std::uint32_t signin_parallel = 200; // clients signing in at once
  double drain = 10;              // seconds to wait for the last deliveries
  double join_probes = 5;         // per second during posting: a member re-joins and reads the last 30 posts
  bool progress = true;           // progress lines on stderr
  // Called once when posting starts (after every sign-in), e.g. to sample the server's CPU time there.
  std::function<void()> on_posting_start;
};

struct sip_load_result {
  bool ok = false;
  std::string error;
  std::uint32_t sessions = 0;        // signed in and joined
  std::uint32_t signin_failures = 0;
  double signin_seconds = 0;
  // Join probes during posting: cmd:join sent -> rpl:bccontext with the last 30 posts read (a re-join is
  // idempotent, so the member misses no post). Joins during the sign-in burst are not counted: they mostly
  // measure the queue of other clients' sign-in steps.
  std::vector<std::uint32_t> join_us;
  std::uint64_t posts = 0;
  std::uint64_t posts_refused = 0;   // INFO answered with anything but 200 (e.g. 503)
  std::uint64_t expected = 0;        // (post, recipient) pairs that should be delivered
  std::uint64_t delivered = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t lost = 0;
  double posting_seconds = 0;        // first post sent -> posting ended
  double delivery_seconds = 0;       // first post sent -> last delivery read
  std::vector<std::uint32_t> latency_us; // one per delivery
  double client_cpu_seconds = 0;     // this process, during posting
};

sip_load_result run_sip_load(const sip_load_config& cfg);

} // namespace pchat::bench
