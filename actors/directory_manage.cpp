#include "actors/directory_manage.hpp"

#include <algorithm>

#include "actors/directory.hpp"
#include "actors/directory_invitations.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "base/log.hpp"
#include "base/text.hpp"

namespace pchat {

namespace {

void log_change(const principal& who, const char* what, const std::string& target, const caf::error& err,
                const caf::actor_system& sys) {
  auto line = log::line(err ? log::level::info : log::level::debug, "directory");
  line << what << " " << target << " by=" << (who.admin ? std::string{"admin"} : who.user);
  if (err)
    line << " refused: " << sys.render(err);
}

} // namespace

std::vector<category_view> creatable_categories(directory_self self, const std::string& user) {
  auto& st = self->state;
  std::vector<category_view> out;
  for (const auto& c : st.tree->creatable(principal::of(user)))
    out.push_back(view_of(st, c));
  return out;
}

caf::result<room_view> manage_create_room(directory_self self, const principal& who, const patch& fields) {
  auto& st = self->state;
  auto r = st.tree->create_room(who, fields);
  log_change(who, "create room", r ? r->name : std::string{}, r ? caf::error{} : r.error(), self->system());
  if (!r)
    return r.error();
  return view_of(st, *r);
}

caf::result<room_view> manage_update_room(directory_self self, const principal& who, const std::string& ref,
                                          const patch& fields) {
  auto& st = self->state;
  const auto* old = st.tree->find_room(ref);
  if (!old)
    return make_error(pchat_errc::room_not_found);
  auto r = st.tree->update_room(who, old->id, fields);
  log_change(who, "update room", ref, r ? caf::error{} : r.error(), self->system());
  if (!r)
    return r.error();
  push_settings(self, *r);
  return view_of(st, *r);
}

caf::result<bool> manage_remove_room(directory_self self, const principal& who, const std::string& ref) {
  auto& st = self->state;
  const auto* r = st.tree->find_room(ref);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  auto id = r->id;
  auto err = st.tree->remove_room(who, id);
  log_change(who, "remove room", ref, err, self->system());
  if (err)
    return err;
  if (auto i = st.live.find(id); i != st.live.end())
    self->send(i->second, remove_atom::value);
  forget_room(self, id);
  st.presence.forget_room(id);
  return true;
}

caf::result<bool> manage_set_roles(directory_self self, const principal& who, const std::string& ref,
                                   const std::string& user, std::uint8_t bits) {
  auto& st = self->state;
  const auto* r = st.tree->find_room(ref);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  auto invited = st.tree->set_roles(who, r->id, user, bits);
  log_change(who, "set roles", ref + " " + user + "=" + std::to_string(bits),
             invited ? caf::error{} : invited.error(), self->system());
  if (!invited)
    return invited.error();
  if (auto i = st.live.find(r->id); i != st.live.end())
    self->send(i->second, roles_atom::value, user, bits);
  if (!invited->has_value())
    return false;
  if (const auto* online = st.presence.sessions_of(user))
    for (const auto& session : *online)
      self->send(session, invite_atom::value, view_of(**invited, *r, st.opts.domain));
  return true;
}

std::vector<room_view> managed_rooms(directory_self self, const principal& who) {
  auto& st = self->state;
  std::vector<room_view> out;
  auto mine = who.admin ? std::map<std::uint64_t, std::uint8_t>{} : roles_by_room(st, who.user);
  for (const auto& [id, r] : st.tree->rooms())
    if (who.admin || rules::may_manage(st.tree->category_of(r), who.user, lookup(mine, id)))
      out.push_back(view_of(st, r));
  std::sort(out.begin(), out.end(), [](const room_view& a, const room_view& b) { return ascii_lower(a.name) < ascii_lower(b.name); });
  return out;
}

caf::result<room_detail> manage_room_detail(directory_self self, const principal& who, const std::string& ref) {
  auto& st = self->state;
  const auto* r = st.tree->find_room(ref);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  if (auto err = st.tree->check_manager(who, *r))
    return err;
  const auto& c = st.tree->category_of(*r);
  room_detail d;
  d.view = view_of(st, *r);
  d.category = view_of(st, c);
  d.invite = r->invite == storage::room_invite::off ? "false" : "inherit";
  d.category_invite = c.invite;
  d.disabled = r->disabled;
  d.addin = r->addin_url;
  for (auto& [user, bits] : st.store->room_roles(r->id))
    d.roles.push_back({user, bits});
  return d;
}

caf::result<category_view> manage_create_category(directory_self self, const principal& who, const patch& fields) {
  auto& st = self->state;
  auto c = st.tree->create_category(who, fields);
  log_change(who, "create category", c ? c->name : std::string{}, c ? caf::error{} : c.error(), self->system());
  if (!c)
    return c.error();
  return view_of(st, *c);
}

caf::result<category_view> manage_update_category(directory_self self, const principal& who,
                                                  const std::string& ref, const patch& fields) {
  auto& st = self->state;
  const auto* old = st.tree->find_category(ref);
  if (!old)
    return make_error(pchat_errc::category_not_found);
  auto c = st.tree->update_category(who, old->id, fields);
  log_change(who, "update category", ref, c ? caf::error{} : c.error(), self->system());
  if (!c)
    return c.error();
  for (const auto& [id, r] : st.tree->rooms())
    if (r.category_id == c->id)
      push_settings(self, r);
  return view_of(st, *c);
}

caf::result<bool> manage_remove_category(directory_self self, const principal& who, const std::string& ref) {
  auto& st = self->state;
  const auto* c = st.tree->find_category(ref);
  if (!c)
    return make_error(pchat_errc::category_not_found);
  auto err = st.tree->remove_category(who, c->id);
  log_change(who, "remove category", ref, err, self->system());
  if (err)
    return err;
  return true;
}

} // namespace pchat
