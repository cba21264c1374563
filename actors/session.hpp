#pragma once
// The session actor: one per channel dialog (the SIP dialog a client opens with INVITE to the chat service).
// It decodes the XCCOS commands that arrive in INFO bodies, asks the directory and rooms, and answers each
// command with its own rpl INFO that references the command (<commandid seqid envid/>, docs/xccos.md §3).
//
// Ordering: commands of one dialog reach rooms in the order they were sent. Directory lookups are awaited
// (the session takes no new INFO until the room is known), and everything after that goes to the room actor
// directly, whose mailbox keeps the order. So "join, then post" works even when the client does not wait for
// rpl:join.
//
// Errors: every refusal is a pchat_errc, answered with the XCCOS code and token the error table gives it
// (base/error.hpp; docs/protocol.md "Error codes"), e.g. 400 MALFORMED_XML, 404 CHANNEL_NOT_FOUND, 403 NOT_JOINED.
// A failed grpchat is answered with rpl:grpchat (a successful one gets no rpl).
//
// Layout: actors/session.cpp is the actor (behaviour, command queue, dispatch, reply plumbing); the commands are
// handled by family in actors/session_rooms.cpp, session_history.cpp, session_admin.cpp and session_users.cpp,
// which share actors/session_commands.hpp. No file of the session writes XCCOS markup: codec/xccos_build.hpp does.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "actors/protocol.hpp"
#include "codec/xccos.hpp"

namespace pchat {

// Everything a session owns. What one command has in flight (its copy of the command, the outcomes of a fan-out
// to several rooms or users) lives in that command's continuations and dies with them; nothing else is kept outside
// this struct.
struct session_state {
  static inline const char* name = "session";

  // --- who, and whom to talk to (fixed at spawn) ---
  dialog_id dialog = 0;
  std::string user;          // normalised sip: URI from the INVITE's From
  transport_actor transport; // where every rpl and ntc of this dialog goes
  directory_actor directory;
  server_options opts;
  std::shared_ptr<load_gauge> load; // may be null; decremented as each INFO is taken out of the mailbox

  // --- the rooms this dialog is in ---
  struct joined_room {
    room_actor room;
    room_view view;
    bool replied = false; // rpl:join / rpl:bjoin has gone out (and the room was told `joined`)
    bool let_go = false;  // the room let us go before that: the reply goes first, then its ntc:part
  };
  // lower-case guid -> room. An entry is made before the room answers the join (so a post sent right after the
  // join finds it) and removed on part, on a failed join, when the room lets the user go (part_atom) and when the
  // dialog closes.
  std::unordered_map<std::string, joined_room> joined;

  // --- the command queue ("Ordering" above) ---
  // Commands decoded from INFOs but not yet dispatched, oldest first. While `busy`, a dispatched command is
  // waiting for the directory and nothing more is dispatched; its continuation clears `busy` and dispatches on
  // (actors/session_commands.hpp hold/release). Dropped when the dialog closes.
  std::deque<xccos::command> pending;
  bool busy = false;

  // --- counters, logged when the dialog closes ---
  std::uint64_t commands = 0; // dispatched
  std::uint64_t errors = 0;   // answered with a code other than 200
};

session_actor::behavior_type session(session_actor::stateful_pointer<session_state> self, dialog_id dialog,
                                     std::string user, transport_actor transport, directory_actor directory,
                                     server_options opts, std::shared_ptr<load_gauge> load);

} // namespace pchat
