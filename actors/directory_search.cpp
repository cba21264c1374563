#include "actors/directory_search.hpp"

#include <algorithm>

#include "actors/directory.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "storage/text_index.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

namespace pchat {

namespace {

// A search the user made, for the compliance archive: the scope searched is the whole room tree (its root uri).
void record_search(directory_self self, const std::string& user, std::string content) {
  auto& st = self->state;
  if (!st.opts.compliance)
    return;
  compliance::event e;
  e.kind = compliance::event_kind::search;
  e.room_uri = st.opts.root_uri;
  e.user_uri = user;
  e.ticks = now_ticks();
  e.content = std::move(content);
  self->send(st.opts.compliance, record_atom::value, std::move(e));
}

} // namespace

search_worker_actor::behavior_type search_worker(search_worker_actor::stateful_pointer<search_worker_state> self,
                                                 std::shared_ptr<storage::store> store) {
  self->state.store = std::move(store);
  return {
    // Newest first across rooms: once `limit` hits are in, later rooms are only searched from the oldest of
    // them on (the time bound cuts each room's query to O(log N) when it has nothing newer), so a search of
    // every room costs O(rooms x log N + limit x rooms-with-newer-hits) seeks, not rooms x limit reads.
    [=](histsrch_atom, const std::vector<search_scope>& rooms,
        storage::history_query q) -> std::vector<search_hit> {
      auto newer = [](const search_hit& a, const search_hit& b) {
        return a.msg.ticks != b.msg.ticks ? a.msg.ticks > b.msg.ticks : a.msg.seq > b.msg.seq;
      };
      std::vector<search_hit> hits;
      for (const auto& r : rooms) {
        if (hits.size() >= q.limit && !hits.empty())
          q.from_ticks = std::max(q.from_ticks, hits.back().msg.ticks);
        for (auto& m : self->state.store->search(r.room_id, q).messages)
          hits.push_back({r.uri, std::move(m)});
        std::sort(hits.begin(), hits.end(), newer);
        if (hits.size() > q.limit)
          hits.resize(q.limit);
      }
      return hits;
    },
  };
}

std::vector<room_view> find_rooms(directory_self self, const std::string& user, const std::string& criteria) {
  auto& st = self->state;
  auto roles = roles_by_room(st, user);
  auto needle = ascii_lower(criteria);
  record_search(self, user, criteria);
  std::vector<room_view> out;
  for (const auto& [id, r] : st.tree->rooms()) {
    if (out.size() >= st.opts.search_limit)
      break;
    if (r.disabled || !visible(st, r, user, lookup(roles, id)))
      continue;
    if (!needle.empty() && ascii_lower(r.name).find(needle) == std::string::npos
        && ascii_lower(r.description).find(needle) == std::string::npos)
      continue;
    out.push_back(view_of(st, r));
  }
  return out;
}

caf::expected<history_search_plan> plan_history_search(directory_self self, const std::string& user,
                                                       const std::string& text, const std::string& author,
                                                       std::int64_t from, std::int64_t to, std::uint32_t limit,
                                                       const std::vector<std::string>& guids) {
  auto& st = self->state;
  auto roles = roles_by_room(st, user);
  history_search_plan plan;
  auto readable = [&](const storage::room& r) {
    return rules::may_join(r, st.tree->category_of(r), user, lookup(roles, r.id));
  };
  auto add = [&](const storage::room& r) { plan.rooms.push_back({r.id, room_uri(st.opts.domain, r)}); };
  if (guids.empty()) {
    for (const auto& [id, r] : st.tree->rooms())
      if (readable(r))
        add(r);
  } else {
    for (const auto& g : guids) {
      const auto* r = st.tree->room_by_guid(g);
      if (!r || !readable(*r)) // hidden, unknown and unreadable rooms look alike
        return make_error(pchat_errc::room_not_found, g);
      add(*r);
    }
  }
  auto& q = plan.query;
  q.words = storage::index_terms(text);
  q.author = author.empty() ? std::string{} : sip::normalize_aor(author);
  if (!author.empty() && q.author.empty())
    return make_error(pchat_errc::invalid_argument, "author is not a user: " + author);
  q.from_ticks = from;
  q.to_ticks = to;
  q.limit = limit == 0 ? st.opts.search_limit : std::min(limit, st.opts.search_limit);
  record_search(self, user, "history: " + text + (author.empty() ? "" : " author=" + author));
  return plan;
}

} // namespace pchat
