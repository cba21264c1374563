#pragma once
// The directory actor: owns the room tree (loaded from storage at start), finds rooms by GUID or search text,
// spawns room actors on first use, and keeps each room's online count for chansrch. One per process.
//
// Secret rooms are invisible to users without a role in them: resolve answers "not found" and search leaves
// them out (rules::may_see), so outsiders cannot even learn that they exist.
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "actors/protocol.hpp"

namespace pchat {

struct directory_state {
  static inline const char* name = "directory";

  std::shared_ptr<storage::store> store;
  writer_actor writer;
  server_options opts;

  std::map<std::uint64_t, storage::category> categories;
  std::map<std::uint64_t, storage::room> rooms;           // by id
  std::unordered_map<std::string, std::uint64_t> by_guid; // lower-case guid -> id
  std::unordered_map<std::uint64_t, room_actor> live;      // spawned rooms
  std::unordered_map<std::uint64_t, std::uint32_t> online; // users online per room
};

directory_actor::behavior_type directory(directory_actor::stateful_pointer<directory_state> self,
                                         std::shared_ptr<storage::store> store, writer_actor writer,
                                         server_options opts);

} // namespace pchat
