#pragma once
// The session actor: one per channel dialog (the SIP dialog a client opens with INVITE to the chat service).
// It decodes the XCCOS commands that arrive in INFO bodies, asks the directory and rooms, and answers each
// command with its own rpl INFO that references the command (<commandid seqid envid/>, xccos.md §3).
//
// Ordering: commands of one dialog reach rooms in the order they were sent. Directory lookups are awaited
// (the session takes no new INFO until the room is known), and everything after that goes to the room actor
// directly, whose mailbox keeps the order. So "join, then post" works even when the client does not wait for
// rpl:join.
//
// Errors (docs/protocol.md): malformed XML 400 MALFORMED_XML, not an envelope 400 NOT_XCCOS / EMPTY_ENVELOPE,
// unknown command 501 UNKNOWN_COMMAND, missing arguments 400 INVALID_ARGUMENT, unknown or hidden room 404
// CHANNEL_NOT_FOUND, not joined 403 NOT_JOINED, refused by the room's rules 403 ACCESS_DENIED, chat text over
// messageSizeLimit 413 MESSAGE_TOO_LARGE, text with characters XML cannot carry 400 INVALID_CHARACTERS, store
// failure 503 STORE_UNAVAILABLE. A failed grpchat is answered with rpl:grpchat (a successful one gets no rpl).
#include <memory>
#include <string>
#include <unordered_map>

#include "actors/protocol.hpp"

namespace pchat {

struct session_state {
  static inline const char* name = "session";

  dialog_id dialog = 0;
  std::string user; // normalised sip: URI from the INVITE's From
  transport_actor transport;
  directory_actor directory;
  server_options opts;
  std::shared_ptr<load_gauge> load; // may be null

  struct joined_room {
    room_actor room;
    room_view view;
  };
  std::unordered_map<std::string, joined_room> joined; // lower-case guid -> room
  std::uint64_t commands = 0;
  std::uint64_t errors = 0;
};

session_actor::behavior_type session(session_actor::stateful_pointer<session_state> self, dialog_id dialog,
                                     std::string user, transport_actor transport, directory_actor directory,
                                     server_options opts, std::shared_ptr<load_gauge> load);

} // namespace pchat
