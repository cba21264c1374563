#pragma once
// Presence and new-content notices, a module of the directory (actors/directory.hpp) run in its mailbox: which
// sessions are online for which user (to push them new invitations), and which sessions watch which rooms for
// new content (docs/protocol.md "New content"): a session watches a room its user follows while it is not in
// it, and is told once per room, until it joins it, that the room has new posts.
//
// directory_presence holds that state and changes it; it sends nothing. What a room must be told (it gained its
// first watcher or lost its last) comes back as `changes`, which the directory passes to apply_watch_changes. The
// functions below it are the directory's handlers for this concern.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

class directory_presence {
public:
  // A room whose watched state changed: it now has a watcher (true) or none left (false).
  struct watch_change {
    std::uint64_t room_id = 0;
    bool watched = false;
  };
  using changes = std::vector<watch_change>;

  // A session said hello for `user`; false when it had already (nothing changed).
  bool add_session(const session_actor& session, const std::string& user);
  // A session ended: it watches nothing any more. False when it was not a session of ours.
  bool remove_session(const caf::actor_addr& session, changes& out);
  // The user of a session that said hello, null for any other actor.
  const std::string* user_of(const caf::actor_addr& session) const;
  // The sessions online for a user, null when there are none.
  const std::vector<session_actor>* sessions_of(const std::string& user) const;

  // Starts or stops `session` watching a room (stopping also forgets that it was told).
  void set_watch(const session_actor& session, std::uint64_t room_id, bool on, changes& out);
  // A follow changed: the user's sessions not in the room start (or stop) watching it.
  void follow_changed(const std::string& user, std::uint64_t room_id, bool on, changes& out);
  // A session joined (true) or left (false) a room.
  void set_joined(const caf::actor_addr& session, std::uint64_t room_id, bool joined);
  bool watched(std::uint64_t room_id) const { return watchers_.count(room_id) > 0; }
  // The sessions watching the room that were not told yet and whose user `may_read`; they count as told from now.
  std::vector<session_actor> take_notices(std::uint64_t room_id,
                                          const std::function<bool(const std::string& user)>& may_read);
  // The room is gone: nobody watches it.
  void forget_room(std::uint64_t room_id);

private:
  // Sessions that said hello, by user, and the user of each (to forget them when they end).
  std::unordered_map<std::string, std::vector<session_actor>> sessions_;
  std::map<caf::actor_addr, std::string> session_users_;
  // Per room, the sessions whose user follows it and which are not in it; per session, the rooms it watches (to
  // forget them), those it is in, and those it was already told about (once until it joins).
  std::unordered_map<std::uint64_t, std::vector<session_actor>> watchers_;
  std::map<caf::actor_addr, std::set<std::uint64_t>> watching_;
  std::map<caf::actor_addr, std::set<std::uint64_t>> joined_;
  std::set<std::pair<caf::actor_addr, std::uint64_t>> notified_;
};

// --- the directory's handlers for this concern (the directory_actor messages of the same names) -----------------
struct directory_state;
using directory_self = directory_actor::stateful_pointer<directory_state>;

// hello(user) from a session: it is online for `user`, monitored, and watches the rooms the user follows.
void session_hello(directory_self self, const std::string& user);
// watch(room id, joined) from a session: in the room it does not watch it; out of it, it does again if followed.
void session_watch(directory_self self, std::uint64_t room_id, bool joined);
// posted(room id, seq) from a watched room: one notice to each watching session not told yet whose user may
// read the room (a closed room the user may merely see reveals nothing of its activity).
void room_posted(directory_self self, std::uint64_t room_id, std::uint64_t seq);

} // namespace pchat
