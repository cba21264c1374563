#pragma once
// The room actor: one per room, spawned by the directory on first use. It owns the room's online members
// (dialogs), its sequence counter and a cache of recent posts, and it is the only writer of its history.
//
// A post: check rules -> assign seq -> store writer (durable, group commit) -> serialize the grpchat once ->
// one fanout message per transport holding its online dialogs, the sender's included -> reply seq.
// Posts are fanned out in seq order because the writer answers in order. A dialog that parts before a post is
// fanned out does not receive it; a dialog that joins before the fan-out does (and not also in history: history
// reads stop at the last fanned-out seq).
//
// Failure modes: a refused request gets a pchat_errc and changes nothing; a failed store write is answered with
// store_failed and nothing is fanned out (that seq stays unused, so sequences may have gaps but never repeat).
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat {

struct room_state {
  static inline const char* name = "room";

  storage::room settings;
  storage::category category;
  std::string uri;
  std::map<std::string, std::uint8_t> roles; // user -> role bits, loaded at spawn

  struct member {
    std::string user;
    dialog_id dialog = 0;
    transport_actor transport;
    // Between join and joined: what the room sent this dialog meanwhile, with each post's accepted time, sent on
    // once the session says its join reply is out (the transport sees the reply first).
    bool confirmed = false;
    std::vector<std::pair<std::string, std::int64_t>> held;
  };
  std::map<caf::actor_addr, member> online;   // by session actor
  std::map<std::string, std::uint32_t> users; // user -> number of sessions in the room
  // Fan-out lists, one per transport, rebuilt on join/part: a post is one message per transport.
  std::vector<std::pair<transport_actor, std::vector<dialog_id>>> groups;
  std::size_t dialog_count = 0;
  std::size_t unconfirmed = 0; // members between join and joined, not in `groups`

  std::uint64_t next_seq = 1;
  std::uint64_t visible_seq = 0; // highest seq fanned out; history never shows beyond it
  std::deque<storage::message> recent;
  std::uint64_t clearing_up_to = 0; // a clear being archived (compliance on) before it deletes up to this seq
  std::int64_t last_ticks = 0; // of the newest post: post times never go backwards
  bool watched = false;        // a session follows the room without being in it: tell the directory of posts

  room_stats stats;
  std::shared_ptr<storage::store> store;
  writer_actor writer;
  caf::actor_addr directory; // weak: the directory holds the room, not the other way round
  server_options opts;
};

// What a history clear deletes (docs/operations.md "Deleting history" and "Retention"): every post made before
// `before_ticks` and, when `keep_posts` > 0, all but the newest `keep_posts` sequence numbers, never beyond
// `visible_seq` (a post still on its way). The last seq to delete; nothing new when it is at or below
// store.cleared_up_to(room_id).
std::uint64_t clear_bound(const storage::store& store, std::uint64_t room_id, std::int64_t before_ticks,
                          std::uint64_t keep_posts, std::uint64_t visible_seq);
// The compliance archive's content of a CLEAR and a REMOVE (docs/compliance.md "Events archived").
std::string clear_record(std::uint64_t floor, std::uint64_t up_to, const std::string& why);
// Who cleared, as `pchatctl history clear ROOM --before` says it: "an administrator: before <UTC time>".
std::string administrator_clear(std::int64_t before_ticks);
std::string remove_record(std::uint64_t seq, const std::string& text);

room_actor::behavior_type room(room_actor::stateful_pointer<room_state> self, storage::room settings,
                               storage::category category, std::shared_ptr<storage::store> store,
                               writer_actor writer, caf::actor_addr directory, server_options opts);

} // namespace pchat
