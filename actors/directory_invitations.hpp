#pragma once
// The invitations worker, one of the directory's workers (actors/directory.hpp): getinv, a read of the user's
// invitations and a synced write marking them returned, out of the directory's mailbox. The directory delegates
// its invite requests here and this actor answers the requester.
//
// Invitations are recorded by the directory (room management, catalog::set_roles) in the same write as the role,
// and pushed by it to the invitee's online sessions; this worker only returns those not returned yet. It reads
// each invitation's room from the store (the catalog's own source, written before the catalog changes): a room
// removed since is left out, as the directory's catalog would.
#include <memory>
#include <string>

#include "actors/protocol.hpp"

namespace pchat {

struct invite_worker_state {
  static inline const char* name = "invite_worker";

  std::shared_ptr<storage::store> store;
  std::string domain; // for room URIs
};

invite_worker_actor::behavior_type invite_worker(invite_worker_actor::stateful_pointer<invite_worker_state> self,
                                                 std::shared_ptr<storage::store> store, std::string domain);

// An invitation as the invitee sees it (getinv, ntc:inv).
invitation_view view_of(const storage::invitation& inv, const storage::room& r, const std::string& domain);

} // namespace pchat
