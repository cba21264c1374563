#pragma once
// The SIP side of pchat-bench: N real SIP clients, each on its own TCP connection, driven by one epoll thread.
// Every client goes through the full sign-in (REGISTER, provisioning SUBSCRIBE, lookup INVITE + cmd:requri +
// BYE, channel INVITE, getserverinfo, getassoc, bjoin of its room, bccontext, getinv). Then posters post at a
// fixed total rate and every (post, recipient) pair is timed from the poster's send to the recipient's read of
// the fan-out INFO (one steady clock: clients and timing live in this process).
//
// Stalled members (`stalled`): some members who never post stop reading their connection when posting starts —
// no recv at all, the socket stays open, so their kernel receive buffer fills and then the server's send side
// backs up, as with a real client that hangs. After `stall_seconds` (or, by default, once every other member has
// its deliveries) they resume reading: they read and answer their backlog, and a connection the server closed
// shows as EOF or a reset. Their deliveries are kept out of the latency figures and out of lost/expected, and are
// reported on their own (`stalled_report`).
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
  std::uint32_t stalled = 0;      // members (never posters) that stop reading once posting starts
  double stall_seconds = -1;      // how long they stop, from posting start; < 0: until the others are served
  // The server's SIP port on this machine, to read its kernel send queue towards the stalled members from
  // /proc/net/tcp (0: `port`).
  std::uint16_t server_port = 0;
  // Called once when posting starts (after every sign-in), e.g. to sample the server's CPU time there.
  std::function<void()> on_posting_start;
  // Called once right before the stalled members resume reading (their backlog at its largest).
  std::function<void()> on_stall_end;
  // Called for every post as it is sent: its index (its text starts "B<index>:"), its room and the send time
  // (steady clock, ns) — so that receivers outside this engine (--mode web's browsers) can time it too.
  std::function<void(std::size_t post, std::size_t room, std::int64_t sent_ns)> on_post;
};

// What happened to the stalled members (all zero without --stalled).
struct stalled_report {
  std::uint32_t members = 0;          // stalled members that had signed in and joined
  double stalled_seconds = 0;         // posting start -> resume
  bool until_others_served = false;   // the stall lasted until the others had their deliveries (the default)
  // Connections of stalled members the server closed: seen in the socket's TCP state during the stall (a FIN or
  // reset that got through the full window), or as EOF / ECONNRESET / a failed send after the resume.
  std::uint32_t disconnected = 0;
  std::uint32_t disconnected_during_stall = 0; // of those, already visible before the resume
  double first_disconnect_seconds = -1;        // posting start -> first one seen (-1: none)
  std::uint64_t expected = 0;         // (post, stalled member) pairs of accepted posts
  std::uint64_t delivered = 0;        // of those, read after the resume
  std::uint64_t unread_bytes = 0;     // at the resume: bytes waiting in their own kernel receive queues
  std::uint64_t server_queued_bytes = 0; // at the resume: the server's kernel send queues towards them
  bool server_queue_known = false;    // /proc/net/tcp showed the server's sockets
  std::vector<std::uint32_t> latency_us; // post sent -> read after the resume; never in the latency figures
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
  std::uint64_t expected = 0;        // (post, recipient) pairs that should be delivered (stalled members aside)
  std::uint64_t delivered = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t lost = 0;
  double posting_seconds = 0;        // first post sent -> posting ended
  double delivery_seconds = 0;       // first post sent -> last delivery read
  std::vector<std::uint32_t> latency_us; // one per delivery (members who kept reading only)
  double client_cpu_seconds = 0;     // this process, during posting
  std::uint32_t others_disconnected = 0; // members who kept reading whose connection failed after sign-in
  stalled_report stalled;
};

sip_load_result run_sip_load(const sip_load_config& cfg);

} // namespace pchat::bench
