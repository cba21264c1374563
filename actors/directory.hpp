#pragma once
// The directory actor: owns the room tree (a catalog loaded from storage at start), finds rooms by GUID or
// search text, spawns room actors on first use, keeps each room's online count for chansrch, and applies room
// management (catalog.hpp decides who may do what) and tells live rooms about it. It also knows which sessions
// are online for which user, to push them new invitations, and serves per-user preferences. One per process.
//
// Secret rooms are invisible to users without a role in them: resolve answers "not found", search leaves them
// out and management answers room_not_found (rules::may_see), so outsiders cannot even learn that they exist.
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/catalog.hpp"
#include "actors/protocol.hpp"

namespace pchat {

struct directory_state {
  static inline const char* name = "directory";

  std::shared_ptr<storage::store> store;
  writer_actor writer;
  server_options opts;
  std::unique_ptr<catalog> tree;

  std::unordered_map<std::uint64_t, room_actor> live;      // spawned rooms
  std::unordered_map<std::uint64_t, std::uint32_t> online; // users online per room
  // Sessions that said hello, by user, and the user of each (to forget them when they end).
  std::unordered_map<std::string, std::vector<session_actor>> sessions;
  std::map<caf::actor_addr, std::string> session_users;
  // New-content notices: per room, the sessions whose user follows it and which are not in it; per session, the
  // rooms it watches (to forget them) and those it was already told about (once until it joins).
  std::unordered_map<std::uint64_t, std::vector<session_actor>> watchers;
  std::map<caf::actor_addr, std::set<std::uint64_t>> watching;
  std::map<caf::actor_addr, std::set<std::uint64_t>> joined;
  std::set<std::pair<caf::actor_addr, std::uint64_t>> notified;

  // File tokens (docs/protocol.md "Room files"), by token; they expire in issue order (one TTL for all), so the
  // queue's front is always the next to expire.
  struct file_token {
    std::string user;
    bool upload = true;
    std::uint64_t room_id = 0;
    std::string item; // upload: the file name; download: the file id
    caf::actor_clock::time_point expires;
    bool used = false;
  };
  std::unordered_map<std::string, file_token> tokens;
  std::unordered_map<std::string, std::uint32_t> tokens_per_user; // live tokens of each user
  std::deque<std::pair<caf::actor_clock::time_point, std::string>> token_order;
};

directory_actor::behavior_type directory(directory_actor::stateful_pointer<directory_state> self,
                                         std::shared_ptr<storage::store> store, writer_actor writer,
                                         server_options opts);

} // namespace pchat
