#include "actors/room.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "base/text.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "codec/xccos.hpp"
#include "codec/xccos_build.hpp"
#include "base/time.hpp"

namespace pchat {

namespace {

using self_ptr = room_actor::stateful_pointer<room_state>;

std::uint8_t roles_of(const room_state& st, const std::string& user) {
  auto i = st.roles.find(user);
  return i == st.roles.end() ? 0 : i->second;
}

bool is_manager(const room_state& st, const std::string& user) {
  return (roles_of(st, user) & storage::role::manager) != 0;
}

room_view view_of(const room_state& st) {
  return make_room_view(st.settings, st.category, st.opts.domain, static_cast<std::uint32_t>(st.users.size()));
}

void rebuild_groups(room_state& st) {
  st.groups.clear();
  st.dialog_count = st.online.size();
  st.unconfirmed = 0;
  for (const auto& [session, m] : st.online) {
    if (!m.confirmed) {
      ++st.unconfirmed;
      continue;
    }
    const auto& transport = m.transport; // a lambda may not capture a structured binding (C++17; clang refuses)
    auto g = std::find_if(st.groups.begin(), st.groups.end(), [&](const auto& x) { return x.first == transport; });
    if (g == st.groups.end())
      st.groups.emplace_back(m.transport, std::vector<dialog_id>{m.dialog});
    else
      g->second.push_back(m.dialog);
  }
  for (auto& g : st.groups)
    std::sort(g.second.begin(), g.second.end());
}

// Sends `body` to every online dialog except those of `except_user` (when given). `accepted_ns` is the time the
// post was accepted (0 for notices).
void fan_out(self_ptr self, const std::string& body, const std::string* except_user = nullptr,
             std::int64_t accepted_ns = 0) {
  auto& st = self->state;
  if (st.unconfirmed > 0) // rare: someone's join reply is still on its way
    for (auto& [session, m] : st.online)
      if (!m.confirmed && !(except_user && m.user == *except_user))
        m.held.emplace_back(body, accepted_ns);
  if (!except_user) {
    for (const auto& [transport, dialogs] : st.groups)
      self->send(transport, fanout_atom::value, dialogs, body, accepted_ns);
    return;
  }
  std::vector<std::pair<transport_actor, std::vector<dialog_id>>> targets;
  for (const auto& [session, m] : st.online) {
    if (m.user == *except_user || !m.confirmed)
      continue;
    const auto& transport = m.transport; // a lambda may not capture a structured binding (C++17)
    auto g = std::find_if(targets.begin(), targets.end(), [&](const auto& x) { return x.first == transport; });
    if (g == targets.end())
      targets.emplace_back(m.transport, std::vector<dialog_id>{m.dialog});
    else
      g->second.push_back(m.dialog);
  }
  for (auto& [transport, dialogs] : targets)
    self->send(transport, fanout_atom::value, std::move(dialogs), body, std::int64_t{0});
}

void tell_count(self_ptr self) {
  auto& st = self->state;
  st.stats.online = static_cast<std::uint32_t>(st.users.size());
  if (auto dir = caf::actor_cast<directory_actor>(st.directory))
    self->send(dir, count_atom::value, st.settings.id, st.stats.online);
}

// Compliance (docs/compliance.md): what users do in the room, when the service is on.
compliance::event event_of(const room_state& st, compliance::event_kind kind, const std::string& user,
                           std::string content = {}) {
  compliance::event e;
  e.kind = kind;
  e.room_uri = st.uri;
  e.room_name = st.settings.name;
  e.room_logged = st.category.logged;
  e.user_uri = user;
  e.ticks = now_ticks();
  e.content = std::move(content);
  return e;
}

// The cache drops the posts a history clear deleted (up to `up_to`).
void forget_up_to(room_state& st, std::uint64_t up_to) {
  while (!st.recent.empty() && st.recent.front().seq <= up_to)
    st.recent.pop_front();
}

} // namespace

std::uint64_t clear_bound(const storage::store& store, std::uint64_t room_id, std::int64_t before_ticks,
                          std::uint64_t keep_posts, std::uint64_t visible_seq) {
  auto up_to = store.last_seq_before(room_id, before_ticks);
  if (keep_posts > 0 && visible_seq > keep_posts)
    up_to = std::max(up_to, visible_seq - keep_posts);
  return std::min(up_to, visible_seq);
}

std::string clear_record(std::uint64_t floor, std::uint64_t up_to, const std::string& why) {
  return "posts #" + std::to_string(floor + 1) + " to #" + std::to_string(up_to) + " deleted (" + why + ")";
}

std::string administrator_clear(std::int64_t before_ticks) {
  return "an administrator: before " + utc_iso8601(before_ticks / ticks_per_second);
}

std::string remove_record(std::uint64_t seq, const std::string& text) {
  return "post #" + std::to_string(seq) + " replaced by an administrator with: " + text;
}

namespace {

void record(self_ptr self, compliance::event_kind kind, const std::string& user, std::string content = {}) {
  auto& st = self->state;
  if (st.opts.compliance)
    self->send(st.opts.compliance, record_atom::value, event_of(st, kind, user, std::move(content)));
}

bool large(const room_state& st) { return st.users.size() > st.opts.participant_update_limit; }

void notify_others(self_ptr self, const std::string& user, bool joined) {
  auto& st = self->state;
  if (st.users.size() <= (joined ? 1u : 0u))
    return; // nobody else is here
  // Above the participant update limit nobody is told (the user count in chansrch still changes); the part of
  // the user who crosses the limit downwards is still silent, which errs on the side of fewer INFOs.
  if (st.users.size() + (joined ? 0u : 1u) > st.opts.participant_update_limit)
    return;
  // ntc:join / ntc:part to the others (docs/xccos.md §4).
  auto body = joined ? xccos::join_notice(user, is_manager(st, user), st.opts.domain, st.settings.guid)
                     : xccos::part_notice(st.uri, user);
  fan_out(self, body, &user);
}

// Lets go of every online member who may no longer join (after a settings or role change; all of them when the
// room is removed): each of their dialogs gets an ntc:part naming themselves, the others the usual ntc:part.
void let_go(self_ptr self, bool everyone) {
  auto& st = self->state;
  std::vector<std::string> gone;
  for (auto i = st.online.begin(); i != st.online.end();) {
    const auto& m = i->second;
    if (!everyone && rules::may_join(st.settings, st.category, m.user, roles_of(st, m.user))) {
      ++i;
      continue;
    }
    if (m.confirmed) // else the session sends it, after the join's reply it has not written yet
      self->send(m.transport, send_atom::value, m.dialog, xccos::part_notice(st.uri, m.user));
    if (auto session = caf::actor_cast<session_actor>(i->first)) // so it forgets the room too
      self->send(session, part_atom::value, st.settings.id, !m.confirmed);
    if (std::find(gone.begin(), gone.end(), m.user) == gone.end())
      gone.push_back(m.user);
    record(self, compliance::event_kind::part, m.user);
    i = st.online.erase(i);
  }
  if (gone.empty())
    return;
  rebuild_groups(st);
  for (const auto& user : gone) {
    st.users.erase(user);
    if (!everyone)
      notify_others(self, user, false);
    log::line(log::level::info, "room") << "let go room=" << log::q(st.settings.name) << " user=" << log::q(user);
  }
  tell_count(self);
}

} // namespace

room_actor::behavior_type room(self_ptr self, storage::room settings, storage::category category,
                               std::shared_ptr<storage::store> store, writer_actor writer,
                               caf::actor_addr directory, server_options opts) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.category = std::move(category);
  st.store = std::move(store);
  st.writer = std::move(writer);
  st.directory = std::move(directory);
  st.opts = std::move(opts);
  st.uri = room_uri(st.opts.domain, st.settings);
  for (auto& [user, bits] : st.store->room_roles(st.settings.id))
    st.roles.emplace(user, bits);
  st.stats.last_seq = st.store->last_seq(st.settings.id);
  st.next_seq = st.stats.last_seq + 1;
  st.visible_seq = st.stats.last_seq;
  for (auto& m : st.store->last(st.settings.id, st.opts.history_cache))
    st.recent.push_back(std::move(m));
  if (!st.recent.empty())
    st.last_ticks = st.recent.back().ticks;
  else if (auto newest = st.store->last(st.settings.id, 1); !newest.empty())
    st.last_ticks = newest.back().ticks; // history_cache = 0: still never earlier than the stored history
  log::line(log::level::debug, "room") << "room=" << log::q(st.settings.name) << " loaded last_seq=" << st.stats.last_seq
                                       << " cached=" << st.recent.size();

  return {
    [=](join_atom, const std::string& user, dialog_id dialog,
        transport_actor& transport) -> caf::result<join_result> {
      auto& s = self->state;
      if (!rules::may_join(s.settings, s.category, user, roles_of(s, user))) {
        log::line(log::level::info, "room") << "join refused room=" << log::q(s.settings.name) << " user=" << log::q(user);
        return make_error(pchat_errc::forbidden);
      }
      auto session = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto [it, inserted] = s.online.emplace(session, room_state::member{user, dialog, std::move(transport), false, {}});
      if (inserted) {
        // Held until the session's joined: the transport must see the reply to this join before any traffic.
        record(self, compliance::event_kind::join, user);
        rebuild_groups(s);
        if (s.users[user]++ == 0) {
          notify_others(self, user, true);
          tell_count(self);
        }
      }
      join_result r;
      r.room = view_of(s);
      if (large(s)) {
        r.participants.push_back({user, is_manager(s, user)});
        return r;
      }
      for (const auto& entry : s.users)
        r.participants.push_back({entry.first, is_manager(s, entry.first)});
      return r;
    },
    [=](joined_atom) {
      auto& s = self->state;
      auto it = s.online.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (it == s.online.end() || it->second.confirmed)
        return;
      auto& m = it->second;
      m.confirmed = true;
      for (auto& [body, accepted_ns] : m.held)
        self->send(m.transport, fanout_atom::value, std::vector<dialog_id>{m.dialog}, std::move(body), accepted_ns);
      m.held.clear();
      m.held.shrink_to_fit();
      rebuild_groups(s);
    },
    [=](part_atom, const std::string& user) {
      auto& s = self->state;
      auto it = s.online.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (it == s.online.end() || it->second.user != user)
        return;
      s.online.erase(it);
      record(self, compliance::event_kind::part, user);
      rebuild_groups(s);
      auto u = s.users.find(user);
      if (u != s.users.end() && --u->second == 0) {
        s.users.erase(u);
        notify_others(self, user, false);
        tell_count(self);
      }
    },
    [=](post_atom, const std::string& user, std::string& text) -> caf::result<std::uint64_t> {
      auto& s = self->state;
      auto it = s.online.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (it == s.online.end() || it->second.user != user)
        return make_error(pchat_errc::not_joined);
      if (!rules::may_post(s.settings, s.category, user, roles_of(s, user)))
        return make_error(pchat_errc::forbidden);
      if (text.size() > s.opts.message_size_limit)
        return make_error(pchat_errc::too_large);
      storage::message m;
      m.room_id = s.settings.id;
      m.seq = s.next_seq++;
      m.author = user;
      // Never earlier than the previous post, even if the clock steps back: the history index turns time ranges
      // into seq ranges by binary search (store::search).
      m.ticks = std::max(now_ticks(), s.last_ticks);
      s.last_ticks = m.ticks;
      m.text = std::move(text);
      auto rp = self->make_response_promise<std::uint64_t>();
      auto accepted = monotonic_ns();
      auto persist = [self, rp, m, accepted]() mutable {
        self->request(self->state.writer, caf::infinite, append_atom::value, m)
          .then(
            [self, rp, m, accepted](std::uint64_t) mutable {
              auto& s2 = self->state;
              s2.visible_seq = m.seq;
              s2.stats.last_seq = m.seq;
              ++s2.stats.posts;
              if (auto& live = s2.opts.live) {
                live->posts.fetch_add(1, std::memory_order_relaxed);
                live->deliveries.fetch_add(s2.dialog_count, std::memory_order_relaxed);
              }
              if (s2.dialog_count > 0) {
                s2.stats.deliveries += s2.dialog_count;
                fan_out(self,
                        xccos::serialize_grpchat(xccos::next_envid(), {s2.uri, m.author, m.ticks, m.text, m.seq}),
                        nullptr, accepted);
              }
              s2.recent.push_back(std::move(m));
              while (s2.recent.size() > s2.opts.history_cache)
                s2.recent.pop_front();
              if (s2.watched) // someone follows the room without being in it: new-content notices
                if (auto dir = caf::actor_cast<directory_actor>(s2.directory))
                  self->send(dir, posted_atom::value, s2.settings.id, s2.visible_seq);
              rp.deliver(s2.visible_seq);
            },
            [self, rp, seq = m.seq](caf::error& err) mutable {
              log::line(log::level::error, "room") << "post not stored room=" << log::q(self->state.settings.name)
                                                   << " seq=" << seq << " error=" << log::q(self->system().render(err));
              rp.deliver(make_error(pchat_errc::store_failed));
            });
      };
      if (!s.opts.compliance) {
        persist();
        return rp;
      }
      // With compliance on, a post is archived (durably) before it is stored and fanned out: the server never
      // acknowledges a post the archive does not hold. The archive answers in request order, so seq order holds.
      self->request(s.opts.compliance, caf::infinite, archive_atom::value,
                    event_of(s, compliance::event_kind::chat, user, m.text))
        .then([persist](bool) mutable { persist(); },
              [self, rp, seq = m.seq](caf::error& err) mutable {
                log::line(log::level::error, "room") << "post refused, compliance cannot archive it room="
                                                     << log::q(self->state.settings.name) << " seq=" << seq
                                                     << " error=" << log::q(self->system().render(err));
                rp.deliver(make_error(pchat_errc::store_failed, "compliance archive unavailable"));
              });
      return rp;
    },
    [=](history_atom, const std::string& user, std::uint32_t n,
        std::uint64_t before) -> caf::result<std::vector<storage::message>> {
      auto& s = self->state;
      if (!rules::may_join(s.settings, s.category, user, roles_of(s, user)))
        return make_error(pchat_errc::forbidden);
      n = std::min(n, s.opts.history_limit);
      record(self, compliance::event_kind::backchat, user,
             "last " + std::to_string(n) + (before > 0 ? " before " + std::to_string(before) : std::string{}));
      std::vector<storage::message> out;
      if (before > 0 && before <= s.visible_seq) {
        // Scrolling back (docs/protocol.md "bccontext before"): the n posts below `before`. Sequence numbers have
        // no gaps above the room's clear floor (a removed message keeps its seq with its new text; clears and
        // retention delete everything below a point), so they are the n seqs below it, fewer only at the floor;
        // the cache has them when it reaches that far back.
        const std::uint64_t from = before > n ? before - n : 1;
        if (!s.recent.empty() && s.recent.front().seq <= from) {
          for (const auto& m : s.recent)
            if (m.seq >= from && m.seq < before)
              out.push_back(m);
          return out;
        }
        out = s.store->after(s.settings.id, from - 1, before - from);
        while (!out.empty() && out.back().seq >= before)
          out.pop_back();
        return out;
      }
      if (n <= s.recent.size()) {
        out.assign(s.recent.end() - static_cast<std::ptrdiff_t>(n), s.recent.end());
        return out;
      }
      // Older than the cache: read the store, never beyond what has been fanned out.
      out = s.store->last(s.settings.id, n + (s.next_seq - 1 - s.visible_seq));
      while (!out.empty() && out.back().seq > s.visible_seq)
        out.pop_back();
      if (out.size() > n)
        out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
      return out;
    },
    [=](catchup_atom, const std::string& user, std::uint64_t after,
        std::uint32_t n) -> caf::result<std::vector<storage::message>> {
      auto& s = self->state;
      if (!rules::may_join(s.settings, s.category, user, roles_of(s, user)))
        return make_error(pchat_errc::forbidden);
      n = std::min(n, s.opts.history_limit);
      record(self, compliance::event_kind::backchat, user, "after " + std::to_string(after));
      std::vector<storage::message> out;
      if (!s.recent.empty() && after + 1 >= s.recent.front().seq) {
        // Everything asked for is in the cache.
        for (const auto& m : s.recent)
          if (m.seq > after && out.size() < n)
            out.push_back(m);
        return out;
      }
      out = s.store->after(s.settings.id, after, n);
      while (!out.empty() && out.back().seq > s.visible_seq)
        out.pop_back();
      return out;
    },
    [=](clear_atom, std::int64_t before_ticks, std::uint64_t keep_posts,
        const std::string& why) -> caf::result<std::uint64_t> {
      auto& s = self->state;
      // A clear whose archive record is still on its way counts as done: a second one must not record it again.
      auto floor = std::max(s.store->cleared_up_to(s.settings.id), s.clearing_up_to);
      // Never a post still on its way: only what has been fanned out (and so is stored).
      auto up_to = clear_bound(*s.store, s.settings.id, before_ticks, keep_posts, s.visible_seq);
      if (up_to <= floor)
        return floor; // nothing new to delete
      auto rp = self->make_response_promise<std::uint64_t>();
      auto apply = [self, rp, floor, up_to, why]() mutable {
        auto& s2 = self->state;
        if (auto cleared = s2.store->clear_history(s2.settings.id, up_to); !cleared.ok()) {
          log::line(log::level::error, "room") << "history not cleared room=" << log::q(s2.settings.name)
                                               << " error=" << log::q(cleared.message);
          s2.clearing_up_to = std::min(s2.clearing_up_to, floor);
          rp.deliver(make_error(pchat_errc::store_failed, cleared.message));
          return;
        }
        forget_up_to(s2, up_to);
        log::line(log::level::info, "room") << "history cleared room=" << log::q(s2.settings.name) << " from-seq="
                                            << floor + 1 << " up-to-seq=" << up_to << " by=" << log::q(why);
        rp.deliver(up_to);
      };
      if (!s.opts.compliance) {
        apply();
        return rp;
      }
      // With compliance on, the deletion is archived (durably) before it happens, as a post is before it is
      // stored: the archive never lacks the record of something that is gone.
      s.clearing_up_to = up_to;
      self->request(s.opts.compliance, caf::infinite, archive_atom::value,
                    event_of(s, compliance::event_kind::clear, "", clear_record(floor, up_to, why)))
        .then([apply](bool) mutable { apply(); },
              [self, rp, floor](caf::error& err) mutable {
                auto& s2 = self->state;
                s2.clearing_up_to = std::min(s2.clearing_up_to, floor);
                log::line(log::level::error, "room") << "history not cleared, compliance cannot archive it room="
                                                     << log::q(s2.settings.name)
                                                     << " error=" << log::q(self->system().render(err));
                rp.deliver(make_error(pchat_errc::store_failed, "compliance archive unavailable"));
              });
      return rp;
    },
    [=](redact_atom, std::uint64_t seq, const std::string& text) -> caf::result<bool> {
      auto& s = self->state;
      if (seq == 0 || seq > s.visible_seq || seq <= std::max(s.store->cleared_up_to(s.settings.id), s.clearing_up_to))
        return false;
      auto rp = self->make_response_promise<bool>();
      auto apply = [self, rp, seq, text]() mutable {
        auto& s2 = self->state;
        auto replaced = s2.store->replace_message(s2.settings.id, seq, text);
        if (replaced.code == storage::errc::not_found) {
          rp.deliver(false);
          return;
        }
        if (!replaced.ok()) {
          rp.deliver(make_error(pchat_errc::store_failed, replaced.message));
          return;
        }
        for (auto& m : s2.recent)
          if (m.seq == seq)
            m.text = text;
        log::line(log::level::info, "room") << "post replaced room=" << log::q(s2.settings.name) << " seq=" << seq;
        rp.deliver(true);
      };
      if (!s.opts.compliance) {
        apply();
        return rp;
      }
      self->request(s.opts.compliance, caf::infinite, archive_atom::value,
                    event_of(s, compliance::event_kind::remove, "", remove_record(seq, text)))
        .then([apply](bool) mutable { apply(); },
              [self, rp, seq](caf::error& err) mutable {
                log::line(log::level::error, "room") << "post not replaced, compliance cannot archive it room="
                                                     << log::q(self->state.settings.name) << " seq=" << seq
                                                     << " error=" << log::q(self->system().render(err));
                rp.deliver(make_error(pchat_errc::store_failed, "compliance archive unavailable"));
              });
      return rp;
    },
    // The directory cleared this room's history while it had no actor, and it got one meanwhile: its cache,
    // loaded from the store before the deletion, forgets what is gone.
    [=](forget_atom, std::uint64_t up_to) { forget_up_to(self->state, up_to); },
    [=](stats_atom) -> room_stats { return self->state.stats; },
    [=](update_atom, storage::room& changed, storage::category& cat) {
      auto& s = self->state;
      s.settings = std::move(changed);
      s.category = std::move(cat);
      let_go(self, false);
    },
    [=](roles_atom, const std::string& user, std::uint8_t bits) {
      auto& s = self->state;
      if (bits == 0)
        s.roles.erase(user);
      else
        s.roles[user] = bits;
      let_go(self, false);
    },
    [=](watch_atom, bool on) { self->state.watched = on; },
    [=](roster_atom, const std::string& user, std::uint32_t start,
        std::uint32_t count) -> caf::result<std::vector<participant_view>, std::uint32_t> {
      auto& s = self->state;
      if (!rules::may_join(s.settings, s.category, user, roles_of(s, user)))
        return make_error(pchat_errc::forbidden);
      std::vector<participant_view> page;
      auto i = s.users.begin();
      std::advance(i, std::min<std::size_t>(start, s.users.size()));
      for (; i != s.users.end() && page.size() < count; ++i)
        page.push_back({i->first, is_manager(s, i->first)});
      return {std::move(page), static_cast<std::uint32_t>(s.users.size())};
    },
    [=](remove_atom) {
      let_go(self, true);
      self->quit();
    },
  };
}

} // namespace pchat
