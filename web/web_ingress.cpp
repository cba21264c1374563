#include "web/web_ingress.hpp"

#include "actors/session.hpp"
#include "base/log.hpp"
#include "web/chat_hub.hpp"

namespace pchat::web {

ingress_actor::behavior_type web_ingress(ingress_actor::stateful_pointer<web_ingress_state> self,
                                         std::shared_ptr<chat_hub> hub, directory_actor directory,
                                         server_options opts) {
  auto& st = self->state;
  st.hub = std::move(hub);
  st.directory = std::move(directory);
  st.opts = std::move(opts);
  // Told to exit (the web server stopping): the sessions still open part their rooms first. (An exit handler, not
  // an attached functor: those run after the state is gone.)
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& s = self->state;
    for (auto& [d, sess] : s.sessions)
      self->send(sess, closed_atom::value);
    if (s.opts.live)
      s.opts.live->sessions.fetch_sub(static_cast<std::int64_t>(s.sessions.size()), std::memory_order_relaxed);
    s.sessions.clear();
    s.hub.reset();
    self->quit(std::move(msg.reason));
  });
  return {
    [=](open_atom, dialog_id d, const std::string& user, const std::string& call_id) {
      auto& s = self->state;
      transport_actor me = caf::actor_cast<transport_actor>(self);
      // No load gauge: a tab has at most one command in flight per HTTP request, and the web's workers are few.
      s.sessions[d] = self->spawn(session, d, user, me, s.directory, s.opts, nullptr);
      if (s.opts.live)
        s.opts.live->sessions.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::debug, "web") << "chat tab open dialog=" << d << " user=" << log::q(user)
                                          << " call-id=" << log::q(call_id);
    },
    [=](info_atom, dialog_id d, std::string& body) {
      auto i = self->state.sessions.find(d);
      if (i != self->state.sessions.end())
        self->send(i->second, info_atom::value, std::move(body));
    },
    [=](closed_atom, dialog_id d) {
      auto& s = self->state;
      auto i = s.sessions.find(d);
      if (i == s.sessions.end())
        return;
      self->send(i->second, closed_atom::value);
      s.sessions.erase(i);
      if (s.opts.live)
        s.opts.live->sessions.fetch_sub(1, std::memory_order_relaxed);
    },
    [=](send_atom, dialog_id d, const std::string& body) {
      if (self->state.hub)
        self->state.hub->deliver(d, body);
    },
    // The fan-out histogram (base/metrics.hpp) times SIP deliveries only; pchat-bench times the web's end to end.
    [=](fanout_atom, const std::vector<dialog_id>& ds, const std::string& body, std::int64_t) {
      if (self->state.hub)
        self->state.hub->fanout(ds, body);
    },
    [=](bye_atom, dialog_id d) {
      if (self->state.hub)
        self->state.hub->ended(d);
    },
  };
}

} // namespace pchat::web
