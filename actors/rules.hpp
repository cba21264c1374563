#pragma once
// The room model's access rules as small named functions, called at fixed points (docs/architecture.md "Conventions" §8):
// before search (may_see), before join and history reads (may_join), before a post (may_post), before a
// settings or membership change (may_manage, may_hold_role) and before creating a room (may_create_room).
// Source: docs/xccos.md §5 (privacy open/closed/secret, type normal/auditorium, roles, category
// scope and creators). Administrators (pchatctl) are not users and bypass these; catalog.cpp decides that.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace pchat::rules {

inline bool has_any_role(std::uint8_t roles) { return roles != 0; }

// The domain of "sip:alice@example.com" (after '@', lower case as users are normalised); "" without one.
inline std::string domain_of(const std::string& user) {
  auto at = user.rfind('@');
  return at == std::string::npos ? std::string{} : user.substr(at + 1);
}

// A scope or creator entry matches a user: "*" everyone, "sip:..." exactly that user, anything else a domain.
inline bool principal_matches(const std::string& principal, const std::string& user) {
  if (principal == "*")
    return true;
  if (principal.rfind("sip:", 0) == 0)
    return principal == user;
  return principal == domain_of(user);
}

inline bool any_matches(const std::vector<std::string>& principals, const std::string& user) {
  return std::any_of(principals.begin(), principals.end(),
                     [&](const std::string& p) { return principal_matches(p, user); });
}

// Inside a category's scope: not denied, and allowed (an empty allow list allows everyone). Deny wins.
inline bool in_scope(const storage::category& c, const std::string& user) {
  if (any_matches(c.deny, user))
    return false;
  return c.allow.empty() || any_matches(c.allow, user);
}

// Secret rooms are invisible to everyone who holds no role in them; open and closed rooms are visible to users
// in the category's scope. The scope binds role holders too: someone denied (or no longer allowed) by the
// category loses the rooms in it, roles or not (room members must stay inside the category's scope).
inline bool may_see(const storage::room& r, const storage::category& c, const std::string& user,
                    std::uint8_t roles) {
  if (!in_scope(c, user))
    return false;
  return r.privacy_mode != storage::privacy::secret || has_any_role(roles);
}

// Open rooms admit anyone in scope; closed and secret rooms admit only users in scope who hold a role; disabled
// rooms admit no one.
inline bool may_join(const storage::room& r, const storage::category& c, const std::string& user,
                     std::uint8_t roles) {
  if (r.disabled || !in_scope(c, user))
    return false;
  return r.privacy_mode == storage::privacy::open || has_any_role(roles);
}

// In an auditorium only presenters (and managers) post; in a normal room everyone who may join.
inline bool may_post(const storage::room& r, const storage::category& c, const std::string& user,
                     std::uint8_t roles) {
  if (!may_join(r, c, user, roles))
    return false;
  if (r.type == storage::room_type::auditorium)
    return (roles & (storage::role::presenter | storage::role::manager)) != 0;
  return true;
}

// Room managers change the room's settings and roles (disabled rooms included: that is how they re-enable them).
inline bool may_manage(const storage::category& c, const std::string& user, std::uint8_t roles) {
  return (roles & storage::role::manager) != 0 && in_scope(c, user);
}

// Room roles go only to users inside the category's scope (docs/xccos.md §5).
inline bool may_hold_role(const storage::category& c, const std::string& user) { return in_scope(c, user); }

// Creators listed on the category, inside its scope, create rooms in it (nodespermcreatechild).
inline bool may_create_room(const storage::category& c, const std::string& user) {
  return in_scope(c, user) && any_matches(c.creators, user);
}

// Invitations: the category decides, a room may only turn them off (docs/xccos.md §5).
inline bool invitations_on(const storage::room& r, const storage::category& c) {
  return c.invite && r.invite != storage::room_invite::off;
}

} // namespace pchat::rules
