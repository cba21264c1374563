#include "sip/ingress.hpp"

#include "base/log.hpp"
#include "actors/session.hpp"
#include "sip/sip_stack.hpp"

namespace pchat::sip {

ingress_actor::behavior_type ingress(ingress_actor::stateful_pointer<ingress_state> self, sip_stack* server,
                                     directory_actor directory, server_options opts,
                                     std::shared_ptr<load_gauge> load) {
  auto& st = self->state;
  st.server = server;
  st.directory = std::move(directory);
  st.opts = std::move(opts);
  st.load = std::move(load);
  return {
    [=](open_atom, dialog_id d, const std::string& user, const std::string& call_id) {
      auto& s = self->state;
      transport_actor me = caf::actor_cast<transport_actor>(self);
      auto sess = self->spawn(session, d, user, me, s.directory, s.opts, s.load);
      s.sessions[d] = sess;
      log::line(log::level::debug, "ingress") << "session open dialog=" << d << " user=" << log::q(user)
                                              << " call-id=" << log::q(call_id);
    },
    [=](info_atom, dialog_id d, std::string& body) {
      auto& s = self->state;
      auto i = s.sessions.find(d);
      if (i == s.sessions.end()) {
        // The dialog ended between the SIP thread's 200 and now; nothing to do but undo the load count.
        if (s.load)
          s.load->fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      self->send(i->second, info_atom::value, std::move(body));
    },
    [=](closed_atom, dialog_id d) {
      auto& s = self->state;
      auto i = s.sessions.find(d);
      if (i == s.sessions.end())
        return;
      self->send(i->second, closed_atom::value);
      s.sessions.erase(i);
    },
    [=](send_atom, dialog_id d, std::string& body) { self->state.server->send_info({d}, std::move(body)); },
    [=](fanout_atom, std::vector<dialog_id>& ds, std::string& body, std::int64_t accepted_ns) {
      self->state.server->send_info(std::move(ds), std::move(body), accepted_ns);
    },
    [=](bye_atom, dialog_id d) { self->state.server->end_dialog(d); },
  };
}

} // namespace pchat::sip
