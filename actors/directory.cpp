#include "actors/directory.hpp"

#include "actors/directory_follows.hpp"
#include "actors/directory_invitations.hpp"
#include "actors/directory_manage.hpp"
#include "actors/directory_prefs.hpp"
#include "actors/directory_search.hpp"
#include "actors/room.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "base/log.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

namespace pchat {

// --- what the registry lends its modules ---------------------------------------------------------------------------

room_view view_of(const directory_state& st, const storage::room& r) {
  auto n = st.online.find(r.id);
  return make_room_view(r, st.tree->category_of(r), st.opts.domain, n != st.online.end() ? n->second : 0);
}

category_view view_of(const directory_state& st, const storage::category& c) {
  return {"ma-cat://" + st.opts.domain + "/" + c.guid, c.name, c.description};
}

std::map<std::uint64_t, std::uint8_t> roles_by_room(const directory_state& st, const std::string& user) {
  std::map<std::uint64_t, std::uint8_t> out;
  for (auto& [id, bits] : st.store->user_rooms(user))
    out.emplace(id, bits);
  return out;
}

std::uint8_t lookup(const std::map<std::uint64_t, std::uint8_t>& roles, std::uint64_t room_id) {
  auto i = roles.find(room_id);
  return i == roles.end() ? 0 : i->second;
}

bool visible(const directory_state& st, const storage::room& r, const std::string& user, std::uint8_t roles) {
  return rules::may_see(r, st.tree->category_of(r), user, roles);
}

void push_settings(directory_self self, const storage::room& r) {
  auto& st = self->state;
  if (auto i = st.live.find(r.id); i != st.live.end())
    self->send(i->second, update_atom::value, r, st.tree->category_of(r));
}

void forget_room(directory_self self, std::uint64_t room_id) {
  auto& st = self->state;
  st.online.erase(room_id);
  if (st.live.erase(room_id) > 0 && st.opts.live)
    st.opts.live->rooms_live.fetch_sub(1, std::memory_order_relaxed);
}

void apply_watch_changes(directory_self self, const directory_presence::changes& changes) {
  auto& st = self->state;
  for (const auto& c : changes)
    if (auto live = st.live.find(c.room_id); live != st.live.end())
      self->send(live->second, watch_atom::value, c.watched);
}

namespace {

// How many search workers: two, so that one long histsrch does not queue the next behind it, and no more on
// machines of two cores, where they already compete with the scheduler's threads.
constexpr std::size_t search_workers = 2;

room_actor live_room(directory_self self, const storage::room& r) {
  auto& st = self->state;
  auto i = st.live.find(r.id);
  if (i != st.live.end())
    return i->second;
  auto handle = self->spawn(room, r, st.tree->category_of(r), st.store, st.writer, self->address(), st.opts);
  self->monitor(handle);
  st.live.emplace(r.id, handle);
  if (st.presence.watched(r.id))
    self->send(handle, watch_atom::value, true);
  if (st.opts.live)
    st.opts.live->rooms_live.fetch_add(1, std::memory_order_relaxed);
  return handle;
}

// Retention for a room without an actor: the same bound and record as the room's own clear (room.hpp), its last
// seq read from the store (nothing is on its way). With compliance on, the record is archived before the deletion;
// the directory goes on meanwhile, and should the room get an actor before the deletion, that actor is told to
// forget the deleted posts it loaded.
caf::result<std::uint64_t> clear_idle_room(directory_self self, const storage::room& r, std::int64_t before_ticks,
                                           std::uint64_t keep_posts, const std::string& why) {
  auto& st = self->state;
  auto floor = st.store->cleared_up_to(r.id);
  auto up_to = clear_bound(*st.store, r.id, before_ticks, keep_posts, st.store->last_seq(r.id));
  if (up_to <= floor)
    return floor;
  auto apply = [self, room_id = r.id, name = r.name, floor, up_to, why]() -> caf::expected<std::uint64_t> {
    auto& st2 = self->state;
    if (auto cleared = st2.store->clear_history(room_id, up_to); !cleared.ok()) {
      log::line(log::level::error, "directory") << "history not cleared room=" << log::q(name)
                                                << " error=" << log::q(cleared.message);
      return make_error(pchat_errc::store_failed, cleared.message);
    }
    if (auto live = st2.live.find(room_id); live != st2.live.end())
      self->send(live->second, forget_atom::value, up_to);
    log::line(log::level::info, "directory") << "history cleared room=" << log::q(name) << " from-seq=" << floor + 1
                                             << " up-to-seq=" << up_to << " by=" << log::q(why);
    return up_to;
  };
  if (!st.opts.compliance)
    return apply();
  compliance::event e;
  e.kind = compliance::event_kind::clear;
  e.room_uri = room_uri(st.opts.domain, r);
  e.room_name = r.name;
  e.room_logged = st.tree->category_of(r).logged;
  e.ticks = now_ticks();
  e.content = clear_record(floor, up_to, why);
  auto rp = self->make_response_promise<std::uint64_t>();
  self->request(st.opts.compliance, caf::infinite, archive_atom::value, std::move(e))
    .then(
      [rp, apply](bool) mutable {
        auto done = apply();
        if (done)
          rp.deliver(*done);
        else
          rp.deliver(std::move(done.error()));
      },
      [self, rp, name = r.name](caf::error& err) mutable {
        log::line(log::level::error, "directory") << "history not cleared, compliance cannot archive it room="
                                                  << log::q(name) << " error=" << log::q(self->system().render(err));
        rp.deliver(make_error(pchat_errc::store_failed, "compliance archive unavailable"));
      });
  return rp;
}

// A worker of the directory: linked (it ends with the directory, and a worker that fails takes the directory
// with it rather than leaving its requests unanswered), detached so that its store I/O holds no scheduler thread
// — except under CAF's deterministic test coordinator, whose tests run every actor on their own thread.
template <class Fun, class... Ts>
auto spawn_worker(directory_self self, Fun fun, Ts&&... xs) {
  auto policy = caf::get_or(self->system().config(), "scheduler.policy", caf::defaults::scheduler::policy);
  if (policy == caf::atom("testing"))
    return self->spawn<caf::linked>(fun, std::forward<Ts>(xs)...);
  return self->spawn<caf::linked + caf::detached>(fun, std::forward<Ts>(xs)...);
}

} // namespace

directory_actor::behavior_type directory(directory_self self, std::shared_ptr<storage::store> store, writer_actor writer,
                                         server_options opts) {
  auto& st = self->state;
  st.store = std::move(store);
  st.writer = std::move(writer);
  st.opts = std::move(opts);
  st.tree = std::make_unique<catalog>(st.store);
  for (std::size_t i = 0; i < search_workers; ++i)
    st.searchers.push_back(spawn_worker(self, search_worker, st.store));
  st.prefs = spawn_worker(self, prefs_worker, st.store);
  st.invitations = spawn_worker(self, invite_worker, st.store, st.opts.domain);
  log::line(log::level::info, "directory") << "loaded categories=" << st.tree->categories().size()
                                           << " rooms=" << st.tree->rooms().size();
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& s = self->state;
    directory_presence::changes changes;
    if (s.presence.remove_session(dm.source, changes)) {
      apply_watch_changes(self, changes);
      return;
    }
    for (auto i = s.live.begin(); i != s.live.end(); ++i)
      if (i->second.address() == dm.source) {
        if (dm.reason != caf::exit_reason::normal)
          log::line(log::level::error, "directory") << "room actor down room_id=" << i->first
                                                    << " reason=" << log::q(self->system().render(dm.reason));
        forget_room(self, i->first);
        break;
      }
  });

  return {
    // --- the registry's own: rooms by GUID, and their online counts ----------------------------------------------
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
    [=](count_atom, std::uint64_t room_id, std::uint32_t n) { self->state.online[room_id] = n; },
    // --- search (directory_search) ----------------------------------------------------------------------------
    [=](search_atom, const std::string& user, const std::string& criteria) -> std::vector<room_view> {
      return find_rooms(self, user, criteria);
    },
    // The rooms the user may read are decided here; the search itself runs in a search worker, which answers the
    // requester (docs/protocol.md "History search").
    [=](histsrch_atom, const std::string& user, const std::string& text, const std::string& author,
        std::int64_t from, std::int64_t to, std::uint32_t limit,
        const std::vector<std::string>& guids) -> caf::result<std::vector<search_hit>> {
      auto plan = plan_history_search(self, user, text, author, from, to, limit, guids);
      if (!plan)
        return plan.error();
      auto& s = self->state;
      auto worker = s.searchers[s.next_searcher++ % s.searchers.size()];
      return self->delegate(worker, histsrch_atom::value, std::move(plan->rooms), std::move(plan->query));
    },
    // --- associations and follows (directory_follows) ----------------------------------------------------------
    [=](assoc_atom, const std::string& user) -> assoc_result { return associations(self, user); },
    [=](follow_atom, const std::string& user, std::uint64_t room_id) { follow_joined(self, user, room_id); },
    [=](follow_atom, const std::string& user, const std::vector<std::string>& guids,
        bool on) -> caf::result<std::vector<bool>> { return set_follows(self, user, guids, on); },
    // --- presence and new-content notices (directory_presence) -------------------------------------------------
    [=](hello_atom, const std::string& user) { session_hello(self, user); },
    [=](watch_atom, std::uint64_t room_id, bool joined) { session_watch(self, room_id, joined); },
    [=](posted_atom, std::uint64_t room_id, std::uint64_t seq) { room_posted(self, room_id, seq); },
    // --- invitations and prefs: their workers answer ------------------------------------------------------------
    [=](invite_atom, const std::string& user) -> caf::result<std::vector<invitation_view>> {
      return self->delegate(self->state.invitations, invite_atom::value, user);
    },
    [=](pref_atom, const std::string& user, const std::string& label) -> caf::result<bool, std::string> {
      return self->delegate(self->state.prefs, pref_atom::value, user, label);
    },
    [=](pref_atom, const std::string& user, const std::string& label, const std::string& value) -> caf::result<bool> {
      return self->delegate(self->state.prefs, pref_atom::value, user, label, value);
    },
    // --- room files (directory_tokens; docs/protocol.md "Room files") --------------------------------------------
    [=](ftoken_atom, const std::string& user, bool upload, const std::string& guid,
        const std::string& file_url) -> caf::result<file_ticket> {
      return issue_file_token(self, user, upload, guid, file_url);
    },
    [=](redeem_atom, const std::string& token, bool upload, const std::string& guid,
        const std::string& item) -> caf::result<file_grant> {
      return redeem_file_token(self, token, upload, guid, item);
    },
    // --- room and category management (directory_manage) -------------------------------------------------------
    [=](perm_atom, const std::string& user) -> std::vector<category_view> { return creatable_categories(self, user); },
    [=](create_atom, const principal& who, const patch& fields) -> caf::result<room_view> {
      return manage_create_room(self, who, fields);
    },
    [=](update_atom, const principal& who, const std::string& ref, const patch& fields) -> caf::result<room_view> {
      return manage_update_room(self, who, ref, fields);
    },
    [=](remove_atom, const principal& who, const std::string& ref) -> caf::result<bool> {
      return manage_remove_room(self, who, ref);
    },
    [=](roles_atom, const principal& who, const std::string& ref, const std::string& user,
        std::uint8_t bits) -> caf::result<bool> { return manage_set_roles(self, who, ref, user, bits); },
    // History deletion is the administrator's alone (pchatctl), done by the room's actor, which owns its cache.
    [=](clear_atom, const principal& who, const std::string& ref,
        std::int64_t before_ticks) -> caf::result<std::uint64_t> {
      if (!who.admin)
        return make_error(pchat_errc::forbidden);
      const auto* r = self->state.tree->find_room(ref);
      if (!r)
        return make_error(pchat_errc::room_not_found, ref);
      return self->delegate(live_room(self, *r), clear_atom::value, before_ticks, std::uint64_t{0},
                            administrator_clear(before_ticks));
    },
    // Retention: a live room's actor deletes (it owns its cache); a room nobody uses is cleared here without
    // spawning one.
    [=](clear_atom, std::uint64_t room_id, std::int64_t before_ticks, std::uint64_t keep_posts,
        const std::string& why) -> caf::result<std::uint64_t> {
      const auto* r = self->state.tree->room(room_id);
      if (!r)
        return make_error(pchat_errc::room_not_found);
      if (auto i = self->state.live.find(room_id); i != self->state.live.end())
        return self->delegate(i->second, clear_atom::value, before_ticks, keep_posts, why);
      return clear_idle_room(self, *r, before_ticks, keep_posts, why);
    },
    [=](redact_atom, const principal& who, const std::string& ref, std::uint64_t seq,
        const std::string& text) -> caf::result<bool> {
      if (!who.admin)
        return make_error(pchat_errc::forbidden);
      const auto* r = self->state.tree->find_room(ref);
      if (!r)
        return make_error(pchat_errc::room_not_found, ref);
      return self->delegate(live_room(self, *r), redact_atom::value, seq, text);
    },
    [=](detail_atom, const principal& who) -> std::vector<room_view> { return managed_rooms(self, who); },
    [=](detail_atom, const principal& who, const std::string& ref) -> caf::result<room_detail> {
      return manage_room_detail(self, who, ref);
    },
    [=](create_atom, const principal& who, category_atom, const patch& fields) -> caf::result<category_view> {
      return manage_create_category(self, who, fields);
    },
    [=](update_atom, const principal& who, category_atom, const std::string& ref,
        const patch& fields) -> caf::result<category_view> { return manage_update_category(self, who, ref, fields); },
    [=](remove_atom, const principal& who, category_atom, const std::string& ref) -> caf::result<bool> {
      return manage_remove_category(self, who, ref);
    },
  };
}

} // namespace pchat
