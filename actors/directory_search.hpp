#pragma once
// Search, the directory's concern in two halves (actors/directory.hpp):
// - chansrch and the plan of a histsrch run in the directory's mailbox, on the catalog in memory and one read of
//   the user's roles: which rooms match by name or description, and which rooms the user may read.
// - the history searches themselves run in a search worker, an actor of its own: each room's query is
//   O(log N + hits) seeks in the index (storage::store::search), but two common words that never meet make it
//   visit every post of the room, and a histsrch with no rooms named covers every room the user may read.
//
// A search worker holds no catalog: it searches the rooms it is handed, each named with its URI for the hits, and
// knows nothing of who may read what. It answers the requester the directory delegated for.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

struct search_worker_state {
  static inline const char* name = "search_worker";

  std::shared_ptr<storage::store> store;
};

search_worker_actor::behavior_type search_worker(search_worker_actor::stateful_pointer<search_worker_state> self,
                                                 std::shared_ptr<storage::store> store);

// --- the directory's half ----------------------------------------------------------------------------------------
struct directory_state;
using directory_self = directory_actor::stateful_pointer<directory_state>;

// search(user, criteria): chansrch, the rooms the user may see whose name or description contains criteria
// (case-insensitive), disabled rooms left out, at most search_limit.
std::vector<room_view> find_rooms(directory_self self, const std::string& user, const std::string& criteria);

// What a search worker needs for one histsrch.
struct history_search_plan {
  std::vector<search_scope> rooms; // every room the user may read (rules::may_join), or those named
  storage::history_query query;
};

// The first half of histsrch(user, text, author, from, to, limit, guids): the rooms named (none: every room the
// user may read) and the query. room_not_found for a room named that is unknown, hidden or unreadable (they look
// alike), invalid_argument for an author that is not a user.
caf::expected<history_search_plan> plan_history_search(directory_self self, const std::string& user,
                                                       const std::string& text, const std::string& author,
                                                       std::int64_t from, std::int64_t to, std::uint32_t limit,
                                                       const std::vector<std::string>& guids);

} // namespace pchat
