#pragma once
// The actor side of pchat-bench: the same session, room, directory and store-writer actors as pchatd, in this
// process, with a null transport that timestamps each fan-out message as it arrives. Posts go in as XCCOS
// documents to the session actors, exactly as the SIP ingress hands them over, so the difference between this
// and the SIP mode is what SIP (Sofia, TCP, the clients) costs.
#include <cstdint>
#include <string>
#include <vector>

namespace pchat::bench {

struct actor_load_config {
  std::uint32_t rooms = 1;
  std::uint32_t members = 100; // per room
  std::uint32_t posters = 10;
  double rate = 10;
  double duration = 10;
  std::uint32_t size = 200;
  std::uint32_t threads = 2;   // CAF scheduler threads
  bool sync = true;            // fsync the WAL before fan-out, as pchatd does
  double drain = 10;
};

struct actor_load_result {
  bool ok = false;
  std::string error;
  std::uint32_t sessions = 0;
  std::uint64_t posts = 0;
  std::uint64_t expected = 0;
  std::uint64_t delivered = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t lost = 0;
  double posting_seconds = 0;
  double delivery_seconds = 0;
  std::vector<std::uint32_t> latency_us; // post handed to the session -> fan-out message at the transport
};

actor_load_result run_actor_load(const actor_load_config& cfg);

} // namespace pchat::bench
