#pragma once
// Associations and follows, a module of the directory (actors/directory.hpp) run in its mailbox: getassoc (the
// user's rooms as member, manager and follower, docs/protocol.md) and follow/unfollow. Follows are written in the
// store writer's next group commit, never as a synced write in the directory's mailbox; a follow or unfollow also
// starts or stops the user's sessions watching the room for new content (directory_presence).
#include <cstdint>
#include <string>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

struct directory_state;
using directory_self = directory_actor::stateful_pointer<directory_state>;

// assoc(user): two reads (the user's roles, the user's follows) and the catalog.
assoc_result associations(directory_self self, const std::string& user);
// follow(user, room id), after a join: into the writer's next group commit, not answered.
void follow_joined(directory_self self, const std::string& user, std::uint64_t room_id);
// follow(user, guids, on): per guid whether it was (un)followed (unknown and hidden rooms: false), answered once
// the writer has made the changes durable, so a getassoc after the reply sees them.
caf::result<std::vector<bool>> set_follows(directory_self self, const std::string& user,
                                           const std::vector<std::string>& guids, bool on);

} // namespace pchat
