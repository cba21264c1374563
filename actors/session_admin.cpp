// The session's room-management commands (actors/session_commands.hpp; docs/protocol.md "Room management"):
// where the user may create rooms (nodespermcreatechild), creating and changing rooms (chancreate, chanupd) and
// who holds which role (chanrole). The directory's catalog decides who may.
#include <optional>

#include "actors/session_commands.hpp"
#include "codec/sip_message.hpp"

namespace pchat::session_cmd {

namespace {

// "member,presenter" (commas or spaces) -> role bits; nullopt on an unknown word.
std::optional<std::uint8_t> parse_roles(const std::string& text) {
  std::uint8_t bits = 0;
  std::string word;
  for (char ch : text + ",") {
    if (ch != ',' && ch != ' ') {
      word.push_back(ch);
      continue;
    }
    if (auto bit = storage::role_bit(word))
      bits |= *bit;
    else if (!word.empty())
      return std::nullopt;
    word.clear();
  }
  return bits;
}

// Success is answered with the room's chanib summary.
void reply_room(self_ptr self, const xccos::command& c, const room_view& r) {
  std::string data;
  xccos::append_chanib_summary(data, to_summary(r));
  reply_ok(self, c, std::move(data));
}

} // namespace

// nodespermcreatechild (docs/xccos.md §4): a <cat> per category the user may create rooms in.
void handle(self_ptr self, const xccos::command& cmd, const xccos::nodespermcreatechild_cmd&) {
  auto c = cmd;
  ask_directory<std::vector<category_view>>(
    self, cmd,
    [self, c](const std::vector<category_view>& cats) {
      std::string data;
      for (const auto& cat : cats)
        xccos::append_category(data, cat.uri, cat.name, cat.description);
      reply_ok(self, c, std::move(data));
    },
    perm_atom::value, self->state.user);
}

void handle(self_ptr self, const xccos::command& cmd, const xccos::chancreate_cmd& x) {
  auto c = cmd;
  ask_directory<room_view>(
    self, cmd, [self, c](const room_view& r) { reply_room(self, c, r); }, create_atom::value,
    principal::of(self->state.user), patch{x.fields});
}

void handle(self_ptr self, const xccos::command& cmd, const xccos::chanupd_cmd& x) {
  if (!in_domain(self, x.chan))
    return refuse(self, cmd, pchat_errc::room_not_found);
  auto c = cmd;
  ask_directory<room_view>(
    self, cmd, [self, c](const room_view& r) { reply_room(self, c, r); }, update_atom::value,
    principal::of(self->state.user), x.chan.guid, patch{x.fields});
}

// One reply for every user: <uib uri roles invited/> for each change made; if none could be made, the first
// item's error as the command's.
void handle(self_ptr self, const xccos::command& cmd, const xccos::chanrole_cmd& x) {
  if (!in_domain(self, x.chan))
    return refuse(self, cmd, pchat_errc::room_not_found);
  std::vector<std::pair<std::string, std::uint8_t>> changes;
  for (const auto& [uri, roles] : x.users) {
    auto user = sip::normalize_aor(uri);
    auto bits = parse_roles(roles);
    if (user.empty() || !bits)
      return refuse(self, cmd, pchat_errc::invalid_argument);
    changes.emplace_back(user, *bits);
  }
  hold(self);
  // The fan-in of this one command: one outcome per user, and how many answers are still out.
  struct context {
    std::vector<caf::expected<bool>> outcomes;
    size_t remaining = 0;
  };
  auto ctx = std::make_shared<context>();
  ctx->outcomes.assign(changes.size(), caf::expected<bool>{false});
  ctx->remaining = changes.size();
  auto c = cmd;
  auto users = x.users;
  auto done = [self, c, ctx, users] {
    if (--ctx->remaining > 0)
      return;
    std::string data;
    bool any = false;
    for (size_t i = 0; i < users.size(); ++i) {
      if (!ctx->outcomes[i])
        continue;
      any = true;
      xccos::append_role_change(data, users[i].first, users[i].second, *ctx->outcomes[i]);
    }
    if (!any)
      reply_error(self, c, ctx->outcomes[0].error());
    else
      reply_ok(self, c, std::move(data));
    release(self); // after the reply: replies go out in command order
  };
  for (size_t i = 0; i < changes.size(); ++i)
    self
      ->request(self->state.directory, caf::infinite, roles_atom::value, principal::of(self->state.user),
                x.chan.guid, changes[i].first, changes[i].second)
      .then(
        [ctx, i, done](bool invited) {
          ctx->outcomes[i] = invited;
          done();
        },
        [ctx, i, done](caf::error& err) {
          ctx->outcomes[i] = std::move(err);
          done();
        });
}

} // namespace pchat::session_cmd
