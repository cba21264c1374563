#include "actors/directory_invitations.hpp"

#include "actors/catalog.hpp"
#include "actors/views.hpp"

namespace pchat {

invitation_view view_of(const storage::invitation& inv, const storage::room& r, const std::string& domain) {
  return {inv.id, room_uri(domain, r), r.name, inv.inviter, inv.ticks};
}

invite_worker_actor::behavior_type invite_worker(invite_worker_actor::stateful_pointer<invite_worker_state> self,
                                                 std::shared_ptr<storage::store> store, std::string domain) {
  self->state.store = std::move(store);
  self->state.domain = std::move(domain);
  return {
    [=](invite_atom, const std::string& user) -> caf::result<std::vector<invitation_view>> {
      auto& st = self->state;
      std::vector<invitation_view> out;
      std::vector<std::uint64_t> ids;
      for (const auto& inv : st.store->invitations(user)) {
        if (inv.seen)
          continue;
        ids.push_back(inv.id);
        if (auto r = st.store->room_by_id(inv.room_id))
          out.push_back(view_of(inv, *r, st.domain));
      }
      if (auto err = to_error(st.store->mark_seen(user, ids)))
        return err;
      return out;
    },
  };
}

} // namespace pchat
