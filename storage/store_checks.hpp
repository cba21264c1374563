#pragma once
// What every store back end refuses, in one place: the checks of store.hpp's contract that do not depend on how
// records are kept (RocksDB in store.cpp, PostgreSQL in pg_store.cpp). Private to storage/.
#include <string>

#include "base/text.hpp"
#include "storage/record_codec.hpp"
#include "storage/store.hpp"

namespace pchat::storage::checks {

inline status fail(errc code, std::string message) { return {code, std::move(message)}; }

inline const status read_only{errc::invalid_argument, "read-only: the store was opened with read_only"};

inline bool valid_user(const std::string& user) { return !user.empty() && user.find('\0') == std::string::npos; }

inline status user_ok(const std::string& user) {
  return valid_user(user) ? status::success() : fail(errc::invalid_argument, "user is empty or contains NUL");
}

// "sip:alice@Example.com:5061" -> "example.com" (the key of a domain policy).
inline std::string domain_of(const std::string& aor) {
  auto at = aor.find('@');
  if (at == std::string::npos)
    return {};
  auto host = aor.substr(at + 1);
  if (!host.empty() && host[0] != '[')
    host = host.substr(0, host.find(':'));
  return ascii_lower(host);
}

inline status principals_ok(const category& c) {
  for (const auto* list : {&c.allow, &c.deny, &c.creators})
    for (const auto& p : *list)
      if (!valid_user(p))
        return fail(errc::invalid_argument, "a scope or creator entry is empty or contains NUL");
  return status::success();
}

inline status category_ok(const category& c) {
  if (c.name.empty())
    return fail(errc::invalid_argument, "category name is empty");
  return principals_ok(c);
}

inline status roles_ok(const std::string& user, std::uint8_t roles) {
  if (!valid_user(user))
    return fail(errc::invalid_argument, "user is empty or contains NUL");
  constexpr std::uint8_t all_roles = role::member | role::manager | role::presenter;
  if ((roles & ~all_roles) != 0)
    return fail(errc::invalid_argument, "unknown role bits " + std::to_string(roles));
  return status::success();
}

inline status file_ok(const file_record& f) {
  if (f.id.empty() || f.name.empty() || !codec::is_lower_hex(f.sha256, 64) || !valid_user(f.uploader))
    return fail(errc::invalid_argument, "a file needs an id, a name, a SHA-256 and an uploader");
  return status::success();
}

inline status user_record_ok(const user_record& u) {
  if (!valid_user(u.aor) || u.realm.empty() || !codec::is_lower_hex(u.ha1_md5, 32) ||
      !codec::is_lower_hex(u.ha1_sha256, 64) || (!u.nt_hash.empty() && !codec::is_lower_hex(u.nt_hash, 32)))
    return fail(errc::invalid_argument, "a user needs an address, a realm and both HA1 digests (and a well-formed "
                                        "NT hash, if any)");
  return status::success();
}

inline status policy_ok(policy_scope scope, const std::string& subject) {
  if ((scope == policy_scope::global) != subject.empty() || subject.find('\0') != std::string::npos)
    return fail(errc::invalid_argument, "a global policy has no subject; a domain or user policy needs one");
  return status::success();
}

// The subject a policy is stored under: domains case-folded.
inline std::string policy_subject(policy_scope scope, const std::string& subject) {
  return scope == policy_scope::domain ? ascii_lower(subject) : subject;
}

// Fails the whole batch on a message with seq 0 or a follow/unfollow with an invalid user (store.hpp: commit).
inline status write_set_ok(const write_set& w) {
  for (const auto& m : w.messages)
    if (m.seq == 0)
      return fail(errc::invalid_argument, "message seq must be >= 1");
  for (const auto* list : {&w.follows, &w.unfollows})
    for (const auto& entry : *list)
      if (!valid_user(entry.first))
        return fail(errc::invalid_argument, "user is empty or contains NUL");
  return status::success();
}

// A category's retention rule is stored only when it limits something; a room's whenever it has its own (even
// "keep everything": that overrides a limiting category).
inline std::optional<retention> stored_rule(const category& c) {
  return c.keep.keeps_all() ? std::nullopt : std::optional<retention>{c.keep};
}

} // namespace pchat::storage::checks
