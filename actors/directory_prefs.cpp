#include "actors/directory_prefs.hpp"

#include "actors/catalog.hpp"

namespace pchat {

prefs_worker_actor::behavior_type prefs_worker(prefs_worker_actor::stateful_pointer<prefs_worker_state> self,
                                               std::shared_ptr<storage::store> store) {
  self->state.store = std::move(store);
  return {
    [=](pref_atom, const std::string& user, const std::string& label) -> std::tuple<bool, std::string> {
      auto v = self->state.store->pref(user, label);
      return {v.has_value(), v.value_or(std::string{})};
    },
    [=](pref_atom, const std::string& user, const std::string& label, const std::string& value) -> caf::result<bool> {
      if (auto err = to_error(self->state.store->set_pref(user, label, value)))
        return err;
      return true;
    },
  };
}

} // namespace pchat
