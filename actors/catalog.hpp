#pragma once
// The catalog: the room tree (categories, rooms) cached in memory over the store, and every change to it with its
// authorisation. A plain class, no actor inside: the directory actor owns one in pchatd, and pchatctl uses one
// directly on a data directory when no pchatd runs, so both go through the same checks.
//
// Who may change what (rules.hpp has the predicates; docs/protocol.md "Room management" the error codes):
// - administrators (pchatctl): everything;
// - room managers: their room's settings (not its category) and roles; they cannot remove the room;
// - category creators (inside the category's scope): create rooms there, and become the room's manager;
// - everyone else: nothing, refused with forbidden. Users who may not see a secret room get room_not_found.
// Roles go only to users inside the category's scope. Adding the member role to someone in a room whose
// invitations are on (rules::invitations_on) records an invitation in the same write.
//
// Not thread-safe: one owner at a time (the directory actor, or pchatctl's main thread).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>

#include "storage/store.hpp"

namespace pchat {

// Who asks for a change: a signed-in user (normalised sip: URI) or the local administrator.
struct principal {
  std::string user;
  bool admin = false;
  static principal administrator() { return {"", true}; }
  static principal of(std::string user) { return {std::move(user), false}; }
};

// Field changes as name/value text, the way pchatctl options and XCCOS attributes carry them. Room fields:
// name, description, topic, addin, privacy (open|closed|secret), type (normal|auditorium), invite
// (inherit|false), disabled (true|false), category (name or guid; administrators only). Category fields: name,
// description, invite, logged, filepost (true|false), allow, deny, creators (comma-separated principals; empty
// clears the list).
using patch = std::vector<std::pair<std::string, std::string>>;

class catalog {
public:
  explicit catalog(std::shared_ptr<storage::store> store);

  // --- reads (from memory) ---------------------------------------------------------------------------------
  const std::map<std::uint64_t, storage::room>& rooms() const { return rooms_; }
  const std::map<std::uint64_t, storage::category>& categories() const { return categories_; }
  const storage::room* room(std::uint64_t id) const;
  const storage::room* room_by_guid(const std::string& guid) const; // case-insensitive
  const storage::category& category_of(const storage::room& r) const;
  const storage::category* category(std::uint64_t id) const;
  // A room by guid (bare or as ma-chan://domain/guid) or by name, case-insensitive; null if none.
  const storage::room* find_room(const std::string& ref) const;
  // A category by guid (bare or ma-cat://domain/guid) or by name, case-insensitive; null if none.
  const storage::category* find_category(const std::string& ref) const;
  std::uint8_t roles_of(std::uint64_t room_id, const std::string& user) const { return store_->roles_of(room_id, user); }
  // Categories the user may create rooms in (all of them for an administrator).
  std::vector<storage::category> creatable(const principal& who) const;
  // none when `who` may manage the room; room_not_found when it may not even see it (secret), else forbidden.
  caf::error check_manager(const principal& who, const storage::room& r) const;

  // --- changes (store first, then memory; on error nothing changed) -----------------------------------------
  // Creating needs a name (and a category for rooms); invalid_argument names a bad field or value.
  caf::expected<storage::category> create_category(const principal& who, const patch& fields);
  caf::expected<storage::category> update_category(const principal& who, std::uint64_t id, const patch& fields);
  caf::error remove_category(const principal& who, std::uint64_t id);
  // A creator who is not an administrator becomes the new room's member and manager.
  caf::expected<storage::room> create_room(const principal& who, const patch& fields);
  // A manager cannot move the room to another category.
  caf::expected<storage::room> update_room(const principal& who, std::uint64_t id, const patch& fields);
  caf::error remove_room(const principal& who, std::uint64_t id);
  // Sets `user`'s role bits in the room (0 removes them). Returns the invitation it recorded, if any.
  caf::expected<std::optional<storage::invitation>> set_roles(const principal& who, std::uint64_t room_id,
                                                               const std::string& user, std::uint8_t roles);

private:
  caf::error apply(const patch& fields, storage::room& r) const;
  static caf::error apply(const patch& fields, storage::category& c);

  std::shared_ptr<storage::store> store_;
  std::map<std::uint64_t, storage::category> categories_;
  std::map<std::uint64_t, storage::room> rooms_;
  std::unordered_map<std::string, std::uint64_t> room_guids_; // lower-case guid -> id
};

// A storage status as the pchat error a requester sees (ok -> no error).
caf::error to_error(const storage::status& st);

} // namespace pchat
