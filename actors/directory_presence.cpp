#include "actors/directory_presence.hpp"

#include <algorithm>

#include "actors/directory.hpp"
#include "actors/rules.hpp"

namespace pchat {

namespace {

auto same_as(const caf::actor_addr& addr) {
  return [&addr](const session_actor& x) { return x.address() == addr; };
}

} // namespace

bool directory_presence::add_session(const session_actor& session, const std::string& user) {
  if (session_users_.count(session.address()) > 0)
    return false;
  session_users_.emplace(session.address(), user);
  sessions_[user].push_back(session);
  return true;
}

bool directory_presence::remove_session(const caf::actor_addr& addr, changes& out) {
  auto u = session_users_.find(addr);
  if (u == session_users_.end())
    return false;
  if (auto w = watching_.find(addr); w != watching_.end()) {
    for (auto room_id : w->second) {
      auto& list = watchers_[room_id];
      list.erase(std::remove_if(list.begin(), list.end(), same_as(addr)), list.end());
      if (list.empty()) {
        watchers_.erase(room_id);
        out.push_back({room_id, false});
      }
    }
    watching_.erase(w);
  }
  joined_.erase(addr);
  for (auto i = notified_.lower_bound({addr, 0}); i != notified_.end() && i->first == addr;)
    i = notified_.erase(i);
  auto& list = sessions_[u->second];
  list.erase(std::remove_if(list.begin(), list.end(), same_as(addr)), list.end());
  if (list.empty())
    sessions_.erase(u->second);
  session_users_.erase(u);
  return true;
}

const std::string* directory_presence::user_of(const caf::actor_addr& session) const {
  auto u = session_users_.find(session);
  return u == session_users_.end() ? nullptr : &u->second;
}

const std::vector<session_actor>* directory_presence::sessions_of(const std::string& user) const {
  auto s = sessions_.find(user);
  return s == sessions_.end() ? nullptr : &s->second;
}

void directory_presence::set_watch(const session_actor& session, std::uint64_t room_id, bool on, changes& out) {
  auto addr = session.address();
  auto& list = watchers_[room_id];
  bool was_watched = !list.empty();
  auto here = std::find_if(list.begin(), list.end(), same_as(addr));
  if (on && here == list.end()) {
    list.push_back(session);
    watching_[addr].insert(room_id);
  } else if (!on && here != list.end()) {
    list.erase(here);
    watching_[addr].erase(room_id);
  }
  if (!on)
    notified_.erase({addr, room_id});
  bool now_watched = !list.empty();
  if (!now_watched)
    watchers_.erase(room_id);
  if (now_watched != was_watched)
    out.push_back({room_id, now_watched});
}

void directory_presence::follow_changed(const std::string& user, std::uint64_t room_id, bool on, changes& out) {
  auto sessions = sessions_.find(user);
  if (sessions == sessions_.end())
    return;
  for (const auto& session : sessions->second) {
    auto joined = joined_.find(session.address());
    bool in_room = joined != joined_.end() && joined->second.count(room_id) > 0;
    set_watch(session, room_id, on && !in_room, out);
  }
}

void directory_presence::set_joined(const caf::actor_addr& session, std::uint64_t room_id, bool joined) {
  if (joined)
    joined_[session].insert(room_id);
  else
    joined_[session].erase(room_id);
}

std::vector<session_actor>
directory_presence::take_notices(std::uint64_t room_id, const std::function<bool(const std::string&)>& may_read) {
  std::vector<session_actor> out;
  auto w = watchers_.find(room_id);
  if (w == watchers_.end())
    return out;
  for (const auto& session : w->second) {
    auto key = std::make_pair(session.address(), room_id);
    if (notified_.count(key) > 0)
      continue; // told once already; again only after it joined the room
    auto u = session_users_.find(session.address());
    if (u == session_users_.end() || !may_read(u->second))
      continue;
    notified_.insert(key);
    out.push_back(session);
  }
  return out;
}

void directory_presence::forget_room(std::uint64_t room_id) {
  auto w = watchers_.find(room_id);
  if (w == watchers_.end())
    return;
  for (const auto& session : w->second) {
    watching_[session.address()].erase(room_id);
    notified_.erase({session.address(), room_id});
  }
  watchers_.erase(w);
}

// --- handlers ----------------------------------------------------------------------------------------------------

void session_hello(directory_self self, const std::string& user) {
  auto& st = self->state;
  auto session = caf::actor_cast<session_actor>(self->current_sender());
  if (!session || !st.presence.add_session(session, user))
    return;
  self->monitor(session); // its down message ends its presence (directory.cpp)
  directory_presence::changes changes;
  for (auto id : st.store->follows(user))
    if (st.tree->room(id))
      st.presence.set_watch(session, id, true, changes);
  apply_watch_changes(self, changes);
}

void session_watch(directory_self self, std::uint64_t room_id, bool joined) {
  auto& st = self->state;
  auto session = caf::actor_cast<session_actor>(self->current_sender());
  const auto* known = session ? st.presence.user_of(session.address()) : nullptr;
  if (!known)
    return;
  auto user = *known;
  directory_presence::changes changes;
  st.presence.set_joined(session.address(), room_id, joined);
  if (joined) {
    st.presence.set_watch(session, room_id, false, changes);
  } else {
    auto follows = st.store->follows(user);
    if (std::find(follows.begin(), follows.end(), room_id) != follows.end())
      st.presence.set_watch(session, room_id, true, changes);
  }
  apply_watch_changes(self, changes);
}

void room_posted(directory_self self, std::uint64_t room_id, std::uint64_t seq) {
  auto& st = self->state;
  const auto* r = st.tree->room(room_id);
  if (!r || !st.presence.watched(room_id))
    return;
  const auto& c = st.tree->category_of(*r);
  auto told = st.presence.take_notices(room_id, [&](const std::string& user) {
    return rules::may_join(*r, c, user, st.store->roles_of(room_id, user));
  });
  if (told.empty())
    return;
  auto view = view_of(st, *r);
  for (const auto& session : told)
    self->send(session, notice_atom::value, view, seq);
}

} // namespace pchat
