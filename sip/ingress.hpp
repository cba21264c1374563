#pragma once
// The SIP ingress actor: the one place where SIP meets the actors. The SIP thread (sip_stack) reports dialogs
// opening, INFO bodies and dialogs ending; the ingress spawns one session actor per dialog and routes bodies to
// it. In the other direction it is the actors' transport: send/fanout/bye go into the SIP thread's outbox,
// which writes the INFOs down each client's own connection.
#include <memory>
#include <unordered_map>

#include "actors/protocol.hpp"

namespace pchat::sip {

class sip_stack;

struct ingress_state {
  static inline const char* name = "sip_ingress";

  sip_stack* server = nullptr; // owned by main; outlives the actor system's use of it
  directory_actor directory;
  server_options opts;
  std::shared_ptr<load_gauge> load;
  std::unordered_map<dialog_id, session_actor> sessions;
};

ingress_actor::behavior_type ingress(ingress_actor::stateful_pointer<ingress_state> self, sip_stack* server,
                                     directory_actor directory, server_options opts,
                                     std::shared_ptr<load_gauge> load);

} // namespace pchat::sip
