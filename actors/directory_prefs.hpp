#pragma once
// The prefs worker, one of the directory's workers (actors/directory.hpp): getpref and setpref for every user,
// each a store read or a synced store write, out of the directory's mailbox. The directory delegates its pref
// requests here and this actor answers the requester. One per directory, so one user's setpref and the getpref
// after it are answered in the order sent.
#include <memory>

#include "actors/protocol.hpp"

namespace pchat {

struct prefs_worker_state {
  static inline const char* name = "prefs_worker";

  std::shared_ptr<storage::store> store;
};

prefs_worker_actor::behavior_type prefs_worker(prefs_worker_actor::stateful_pointer<prefs_worker_state> self,
                                               std::shared_ptr<storage::store> store);

} // namespace pchat
