// The session actor (actors/session.hpp): its behaviour, the command queue, dispatch and the reply plumbing. The
// commands themselves are handled by family in the other session_*.cpp files (actors/session_commands.hpp).
#include "actors/session.hpp"

#include <variant>

#include "actors/session_commands.hpp"
#include "base/log.hpp"
#include "base/text.hpp"

namespace pchat {

namespace session_cmd {

void send_body(self_ptr self, std::string body) {
  self->send(self->state.transport, send_atom::value, self->state.dialog, std::move(body));
}

namespace {

void send_reply(self_ptr self, const xccos::command& c, int code, const char* token, std::string data) {
  send_body(self, xccos::reply_document(c, code, token, std::move(data)));
}

} // namespace

void reply_ok(self_ptr self, const xccos::command& c, std::string data) {
  send_reply(self, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
}

void refuse(self_ptr self, const xccos::command& c, pchat_errc why) {
  const auto& d = describe(why);
  if (d.xccos_code == 0) // not an XCCOS answer: a bug in the caller
    return refuse(self, c, pchat_errc::server_error);
  ++self->state.errors;
  if (self->state.opts.live)
    self->state.opts.live->reject(why);
  log::line(log::level::info, "session") << "refused " << c.id << " user=" << log::q(self->state.user)
                                         << " dialog=" << self->state.dialog << " code=" << d.xccos_code << " "
                                         << d.xccos_token;
  send_reply(self, c, d.xccos_code, d.xccos_token, {});
}

void reply_error(self_ptr self, const xccos::command& c, const caf::error& err) {
  if (err.category() == pchat_error_category)
    return refuse(self, c, static_cast<pchat_errc>(err.code()));
  log::line(log::level::error, "session") << c.id << " failed user=" << log::q(self->state.user)
                                          << " error=" << log::q(self->system().render(err));
  refuse(self, c, pchat_errc::server_error);
}

bool in_domain(self_ptr self, const xccos::chan_ref& chan) {
  return ascii_lower(chan.domain) == ascii_lower(self->state.opts.domain);
}

void handle(self_ptr self, const xccos::command& c, const xccos::unknown_cmd&) {
  refuse(self, c, pchat_errc::unknown_command);
}

void handle(self_ptr self, const xccos::command& c, const xccos::invalid_cmd& x) {
  log::line(log::level::debug, "session") << c.id << " invalid: " << x.detail;
  refuse(self, c, pchat_errc::invalid_argument);
}

namespace {

// Dispatches queued commands, in order, until one holds the queue or none is left.
void pump(self_ptr self) {
  auto& st = self->state;
  while (!st.busy && !st.pending.empty()) {
    auto c = std::move(st.pending.front());
    st.pending.pop_front();
    ++st.commands;
    if (st.opts.live)
      st.opts.live->commands.fetch_add(1, std::memory_order_relaxed);
    std::visit([&](const auto& x) { handle(self, c, x); }, c.data);
  }
}

} // namespace

void hold(self_ptr self) {
  self->state.busy = true;
}

void release(self_ptr self) {
  self->state.busy = false;
  pump(self);
}

} // namespace session_cmd

using session_cmd::self_ptr;

session_actor::behavior_type session(self_ptr self, dialog_id dialog, std::string user, transport_actor transport,
                                     directory_actor directory, server_options opts,
                                     std::shared_ptr<load_gauge> load) {
  auto& st = self->state;
  st.dialog = dialog;
  st.user = std::move(user);
  st.transport = std::move(transport);
  st.directory = std::move(directory);
  st.opts = std::move(opts);
  st.load = std::move(load);
  self->send(st.directory, hello_atom::value, st.user); // for invitation notices
  return {
    [self](info_atom, const std::string& body) {
      if (self->state.load)
        self->state.load->fetch_sub(1, std::memory_order_relaxed);
      auto parsed = xccos::parse(body);
      if (auto* err = std::get_if<xccos::parse_error>(&parsed)) {
        // Answer even what does not parse, referencing the command if its ids can be dug out.
        auto ids = xccos::salvage_ids(body);
        xccos::command c;
        c.id = ids.id.empty() ? "cmd:unknown" : ids.id;
        c.seqid = ids.seqid;
        c.envid = ids.envid;
        log::line(log::level::info, "session") << "unparsable body user=" << log::q(self->state.user)
                                               << " dialog=" << self->state.dialog << " " << to_string(err->code) << ": "
                                               << err->detail;
        session_cmd::refuse(self, c, err->code);
        return;
      }
      for (auto& c : xccos::decode_commands(std::get<xccos::envelope>(parsed)))
        self->state.pending.push_back(std::move(c));
      session_cmd::pump(self);
    },
    [self](invite_atom, const invitation_view& inv) {
      // ntc:inv (docs/protocol.md "Invitations"): the same <inv> getinv returns, pushed as it happens.
      session_cmd::send_body(self, xccos::invitation_notice(inv));
    },
    [self](part_atom, std::uint64_t room_id, bool tell) {
      // The room let us go: forget it, and watch it for new content again if the user follows it. When the room
      // had not heard `joined` yet, the client's ntc:part is ours to send, after the join's reply.
      auto& joined = self->state.joined;
      for (auto j = joined.begin(); j != joined.end(); ++j)
        if (j->second.view.id == room_id) {
          if (tell && !j->second.replied) { // the reply is not out yet: it goes first (actors/session_rooms.cpp)
            j->second.let_go = true;
            break;
          }
          if (tell)
            session_cmd::send_body(self, xccos::part_notice(j->second.view.uri, self->state.user));
          joined.erase(j);
          self->send(self->state.directory, watch_atom::value, room_id, false);
          break;
        }
    },
    [self](notice_atom, const room_view& room, std::uint64_t seq) {
      // ntc:newcontent (docs/protocol.md "New content in followed rooms"): a followed room this session is not
      // in has new posts.
      for (const auto& [guid, j] : self->state.joined)
        if (j.view.id == room.id)
          return;
      session_cmd::send_body(self, xccos::newcontent_notice(room.uri, room.name, seq));
    },
    [self](closed_atom) {
      auto& s = self->state;
      for (auto& [guid, j] : s.joined)
        self->send(j.room, part_atom::value, s.user);
      s.joined.clear();
      s.pending.clear();
      log::line(log::level::debug, "session") << "closed user=" << log::q(s.user) << " dialog=" << s.dialog
                                              << " commands=" << s.commands << " errors=" << s.errors;
      self->quit();
    },
  };
}

} // namespace pchat
