#pragma once
// The web ingress actor: the browser's side of what sip/ingress.hpp is for SIP. It spawns one session actor per
// chat tab (web/chat_hub.hpp numbers the tabs' dialogs) and routes the command documents the hub sends to it; as
// the actors' transport for those dialogs, it hands every reply, fan-out and notice to the hub, which turns them
// into answers and events. Rooms cannot tell its members from SIP members: they see a transport and dialog ids.
#include <memory>
#include <unordered_map>

#include "actors/protocol.hpp"

namespace pchat::web {

class chat_hub;

struct web_ingress_state {
  static inline const char* name = "web_ingress";

  std::shared_ptr<chat_hub> hub;
  directory_actor directory;
  server_options opts;
  std::unordered_map<dialog_id, session_actor> sessions;
};

ingress_actor::behavior_type web_ingress(ingress_actor::stateful_pointer<web_ingress_state> self,
                                         std::shared_ptr<chat_hub> hub, directory_actor directory,
                                         server_options opts);

} // namespace pchat::web
