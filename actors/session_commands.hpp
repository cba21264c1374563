#pragma once
// Private to the session actor (actors/session.hpp): what its files share. actors/session.cpp owns the reply
// plumbing and the command queue; every command has one `handle` overload, defined in the file of its family:
//   session_rooms.cpp    join, bjoin, part, grpchat, roster, chansrch, getassoc, follow/unfollow
//   session_history.cpp  bccontext, catchup, histsrch
//   session_admin.cpp    chancreate, chanupd, chanrole, nodespermcreatechild (docs/protocol.md "Room management")
//   session_users.cpp    requri, getserverinfo, getinv, getpref, setpref, getfutok/getfdtok
// Handlers pass values to codec/xccos_build.hpp and never write markup themselves.
//
// Contract of a handler: it answers its command exactly once (reply, reply_ok or reply_error), now or from a
// continuation. One that waits for the directory holds the queue (hold) and releases it from every continuation
// (release), after its reply, so replies go out in command order.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/protocol.hpp"
#include "actors/session.hpp"
#include "actors/views.hpp"
#include "codec/xccos.hpp"
#include "codec/xccos_build.hpp"
#include "base/text.hpp"

namespace pchat::session_cmd {

using self_ptr = session_actor::stateful_pointer<session_state>;

// --- reply plumbing (session.cpp) -----------------------------------------------------------------------------
// Sends one document on the dialog.
void send_body(self_ptr self, std::string body);
// 200 SUCCESS_OK with `data`.
void reply_ok(self_ptr self, const xccos::command& c, std::string data = {});
// Refuses `c`: the XCCOS code and token come from the error table (base/error.hpp, docs/protocol.md "Error
// codes"); counted in pchat_rejections_total and logged.
void refuse(self_ptr self, const xccos::command& c, pchat_errc why);
// The reply for an error from the directory or a room: a pchat_errc is refused with its code, anything else is
// 500 SERVER_ERROR.
void reply_error(self_ptr self, const xccos::command& c, const caf::error& err);

// --- the command queue (session.cpp) ---------------------------------------------------------------------------
// Stops dispatching until release().
void hold(self_ptr self);
// Dispatches on: the queue is no longer held.
void release(self_ptr self);

// True when `chan` is in this server's domain (compared case-insensitively).
bool in_domain(self_ptr self, const xccos::chan_ref& chan);


// --- the handlers, one per command ------------------------------------------------------------------------------
// session.cpp
void handle(self_ptr self, const xccos::command& c, const xccos::unknown_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::invalid_cmd& x);
// session_rooms.cpp
void handle(self_ptr self, const xccos::command& c, const xccos::join_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::bjoin_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::part_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::grpchat_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::roster_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::chansrch_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::getassoc_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::follow_cmd& x);
// session_history.cpp
void handle(self_ptr self, const xccos::command& c, const xccos::bccontext_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::catchup_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::histsrch_cmd& x);
// session_admin.cpp
void handle(self_ptr self, const xccos::command& c, const xccos::chancreate_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::chanupd_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::chanrole_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::nodespermcreatechild_cmd& x);
// session_users.cpp
void handle(self_ptr self, const xccos::command& c, const xccos::requri_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::getserverinfo_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::getinv_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::getpref_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::setpref_cmd& x);
void handle(self_ptr self, const xccos::command& c, const xccos::getftok_cmd& x);

// --- asking the directory and rooms ------------------------------------------------------------------------------
// Asks the directory, holding the queue until the answer is in: `on_ok(results...)` on success, the mapped error
// reply otherwise.
template <class... R, class OnOk, class... Ts>
void ask_directory(self_ptr self, const xccos::command& cmd, OnOk on_ok, Ts&&... xs) {
  hold(self);
  auto c = cmd;
  self->request(self->state.directory, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [self, on_ok](R&... results) {
        on_ok(results...);
        release(self);
      },
      [self, c](caf::error& err) {
        reply_error(self, c, err);
        release(self);
      });
}

// Runs `then(room, joined)` with the room actor for `chan`: from the joined set (joined true), else via the
// directory (joined false, the queue held meanwhile). An unknown room, or one in another domain, is answered 404
// CHANNEL_NOT_FOUND and `then` does not run.
template <class Then>
void with_room(self_ptr self, const xccos::command& cmd, const xccos::chan_ref& chan, Then then) {
  auto& st = self->state;
  if (!in_domain(self, chan))
    return refuse(self, cmd, pchat_errc::room_not_found);
  auto j = st.joined.find(ascii_lower(chan.guid));
  if (j != st.joined.end())
    return then(j->second.room, true);
  hold(self);
  auto c = cmd;
  self->request(st.directory, caf::infinite, resolve_atom::value, st.user, std::vector<std::string>{chan.guid})
    .then(
      [self, c, then](std::vector<resolved_room>& found) {
        if (found.empty() || !found[0].found)
          refuse(self, c, pchat_errc::room_not_found);
        else
          then(found[0].room, false);
        release(self);
      },
      [self, c](caf::error& err) {
        reply_error(self, c, err);
        release(self);
      });
}

// What bjoin and catchup share: resolve every room of `chans` with one directory request, then for each room
// found (in our domain) `ask(i, resolved)` sends the room request and returns its response handle. When every
// answer is in, `finish(outcomes)` runs once with one caf::expected<T> per chan, in order (room_not_found for
// rooms not resolved). The queue is released once the room requests are sent, so later commands of this
// session reach the rooms after them.
template <class T, class Ask, class Finish>
void across_rooms(self_ptr self, const xccos::command& cmd, const std::vector<xccos::chan_ref>& chans, Ask ask,
                  Finish finish) {
  hold(self);
  std::vector<std::string> guids;
  for (const auto& ch : chans)
    guids.push_back(ch.guid);
  auto c = cmd;
  self->request(self->state.directory, caf::infinite, resolve_atom::value, self->state.user, std::move(guids))
    .then(
      [self, chans, ask, finish](std::vector<resolved_room>& found) {
        // The fan-in of this one command: its outcomes, and how many room answers are still out.
        struct context {
          std::vector<caf::expected<T>> outcomes;
          size_t remaining = 0;
        };
        auto ctx = std::make_shared<context>();
        ctx->outcomes.assign(chans.size(), caf::expected<T>{make_error(pchat_errc::room_not_found)});
        auto done = [ctx, finish] {
          if (--ctx->remaining == 0)
            finish(ctx->outcomes);
        };
        for (size_t i = 0; i < chans.size(); ++i) {
          if (i >= found.size() || !found[i].found || !in_domain(self, chans[i]))
            continue;
          ++ctx->remaining;
          ask(i, found[i])
            .then(
              [ctx, i, done](T& r) {
                ctx->outcomes[i] = std::move(r);
                done();
              },
              [ctx, i, done](caf::error& err) {
                ctx->outcomes[i] = std::move(err);
                done();
              });
        }
        if (ctx->remaining == 0)
          finish(ctx->outcomes);
        release(self);
      },
      [self, c](caf::error& err) {
        reply_error(self, c, err);
        release(self);
      });
}

} // namespace pchat::session_cmd
