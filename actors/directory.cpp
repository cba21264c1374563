#include "actors/directory.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "actors/room.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "codec/sip_message.hpp"
#include "codec/digest.hpp"
#include "codec/xccos.hpp"
#include "storage/file_store.hpp"
#include "storage/text_index.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "base/random.hpp"

namespace pchat {

namespace {

using self_ptr = directory_actor::stateful_pointer<directory_state>;

room_view view_of(const directory_state& st, const storage::room& r) {
  auto n = st.online.find(r.id);
  return make_room_view(r, st.tree->category_of(r), st.opts.domain, n != st.online.end() ? n->second : 0);
}

category_view view_of(const directory_state& st, const storage::category& c) {
  return {"ma-cat://" + st.opts.domain + "/" + c.guid, c.name, c.description};
}

room_actor live_room(self_ptr self, const storage::room& r) {
  auto& st = self->state;
  auto i = st.live.find(r.id);
  if (i != st.live.end())
    return i->second;
  auto handle = self->spawn(room, r, st.tree->category_of(r), st.store, st.writer, self->address(), st.opts);
  self->monitor(handle);
  st.live.emplace(r.id, handle);
  if (st.watchers.count(r.id) > 0)
    self->send(handle, watch_atom::value, true);
  if (st.opts.live)
    st.opts.live->rooms_live.fetch_add(1, std::memory_order_relaxed);
  return handle;
}

// Starts or stops `session` watching a room for new content; tells the room when it gains its first watcher or
// loses its last.
void set_watch(self_ptr self, const session_actor& session, std::uint64_t room_id, bool on) {
  auto& st = self->state;
  auto addr = session.address();
  auto& list = st.watchers[room_id];
  bool was_watched = !list.empty();
  auto here = std::find_if(list.begin(), list.end(), [&](const session_actor& x) { return x.address() == addr; });
  if (on && here == list.end()) {
    list.push_back(session);
    st.watching[addr].insert(room_id);
  } else if (!on && here != list.end()) {
    list.erase(here);
    st.watching[addr].erase(room_id);
  }
  if (!on)
    st.notified.erase({addr, room_id});
  bool watched = !list.empty();
  if (!watched)
    st.watchers.erase(room_id);
  if (watched != was_watched)
    if (auto live = st.live.find(room_id); live != st.live.end())
      self->send(live->second, watch_atom::value, watched);
}

// A session ended: it watches nothing any more.
void forget_watcher(self_ptr self, const caf::actor_addr& addr) {
  auto& st = self->state;
  if (auto w = st.watching.find(addr); w != st.watching.end()) {
    for (auto room_id : w->second) {
      auto& list = st.watchers[room_id];
      list.erase(std::remove_if(list.begin(), list.end(), [&](const session_actor& x) { return x.address() == addr; }),
                 list.end());
      if (list.empty()) {
        st.watchers.erase(room_id);
        if (auto live = st.live.find(room_id); live != st.live.end())
          self->send(live->second, watch_atom::value, false);
      }
    }
    st.watching.erase(w);
  }
  st.joined.erase(addr);
  for (auto i = st.notified.lower_bound({addr, 0}); i != st.notified.end() && i->first == addr;)
    i = st.notified.erase(i);
}

// A follow changed: the user's sessions not in the room start (or stop) watching it.
void follow_changed(self_ptr self, const std::string& user, std::uint64_t room_id, bool on) {
  auto& st = self->state;
  auto sessions = st.sessions.find(user);
  if (sessions == st.sessions.end())
    return;
  for (const auto& session : sessions->second) {
    auto joined = st.joined.find(session.address());
    bool in_room = joined != st.joined.end() && joined->second.count(room_id) > 0;
    set_watch(self, session, room_id, on && !in_room);
  }
}

// Tells a live room its new settings; rooms not spawned read them when they are.
void push_settings(self_ptr self, const storage::room& r) {
  auto& st = self->state;
  if (auto i = st.live.find(r.id); i != st.live.end())
    self->send(i->second, update_atom::value, r, st.tree->category_of(r));
}

void forget_room(self_ptr self, std::uint64_t id) {
  auto& st = self->state;
  st.online.erase(id);
  if (st.live.erase(id) > 0 && st.opts.live)
    st.opts.live->rooms_live.fetch_sub(1, std::memory_order_relaxed);
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

bool visible(const directory_state& st, const storage::room& r, const std::string& user, std::uint8_t roles) {
  return rules::may_see(r, st.tree->category_of(r), user, roles);
}

invitation_view view_of(const directory_state& st, const storage::invitation& inv, const storage::room& r) {
  return {inv.id, room_uri(st.opts.domain, r), r.name, inv.inviter, inv.ticks};
}

// At most this many file tokens live at once, and this many per user: past either, new tokens are refused
// (busy) until some expire. Refusing, not evicting, so that one user's flood cannot cancel other users' tokens.
constexpr std::size_t max_file_tokens = 100000;
constexpr std::uint32_t max_file_tokens_per_user = 64;

void expire_tokens(directory_state& st, caf::actor_clock::time_point now) {
  while (!st.token_order.empty() && st.token_order.front().first <= now) {
    auto i = st.tokens.find(st.token_order.front().second);
    if (i != st.tokens.end() && i->second.expires == st.token_order.front().first) {
      auto n = st.tokens_per_user.find(i->second.user);
      if (n != st.tokens_per_user.end() && --n->second == 0)
        st.tokens_per_user.erase(n);
      st.tokens.erase(i);
    }
    st.token_order.pop_front();
  }
}

// The file rules (docs/protocol.md "Room files"): a user who may join the room may download its files; a user
// who may post there (so not an attendee of an auditorium) may upload when the category allows file posts.
// Secret rooms are room_not_found to outsiders, as everywhere.
caf::error check_file_rules(const directory_state& st, const storage::room& r, const std::string& user, bool upload) {
  const auto& c = st.tree->category_of(r);
  auto roles = st.store->roles_of(r.id, user);
  if (!rules::may_see(r, c, user, roles))
    return make_error(pchat_errc::room_not_found);
  if (!rules::may_join(r, c, user, roles))
    return make_error(pchat_errc::forbidden, "only members of the room may transfer its files");
  if (upload && !rules::may_post(r, c, user, roles))
    return make_error(pchat_errc::forbidden, "only presenters may post files in an auditorium");
  if (upload && !c.filepost)
    return make_error(pchat_errc::forbidden, "file posting is off in this room's category");
  return {};
}

void log_change(const principal& who, const char* what, const std::string& target, const caf::error& err,
                const caf::actor_system& sys) {
  auto line = log::line(err ? log::level::info : log::level::debug, "directory");
  line << what << " " << target << " by=" << (who.admin ? std::string{"admin"} : who.user);
  if (err)
    line << " refused: " << sys.render(err);
}

} // namespace

directory_actor::behavior_type directory(self_ptr self, std::shared_ptr<storage::store> store, writer_actor writer,
                                         server_options opts) {
  auto& st = self->state;
  st.store = std::move(store);
  st.writer = std::move(writer);
  st.opts = std::move(opts);
  st.tree = std::make_unique<catalog>(st.store);
  log::line(log::level::info, "directory") << "loaded categories=" << st.tree->categories().size()
                                           << " rooms=" << st.tree->rooms().size();
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& s = self->state;
    if (auto u = s.session_users.find(dm.source); u != s.session_users.end()) {
      forget_watcher(self, dm.source);
      auto& list = s.sessions[u->second];
      list.erase(std::remove_if(list.begin(), list.end(), [&](const session_actor& x) { return x.address() == dm.source; }),
                 list.end());
      if (list.empty())
        s.sessions.erase(u->second);
      s.session_users.erase(u);
      return;
    }
    for (auto i = s.live.begin(); i != s.live.end(); ++i)
      if (i->second.address() == dm.source) {
        if (dm.reason != caf::exit_reason::normal)
          log::line(log::level::error, "directory") << "room actor down room_id=" << i->first
                                                    << " reason=" << self->system().render(dm.reason);
        forget_room(self, i->first);
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
        const auto* r = s.tree->room_by_guid(guids[k]);
        if (!r)
          continue;
        const auto& c = s.tree->category_of(*r);
        if (r->privacy_mode == storage::privacy::secret || !c.allow.empty() || !c.deny.empty()) {
          if (!roles_loaded) {
            roles = roles_by_room(s, user);
            roles_loaded = true;
          }
          if (!visible(s, *r, user, lookup(roles, r->id)))
            continue; // outsiders learn nothing about secret rooms
        }
        out[k].found = true;
        out[k].room = live_room(self, *r);
        out[k].view = view_of(s, *r);
      }
      return out;
    },
    [=](search_atom, const std::string& user, const std::string& criteria) -> std::vector<room_view> {
      auto& s = self->state;
      auto roles = roles_by_room(s, user);
      auto needle = ascii_lower(criteria);
      if (s.opts.compliance) {
        compliance::event e;
        e.kind = compliance::event_kind::search;
        e.room_uri = s.opts.root_uri; // the scope searched: the whole room tree
        e.user_uri = user;
        e.ticks = now_ticks();
        e.content = criteria;
        self->send(s.opts.compliance, record_atom::value, std::move(e));
      }
      std::vector<room_view> out;
      for (const auto& [id, r] : s.tree->rooms()) {
        if (out.size() >= s.opts.search_limit)
          break;
        if (r.disabled || !visible(s, r, user, lookup(roles, id)))
          continue;
        if (!needle.empty() && ascii_lower(r.name).find(needle) == std::string::npos
            && ascii_lower(r.description).find(needle) == std::string::npos)
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
        const auto* r = s.tree->room(id);
        if (!r)
          continue;
        if (bits & storage::role::member)
          out.member.push_back(view_of(s, *r));
        if (bits & storage::role::manager)
          out.manager.push_back(view_of(s, *r));
      }
      for (auto id : s.store->follows(user)) {
        const auto* r = s.tree->room(id);
        if (!r || !visible(s, *r, user, lookup(roles, id)))
          continue;
        out.follows.push_back(id);
        if ((lookup(roles, id) & (storage::role::member | storage::role::manager)) == 0)
          out.followed.push_back(view_of(s, *r));
      }
      return out;
    },
    [=](follow_atom, const std::string& user, std::uint64_t room_id) {
      // Into the writer's next group commit: a synced write per join here would stall every resolve behind it.
      self->send(self->state.writer, follow_atom::value, user, room_id, true);
      follow_changed(self, user, room_id, true);
    },
    [=](follow_atom, const std::string& user, const std::vector<std::string>& guids,
        bool on) -> caf::result<std::vector<bool>> {
      auto& s = self->state;
      std::vector<bool> out(guids.size(), false);
      auto roles = roles_by_room(s, user);
      for (size_t k = 0; k < guids.size(); ++k) {
        const auto* r = s.tree->room_by_guid(guids[k]);
        if (!r || !visible(s, *r, user, lookup(roles, r->id)))
          continue; // outsiders learn nothing about secret rooms, not even by following them
        self->send(s.writer, follow_atom::value, user, r->id, on);
        follow_changed(self, user, r->id, on);
        out[k] = true;
      }
      // Answer once the changes are durable, so a getassoc after the reply sees them.
      auto rp = self->make_response_promise<std::vector<bool>>();
      self->request(s.writer, caf::infinite, commit_atom::value)
        .then([rp, out](bool) mutable { rp.deliver(out); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](count_atom, std::uint64_t room_id, std::uint32_t n) { self->state.online[room_id] = n; },
    [=](hello_atom, const std::string& user) {
      auto& s = self->state;
      auto session = caf::actor_cast<session_actor>(self->current_sender());
      if (!session || s.session_users.count(session.address()) > 0)
        return;
      self->monitor(session);
      s.session_users.emplace(session.address(), user);
      s.sessions[user].push_back(session);
      for (auto id : s.store->follows(user))
        if (s.tree->room(id))
          set_watch(self, session, id, true);
    },
    [=](watch_atom, std::uint64_t room_id, bool joined) {
      auto& s = self->state;
      auto session = caf::actor_cast<session_actor>(self->current_sender());
      auto u = session ? s.session_users.find(session.address()) : s.session_users.end();
      if (u == s.session_users.end())
        return;
      if (joined) {
        s.joined[session.address()].insert(room_id);
        set_watch(self, session, room_id, false);
        return;
      }
      s.joined[session.address()].erase(room_id);
      auto follows = s.store->follows(u->second);
      if (std::find(follows.begin(), follows.end(), room_id) != follows.end())
        set_watch(self, session, room_id, true);
    },
    [=](posted_atom, std::uint64_t room_id, std::uint64_t seq) {
      auto& s = self->state;
      auto w = s.watchers.find(room_id);
      const auto* r = s.tree->room(room_id);
      if (w == s.watchers.end() || !r)
        return;
      for (const auto& session : w->second) {
        auto key = std::make_pair(session.address(), room_id);
        if (s.notified.count(key) > 0)
          continue; // told once already; again only after it joined the room
        auto u = s.session_users.find(session.address());
        // Only rooms the user may read: a closed room they may merely see reveals nothing of its activity.
        if (u == s.session_users.end() ||
            !rules::may_join(*r, s.tree->category_of(*r), u->second, s.store->roles_of(room_id, u->second)))
          continue;
        s.notified.insert(key);
        self->send(session, notice_atom::value, view_of(s, *r), seq);
      }
    },
    [=](invite_atom, const std::string& user) -> caf::result<std::vector<invitation_view>> {
      auto& s = self->state;
      std::vector<invitation_view> out;
      std::vector<std::uint64_t> ids;
      for (const auto& inv : s.store->invitations(user)) {
        if (inv.seen)
          continue;
        ids.push_back(inv.id);
        if (const auto* r = s.tree->room(inv.room_id))
          out.push_back(view_of(s, inv, *r));
      }
      if (auto err = to_error(s.store->mark_seen(user, ids)))
        return err;
      return out;
    },
    [=](pref_atom, const std::string& user, const std::string& label) -> std::tuple<bool, std::string> {
      auto v = self->state.store->pref(user, label);
      return {v.has_value(), v.value_or(std::string{})};
    },
    [=](pref_atom, const std::string& user, const std::string& label, const std::string& value) -> caf::result<bool> {
      if (auto err = to_error(self->state.store->set_pref(user, label, value)))
        return err;
      return true;
    },
    // History search (docs/protocol.md "History search"): every room searched is one the user may read; each
    // room's query is O(log N + hits) seeks in the index (store::search), so a search costs O(rooms searched)
    // seeks plus the hits, on this actor. Results are merged newest first.
    [=](histsrch_atom, const std::string& user, const std::string& text, const std::string& author,
        std::int64_t from, std::int64_t to, std::uint32_t limit,
        const std::vector<std::string>& guids) -> caf::result<std::vector<search_hit>> {
      auto& s = self->state;
      auto roles = roles_by_room(s, user);
      std::vector<const storage::room*> rooms;
      auto readable = [&](const storage::room& r) {
        return rules::may_join(r, s.tree->category_of(r), user, lookup(roles, r.id));
      };
      if (guids.empty()) {
        for (const auto& [id, r] : s.tree->rooms())
          if (readable(r))
            rooms.push_back(&r);
      } else {
        for (const auto& g : guids) {
          const auto* r = s.tree->room_by_guid(g);
          if (!r || !readable(*r)) // hidden, unknown and unreadable rooms look alike
            return make_error(pchat_errc::room_not_found, g);
          rooms.push_back(r);
        }
      }
      storage::history_query q;
      q.words = storage::index_terms(text);
      q.author = author.empty() ? std::string{} : sip::normalize_aor(author);
      if (!author.empty() && q.author.empty())
        return make_error(pchat_errc::invalid_argument, "author is not a user: " + author);
      q.from_ticks = from;
      q.to_ticks = to;
      q.limit = limit == 0 ? s.opts.search_limit : std::min(limit, s.opts.search_limit);
      if (s.opts.compliance) {
        compliance::event e;
        e.kind = compliance::event_kind::search;
        e.room_uri = s.opts.root_uri;
        e.user_uri = user;
        e.ticks = now_ticks();
        e.content = "history: " + text + (author.empty() ? "" : " author=" + author);
        self->send(s.opts.compliance, record_atom::value, std::move(e));
      }
      // Newest first across rooms: once `limit` hits are in, later rooms are only searched from the oldest of
      // them on (the time bound cuts each room's query to O(log N) when it has nothing newer), so a search of
      // every room costs O(rooms x log N + limit x rooms-with-newer-hits) seeks, not rooms x limit reads.
      auto newer = [](const search_hit& a, const search_hit& b) {
        return a.msg.ticks != b.msg.ticks ? a.msg.ticks > b.msg.ticks : a.msg.seq > b.msg.seq;
      };
      std::vector<search_hit> hits;
      for (const auto* r : rooms) {
        if (hits.size() >= q.limit)
          q.from_ticks = std::max(q.from_ticks, hits.back().msg.ticks);
        for (auto& m : s.store->search(r->id, q).messages)
          hits.push_back({room_uri(s.opts.domain, *r), std::move(m)});
        std::sort(hits.begin(), hits.end(), newer);
        if (hits.size() > q.limit)
          hits.resize(q.limit);
      }
      return hits;
    },
    // --- room files (docs/protocol.md "Room files") -------------------------------------------------------------
    [=](ftoken_atom, const std::string& user, bool upload, const std::string& guid,
        const std::string& file_url) -> caf::result<file_ticket> {
      auto& s = self->state;
      if (!s.opts.files)
        return make_error(pchat_errc::store_failed, "room files are off (no web server)");
      const auto* r = s.tree->room_by_guid(guid);
      if (!r)
        return make_error(pchat_errc::room_not_found);
      if (auto err = check_file_rules(s, *r, user, upload))
        return err;
      file_ticket t;
      std::string item;
      if (upload) {
        if (!storage::file_store::valid_name(file_url))
          return make_error(pchat_errc::invalid_argument, "not a plain file name: " + file_url);
        item = file_url;
        t.path = "/files/" + r->guid + "/" + percent_encode(file_url);
      } else {
        // The link must name a file of this room: a token for one room never opens another's files.
        auto link = xccos::parse_file_link(file_url);
        if (!link || ascii_lower(link->room_guid) != ascii_lower(r->guid) || ascii_lower(link->domain) != ascii_lower(s.opts.domain))
          return make_error(pchat_errc::file_not_found, file_url);
        auto f = s.store->file(r->id, link->file_id);
        if (!f)
          return make_error(pchat_errc::file_not_found, file_url);
        item = f->id;
        t.path = "/files/" + r->guid + "/" + f->id;
      }
      auto now = self->clock().now();
      expire_tokens(s, now);
      auto mine = s.tokens_per_user.find(user);
      auto live = mine == s.tokens_per_user.end() ? 0u : mine->second;
      if (s.tokens.size() >= max_file_tokens || live >= max_file_tokens_per_user) {
        log::line(log::level::info, "directory") << "file token refused user=" << user << ": " << live
                                                 << " live of this user, " << s.tokens.size() << " in all";
        return make_error(pchat_errc::busy, "too many live file tokens; try again in a few minutes");
      }
      t.token = random_guid();
      auto expires = now + s.opts.files->token_ttl;
      s.tokens[t.token] = {user, upload, r->id, item, expires, false};
      ++s.tokens_per_user[user];
      s.token_order.emplace_back(expires, t.token);
      log::line(log::level::debug, "directory") << (upload ? "upload" : "download") << " token room=" << r->name
                                                << " user=" << user << " file=" << item;
      return t;
    },
    [=](redeem_atom, const std::string& token, bool upload, const std::string& guid,
        const std::string& item) -> caf::result<file_grant> {
      auto& s = self->state;
      auto now = self->clock().now();
      expire_tokens(s, now);
      auto i = s.tokens.find(token);
      if (i == s.tokens.end() || i->second.expires <= now)
        return make_error(pchat_errc::token_invalid, "unknown or expired token");
      auto& t = i->second;
      if (t.upload != upload)
        return make_error(pchat_errc::token_invalid, upload ? "a download token cannot upload"
                                                            : "an upload token cannot download");
      if (upload && t.used)
        return make_error(pchat_errc::token_invalid, "the upload token was used already");
      const auto* r = s.tree->room(t.room_id);
      if (!r)
        return make_error(pchat_errc::room_not_found);
      bool same_item = upload ? item == t.item : ascii_lower(item) == t.item;
      if (ascii_lower(guid) != ascii_lower(r->guid) || !same_item)
        return make_error(pchat_errc::forbidden, "the token was issued for another room or file");
      // Roles may have changed since the token was issued.
      if (auto err = check_file_rules(s, *r, t.user, upload))
        return err;
      file_grant g;
      g.user = t.user;
      g.room = view_of(s, *r);
      if (upload) {
        g.name = t.item;
      } else {
        auto f = s.store->file(r->id, t.item);
        if (!f)
          return make_error(pchat_errc::file_not_found);
        g.file = std::move(*f);
      }
      t.used = true;
      return g;
    },
    [=](perm_atom, const std::string& user) -> std::vector<category_view> {
      auto& s = self->state;
      std::vector<category_view> out;
      for (const auto& c : s.tree->creatable(principal::of(user)))
        out.push_back(view_of(s, c));
      return out;
    },
    // --- room management ---------------------------------------------------------------------------------------
    [=](create_atom, const principal& who, const patch& fields) -> caf::result<room_view> {
      auto& s = self->state;
      auto r = s.tree->create_room(who, fields);
      log_change(who, "create room", r ? r->name : std::string{}, r ? caf::error{} : r.error(), self->system());
      if (!r)
        return r.error();
      return view_of(s, *r);
    },
    [=](update_atom, const principal& who, const std::string& ref, const patch& fields) -> caf::result<room_view> {
      auto& s = self->state;
      const auto* old = s.tree->find_room(ref);
      if (!old)
        return make_error(pchat_errc::room_not_found);
      auto r = s.tree->update_room(who, old->id, fields);
      log_change(who, "update room", ref, r ? caf::error{} : r.error(), self->system());
      if (!r)
        return r.error();
      push_settings(self, *r);
      return view_of(s, *r);
    },
    [=](remove_atom, const principal& who, const std::string& ref) -> caf::result<bool> {
      auto& s = self->state;
      const auto* r = s.tree->find_room(ref);
      if (!r)
        return make_error(pchat_errc::room_not_found);
      auto id = r->id;
      auto err = s.tree->remove_room(who, id);
      log_change(who, "remove room", ref, err, self->system());
      if (err)
        return err;
      if (auto i = s.live.find(id); i != s.live.end())
        self->send(i->second, remove_atom::value);
      forget_room(self, id);
      if (auto w = s.watchers.find(id); w != s.watchers.end()) {
        for (const auto& session : w->second) {
          s.watching[session.address()].erase(id);
          s.notified.erase({session.address(), id});
        }
        s.watchers.erase(w);
      }
      return true;
    },
    [=](roles_atom, const principal& who, const std::string& ref, const std::string& user,
        std::uint8_t bits) -> caf::result<bool> {
      auto& s = self->state;
      const auto* r = s.tree->find_room(ref);
      if (!r)
        return make_error(pchat_errc::room_not_found);
      auto invited = s.tree->set_roles(who, r->id, user, bits);
      log_change(who, "set roles", ref + " " + user + "=" + std::to_string(bits),
                 invited ? caf::error{} : invited.error(), self->system());
      if (!invited)
        return invited.error();
      if (auto i = s.live.find(r->id); i != s.live.end())
        self->send(i->second, roles_atom::value, user, bits);
      if (!invited->has_value())
        return false;
      if (auto online = s.sessions.find(user); online != s.sessions.end())
        for (const auto& session : online->second)
          self->send(session, invite_atom::value, view_of(s, **invited, *r));
      return true;
    },
    [=](detail_atom, const principal& who) -> std::vector<room_view> {
      auto& s = self->state;
      std::vector<room_view> out;
      auto mine = who.admin ? std::map<std::uint64_t, std::uint8_t>{} : roles_by_room(s, who.user);
      for (const auto& [id, r] : s.tree->rooms())
        if (who.admin || rules::may_manage(s.tree->category_of(r), who.user, lookup(mine, id)))
          out.push_back(view_of(s, r));
      std::sort(out.begin(), out.end(), [](const room_view& a, const room_view& b) {
        return ascii_lower(a.name) < ascii_lower(b.name);
      });
      return out;
    },
    [=](detail_atom, const principal& who, const std::string& ref) -> caf::result<room_detail> {
      auto& s = self->state;
      const auto* r = s.tree->find_room(ref);
      if (!r)
        return make_error(pchat_errc::room_not_found);
      if (auto err = s.tree->check_manager(who, *r))
        return err;
      const auto& c = s.tree->category_of(*r);
      room_detail d;
      d.view = view_of(s, *r);
      d.category = view_of(s, c);
      d.invite = r->invite == storage::room_invite::off ? "false" : "inherit";
      d.category_invite = c.invite;
      d.disabled = r->disabled;
      d.addin = r->addin_url;
      for (auto& [user, bits] : s.store->room_roles(r->id))
        d.roles.push_back({user, bits});
      return d;
    },
    // --- category management -----------------------------------------------------------------------------------
    [=](create_atom, const principal& who, category_atom, const patch& fields) -> caf::result<category_view> {
      auto& s = self->state;
      auto c = s.tree->create_category(who, fields);
      log_change(who, "create category", c ? c->name : std::string{}, c ? caf::error{} : c.error(), self->system());
      if (!c)
        return c.error();
      return view_of(s, *c);
    },
    [=](update_atom, const principal& who, category_atom, const std::string& ref,
        const patch& fields) -> caf::result<category_view> {
      auto& s = self->state;
      const auto* old = s.tree->find_category(ref);
      if (!old)
        return make_error(pchat_errc::category_not_found);
      auto c = s.tree->update_category(who, old->id, fields);
      log_change(who, "update category", ref, c ? caf::error{} : c.error(), self->system());
      if (!c)
        return c.error();
      for (const auto& [id, r] : s.tree->rooms())
        if (r.category_id == c->id)
          push_settings(self, r);
      return view_of(s, *c);
    },
    [=](remove_atom, const principal& who, category_atom, const std::string& ref) -> caf::result<bool> {
      auto& s = self->state;
      const auto* c = s.tree->find_category(ref);
      if (!c)
        return make_error(pchat_errc::category_not_found);
      auto err = s.tree->remove_category(who, c->id);
      log_change(who, "remove category", ref, err, self->system());
      if (err)
        return err;
      return true;
    },
  };
}

} // namespace pchat
