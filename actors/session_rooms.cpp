// The session's room commands (actors/session_commands.hpp): being in rooms (join, bjoin, part), posting
// (grpchat), who is there (roster), and which rooms there are for the user (chansrch, getassoc, follow).
#include <algorithm>
#include <set>

#include "actors/session_commands.hpp"
#include "base/text.hpp"

namespace pchat::session_cmd {

namespace {

// join and bjoin: one reply with a chanib per joined room and, for bjoin, a <fib key="OPERATION_FAILED"> per
// room that failed (docs/xccos.md §4).
void join_rooms(self_ptr self, const xccos::command& cmd, std::vector<xccos::chan_ref> chans, bool batch) {
  auto c = cmd;
  across_rooms<join_result>(
    self, cmd, chans,
    [self, chans](size_t i, const resolved_room& r) {
      auto& st = self->state;
      auto& entry = st.joined[ascii_lower(chans[i].guid)]; // before the reply: later posts must find it
      if (entry.room != r.room) // a new join (a repeated one keeps its state)
        entry = {r.room, r.view};
      return self->request(r.room, caf::infinite, join_atom::value, st.user, st.dialog, st.transport);
    },
    [self, c, chans, batch](std::vector<caf::expected<join_result>>& outcomes) {
      // A failed item leaves the joined set unless another item named the same room and got in.
      std::set<std::string> joined_now;
      for (size_t i = 0; i < chans.size(); ++i)
        if (outcomes[i]) {
          joined_now.insert(ascii_lower(chans[i].guid));
          self->send(self->state.directory, follow_atom::value, self->state.user, outcomes[i]->room.id);
          self->send(self->state.directory, watch_atom::value, outcomes[i]->room.id, true);
        }
      for (size_t i = 0; i < chans.size(); ++i)
        if (!outcomes[i] && joined_now.count(ascii_lower(chans[i].guid)) == 0)
          self->state.joined.erase(ascii_lower(chans[i].guid));
      if (!batch && !outcomes[0])
        return reply_error(self, c, outcomes[0].error());
      std::string data;
      std::uint32_t next_id = 0;
      for (size_t i = 0; i < chans.size(); ++i) {
        if (outcomes[i]) {
          std::vector<xccos::participant> people;
          for (const auto& p : outcomes[i]->participants)
            people.push_back({p.uri, p.manager});
          xccos::append_join_result(data, next_id, to_summary(outcomes[i]->room), people);
        } else {
          xccos::append_failed_room(data, chans[i]);
        }
      }
      reply_ok(self, c, std::move(data));
      // Only now may the rooms send this dialog their traffic: the reply is ahead of it at the transport. A room
      // that let the user go meanwhile (a settings change) has forgotten the member: the ntc:part it would have
      // sent goes now, after the reply that put the user in.
      auto& joined = self->state.joined;
      for (size_t i = 0; i < chans.size(); ++i) {
        auto j = outcomes[i] ? joined.find(ascii_lower(chans[i].guid)) : joined.end();
        if (j == joined.end() || j->second.replied)
          continue;
        if (j->second.let_go) {
          send_body(self, xccos::part_notice(j->second.view.uri, self->state.user));
          self->send(self->state.directory, watch_atom::value, j->second.view.id, false);
          joined.erase(j);
          continue;
        }
        j->second.replied = true;
        self->send(j->second.room, joined_atom::value);
      }
    });
}

} // namespace

void handle(self_ptr self, const xccos::command& c, const xccos::join_cmd& x) {
  join_rooms(self, c, {x.chan}, false);
}

void handle(self_ptr self, const xccos::command& c, const xccos::bjoin_cmd& x) {
  join_rooms(self, c, x.chans, true);
}

void handle(self_ptr self, const xccos::command& cmd, const xccos::part_cmd& x) {
  auto c = cmd;
  auto uri = x.chan.uri();
  auto key = ascii_lower(x.chan.guid);
  with_room(self, cmd, x.chan, [self, c, uri, key](room_actor room, bool joined) {
    std::string data;
    xccos::append_chanib_uri(data, uri);
    if (!joined) // parting a room one is not in succeeds: the client's view and ours agree afterwards
      return reply_ok(self, c, std::move(data));
    auto j = self->state.joined.find(key);
    if (j != self->state.joined.end())
      self->send(self->state.directory, watch_atom::value, j->second.view.id, false);
    self->state.joined.erase(key);
    // The room handles the part before anything this session sends it later, so the reply need not wait.
    self->send(room, part_atom::value, self->state.user);
    reply_ok(self, c, std::move(data));
  });
}

// grpchat (docs/xccos.md §4): no reply on success, rpl:grpchat with the error otherwise.
void handle(self_ptr self, const xccos::command& cmd, const xccos::grpchat_cmd& x) {
  auto& st = self->state;
  if (x.text.size() > st.opts.message_size_limit)
    return refuse(self, cmd, pchat_errc::too_large);
  if (!is_xml_text(x.text))
    return refuse(self, cmd, pchat_errc::invalid_characters);
  auto j = in_domain(self, x.chan) ? st.joined.find(ascii_lower(x.chan.guid)) : st.joined.end();
  if (j == st.joined.end())
    return refuse(self, cmd, pchat_errc::not_joined);
  auto c = cmd;
  // The author is the session's user whatever the client claims; the room stamps the time. Success has no rpl,
  // unless the client asked for one (ack="true": docs/protocol.md "Acknowledged posts").
  self->request(j->second.room, caf::infinite, post_atom::value, st.user, x.text)
    .then(
      [self, c, ack = x.ack, uri = j->second.view.uri](std::uint64_t seq) {
        if (!ack)
          return;
        std::string data;
        xccos::append_posted(data, uri, seq);
        reply_ok(self, c, std::move(data));
      },
      [self, c](caf::error& err) { reply_error(self, c, err); });
}

// roster (docs/protocol.md "Large rooms"): a page of the users online.
void handle(self_ptr self, const xccos::command& cmd, const xccos::roster_cmd& x) {
  auto c = cmd;
  auto uri = x.chan.uri();
  auto start = x.start;
  auto count = x.count;
  with_room(self, cmd, x.chan, [self, c, uri, start, count](room_actor room, bool) {
    self->request(room, caf::infinite, roster_atom::value, self->state.user, start, count)
      .then(
        [self, c, uri, start](const std::vector<participant_view>& page, std::uint32_t total) {
          std::vector<xccos::participant> people;
          for (const auto& p : page)
            people.push_back({p.uri, p.manager});
          std::string data;
          xccos::append_roster(data, uri, start, total, people);
          reply_ok(self, c, std::move(data));
        },
        [self, c](caf::error& err) { reply_error(self, c, err); });
  });
}

// chansrch (docs/xccos.md §4): a chanib summary per room found.
void handle(self_ptr self, const xccos::command& cmd, const xccos::chansrch_cmd& x) {
  auto c = cmd;
  ask_directory<std::vector<room_view>>(
    self, cmd,
    [self, c](const std::vector<room_view>& rooms) {
      std::string data;
      for (const auto& r : rooms)
        xccos::append_chanib_summary(data, to_summary(r));
      reply_ok(self, c, std::move(data));
    },
    search_atom::value, self->state.user, x.criteria);
}

// docs/protocol.md "getassoc": member rooms, then manager rooms, then rooms only followed; every chanib says
// whether the user follows it (the client rejoins those with bjoin at sign-in).
void handle(self_ptr self, const xccos::command& cmd, const xccos::getassoc_cmd&) {
  auto c = cmd;
  ask_directory<assoc_result>(
    self, cmd,
    [self, c](const assoc_result& a) {
      auto group = [&](const std::vector<room_view>& rooms) {
        std::vector<xccos::assoc_room> out;
        for (const auto& r : rooms)
          out.push_back({to_summary(r), std::find(a.follows.begin(), a.follows.end(), r.id) != a.follows.end()});
        return out;
      };
      std::string data;
      xccos::append_assoc(data, "member", group(a.member));
      xccos::append_assoc(data, "manager", group(a.manager));
      xccos::append_assoc(data, "follow", group(a.followed));
      reply_ok(self, c, std::move(data));
    },
    assoc_atom::value, self->state.user);
}

// follow/unfollow: the directory checks each room is one the user may see; one reply with a chanib per room
// done and a fib per room that is unknown, hidden or in another domain (docs/protocol.md "XCCOS commands").
void handle(self_ptr self, const xccos::command& cmd, const xccos::follow_cmd& x) {
  std::vector<std::string> guids;
  for (const auto& ch : x.chans)
    guids.push_back(in_domain(self, ch) ? ch.guid : std::string{});
  auto c = cmd;
  auto chans = x.chans;
  ask_directory<std::vector<bool>>(
    self, cmd,
    [self, c, chans](const std::vector<bool>& done) {
      std::string data;
      for (size_t i = 0; i < chans.size(); ++i) {
        if (i < done.size() && done[i])
          xccos::append_chanib_uri(data, chans[i].uri());
        else
          xccos::append_failed_room(data, chans[i]);
      }
      reply_ok(self, c, std::move(data));
    },
    follow_atom::value, self->state.user, std::move(guids), x.on);
}

} // namespace pchat::session_cmd
