// The session's history commands (actors/session_commands.hpp): a room's recent posts (bccontext), everything
// after a sequence number in many rooms (catchup), and search across rooms (histsrch). None needs the user to
// be in the room; the room or the directory checks that the user may read it.
#include "actors/session_commands.hpp"

namespace pchat::session_cmd {

namespace {

// Stored posts of the room `uri` as history items.
std::vector<xccos::chat_message> as_history(const std::string& uri, const std::vector<storage::message>& msgs) {
  std::vector<xccos::chat_message> out;
  out.reserve(msgs.size());
  for (const auto& m : msgs)
    out.push_back({uri, m.author, m.ticks, m.text, m.seq});
  return out;
}

} // namespace

// bccontext (docs/xccos.md §4): the newest N posts of one room, oldest first.
void handle(self_ptr self, const xccos::command& cmd, const xccos::bccontext_cmd& x) {
  auto c = cmd;
  auto uri = x.chan.uri();
  auto n = x.last;
  auto before = x.before;
  with_room(self, cmd, x.chan, [self, c, uri, n, before](room_actor room, bool) {
    self->request(room, caf::infinite, history_atom::value, self->state.user, n, before)
      .then(
        [self, c, uri](const std::vector<storage::message>& msgs) {
          std::string data;
          xccos::append_room_history(data, uri, as_history(uri, msgs));
          reply_ok(self, c, std::move(data));
        },
        [self, c](caf::error& err) { reply_error(self, c, err); });
  });
}

// catchup: a chanib of messages per room (more="true" when the per-room limit cut it short) and a fib per room
// that failed, in one reply (docs/protocol.md "catchup").
void handle(self_ptr self, const xccos::command& cmd, const xccos::catchup_cmd& x) {
  std::vector<xccos::chan_ref> chans;
  std::vector<std::uint64_t> seqs;
  for (const auto& [chan, seq] : x.rooms) {
    chans.push_back(chan);
    seqs.push_back(seq);
  }
  auto c = cmd;
  const auto limit = self->state.opts.history_limit;
  using messages = std::vector<storage::message>;
  across_rooms<messages>(
    self, cmd, chans,
    [self, seqs, limit](size_t i, const resolved_room& r) {
      return self->request(r.room, caf::infinite, catchup_atom::value, self->state.user, seqs[i], limit);
    },
    [self, c, chans, limit](std::vector<caf::expected<messages>>& outcomes) {
      std::string data;
      for (size_t i = 0; i < chans.size(); ++i) {
        if (!outcomes[i]) {
          xccos::append_failed_room(data, chans[i]);
          continue;
        }
        auto uri = chans[i].uri();
        xccos::append_room_history(data, uri, as_history(uri, *outcomes[i]), outcomes[i]->size() >= limit);
      }
      reply_ok(self, c, std::move(data));
    });
}

// histsrch (docs/protocol.md "History search"): <msg> items newest first, across the rooms searched.
void handle(self_ptr self, const xccos::command& cmd, const xccos::histsrch_cmd& x) {
  std::vector<std::string> guids;
  for (const auto& ch : x.chans) {
    if (!in_domain(self, ch))
      return refuse(self, cmd, pchat_errc::room_not_found);
    guids.push_back(ch.guid);
  }
  auto c = cmd;
  ask_directory<std::vector<search_hit>>(
    self, cmd,
    [self, c](const std::vector<search_hit>& hits) {
      std::string data;
      for (const auto& h : hits)
        xccos::append_history_msg(data, {h.room_uri, h.msg.author, h.msg.ticks, h.msg.text, h.msg.seq});
      reply_ok(self, c, std::move(data));
    },
    histsrch_atom::value, self->state.user, x.text, x.author, x.from_ticks, x.to_ticks, x.limit, std::move(guids));
}

} // namespace pchat::session_cmd
