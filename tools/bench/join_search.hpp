#pragma once
// pchat-bench --mode join-under-search: does a long history search hold up joins? The same session, room,
// directory and store-writer actors as pchatd, in this process, over a store filled beforehand with
// rooms x posts_per_room posts in which every post holds exactly one of two words ("alpha" on even sequence
// numbers, "beta" on odd ones). histsrch "alpha beta" over every room then matches nothing but has to leapfrog
// through every post of every room (storage::store::search: two seeks per post), which is the worst case a
// cross-room history search has.
//
// Two phases, each timing joins as a client sees them: a new session per probe, cmd:join handed to it at a fixed
// rate (open loop, so probes that queue behind something are not hidden), timed until its rpl:join 200 reaches
// the transport. First with nothing else running (the baseline), then while a searcher keeps one histsrch in
// flight at all times (back to back). Only probes sent while a search was in flight count for the second phase.
#include <cstdint>
#include <string>
#include <vector>

namespace pchat::bench {

struct join_search_config {
  std::uint32_t rooms = 200;
  std::uint32_t posts_per_room = 500; // 200 x 500 = 100,000 posts
  double join_rate = 100;             // join probes per second
  double baseline_seconds = 3;        // probes with no search running
  double search_seconds = 10;         // probes while histsrch runs back to back
  std::uint32_t threads = 2;          // CAF scheduler threads
};

struct join_search_result {
  bool ok = false;
  std::string error;
  std::uint64_t posts = 0;
  double fill_seconds = 0;
  std::vector<std::uint32_t> search_us;        // each histsrch, request -> reply, as the searcher saw it
  std::vector<std::uint32_t> baseline_join_us; // probes sent with no search running
  std::vector<std::uint32_t> search_join_us;   // probes sent while a histsrch was in flight
  std::uint32_t unanswered = 0;                // probes without rpl:join 200 by the end
};

join_search_result run_join_search(const join_search_config& cfg);

} // namespace pchat::bench
