#pragma once
// Room file tokens (docs/protocol.md "Room files"), a module of the directory (actors/directory.hpp) run in its
// mailbox: in memory only (a restart forgets them), so no I/O beyond the room's roles and, for downloads, the
// file's record.
//
// file_tokens holds the live tokens. They expire in issue order (one TTL for all), so the queue's front is always
// the next to expire, and expired ones are dropped whenever the table is used. At most max_tokens live at once,
// and max_per_user of one user: past either, new tokens are refused (busy) until some expire — refusing, not
// evicting, so that one user's flood cannot cancel other users' tokens.
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

#include "actors/protocol.hpp"

namespace pchat {

class file_tokens {
public:
  static constexpr std::size_t max_tokens = 100000;
  static constexpr std::uint32_t max_per_user = 64;

  struct token {
    std::string user;
    bool upload = true;
    std::uint64_t room_id = 0;
    std::string item; // upload: the file name; download: the file id
    caf::actor_clock::time_point expires;
    bool used = false;
  };

  // A new token for `user`, valid until now + ttl; busy when either bound is reached.
  caf::expected<std::string> issue(const std::string& user, bool upload, std::uint64_t room_id, std::string item,
                                   caf::actor_clock::time_point now, caf::actor_clock::duration_type ttl);
  // The live token, null when unknown or expired.
  token* find(const std::string& id, caf::actor_clock::time_point now);

private:
  void expire(caf::actor_clock::time_point now);

  std::unordered_map<std::string, token> tokens_;
  std::unordered_map<std::string, std::uint32_t> per_user_; // live tokens of each user
  std::deque<std::pair<caf::actor_clock::time_point, std::string>> order_;
};

// --- the directory's handlers for this concern (the directory_actor messages of the same names) -----------------
struct directory_state;
using directory_self = directory_actor::stateful_pointer<directory_state>;

// ftoken(user, upload, room guid, fileUrl): the file rules (only users who may join the room; uploads need the
// category's filepost and, in an auditorium, a presenter), then a token.
caf::result<file_ticket> issue_file_token(directory_self self, const std::string& user, bool upload,
                                          const std::string& guid, const std::string& file_url);
// redeem(token, upload, room guid, name or file id): what the token allows, after the file rules again.
caf::result<file_grant> redeem_file_token(directory_self self, const std::string& token, bool upload,
                                          const std::string& guid, const std::string& item);

} // namespace pchat
