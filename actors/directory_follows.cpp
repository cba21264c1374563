#include "actors/directory_follows.hpp"

#include "actors/directory.hpp"

namespace pchat {

namespace {

void follow_changed(directory_self self, const std::string& user, std::uint64_t room_id, bool on) {
  directory_presence::changes changes;
  self->state.presence.follow_changed(user, room_id, on, changes);
  apply_watch_changes(self, changes);
}

} // namespace

assoc_result associations(directory_self self, const std::string& user) {
  auto& st = self->state;
  assoc_result out;
  std::map<std::uint64_t, std::uint8_t> roles;
  for (auto& [id, bits] : st.store->user_rooms(user)) {
    roles.emplace(id, bits);
    const auto* r = st.tree->room(id);
    if (!r)
      continue;
    if (bits & storage::role::member)
      out.member.push_back(view_of(st, *r));
    if (bits & storage::role::manager)
      out.manager.push_back(view_of(st, *r));
  }
  for (auto id : st.store->follows(user)) {
    const auto* r = st.tree->room(id);
    if (!r || !visible(st, *r, user, lookup(roles, id)))
      continue;
    out.follows.push_back(id);
    if ((lookup(roles, id) & (storage::role::member | storage::role::manager)) == 0)
      out.followed.push_back(view_of(st, *r));
  }
  return out;
}

void follow_joined(directory_self self, const std::string& user, std::uint64_t room_id) {
  // Into the writer's next group commit: a synced write per join here would stall every resolve behind it.
  self->send(self->state.writer, follow_atom::value, user, room_id, true);
  follow_changed(self, user, room_id, true);
}

caf::result<std::vector<bool>> set_follows(directory_self self, const std::string& user,
                                           const std::vector<std::string>& guids, bool on) {
  auto& st = self->state;
  std::vector<bool> out(guids.size(), false);
  auto roles = roles_by_room(st, user);
  for (size_t k = 0; k < guids.size(); ++k) {
    const auto* r = st.tree->room_by_guid(guids[k]);
    if (!r || !visible(st, *r, user, lookup(roles, r->id)))
      continue; // outsiders learn nothing about secret rooms, not even by following them
    self->send(st.writer, follow_atom::value, user, r->id, on);
    follow_changed(self, user, r->id, on);
    out[k] = true;
  }
  // Answer once the changes are durable, so a getassoc after the reply sees them.
  auto rp = self->make_response_promise<std::vector<bool>>();
  self->request(st.writer, caf::infinite, commit_atom::value)
    .then([rp, out](bool) mutable { rp.deliver(out); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

} // namespace pchat
