#pragma once
// The directory: one per process, behind the one directory_actor interface of actors/protocol.hpp (every caller
// talks to it alone). Inside, it is a registry, modules it runs in its own mailbox, and workers it owns.
//
// The registry (this file, directory.cpp) owns the room tree (a catalog loaded from storage at start and changed
// only here), the room actors (spawned on first use, monitored, forgotten when they end) and each room's online
// count. It answers resolve (every join goes through it) and count itself. Its rule: nothing in its mailbox
// does more I/O than a lookup, so a join never waits behind a long read or a synced write.
//
// Modules, plain code run by the registry on its own state, one concern per file pair:
//   directory_search     chansrch (search): names and descriptions in memory; and the first half of histsrch,
//                        deciding which rooms the user may read (one read of the user's roles).
//   directory_follows    getassoc (assoc) and follow/unfollow (follow): follows go into the store writer's group
//                        commit, never a synced write here.
//   directory_presence   which sessions are online for whom (hello, the monitor's down messages), who watches
//                        which room, new-content notices (watch, posted; docs/protocol.md "New content").
//   directory_tokens     room file tokens (ftoken, redeem; docs/protocol.md "Room files"), in memory.
//   directory_manage     room and category management (perm, create, update, remove, roles, detail): the
//                        catalog's checked changes (catalog.hpp), told to live rooms, invitations pushed to the
//                        invitee's online sessions. These are synced writes, but rare and administrative, and they
//                        must stay with the catalog's one owner.
//
// Workers, actors of their own (own state, own mailbox; detached in pchatd, so a long one holds no scheduler
// thread; on the scheduler under CAF's deterministic test coordinator, where a detached actor would run outside
// the test's control). The registry spawns them linked at start and delegates to them (caf::delegate: the worker
// answers the original requester, whose request id it carries, and never sees the catalog):
//   histsrch -> search workers (directory_search: a pool of two, round robin): the registry hands over the rooms
//               the user may read (search_scope) and the query; the worker runs the store searches, which may
//               visit every post of every room (docs/protocol.md "History search").
//   pref     -> the prefs worker (directory_prefs): getpref reads, setpref's synced write.
//   invite   -> the invitations worker (directory_invitations): getinv reads and marks returned (a synced write).
// One prefs and one invitations worker, so one user's requests of each kind are answered in the order sent.
//
// Secret rooms are invisible to users without a role in them: resolve answers "not found", search and histsrch
// leave them out (histsrch naming one: room_not_found), and management answers room_not_found (rules::may_see),
// so outsiders cannot even learn that they exist. The registry applies these rules; workers get only rooms that
// passed them.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/catalog.hpp"
#include "actors/directory_presence.hpp"
#include "actors/directory_tokens.hpp"
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

  directory_presence presence; // sessions, watchers, notices
  file_tokens tokens;          // room file tokens

  std::vector<search_worker_actor> searchers; // histsrch, round robin
  std::size_t next_searcher = 0;
  prefs_worker_actor prefs;
  invite_worker_actor invitations;
};

directory_actor::behavior_type directory(directory_actor::stateful_pointer<directory_state> self,
                                         std::shared_ptr<storage::store> store, writer_actor writer,
                                         server_options opts);

// --- what the registry lends its modules (directory.cpp) -------------------------------------------------------
using directory_self = directory_actor::stateful_pointer<directory_state>;

// A room or category as clients see it; rooms with the registry's online count.
room_view view_of(const directory_state& st, const storage::room& r);
category_view view_of(const directory_state& st, const storage::category& c);
// The user's role bits by room id (one read), and one room's bits in it (0: none).
std::map<std::uint64_t, std::uint8_t> roles_by_room(const directory_state& st, const std::string& user);
std::uint8_t lookup(const std::map<std::uint64_t, std::uint8_t>& roles, std::uint64_t room_id);
// rules::may_see with the room's category.
bool visible(const directory_state& st, const storage::room& r, const std::string& user, std::uint8_t roles);
// Tells a live room its new settings; rooms not spawned read them when they are.
void push_settings(directory_self self, const storage::room& r);
// A room ended or was removed: no longer live, no online count.
void forget_room(directory_self self, std::uint64_t room_id);
// Tells each live room whose watched state changed (room_actor's watch).
void apply_watch_changes(directory_self self, const directory_presence::changes& changes);

} // namespace pchat
