#include "actors/directory.hpp"

#include "actors/log.hpp"
#include "actors/room.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"

namespace pchat {

namespace {

using self_ptr = directory_actor::stateful_pointer<directory_state>;

room_view view_of(const directory_state& st, const storage::room& r) {
  auto c = st.categories.find(r.category_id);
  auto n = st.online.find(r.id);
  return make_room_view(r, c != st.categories.end() ? c->second : storage::category{}, st.opts.domain,
                        n != st.online.end() ? n->second : 0);
}

room_actor live_room(self_ptr self, const storage::room& r) {
  auto& st = self->state;
  auto i = st.live.find(r.id);
  if (i != st.live.end())
    return i->second;
  auto c = st.categories.find(r.category_id);
  auto handle = self->spawn(room, r, c != st.categories.end() ? c->second : storage::category{}, st.store,
                            st.writer, self->address(), st.opts);
  self->monitor(handle);
  st.live.emplace(r.id, handle);
  if (st.opts.live)
    st.opts.live->rooms_live.fetch_add(1, std::memory_order_relaxed);
  return handle;
}

std::map<std::uint64_t, std::uint8_t> roles_by_room(const directory_state& st, const std::string& user) {
  std::map<std::uint64_t, std::uint8_t> out;
  for (auto& [id, bits] : st.store->user_rooms(user))
    out.emplace(id, bits);
  return out;
}

std::uint8_t lookup(const std::map<std::uint64_t, std::uint8_t>& m, std::uint64_t id) {
  auto i = m.find(id);
  return i == m.end() ? 0 : i->second;
}

} // namespace

directory_actor::behavior_type directory(self_ptr self, std::shared_ptr<storage::store> store, writer_actor writer,
                                         server_options opts) {
  auto& st = self->state;
  st.store = std::move(store);
  st.writer = std::move(writer);
  st.opts = std::move(opts);
  for (auto& c : st.store->categories())
    st.categories.emplace(c.id, c);
  for (auto& r : st.store->rooms()) {
    st.by_guid.emplace(lower(r.guid), r.id);
    st.rooms.emplace(r.id, std::move(r));
  }
  log::line(log::level::info, "directory") << "loaded categories=" << st.categories.size()
                                           << " rooms=" << st.rooms.size();
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& s = self->state;
    for (auto i = s.live.begin(); i != s.live.end(); ++i)
      if (i->second.address() == dm.source) {
        log::line(log::level::error, "directory") << "room actor down room_id=" << i->first
                                                  << " reason=" << self->system().render(dm.reason);
        s.online.erase(i->first);
        s.live.erase(i);
        if (s.opts.live)
          s.opts.live->rooms_live.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
  });

  return {
    [=](resolve_atom, const std::string& user,
        const std::vector<std::string>& guids) -> std::vector<resolved_room> {
      auto& s = self->state;
      std::vector<resolved_room> out(guids.size());
      std::map<std::uint64_t, std::uint8_t> roles;
      bool roles_loaded = false;
      for (size_t k = 0; k < guids.size(); ++k) {
        auto id = s.by_guid.find(lower(guids[k]));
        if (id == s.by_guid.end())
          continue;
        const auto& r = s.rooms.at(id->second);
        if (r.privacy_mode == storage::privacy::secret) {
          if (!roles_loaded) {
            roles = roles_by_room(s, user);
            roles_loaded = true;
          }
          if (!rules::may_see(r, lookup(roles, r.id)))
            continue; // outsiders learn nothing about secret rooms
        }
        out[k].found = true;
        out[k].room = live_room(self, r);
        out[k].view = view_of(s, r);
      }
      return out;
    },
    [=](search_atom, const std::string& user, const std::string& criteria) -> std::vector<room_view> {
      auto& s = self->state;
      auto roles = roles_by_room(s, user);
      auto needle = lower(criteria);
      std::vector<room_view> out;
      for (const auto& [id, r] : s.rooms) {
        if (out.size() >= s.opts.search_limit)
          break;
        if (r.disabled || !rules::may_see(r, lookup(roles, id)))
          continue;
        if (!needle.empty() && lower(r.name).find(needle) == std::string::npos
            && lower(r.description).find(needle) == std::string::npos)
          continue;
        out.push_back(view_of(s, r));
      }
      return out;
    },
    [=](assoc_atom, const std::string& user) -> assoc_result {
      auto& s = self->state;
      assoc_result out;
      std::map<std::uint64_t, std::uint8_t> roles;
      for (auto& [id, bits] : s.store->user_rooms(user)) {
        roles.emplace(id, bits);
        auto r = s.rooms.find(id);
        if (r == s.rooms.end())
          continue;
        if (bits & storage::role::member)
          out.member.push_back(view_of(s, r->second));
        if (bits & storage::role::manager)
          out.manager.push_back(view_of(s, r->second));
      }
      for (auto id : s.store->follows(user)) {
        auto r = s.rooms.find(id);
        if (r == s.rooms.end() || !rules::may_see(r->second, lookup(roles, id)))
          continue;
        out.follows.push_back(id);
        if ((lookup(roles, id) & (storage::role::member | storage::role::manager)) == 0)
          out.followed.push_back(view_of(s, r->second));
      }
      return out;
    },
    [=](follow_atom, const std::string& user, std::uint64_t room_id) {
      // Into the writer's next group commit: a synced write per join here would stall every resolve behind it.
      self->send(self->state.writer, follow_atom::value, user, room_id, true);
    },
    [=](follow_atom, const std::string& user, const std::vector<std::string>& guids, bool on) -> std::vector<bool> {
      auto& s = self->state;
      std::vector<bool> out(guids.size(), false);
      auto roles = roles_by_room(s, user);
      for (size_t k = 0; k < guids.size(); ++k) {
        auto id = s.by_guid.find(lower(guids[k]));
        if (id == s.by_guid.end())
          continue;
        const auto& r = s.rooms.at(id->second);
        if (!rules::may_see(r, lookup(roles, r.id)))
          continue; // outsiders learn nothing about secret rooms, not even by following them
        self->send(s.writer, follow_atom::value, user, r.id, on);
        out[k] = true;
      }
      return out;
    },
    [=](count_atom, std::uint64_t room_id, std::uint32_t n) { self->state.online[room_id] = n; },
  };
}

} // namespace pchat
