#include "actors/session.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include "base/log.hpp"
#include "actors/views.hpp"
#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

namespace pchat {

namespace {

using self_ptr = session_actor::stateful_pointer<session_state>;

// Commands wait here while an earlier one waits for the directory, so they reach rooms in order.
struct command_queue {
  std::deque<xccos::command> pending;
  bool busy = false;
};

void send_body(self_ptr self, std::string body) {
  self->send(self->state.transport, send_atom::value, self->state.dialog, std::move(body));
}

void reply(self_ptr self, const xccos::command& c, int code, const char* token, std::string data = {}) {
  xccos::out_item it;
  it.kind = xccos::item_kind::rpl;
  it.id = c.reply_id();
  it.seqid = c.seqid.empty() ? "1" : c.seqid;
  it.cmd_seqid = c.seqid;
  it.cmd_envid = c.envid;
  it.code = code;
  it.token = token;
  it.data = std::move(data);
  if (code != xccos::code::ok) {
    ++self->state.errors;
    if (self->state.opts.live)
      self->state.opts.live->reject(errc_of_token(token));
    log::line(log::level::info, "session") << "refused " << c.id << " user=" << self->state.user
                                           << " dialog=" << self->state.dialog << " code=" << code << " " << token;
  }
  send_body(self, xccos::serialize(xccos::next_envid(), {it}));
}

// A refusal as XCCOS: code and token from the error table (base/error.hpp).
void reply_error(self_ptr self, const xccos::command& c, const caf::error& err) {
  if (err.category() == pchat_error_category) {
    const auto& d = describe(static_cast<pchat_errc>(err.code()));
    if (d.xccos_code != 0)
      return reply(self, c, d.xccos_code, d.xccos_token);
  }
  log::line(log::level::error, "session") << c.id << " failed user=" << self->state.user
                                          << " error=" << self->system().render(err);
  reply(self, c, xccos::code::server_error, "SERVER_ERROR");
}

// <inv inviteId chanUri name inviter ts/>: one invitation in rpl:getinv and ntc:inv (docs/protocol.md).
void append_invitation(std::string& out, const invitation_view& inv) {
  xccos::append_empty_element(out, "inv",
                              {{"inviteId", std::to_string(inv.id)},
                               {"chanUri", inv.room_uri},
                               {"name", inv.room_name},
                               {"inviter", inv.inviter},
                               {"ts", xccos::format_ts(inv.ticks)}});
}

// "member,presenter" (commas or spaces) -> role bits; nullopt on an unknown word.
std::optional<std::uint8_t> parse_roles(const std::string& text) {
  std::uint8_t bits = 0;
  std::string word;
  for (char ch : text + ",") {
    if (ch != ',' && ch != ' ') {
      word.push_back(ch);
      continue;
    }
    if (word == "member")
      bits |= storage::role::member;
    else if (word == "manager")
      bits |= storage::role::manager;
    else if (word == "presenter")
      bits |= storage::role::presenter;
    else if (!word.empty())
      return std::nullopt;
    word.clear();
  }
  return bits;
}

void reply_room(self_ptr self, const xccos::command& c, const room_view& r) {
  std::string data;
  xccos::append_chanib_summary(data, to_summary(r));
  reply(self, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
}

std::string chanib_uri_only(const std::string& uri) {
  std::string out;
  xccos::append_empty_element(out, "chanib", {{"uri", uri}});
  return out;
}

} // namespace

// --- the command handlers ------------------------------------------------------------------------------------

namespace {

struct dispatcher {
  self_ptr self;
  std::shared_ptr<command_queue> q;
  const xccos::command& cmd;

  void pump() const;

  // Marks the queue busy until `done` runs; the continuation must call release().
  void hold() const { q->busy = true; }
  static void release(self_ptr self, const std::shared_ptr<command_queue>& q);

  void operator()(const xccos::unknown_cmd&) const {
    reply(self, cmd, xccos::code::not_implemented, "UNKNOWN_COMMAND");
  }
  void operator()(const xccos::invalid_cmd& x) const {
    log::line(log::level::debug, "session") << cmd.id << " invalid: " << x.detail;
    reply(self, cmd, xccos::code::bad_request, "INVALID_ARGUMENT");
  }
  void operator()(const xccos::requri_cmd&) const {
    std::string data;
    xccos::append_empty_element(data, "uib", {{"uri", self->state.opts.service_uri}});
    reply(self, cmd, xccos::code::ok, "SUCCESS_OK", std::move(data));
  }
  void operator()(const xccos::getserverinfo_cmd& x) const {
    const auto& o = self->state.opts;
    std::string data;
    xccos::append_empty_element(data, "sib",
                                {{"infoType", x.info_type},
                                 {"serverTime", xccos::format_ts(now_ticks())},
                                 {"searchLimit", std::to_string(o.search_limit)},
                                 {"messageSizeLimit", std::to_string(o.message_size_limit)},
                                 {"storySizeLimit", std::to_string(o.story_size_limit)},
                                 {"rootUri", o.root_uri},
                                 {"dbVersion", o.db_version}});
    reply(self, cmd, xccos::code::ok, "SUCCESS_OK", std::move(data));
  }
  // Asks the directory, holding the queue until the answer is in: `on_ok(results...)` on success, the mapped
  // error reply otherwise.
  template <class... R, class OnOk, class... Ts>
  void ask_directory(OnOk on_ok, Ts&&... xs) const {
    hold();
    auto c = cmd;
    auto s = self;
    auto queue = q;
    self->request(self->state.directory, caf::infinite, std::forward<Ts>(xs)...)
      .then(
        [s, queue, on_ok](R&... results) {
          on_ok(results...);
          release(s, queue);
        },
        [s, c, queue](caf::error& err) {
          reply_error(s, c, err);
          release(s, queue);
        });
  }

  void operator()(const xccos::chansrch_cmd& x) const {
    auto c = cmd;
    auto s = self;
    ask_directory<std::vector<room_view>>(
      [s, c](const std::vector<room_view>& rooms) {
        std::string data;
        for (const auto& r : rooms)
          xccos::append_chanib_summary(data, to_summary(r));
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      search_atom::value, self->state.user, x.criteria);
  }
  void operator()(const xccos::getassoc_cmd&) const {
    auto c = cmd;
    auto s = self;
    ask_directory<assoc_result>(
      [s, c](const assoc_result& a) {
        // docs/protocol.md "getassoc": member rooms, then manager rooms, then rooms only followed; every chanib
        // says whether the user follows it (the client rejoins those with bjoin at sign-in).
        std::string data;
        auto group = [&](const char* type, const std::vector<room_view>& rooms) {
          data += "<assoc type=\"";
          data += type;
          data += "\">";
          for (const auto& r : rooms) {
            bool followed = std::find(a.follows.begin(), a.follows.end(), r.id) != a.follows.end();
            xccos::append_chanib_summary(data, to_summary(r), followed ? " followed=\"true\"" : " followed=\"false\"");
          }
          data += "</assoc>";
        };
        group("member", a.member);
        group("manager", a.manager);
        group("follow", a.followed);
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      assoc_atom::value, self->state.user);
  }
  void operator()(const xccos::getinv_cmd&) const {
    auto c = cmd;
    auto s = self;
    ask_directory<std::vector<invitation_view>>(
      [s, c](const std::vector<invitation_view>& invs) {
        std::string data;
        for (const auto& inv : invs)
          append_invitation(data, inv);
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      invite_atom::value, self->state.user);
  }
  void operator()(const xccos::getpref_cmd& x) const {
    auto c = cmd;
    auto s = self;
    auto label = x.label;
    auto seqid = x.seqid;
    auto create = x.create_default;
    ask_directory<bool, std::string>(
      [s, c, label, seqid, create](bool found, const std::string& value) {
        if (!found && !create)
          return reply(s, c, xccos::code::not_found, "PREF_NOT_FOUND");
        if (!found) // createdefault: the default is the empty value, kept from now on
          caf::anon_send(s->state.directory, pref_atom::value, s->state.user, label, std::string{});
        std::string data;
        xccos::append_empty_element(data, "pref", {{"label", label}, {"seqid", seqid}, {"content", value}});
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      pref_atom::value, self->state.user, x.label);
  }
  void operator()(const xccos::setpref_cmd& x) const {
    if (x.content.size() > self->state.opts.pref_size_limit || x.label.size() > 256)
      return reply(self, cmd, xccos::code::too_large, "PREF_TOO_LARGE");
    auto c = cmd;
    auto s = self;
    auto label = x.label;
    auto seqid = x.seqid;
    ask_directory<bool>(
      [s, c, label, seqid](bool) {
        std::string data;
        xccos::append_empty_element(data, "pref", {{"label", label}, {"seqid", seqid}});
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      pref_atom::value, self->state.user, x.label, x.content);
  }
  // histsrch (docs/protocol.md "History search"): <msg> items newest first, across the rooms searched.
  void operator()(const xccos::histsrch_cmd& x) const {
    std::vector<std::string> guids;
    for (const auto& ch : x.chans) {
      if (ascii_lower(ch.domain) != ascii_lower(self->state.opts.domain))
        return reply(self, cmd, xccos::code::not_found, "CHANNEL_NOT_FOUND");
      guids.push_back(ch.guid);
    }
    auto c = cmd;
    auto s = self;
    ask_directory<std::vector<search_hit>>(
      [s, c](const std::vector<search_hit>& hits) {
        std::string data;
        for (const auto& h : hits)
          xccos::append_history_msg(data, {h.room_uri, h.msg.author, h.msg.ticks, h.msg.text, h.msg.seq});
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      histsrch_atom::value, self->state.user, x.text, x.author, x.from_ticks, x.to_ticks, x.limit, std::move(guids));
  }
  // getfutok / getfdtok (xccos.md §4, docs/protocol.md "Room files"): the directory checks the room's rules and
  // issues the token; serveruri is where to use it, on the web server.
  void operator()(const xccos::getftok_cmd& x) const {
    auto files = self->state.opts.files;
    if (!files || files->url().empty())
      return reply(self, cmd, xccos::code::unavailable, "FILES_UNAVAILABLE");
    if (ascii_lower(x.chan.domain) != ascii_lower(self->state.opts.domain))
      return reply(self, cmd, xccos::code::not_found, "CHANNEL_NOT_FOUND");
    auto c = cmd;
    auto s = self;
    ask_directory<file_ticket>(
      [s, c, files](const file_ticket& t) {
        std::string data;
        xccos::append_file_token(data, t.token, files->url() + t.path);
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      ftoken_atom::value, self->state.user, x.upload, x.chan.guid, x.file_url);
  }
  void operator()(const xccos::nodespermcreatechild_cmd&) const {
    auto c = cmd;
    auto s = self;
    ask_directory<std::vector<category_view>>(
      [s, c](const std::vector<category_view>& cats) {
        std::string data;
        for (const auto& cat : cats)
          xccos::append_empty_element(data, "cat",
                                      {{"uri", cat.uri}, {"name", cat.name}, {"description", cat.description}});
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      perm_atom::value, self->state.user);
  }
  // Room management (docs/protocol.md "Room management"): the directory's catalog decides who may. Success is
  // answered with the room's chanib.
  void operator()(const xccos::chancreate_cmd& x) const {
    auto c = cmd;
    auto s = self;
    ask_directory<room_view>([s, c](const room_view& r) { reply_room(s, c, r); }, create_atom::value,
                             principal::of(self->state.user), patch{x.fields});
  }
  void operator()(const xccos::chanupd_cmd& x) const {
    if (ascii_lower(x.chan.domain) != ascii_lower(self->state.opts.domain))
      return reply(self, cmd, xccos::code::not_found, "CHANNEL_NOT_FOUND");
    auto c = cmd;
    auto s = self;
    ask_directory<room_view>([s, c](const room_view& r) { reply_room(s, c, r); }, update_atom::value,
                             principal::of(self->state.user), x.chan.guid, patch{x.fields});
  }
  // One reply for every user: <uib uri roles invited/> for each change made; if none could be made, the first
  // item's error as the command's.
  void operator()(const xccos::chanrole_cmd& x) const {
    if (ascii_lower(x.chan.domain) != ascii_lower(self->state.opts.domain))
      return reply(self, cmd, xccos::code::not_found, "CHANNEL_NOT_FOUND");
    std::vector<std::pair<std::string, std::uint8_t>> changes;
    for (const auto& [uri, roles] : x.users) {
      auto user = sip::normalize_aor(uri);
      auto bits = parse_roles(roles);
      if (user.empty() || !bits)
        return reply(self, cmd, xccos::code::bad_request, "INVALID_ARGUMENT");
      changes.emplace_back(user, *bits);
    }
    hold();
    struct context {
      std::vector<caf::expected<bool>> outcomes;
      size_t remaining = 0;
    };
    auto ctx = std::make_shared<context>();
    ctx->outcomes.assign(changes.size(), caf::expected<bool>{false});
    ctx->remaining = changes.size();
    auto c = cmd;
    auto s = self;
    auto queue = q;
    auto users = x.users;
    auto done = [s, c, queue, ctx, users] {
      if (--ctx->remaining > 0)
        return;
      std::string data;
      bool any = false;
      for (size_t i = 0; i < users.size(); ++i) {
        if (!ctx->outcomes[i])
          continue;
        any = true;
        xccos::append_empty_element(data, "uib",
                                    {{"uri", users[i].first},
                                     {"roles", users[i].second},
                                     {"invited", *ctx->outcomes[i] ? "true" : "false"}});
      }
      if (!any)
        reply_error(s, c, ctx->outcomes[0].error());
      else
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      release(s, queue); // after the reply: replies go out in command order
    };
    for (size_t i = 0; i < changes.size(); ++i)
      self
        ->request(self->state.directory, caf::infinite, roles_atom::value, principal::of(self->state.user),
                  x.chan.guid, changes[i].first, changes[i].second)
        .then(
          [ctx, i, done](bool invited) {
            ctx->outcomes[i] = invited;
            done();
          },
          [ctx, i, done](caf::error& err) {
            ctx->outcomes[i] = std::move(err);
            done();
          });
  }
  void operator()(const xccos::join_cmd& x) const { join_rooms({x.chan}, false); }
  void operator()(const xccos::bjoin_cmd& x) const { join_rooms(x.chans, true); }

  // What bjoin and catchup share: resolve every room of `chans` with one directory request, then for each room
  // found (in our domain) `ask(i, resolved)` sends the room request and returns its response handle. When every
  // answer is in, `finish(outcomes)` runs once with one caf::expected<T> per chan, in order (room_not_found for
  // rooms not resolved). The queue is released once the room requests are sent, so later commands of this
  // session reach the rooms after them.
  template <class T, class Ask, class Finish>
  void across_rooms(const std::vector<xccos::chan_ref>& chans, Ask ask, Finish finish) const {
    hold();
    std::vector<std::string> guids;
    for (const auto& ch : chans)
      guids.push_back(ch.guid);
    auto c = cmd;
    auto s = self;
    auto queue = q;
    self->request(self->state.directory, caf::infinite, resolve_atom::value, self->state.user, std::move(guids))
      .then(
        [s, queue, chans, ask, finish](std::vector<resolved_room>& found) {
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
            if (i >= found.size() || !found[i].found || ascii_lower(chans[i].domain) != ascii_lower(s->state.opts.domain))
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
          release(s, queue);
        },
        [s, c, queue](caf::error& err) {
          reply_error(s, c, err);
          release(s, queue);
        });
  }

  // join and bjoin: one reply with a chanib per joined room and, for bjoin, a <fib key="OPERATION_FAILED"> per
  // room that failed (xccos.md §4).
  void join_rooms(std::vector<xccos::chan_ref> chans, bool batch) const {
    auto c = cmd;
    auto s = self;
    across_rooms<join_result>(
      chans,
      [s, chans](size_t i, const resolved_room& r) {
        auto& st = s->state;
        st.joined[ascii_lower(chans[i].guid)] = {r.room, r.view}; // before the reply: later posts must find it
        return s->request(r.room, caf::infinite, join_atom::value, st.user, st.dialog, st.transport);
      },
      [s, c, chans, batch](std::vector<caf::expected<join_result>>& outcomes) {
        // A failed item leaves the joined set unless another item named the same room and got in.
        std::set<std::string> joined_now;
        for (size_t i = 0; i < chans.size(); ++i)
          if (outcomes[i]) {
            joined_now.insert(ascii_lower(chans[i].guid));
            s->send(s->state.directory, follow_atom::value, s->state.user, outcomes[i]->room.id);
            s->send(s->state.directory, watch_atom::value, outcomes[i]->room.id, true);
          }
        for (size_t i = 0; i < chans.size(); ++i)
          if (!outcomes[i] && joined_now.count(ascii_lower(chans[i].guid)) == 0)
            s->state.joined.erase(ascii_lower(chans[i].guid));
        if (!batch && !outcomes[0])
          return reply_error(s, c, outcomes[0].error());
        std::string data;
        std::uint32_t next_id = 0;
        for (size_t i = 0; i < chans.size(); ++i) {
          if (outcomes[i]) {
            std::vector<xccos::participant> people;
            for (const auto& p : outcomes[i]->participants)
              people.push_back({p.uri, p.manager});
            xccos::append_join_result(data, next_id, to_summary(outcomes[i]->room), people);
          } else {
            xccos::append_empty_element(
              data, "fib", {{"key", "OPERATION_FAILED"}, {"value", chans[i].guid}, {"domain", chans[i].domain}});
          }
        }
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      });
  }

  // catchup: a chanib of messages per room (more="true" when the per-room limit cut it short) and a fib per room
  // that failed, in one reply (docs/protocol.md "catchup").
  void operator()(const xccos::catchup_cmd& x) const {
    std::vector<xccos::chan_ref> chans;
    std::vector<std::uint64_t> seqs;
    for (const auto& [chan, seq] : x.rooms) {
      chans.push_back(chan);
      seqs.push_back(seq);
    }
    auto c = cmd;
    auto s = self;
    const auto limit = self->state.opts.history_limit;
    using messages = std::vector<storage::message>;
    across_rooms<messages>(
      chans,
      [s, seqs, limit](size_t i, const resolved_room& r) {
        return s->request(r.room, caf::infinite, catchup_atom::value, s->state.user, seqs[i], limit);
      },
      [s, c, chans, limit](std::vector<caf::expected<messages>>& outcomes) {
        std::string data;
        for (size_t i = 0; i < chans.size(); ++i) {
          if (!outcomes[i]) {
            xccos::append_empty_element(
              data, "fib", {{"key", "OPERATION_FAILED"}, {"value", chans[i].guid}, {"domain", chans[i].domain}});
            continue;
          }
          auto uri = chans[i].uri();
          data += "<chanib uri=\"";
          append_xml_attr(data, uri);
          data += outcomes[i]->size() >= limit ? "\" more=\"true\">" : "\" more=\"false\">";
          for (const auto& m : *outcomes[i])
            xccos::append_history_msg(data, {uri, m.author, m.ticks, m.text, m.seq});
          data += "</chanib>";
        }
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      });
  }

  // follow/unfollow: the directory checks each room is one the user may see; one reply with a chanib per room
  // done and a fib per room that is unknown, hidden or in another domain (docs/protocol.md "follow").
  void operator()(const xccos::follow_cmd& x) const {
    std::vector<std::string> guids;
    for (const auto& ch : x.chans)
      guids.push_back(ascii_lower(ch.domain) == ascii_lower(self->state.opts.domain) ? ch.guid : std::string{});
    auto c = cmd;
    auto s = self;
    auto chans = x.chans;
    ask_directory<std::vector<bool>>(
      [s, c, chans](const std::vector<bool>& done) {
        std::string data;
        for (size_t i = 0; i < chans.size(); ++i) {
          if (i < done.size() && done[i])
            xccos::append_empty_element(data, "chanib", {{"uri", chans[i].uri()}});
          else
            xccos::append_empty_element(
              data, "fib", {{"key", "OPERATION_FAILED"}, {"value", chans[i].guid}, {"domain", chans[i].domain}});
        }
        reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
      },
      follow_atom::value, self->state.user, std::move(guids), x.on);
  }

  // Runs `then` with the room actor for `chan`: from the joined set, else via the directory.
  template <class Then>
  void with_room(const xccos::chan_ref& chan, Then then) const {
    auto& st = self->state;
    if (ascii_lower(chan.domain) != ascii_lower(st.opts.domain))
      return reply(self, cmd, xccos::code::not_found, "CHANNEL_NOT_FOUND");
    auto j = st.joined.find(ascii_lower(chan.guid));
    if (j != st.joined.end())
      return then(j->second.room, true);
    hold();
    auto c = cmd;
    auto s = self;
    auto queue = q;
    self->request(st.directory, caf::infinite, resolve_atom::value, st.user, std::vector<std::string>{chan.guid})
      .then(
        [s, c, queue, then](std::vector<resolved_room>& found) {
          if (found.empty() || !found[0].found)
            reply(s, c, xccos::code::not_found, "CHANNEL_NOT_FOUND");
          else
            then(found[0].room, false);
          release(s, queue);
        },
        [s, c, queue](caf::error& err) {
          reply_error(s, c, err);
          release(s, queue);
        });
  }

  void operator()(const xccos::part_cmd& x) const {
    auto c = cmd;
    auto s = self;
    auto uri = x.chan.uri();
    auto key = ascii_lower(x.chan.guid);
    with_room(x.chan, [s, c, uri, key](room_actor room, bool joined) {
      if (!joined) // parting a room one is not in succeeds: the client's view and ours agree afterwards
        return reply(s, c, xccos::code::ok, "SUCCESS_OK", chanib_uri_only(uri));
      auto j = s->state.joined.find(key);
      if (j != s->state.joined.end())
        s->send(s->state.directory, watch_atom::value, j->second.view.id, false);
      s->state.joined.erase(key);
      // The room handles the part before anything this session sends it later, so the reply need not wait.
      s->send(room, part_atom::value, s->state.user);
      reply(s, c, xccos::code::ok, "SUCCESS_OK", chanib_uri_only(uri));
    });
  }

  // roster (docs/protocol.md "Large rooms"): <chanib uri start count total><uib uri [manager]/>…</chanib>.
  void operator()(const xccos::roster_cmd& x) const {
    auto c = cmd;
    auto s = self;
    auto uri = x.chan.uri();
    auto start = x.start;
    auto count = x.count;
    with_room(x.chan, [s, c, uri, start, count](room_actor room, bool) {
      s->request(room, caf::infinite, roster_atom::value, s->state.user, start, count)
        .then(
          [s, c, uri, start](const std::vector<participant_view>& page, std::uint32_t total) {
            std::string data = "<chanib uri=\"";
            append_xml_attr(data, uri);
            data += "\" start=\"" + std::to_string(start) + "\" total=\"" + std::to_string(total) + "\">";
            for (const auto& p : page) {
              if (p.manager)
                xccos::append_empty_element(data, "uib", {{"uri", p.uri}, {"manager", "true"}});
              else
                xccos::append_empty_element(data, "uib", {{"uri", p.uri}});
            }
            data += "</chanib>";
            reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
          },
          [s, c](caf::error& err) { reply_error(s, c, err); });
    });
  }

  void operator()(const xccos::bccontext_cmd& x) const {
    auto c = cmd;
    auto s = self;
    auto uri = x.chan.uri();
    auto n = x.last;
    with_room(x.chan, [s, c, uri, n](room_actor room, bool) {
      s->request(room, caf::infinite, history_atom::value, s->state.user, n)
        .then(
          [s, c, uri](const std::vector<storage::message>& msgs) {
            std::string data = "<chanib uri=\"";
            append_xml_attr(data, uri);
            data += "\">";
            for (const auto& m : msgs)
              xccos::append_history_msg(data, {uri, m.author, m.ticks, m.text, m.seq});
            data += "</chanib>";
            reply(s, c, xccos::code::ok, "SUCCESS_OK", std::move(data));
          },
          [s, c](caf::error& err) { reply_error(s, c, err); });
    });
  }

  void operator()(const xccos::grpchat_cmd& x) const {
    auto& st = self->state;
    if (x.text.size() > st.opts.message_size_limit)
      return reply(self, cmd, xccos::code::too_large, "MESSAGE_TOO_LARGE");
    if (!is_xml_text(x.text))
      return reply(self, cmd, xccos::code::bad_request, "INVALID_CHARACTERS");
    auto j = ascii_lower(x.chan.domain) == ascii_lower(st.opts.domain) ? st.joined.find(ascii_lower(x.chan.guid)) : st.joined.end();
    if (j == st.joined.end())
      return reply(self, cmd, xccos::code::forbidden, "NOT_JOINED");
    auto c = cmd;
    auto s = self;
    // The author is the session's user whatever the client claims; the room stamps the time.
    self->request(j->second.room, caf::infinite, post_atom::value, st.user, x.text)
      .then([](std::uint64_t) {}, [s, c](caf::error& err) { reply_error(s, c, err); });
  }
};

void dispatcher::release(self_ptr self, const std::shared_ptr<command_queue>& q) {
  q->busy = false;
  dispatcher{self, q, xccos::command{}}.pump();
}

void dispatcher::pump() const {
  while (!q->busy && !q->pending.empty()) {
    auto c = std::move(q->pending.front());
    q->pending.pop_front();
    ++self->state.commands;
    if (self->state.opts.live)
      self->state.opts.live->commands.fetch_add(1, std::memory_order_relaxed);
    dispatcher d{self, q, c};
    std::visit(d, c.data);
  }
}

} // namespace

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
  auto q = std::make_shared<command_queue>();
  self->send(st.directory, hello_atom::value, st.user); // for invitation notices
  return {
    [=](info_atom, const std::string& body) {
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
        log::line(log::level::info, "session") << "unparsable body user=" << self->state.user
                                               << " dialog=" << self->state.dialog << " " << err->token << ": "
                                               << err->detail;
        reply(self, c, xccos::code::bad_request, err->token == "MALFORMED_XML" ? "MALFORMED_XML" : "NOT_XCCOS");
        return;
      }
      for (auto& c : xccos::decode_commands(std::get<xccos::envelope>(parsed)))
        q->pending.push_back(std::move(c));
      dispatcher{self, q, xccos::command{}}.pump();
    },
    [=](invite_atom, const invitation_view& inv) {
      // ntc:inv (docs/protocol.md "Invitations"): the same <inv> getinv returns, pushed as it happens.
      xccos::out_item ntc;
      ntc.kind = xccos::item_kind::ntc;
      ntc.id = "ntc:inv";
      ntc.code = 0;
      append_invitation(ntc.data, inv);
      send_body(self, xccos::serialize(xccos::next_envid(), {ntc}));
    },
    [=](part_atom, std::uint64_t room_id) {
      // The room let us go: forget it, and watch it for new content again if the user follows it.
      auto& joined = self->state.joined;
      for (auto j = joined.begin(); j != joined.end(); ++j)
        if (j->second.view.id == room_id) {
          joined.erase(j);
          self->send(self->state.directory, watch_atom::value, room_id, false);
          break;
        }
    },
    [=](notice_atom, const room_view& room, std::uint64_t seq) {
      // ntc:newcontent (docs/protocol.md "New content"): a followed room this session is not in has new posts.
      for (const auto& [guid, j] : self->state.joined)
        if (j.view.id == room.id)
          return;
      xccos::out_item ntc;
      ntc.kind = xccos::item_kind::ntc;
      ntc.id = "ntc:newcontent";
      ntc.code = 0;
      xccos::append_empty_element(ntc.data, "chanib",
                                  {{"uri", room.uri}, {"name", room.name}, {"seq", std::to_string(seq)}});
      send_body(self, xccos::serialize(xccos::next_envid(), {ntc}));
    },
    [=](closed_atom) {
      auto& s = self->state;
      for (auto& [guid, j] : s.joined)
        self->send(j.room, part_atom::value, s.user);
      s.joined.clear();
      q->pending.clear();
      log::line(log::level::debug, "session") << "closed user=" << s.user << " dialog=" << s.dialog
                                              << " commands=" << s.commands << " errors=" << s.errors;
      self->quit();
    },
  };
}

} // namespace pchat
