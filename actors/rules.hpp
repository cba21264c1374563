#pragma once
// The room model's access rules as small named functions, called at fixed points (STYLE.md §8):
// before search (may_see), before join and history reads (may_join), before a post (may_post).
// Source: ../shared/protocol/xccos.md §5 (privacy open/closed/secret, type normal/auditorium, roles).
#include <cstdint>

#include "storage/store.hpp"

namespace pchat::rules {

inline bool has_any_role(std::uint8_t roles) { return roles != 0; }

// Secret rooms are invisible to everyone who holds no role in them; disabled rooms are invisible in search.
inline bool may_see(const storage::room& r, std::uint8_t roles) {
  return r.privacy_mode != storage::privacy::secret || has_any_role(roles);
}

// Open rooms admit anyone; closed and secret rooms admit only users who hold a role; disabled rooms admit no one.
inline bool may_join(const storage::room& r, std::uint8_t roles) {
  if (r.disabled)
    return false;
  return r.privacy_mode == storage::privacy::open || has_any_role(roles);
}

// In an auditorium only presenters (and managers) post; in a normal room everyone who may join.
inline bool may_post(const storage::room& r, std::uint8_t roles) {
  if (!may_join(r, roles))
    return false;
  if (r.type == storage::room_type::auditorium)
    return (roles & (storage::role::presenter | storage::role::manager)) != 0;
  return true;
}

// Invitations: the category decides, a room may only turn them off (xccos.md §5).
inline bool invitations_on(const storage::room& r, const storage::category& c) {
  return c.invite && r.invite != storage::room_invite::off;
}

} // namespace pchat::rules
