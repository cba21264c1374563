#pragma once
// Room and category management, a module of the directory (actors/directory.hpp) run in its mailbox: the
// catalog's checked changes (catalog.hpp says who may do what; docs/protocol.md "Room management" the errors),
// logged, and told to the live rooms they concern; a new member's invitation is pushed to the invitee's online
// sessions. The catalog's writes are synced store writes: they stay here, with the catalog's one owner, because
// they are rare and every resolve after one must see it. Rooms are named by guid, ma-chan URI or name;
// categories by guid, ma-cat URI or name.
#include <string>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

struct directory_state;
using directory_self = directory_actor::stateful_pointer<directory_state>;

// perm(user): the categories the user may create rooms in.
std::vector<category_view> creatable_categories(directory_self self, const std::string& user);
caf::result<room_view> manage_create_room(directory_self self, const principal& who, const patch& fields);
caf::result<room_view> manage_update_room(directory_self self, const principal& who, const std::string& ref,
                                          const patch& fields);
// The room's actor is told to let everyone go and quit; watchers forget it.
caf::result<bool> manage_remove_room(directory_self self, const principal& who, const std::string& ref);
// roles(who, room, user, bits) -> whether an invitation was recorded (then pushed to the user's sessions).
caf::result<bool> manage_set_roles(directory_self self, const principal& who, const std::string& ref,
                                   const std::string& user, std::uint8_t bits);
// detail(who): the rooms `who` may manage (every room for an administrator), by name.
std::vector<room_view> managed_rooms(directory_self self, const principal& who);
// detail(who, room): everything about one room, for its managers.
caf::result<room_detail> manage_room_detail(directory_self self, const principal& who, const std::string& ref);
caf::result<category_view> manage_create_category(directory_self self, const principal& who, const patch& fields);
// Every room of the category gets its new settings (those live are told).
caf::result<category_view> manage_update_category(directory_self self, const principal& who,
                                                  const std::string& ref, const patch& fields);
caf::result<bool> manage_remove_category(directory_self self, const principal& who, const std::string& ref);

} // namespace pchat
