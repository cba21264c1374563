#include "actors/retention.hpp"

#include <map>

#include "base/log.hpp"
#include "base/time.hpp"

namespace pchat {

using self_ptr = retention_actor::stateful_pointer<retention_state>;

std::string describe(const storage::retention& keep) {
  if (keep.keeps_all())
    return "everything";
  std::string out;
  if (keep.days)
    out = std::to_string(keep.days) + (keep.days == 1 ? " day" : " days");
  if (keep.posts)
    out += (out.empty() ? "" : ", ") + std::string{"newest "} + std::to_string(keep.posts) + " posts";
  return out;
}

namespace {

constexpr std::int64_t ticks_per_day = 86'400 * ticks_per_second;

void finish(self_ptr self) {
  auto& st = self->state;
  if (st.rooms_cleared > 0)
    log::line(log::level::info, "retention") << "pass done rooms-cleared=" << st.rooms_cleared
                                             << " posts-deleted=" << st.deleted;
  for (auto& rp : st.waiting)
    rp.deliver(st.deleted);
  st.waiting.clear();
  st.running = false;
}

// One room at a time: the next request goes out when the last is answered.
void next(self_ptr self) {
  auto& st = self->state;
  if (st.jobs.empty())
    return finish(self);
  auto j = std::move(st.jobs.front());
  st.jobs.pop_front();
  auto floor = st.store->cleared_up_to(j.room_id);
  self->request(st.directory, caf::infinite, clear_atom::value, j.room_id, j.before_ticks, j.keep_posts, j.why)
    .then(
      [=](std::uint64_t up_to) {
        if (up_to > floor) {
          self->state.deleted += up_to - floor;
          ++self->state.rooms_cleared;
        }
        next(self);
      },
      [=](caf::error& err) {
        // A room removed meanwhile is no news; anything else is, and the next pass tries again.
        if (err != make_error(pchat_errc::room_not_found))
          log::line(log::level::warning, "retention") << "room not cleared room=" << log::q(j.room)
                                                      << " error=" << log::q(self->system().render(err));
        next(self);
      });
}

void start(self_ptr self) {
  auto& st = self->state;
  st.running = true;
  st.deleted = 0;
  st.rooms_cleared = 0;
  std::map<std::uint64_t, storage::category> categories;
  for (auto& c : st.store->categories())
    categories.emplace(c.id, std::move(c));
  const auto now = now_ticks();
  for (const auto& r : st.store->rooms()) {
    auto c = categories.find(r.category_id);
    auto keep = c == categories.end() ? r.keep.value_or(storage::retention{}) : storage::effective_retention(r, c->second);
    if (keep.keeps_all())
      continue;
    retention_state::job j;
    j.room_id = r.id;
    j.room = r.name;
    j.before_ticks = keep.days ? now - static_cast<std::int64_t>(keep.days) * ticks_per_day : 0;
    j.keep_posts = keep.posts;
    j.why = "retention: " + describe(keep) + (r.keep ? " (the room's rule)" : " (its category's rule)");
    st.jobs.push_back(std::move(j));
  }
  next(self);
}

} // namespace

retention_actor::behavior_type retention(self_ptr self, std::shared_ptr<storage::store> store,
                                         directory_actor directory, std::chrono::seconds interval,
                                         std::chrono::seconds first_delay) {
  auto& st = self->state;
  st.store = std::move(store);
  st.directory = std::move(directory);
  st.interval = interval;
  if (interval.count() > 0)
    self->delayed_send(self, first_delay, sweep_atom::value, true);
  return {
    [=](sweep_atom) -> caf::result<std::uint64_t> {
      auto rp = self->make_response_promise<std::uint64_t>();
      self->state.waiting.push_back(rp);
      if (!self->state.running)
        start(self);
      return rp;
    },
    [=](sweep_atom, bool) {
      if (!self->state.running)
        start(self);
      self->delayed_send(self, self->state.interval, sweep_atom::value, true);
    },
  };
}

} // namespace pchat
