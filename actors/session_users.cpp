// The session's per-user and per-server commands (actors/session_commands.hpp): the service URI (requri), facts
// about the server (getserverinfo), invitations (getinv), preferences (getpref, setpref) and file tokens
// (getfutok, getfdtok).
#include "actors/session_commands.hpp"
#include "base/time.hpp"

namespace pchat::session_cmd {

// requri (docs/xccos.md §4): the service's URI.
void handle(self_ptr self, const xccos::command& c, const xccos::requri_cmd&) {
  std::string data;
  xccos::append_uib(data, self->state.opts.service_uri);
  reply_ok(self, c, std::move(data));
}

// getserverinfo (docs/xccos.md §4): the limits and the store's identity, with the server's time.
void handle(self_ptr self, const xccos::command& c, const xccos::getserverinfo_cmd& x) {
  const auto& o = self->state.opts;
  std::string data;
  xccos::append_server_info(data, {x.info_type, now_ticks(), o.search_limit, o.message_size_limit,
                                   o.story_size_limit, o.root_uri, o.db_version});
  reply_ok(self, c, std::move(data));
}

// getinv (docs/protocol.md "Invitations"): every invitation not yet returned, oldest first.
void handle(self_ptr self, const xccos::command& cmd, const xccos::getinv_cmd&) {
  auto c = cmd;
  ask_directory<std::vector<invitation_view>>(
    self, cmd,
    [self, c](const std::vector<invitation_view>& invs) {
      std::string data;
      for (const auto& inv : invs)
        xccos::append_invitation(data, inv);
      reply_ok(self, c, std::move(data));
    },
    invite_atom::value, self->state.user);
}

// getpref (docs/xccos.md §4; docs/protocol.md "XCCOS commands"): the stored value; an unknown label is 404
// PREF_NOT_FOUND unless createdefault, which stores and returns the empty value.
void handle(self_ptr self, const xccos::command& cmd, const xccos::getpref_cmd& x) {
  auto c = cmd;
  auto label = x.label;
  auto seqid = x.seqid;
  auto create = x.create_default;
  ask_directory<bool, std::string>(
    self, cmd,
    [self, c, label, seqid, create](bool found, const std::string& value) {
      if (!found && !create)
        return refuse(self, c, pchat_errc::pref_not_found);
      if (!found) // createdefault: the default is the empty value, kept from now on
        caf::anon_send(self->state.directory, pref_atom::value, self->state.user, label, std::string{});
      std::string data;
      xccos::append_pref(data, label, seqid, value);
      reply_ok(self, c, std::move(data));
    },
    pref_atom::value, self->state.user, x.label);
}

// setpref (docs/xccos.md §4): stored, then answered with the label; content or label too large is 413.
void handle(self_ptr self, const xccos::command& cmd, const xccos::setpref_cmd& x) {
  if (x.content.size() > self->state.opts.pref_size_limit || x.label.size() > 256)
    return refuse(self, cmd, pchat_errc::pref_too_large);
  auto c = cmd;
  auto label = x.label;
  auto seqid = x.seqid;
  ask_directory<bool>(
    self, cmd,
    [self, c, label, seqid](bool) {
      std::string data;
      xccos::append_pref(data, label, seqid);
      reply_ok(self, c, std::move(data));
    },
    pref_atom::value, self->state.user, x.label, x.content);
}

// getfutok / getfdtok (docs/xccos.md §4, docs/protocol.md "Room files"): the directory checks the room's rules
// and issues the token; serveruri is where to use it, on the web server.
void handle(self_ptr self, const xccos::command& cmd, const xccos::getftok_cmd& x) {
  auto files = self->state.opts.files;
  if (!files || files->url().empty())
    return refuse(self, cmd, pchat_errc::files_unavailable);
  if (!in_domain(self, x.chan))
    return refuse(self, cmd, pchat_errc::room_not_found);
  auto c = cmd;
  ask_directory<file_ticket>(
    self, cmd,
    [self, c, files](const file_ticket& t) {
      std::string data;
      xccos::append_file_token(data, t.token, files->url() + t.path);
      reply_ok(self, c, std::move(data));
    },
    ftoken_atom::value, self->state.user, x.upload, x.chan.guid, x.file_url);
}

} // namespace pchat::session_cmd
