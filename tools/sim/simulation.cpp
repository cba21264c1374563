#include "tools/sim/simulation.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/directory.hpp"
#include "base/log.hpp"
#include "actors/protocol.hpp"
#include "actors/rules.hpp"
#include "actors/session.hpp"
#include "actors/store_writer.hpp"
#include "actors/views.hpp"
#include "codec/xccos.hpp"
#include "codec/xccos_commands.hpp"
#include "storage/store.hpp"
#include "base/text.hpp"

namespace pchat::sim {

namespace {

constexpr const char* domain = "example.com";
constexpr const char* observer_uri = "sip:sim-observer@example.com";

struct sim_actor_config : caf::actor_system_config {
  sim_actor_config() {
    register_types(*this);
    set("scheduler.policy", caf::atom("testing"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// --- the recording transport ---------------------------------------------------------------------------------

struct delivery {
  std::vector<dialog_id> to;
  std::string body;
};

struct outbox {
  std::vector<delivery> items;
  std::vector<dialog_id> byes;
  std::uint64_t drop_at = 0; // inject_drop_delivery
  std::uint64_t grpchats = 0;
};

void record_fanout(outbox& box, const std::vector<dialog_id>& ds, const std::string& body) {
  delivery x{ds, body};
  if (box.drop_at > 0 && body.find("<grpchat") != std::string::npos) {
    auto before = box.grpchats;
    box.grpchats += ds.size();
    if (before < box.drop_at && box.grpchats >= box.drop_at)
      x.to.erase(x.to.begin() + static_cast<std::ptrdiff_t>(box.drop_at - before - 1));
  }
  box.items.push_back(std::move(x));
}

// The transport: records every document per dialog, as a SIP client would receive it.
caf::behavior recording_transport(caf::event_based_actor*, std::shared_ptr<outbox> box) {
  return {
      [=](send_atom, dialog_id d, const std::string& body) {
        box->items.push_back({{d}, body});
      },
      [=](fanout_atom, const std::vector<dialog_id>& ds, const std::string& body, std::int64_t) {
        record_fanout(*box, ds, body);
      },
      [=](bye_atom, dialog_id d) { box->byes.push_back(d); },
  };
}

// --- the observer: asks the directory and rooms what they think ----------------------------------------------

struct observations {
  directory_actor directory;
  std::vector<std::string> guids; // by room index
  std::vector<room_actor> rooms;  // by room index, after a resolve
  std::vector<room_view> views;   // by room index, after a resolve (user_count = the directory's count)
  bool resolved = false;
  std::vector<std::uint32_t> wanted; // rooms whose stats to fetch
  std::map<std::uint32_t, room_stats> stats;
  std::string error;
};

caf::behavior observer(caf::event_based_actor* self, std::shared_ptr<observations> ob) {
  return {
      [=](resolve_atom) {
        ob->resolved = false;
        self->request(ob->directory, caf::infinite, resolve_atom::value, std::string{observer_uri}, ob->guids)
            .then(
                [=](std::vector<resolved_room>& found) {
                  if (found.size() != ob->guids.size()) {
                    ob->error = "directory resolved " + std::to_string(found.size()) + " of " +
                                std::to_string(ob->guids.size()) + " rooms";
                    return;
                  }
                  ob->rooms.assign(found.size(), room_actor{});
                  ob->views.assign(found.size(), room_view{});
                  for (size_t i = 0; i < found.size(); ++i) {
                    if (!found[i].found) {
                      ob->error = "directory does not know room index " + std::to_string(i);
                      return;
                    }
                    ob->rooms[i] = std::move(found[i].room);
                    ob->views[i] = std::move(found[i].view);
                  }
                  ob->resolved = true;
                },
                [=](caf::error& err) { ob->error = "resolve failed: " + self->system().render(err); });
      },
      [=](stats_atom) {
        ob->stats.clear();
        for (auto i : ob->wanted)
          self->request(ob->rooms[i], caf::infinite, stats_atom::value)
              .then([=](const room_stats& s) { ob->stats[i] = s; },
                    [=](caf::error& err) { ob->error = "stats failed: " + self->system().render(err); });
      },
  };
}

// --- documents a client sends (codec/xccos_commands.hpp builds them) -----------------------------------------

std::string command_doc(std::uint64_t envid, std::string_view name, const std::string& data) {
  return xccos::command_document(std::to_string(envid), name, data);
}

// The ts of every post, 2024-05-01T10:00:00Z in 100-ns ticks; the server stamps its own (docs/xccos.md §4 grpchat).
constexpr std::int64_t post_ts_ticks = 1'714'557'600LL * 10'000'000LL;

// --- the model ------------------------------------------------------------------------------------------------

enum class room_kind { open, closed, auditorium };

struct post_record {
  std::uint64_t seq;
  std::uint32_t author;
  std::string text;
};

struct room_model {
  storage::room stored;
  std::string uri;
  room_kind kind = room_kind::open;
  std::vector<post_record> posts; // accepted, in seq order
  std::uint64_t last_seq = 0;
  std::map<std::uint32_t, std::uint32_t> users; // user index -> number of its dialogs joined
  std::set<dialog_id> dialogs;                  // joined dialogs
};

struct dialog_model {
  std::uint32_t user = 0;
  session_actor session;
  std::vector<std::uint32_t> joined;                           // sorted room indices (rpl:join came back 200)
  std::set<std::uint32_t> parted;                              // rooms parted at least once (for failure texts)
  std::unordered_map<std::uint32_t, std::uint64_t> last_msgid; // per room, the last grpchat msgid received
};

// Privileged users of closed rooms (member role) and auditoriums (presenter role): a small, fixed set (each role
// is one synced store write at set-up).
constexpr std::uint32_t privileged_below = 25;
bool privileged(std::uint32_t user, std::uint32_t room) {
  return user < privileged_below && user % 5 == room % 5;
}

room_kind kind_of(std::uint32_t room) {
  switch (room % 6) {
  case 4:
    return room_kind::closed;
  case 5:
    return room_kind::auditorium;
  default:
    return room_kind::open;
  }
}

bool may_join(room_kind k, std::uint32_t user, std::uint32_t room) {
  return k != room_kind::closed || privileged(user, room);
}

bool may_post(room_kind k, std::uint32_t user, std::uint32_t room) {
  return k == room_kind::open || privileged(user, room);
}

bool contains(const std::vector<std::uint32_t>& v, std::uint32_t x) {
  return std::binary_search(v.begin(), v.end(), x);
}

// What one step expects the transport to have been asked to send.
struct step_expectation {
  std::map<std::string, int> docs; // "<dialog> <descriptor>" -> count
  // The reply to the acting dialog, checked beyond its descriptor.
  bool check_participants = false;
  std::set<std::string> participants;
  std::uint32_t room = 0;
  bool check_history = false;
  std::vector<post_record> history;
  std::vector<std::uint32_t> touched; // rooms whose stats to compare afterwards
};

using node_ptr = const xccos::node*;

class simulation {
public:
  simulation(const sim_config& cfg, std::string dir) : cfg_(cfg), dir_(std::move(dir)), rng_(cfg.seed) {
    box_->drop_at = cfg.inject_drop_delivery;
  }

  ~simulation() { shutdown(); }

  sim_result run() {
    auto t0 = std::chrono::steady_clock::now();
    if (setup()) {
      for (step_ = 1; step_ <= cfg_.steps; ++step_) {
        do_step();
        res_.steps_run = step_;
        if (!failure_.empty())
          break;
        if (step_ % std::max<std::uint32_t>(cfg_.check_every, 1) == 0) {
          full_check(false);
          if (!failure_.empty())
            break;
        }
      }
      if (failure_.empty()) {
        step_ = res_.steps_run; // a failure here replays with the same --steps
        action_ = "final check";
        full_check(true);
      }
    }
    res_.ok = failure_.empty();
    res_.failure = failure_;
    res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res_;
  }

private:
  // --- set-up and restart ---------------------------------------------------------------------------------

  bool open_store() {
    std::unique_ptr<storage::store> s;
    auto st = storage::store::open(dir_, {}, s);
    if (!st.ok()) {
      fail_setup("cannot open the store in " + dir_ + ": " + st.message);
      return false;
    }
    db_ = std::move(s);
    return true;
  }

  bool setup() {
    action_ = "set-up";
    if (!open_store())
      return false;
    storage::category general;
    general.name = "General";
    if (auto st = db_->create_category(general); !st.ok()) {
      fail_setup("create_category: " + st.message);
      return false;
    }
    opts_.domain = domain;
    opts_.service_uri = std::string{"sip:pchat@"} + domain;
    opts_.root_uri = std::string{"ma-cat://"} + domain + "/" + db_->root_guid();
    opts_.db_version = db_->db_version();
    opts_.participant_update_limit = cfg_.participant_update_limit;
    user_uris_.reserve(cfg_.users);
    for (std::uint32_t u = 0; u < cfg_.users; ++u)
      user_uris_.push_back("sip:u" + std::to_string(u) + "@" + domain);
    rooms_.resize(cfg_.rooms);
    for (std::uint32_t r = 0; r < cfg_.rooms; ++r) {
      auto& m = rooms_[r];
      m.kind = kind_of(r);
      m.stored.name = "Room " + std::to_string(r);
      m.stored.description = "simulated room " + std::to_string(r);
      m.stored.category_id = general.id;
      m.stored.privacy_mode = m.kind == room_kind::closed ? storage::privacy::closed : storage::privacy::open;
      m.stored.type = m.kind == room_kind::auditorium ? storage::room_type::auditorium : storage::room_type::normal;
      if (auto st = db_->create_room(m.stored); !st.ok()) {
        fail_setup("create_room: " + st.message);
        return false;
      }
      m.uri = room_uri(domain, m.stored);
      by_uri_.emplace(m.uri, r);
      by_guid_.emplace(ascii_lower(m.stored.guid), r);
      ob_->guids.push_back(m.stored.guid);
      if (m.kind != room_kind::open) {
        auto bits = m.kind == room_kind::closed ? storage::role::member : storage::role::presenter;
        for (std::uint32_t u = r % 5; u < std::min(cfg_.users, privileged_below); u += 5)
          if (auto st = db_->set_roles(m.stored.id, user_uris_[u], bits); !st.ok()) {
            fail_setup("set_roles: " + st.message);
            return false;
          }
      }
    }
    transport_ = caf::actor_cast<transport_actor>(sys_.spawn(recording_transport, box_));
    observer_ = sys_.spawn(observer, ob_);
    return start_actors();
  }

  bool start_actors() {
    writer_ = spawn_store_writer(sys_, db_, false, cfg_.sync_writes);
    directory_ = sys_.spawn(directory, db_, writer_, opts_);
    ob_->directory = directory_;
    // Resolving every room spawns them all, so a restart can exit each one and release the store.
    caf::anon_send(observer_, resolve_atom::value);
    sched_.run();
    if (!ob_->resolved) {
      fail_setup("resolving the rooms failed: " + ob_->error);
      return false;
    }
    return true;
  }

  void stop_actors() {
    for (auto& [d, m] : dialogs_)
      caf::anon_send_exit(m.session, caf::exit_reason::user_shutdown);
    for (auto& r : ob_->rooms)
      caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
    if (directory_)
      caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
    if (writer_)
      caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
    sched_.run();
    dialogs_.clear();
    connected_.clear();
    connected_pos_.clear();
    ob_->rooms.clear();
    ob_->views.clear();
    ob_->directory = nullptr;
    ob_->resolved = false;
    directory_ = nullptr;
    writer_ = nullptr;
  }

  void shutdown() {
    stop_actors();
    caf::anon_send_exit(observer_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(transport_, caf::exit_reason::user_shutdown);
    sched_.run();
    observer_ = nullptr;
    transport_ = nullptr;
    db_.reset();
  }

  // --- one step -------------------------------------------------------------------------------------------

  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }

  void do_step() {
    exp_ = step_expectation{};
    const double w[] = {cfg_.p_signin,  cfg_.p_join,       cfg_.p_part,   cfg_.p_post,
                        cfg_.p_history, cfg_.p_disconnect, cfg_.p_restart};
    double total = 0;
    for (double x : w)
      total += std::max(x, 0.0);
    double x = uniform() * total;
    int action = 0;
    for (; action < 6; ++action) {
      x -= std::max(w[action], 0.0);
      if (x < 0)
        break;
    }
    if (action >= 1 && action <= 5 && connected_.empty())
      action = 0;
    switch (action) {
    case 0:
      signin();
      break;
    case 1:
      join();
      break;
    case 2:
      part();
      break;
    case 3:
      post();
      break;
    case 4:
      history();
      break;
    case 5:
      disconnect();
      break;
    default:
      restart();
      break;
    }
    if (!failure_.empty())
      return;
    if (cfg_.verbose)
      std::cerr << "step " << step_ << ": " << action_ << '\n';
    sched_.run();
    check_documents();
    if (failure_.empty() && !exp_.touched.empty())
      check_stats(exp_.touched, false);
  }

  dialog_id pick_dialog() { return connected_[below(connected_.size())]; }

  std::string who(dialog_id d) const {
    auto i = dialogs_.find(d);
    return "dialog " + std::to_string(d) + (i != dialogs_.end() ? " (" + user_uris_[i->second.user] + ")" : "");
  }

  std::string room_name(std::uint32_t r) const { return "room " + std::to_string(r); }

  void expect(dialog_id d, const std::string& descriptor) { ++exp_.docs[std::to_string(d) + " " + descriptor]; }

  static std::string grpchat_descriptor(std::uint32_t room, std::uint64_t seq, const std::string& author,
                                        const std::string& text) {
    return "grpchat room=" + std::to_string(room) + " msgid=" + std::to_string(seq) + " author=" + author +
           " text=" + text;
  }

  void signin() {
    auto u = static_cast<std::uint32_t>(below(cfg_.users));
    auto& n = dialogs_of_[u];
    if (n >= cfg_.max_dialogs_per_user) {
      action_ = "sign-in of " + user_uris_[u] + " skipped (already " + std::to_string(n) + " dialogs)";
      return;
    }
    ++n;
    auto d = next_dialog_++;
    dialog_model m;
    m.user = u;
    m.session = sys_.spawn(session, d, user_uris_[u], transport_, directory_, opts_, std::shared_ptr<load_gauge>{});
    dialogs_.emplace(d, std::move(m));
    connected_pos_[d] = connected_.size();
    connected_.push_back(d);
    ++res_.signins;
    action_ = "sign-in " + who(d);
  }

  void send_info(dialog_id d, std::string body) {
    caf::anon_send(dialogs_.at(d).session, info_atom::value, std::move(body));
  }

  void join() {
    auto d = pick_dialog();
    auto r = static_cast<std::uint32_t>(below(cfg_.rooms));
    auto& dm = dialogs_.at(d);
    auto& rm = rooms_[r];
    auto u = dm.user;
    // Sometimes the client posts right behind the join without waiting for rpl:join; the session must keep the
    // order (session.hpp "Ordering"), so the post is accepted exactly when the join is.
    bool pipelined = uniform() < 0.2;
    action_ = "join " + who(d) + " -> " + room_name(r);
    send_info(d, command_doc(next_envid_++, "join", xccos::chanid(0, domain, rm.stored.guid)));
    if (!may_join(rm.kind, u, r)) {
      expect(d, "rpl:join code=403");
      ++res_.joins_refused;
      if (pipelined)
        post_to(d, r, true);
      return;
    }
    expect(d, "rpl:join code=200");
    ++res_.joins;
    exp_.touched.push_back(r);
    if (!contains(dm.joined, r)) {
      if (rm.users[u]++ == 0) {
        auto n = rm.users.size();
        if (n >= 2 && n <= opts_.participant_update_limit)
          for (auto other : rm.dialogs)
            expect(other, "ntc:join room=" + std::to_string(r) + " user=" + user_uris_[u]);
      }
      rm.dialogs.insert(d);
      dm.joined.insert(std::upper_bound(dm.joined.begin(), dm.joined.end(), r), r);
    }
    exp_.check_participants = true;
    exp_.room = r;
    if (rm.users.size() > opts_.participant_update_limit)
      exp_.participants.insert(user_uris_[u]);
    else
      for (auto& [user, count] : rm.users)
        exp_.participants.insert(user_uris_[user]);
    if (pipelined)
      post_to(d, r, true);
  }

  // The model side of a dialog leaving a room (part or disconnect).
  void leave(dialog_id d, std::uint32_t r) {
    auto& dm = dialogs_.at(d);
    auto& rm = rooms_[r];
    auto u = dm.user;
    dm.joined.erase(std::lower_bound(dm.joined.begin(), dm.joined.end(), r));
    dm.parted.insert(r);
    rm.dialogs.erase(d);
    exp_.touched.push_back(r);
    auto i = rm.users.find(u);
    if (--i->second == 0) {
      rm.users.erase(i);
      auto n = rm.users.size();
      if (n >= 1 && n + 1 <= opts_.participant_update_limit)
        for (auto other : rm.dialogs)
          expect(other, "ntc:part room=" + std::to_string(r) + " user=" + user_uris_[u]);
    }
  }

  // Mostly one of the rooms `dm` has joined, sometimes any room (to exercise refusals).
  template <class Dialog>
  std::uint32_t pick_room(const Dialog& dm) {
    if (!dm.joined.empty() && uniform() < 0.9)
      return dm.joined[below(dm.joined.size())];
    return static_cast<std::uint32_t>(below(cfg_.rooms));
  }

  void part() {
    auto d = pick_dialog();
    auto& dm = dialogs_.at(d);
    std::uint32_t r = pick_room(dm);
    action_ = "part " + who(d) + " -> " + room_name(r);
    send_info(d, command_doc(next_envid_++, "part", xccos::chanib_uri(rooms_[r].uri)));
    expect(d, "rpl:part code=200");
    if (contains(dm.joined, r))
      leave(d, r);
    ++res_.parts;
  }

  void post() {
    auto d = pick_dialog();
    post_to(d, pick_room(dialogs_.at(d)), false);
  }

  // Sends grpchat "p<step>" from `d` to room `r` and predicts its outcome from the model (call after the model
  // reflects every command sent before it in this step).
  void post_to(dialog_id d, std::uint32_t r, bool pipelined) {
    auto& dm = dialogs_.at(d);
    auto& rm = rooms_[r];
    auto text = "p" + std::to_string(step_);
    if (pipelined)
      action_ += " + post \"" + text + "\" without waiting";
    else
      action_ = "post " + who(d) + " -> " + room_name(r) + " \"" + text + "\"";
    send_info(d, xccos::grpchat_document(std::to_string(next_envid_++), rm.uri, user_uris_[dm.user], post_ts_ticks,
                                         text));
    if (!contains(dm.joined, r) || !may_post(rm.kind, dm.user, r)) {
      expect(d, "rpl:grpchat code=403");
      ++res_.posts_refused;
      return;
    }
    ++res_.posts_accepted;
    auto seq = ++rm.last_seq;
    rm.posts.push_back({seq, dm.user, text});
    for (auto other : rm.dialogs)
      expect(other, grpchat_descriptor(r, seq, user_uris_[dm.user], text));
    exp_.touched.push_back(r);
  }

  void history() {
    auto d = pick_dialog();
    auto& dm = dialogs_.at(d);
    std::uint32_t r;
    if (!dm.joined.empty() && uniform() < 0.5)
      r = dm.joined[below(dm.joined.size())];
    else
      r = static_cast<std::uint32_t>(below(cfg_.rooms));
    auto n = static_cast<std::uint32_t>(1 + below(40));
    auto& rm = rooms_[r];
    action_ = "bccontext " + who(d) + " -> " + room_name(r) + " last " + std::to_string(n);
    send_info(d, command_doc(next_envid_++, "bccontext", xccos::bccontext_last(rm.uri, n)));
    ++res_.histories;
    if (!may_join(rm.kind, dm.user, r)) {
      expect(d, "rpl:bccontext code=403");
      return;
    }
    expect(d, "rpl:bccontext code=200");
    exp_.check_history = true;
    exp_.room = r;
    auto k = std::min<std::size_t>({n, opts_.history_limit, rm.posts.size()});
    exp_.history.assign(rm.posts.end() - static_cast<std::ptrdiff_t>(k), rm.posts.end());
  }

  void disconnect() {
    auto d = pick_dialog();
    action_ = "disconnect " + who(d);
    auto& dm = dialogs_.at(d);
    caf::anon_send(dm.session, closed_atom::value);
    auto joined = dm.joined;
    for (auto r : joined)
      leave(d, r);
    --dialogs_of_[dm.user];
    dialogs_.erase(d);
    auto pos = connected_pos_.at(d);
    connected_pos_[connected_.back()] = pos;
    connected_[pos] = connected_.back();
    connected_.pop_back();
    connected_pos_.erase(d);
    ++res_.disconnects;
  }

  void restart() {
    action_ = "server restart (" + std::to_string(connected_.size()) + " dialogs dropped)";
    ++res_.restarts;
    stop_actors();
    check_documents(); // nothing may be sent while shutting down
    if (!failure_.empty())
      return;
    dialogs_of_.clear();
    for (auto& rm : rooms_) {
      rm.users.clear();
      rm.dialogs.clear();
    }
    db_.reset();
    if (!open_store() || !start_actors())
      return;
    check_all_history();
    if (failure_.empty())
      full_check(false);
  }

  // --- checks ---------------------------------------------------------------------------------------------

  void fail_setup(const std::string& what) {
    if (failure_.empty())
      failure_ = "setup: " + what + " (step " + std::to_string(step_) + ", seed=" + std::to_string(cfg_.seed) + ")";
  }

  void fail(char invariant, const std::string& what) {
    if (!failure_.empty())
      return;
    auto replay = cfg_;
    replay.steps = step_;
    std::ostringstream os;
    os << "step " << step_ << ", seed=" << cfg_.seed << ": invariant (" << invariant << ") violated: " << what
       << "; preceding action: " << action_ << "; replay: " << replay_command(replay);
    failure_ = os.str();
  }

  std::string uri_room(const std::string& uri, std::uint32_t& r) const {
    auto i = by_uri_.find(uri);
    if (i == by_uri_.end())
      return "?";
    r = i->second;
    return std::to_string(r);
  }

  // Decodes what the transport was asked to send during this step and matches it against exp_.
  void check_documents() {
    auto items = std::move(box_->items);
    box_->items.clear();
    if (!box_->byes.empty()) {
      fail('e', "the server ended " + who(box_->byes.front()) + " (bye)");
      box_->byes.clear();
      return;
    }
    for (auto& dl : items) {
      auto parsed = xccos::parse(dl.body);
      if (auto* err = std::get_if<xccos::parse_error>(&parsed)) {
        fail('e', "unparsable document " + std::string{to_string(err->code)} + ": " + dl.body.substr(0, 200));
        return;
      }
      for (auto& it : std::get<xccos::envelope>(parsed).items) {
        for (auto d : dl.to) {
          observe(d, it);
          if (!failure_.empty())
            return;
        }
      }
    }
    for (auto& [key, count] : exp_.docs) {
      if (count <= 0)
        continue;
      auto sp = key.find(' ');
      auto d = std::stoull(key.substr(0, sp));
      auto what = key.substr(sp + 1);
      char inv = what.rfind("grpchat", 0) == 0 ? 'a' : what.rfind("ntc:", 0) == 0 ? 'd' : 'e';
      fail(inv, who(d) + " did not receive " + what);
      return;
    }
  }

  void observe(dialog_id d, const xccos::item& it) {
    std::string desc;
    std::uint32_t room = 0;
    std::uint64_t msgid = 0;
    if (it.kind == xccos::item_kind::grpchat) {
      const auto* chat = it.element.child("chat");
      auto rs = uri_room(it.element.attr_or("chanUri"), room);
      msgid = std::strtoull(it.element.attr_or("msgid", "0").c_str(), nullptr, 10);
      desc = grpchat_descriptor(room, msgid, it.element.attr_or("author"), chat ? chat->text : "");
      if (rs == "?")
        desc = "grpchat for an unknown room " + it.element.attr_or("chanUri");
      ++res_.deliveries;
    } else if (it.kind == xccos::item_kind::ntc && it.id == "ntc:join") {
      const node_ptr uib = it.data() ? it.data()->child("uib") : nullptr;
      const node_ptr aib = uib ? uib->child("aib") : nullptr;
      auto g = by_guid_.find(ascii_lower(aib ? aib->attr_or("value") : ""));
      desc = "ntc:join room=" + (g != by_guid_.end() ? std::to_string(g->second) : "?") +
             " user=" + (uib ? uib->attr_or("uri") : "");
      ++res_.notices;
    } else if (it.kind == xccos::item_kind::ntc && it.id == "ntc:part") {
      const node_ptr chanib = it.data() ? it.data()->child("chanib") : nullptr;
      const node_ptr uib = chanib ? chanib->child("uib") : nullptr;
      desc = "ntc:part room=" + (chanib ? uri_room(chanib->attr_or("uri"), room) : "?") +
             " user=" + (uib ? uib->attr_or("uri") : "");
      ++res_.notices;
    } else if (it.kind == xccos::item_kind::ntc && it.id == "ntc:newcontent") {
      // New content in a followed room (joining follows a room): fine while this dialog is not in it, a
      // violation when it is (it gets the posts themselves then).
      const node_ptr chanib = it.data() ? it.data()->child("chanib") : nullptr;
      auto rs = chanib ? uri_room(chanib->attr_or("uri"), room) : std::string{"?"};
      ++res_.notices;
      if (rs != "?" && !contains(dialogs_.at(d).joined, room))
        return;
      desc = "ntc:newcontent for a room the dialog is in, room=" + rs;
    } else if (it.kind == xccos::item_kind::rpl) {
      desc = it.id + " code=" + std::to_string(it.code);
    } else {
      desc = "unexpected item " + it.id;
    }
    auto key = std::to_string(d) + " " + desc;
    auto e = exp_.docs.find(key);
    if (e == exp_.docs.end() || e->second <= 0) {
      unexpected(d, it, desc, room, msgid);
      return;
    }
    --e->second;
    if (it.kind == xccos::item_kind::grpchat) {
      auto& last = dialogs_.at(d).last_msgid[room];
      if (msgid <= last) {
        fail('a', who(d) + " received " + room_name(room) + " msgid " + std::to_string(msgid) + " after msgid " +
                      std::to_string(last));
        return;
      }
      last = msgid;
    }
    if (it.kind == xccos::item_kind::rpl && it.code == 200) {
      if (it.id == "rpl:join" && exp_.check_participants)
        check_join_reply(d, it);
      else if (it.id == "rpl:bccontext" && exp_.check_history)
        check_history_reply(d, it);
    }
  }

  void unexpected(dialog_id d, const xccos::item& it, const std::string& desc, std::uint32_t room,
                  std::uint64_t msgid) {
    if (it.kind != xccos::item_kind::grpchat) {
      fail(it.kind == xccos::item_kind::ntc ? 'd' : 'e', who(d) + " received unexpected " + desc);
      return;
    }
    auto dm = dialogs_.find(d);
    if (dm == dialogs_.end()) {
      fail('b', "dialog " + std::to_string(d) + " received " + desc + " after it disconnected (or a restart)");
      return;
    }
    if (!contains(dm->second.joined, room)) {
      fail('b', who(d) + " received " + desc +
                    (dm->second.parted.count(room) ? " after parting " : " without joining ") + room_name(room));
      return;
    }
    auto last = dm->second.last_msgid[room];
    if (msgid <= last)
      fail('a', who(d) + " received " + desc + " again or out of order (last msgid " + std::to_string(last) + ")");
    else
      fail('a', who(d) + " received " + desc + ", which does not match the accepted post");
  }

  void check_join_reply(dialog_id d, const xccos::item& it) {
    std::set<std::string> got;
    const auto* data = it.data();
    std::string chan_uri;
    if (data) {
      for (const auto* u : data->children_named("uib"))
        got.insert(u->attr_or("uri"));
      if (const auto* c = data->child("chanib"))
        chan_uri = c->attr_or("uri");
    }
    if (chan_uri != rooms_[exp_.room].uri) {
      fail('e', who(d) + " rpl:join names room " + chan_uri + ", expected " + rooms_[exp_.room].uri);
      return;
    }
    if (got != exp_.participants) {
      auto show = [](const std::set<std::string>& s) {
        std::string out;
        for (const auto& x : s)
          out += (out.empty() ? "" : ",") + x;
        return "{" + out + "}";
      };
      fail('d', who(d) + " rpl:join of " + room_name(exp_.room) + " lists " + show(got) + ", expected " +
                    show(exp_.participants));
    }
  }

  void check_history_reply(dialog_id d, const xccos::item& it) {
    std::vector<const xccos::node*> msgs;
    if (const auto* data = it.data())
      if (const auto* c = data->child("chanib"))
        msgs = c->children_named("msg");
    if (msgs.size() != exp_.history.size()) {
      fail('c', who(d) + " bccontext of " + room_name(exp_.room) + " returned " + std::to_string(msgs.size()) +
                    " messages, expected " + std::to_string(exp_.history.size()));
      return;
    }
    for (size_t i = 0; i < msgs.size(); ++i) {
      const auto& want = exp_.history[i];
      const auto* chat = msgs[i]->child("chat");
      if (msgs[i]->attr_or("msgid") != std::to_string(want.seq) ||
          msgs[i]->attr_or("author") != user_uris_[want.author] || !chat || chat->text != want.text) {
        fail('c', who(d) + " bccontext of " + room_name(exp_.room) + " item " + std::to_string(i) + " is msgid " +
                      msgs[i]->attr_or("msgid") + " " + (chat ? chat->text : "") + ", expected msgid " +
                      std::to_string(want.seq) + " " + want.text);
        return;
      }
    }
  }

  // Room stats (online count, last seq) of `rooms` against the model; with the directory's counts when
  // `with_directory` (needs a fresh resolve).
  void check_stats(std::vector<std::uint32_t> rooms, bool with_directory) {
    std::sort(rooms.begin(), rooms.end());
    rooms.erase(std::unique(rooms.begin(), rooms.end()), rooms.end());
    ob_->wanted = rooms;
    caf::anon_send(observer_, stats_atom::value);
    if (with_directory)
      caf::anon_send(observer_, resolve_atom::value);
    sched_.run();
    if (!ob_->error.empty()) {
      fail('d', "observer: " + ob_->error);
      return;
    }
    for (auto r : rooms) {
      auto s = ob_->stats.find(r);
      auto& rm = rooms_[r];
      if (s == ob_->stats.end()) {
        fail('d', room_name(r) + " did not answer stats");
        return;
      }
      if (s->second.online != rm.users.size()) {
        fail('d', room_name(r) + " says " + std::to_string(s->second.online) + " users online, the model " +
                      std::to_string(rm.users.size()));
        return;
      }
      if (s->second.last_seq != rm.last_seq) {
        fail('c', room_name(r) + " says last seq " + std::to_string(s->second.last_seq) + ", the model " +
                      std::to_string(rm.last_seq));
        return;
      }
      if (with_directory && ob_->views[r].user_count != rm.users.size()) {
        fail('d', "the directory says " + room_name(r) + " has " + std::to_string(ob_->views[r].user_count) +
                      " users online, the model " + std::to_string(rm.users.size()));
        return;
      }
    }
    // The newest stored record of every room that took a post.
    for (auto r : rooms) {
      auto& rm = rooms_[r];
      auto stored_last = db_->last_seq(rm.stored.id);
      if (stored_last != rm.last_seq) {
        fail('c', room_name(r) + " stored last seq " + std::to_string(stored_last) + ", the model " +
                      std::to_string(rm.last_seq));
        return;
      }
      if (rm.posts.empty())
        continue;
      auto newest = db_->last(rm.stored.id, 1);
      const auto& want = rm.posts.back();
      if (newest.size() != 1 || newest[0].seq != want.seq || newest[0].author != user_uris_[want.author] ||
          newest[0].text != want.text) {
        fail('c', room_name(r) + " newest stored record is not seq " + std::to_string(want.seq) + " " + want.text);
        return;
      }
    }
  }

  void full_check(bool with_history) {
    ++res_.full_checks;
    std::vector<std::uint32_t> all(cfg_.rooms);
    for (std::uint32_t r = 0; r < cfg_.rooms; ++r)
      all[r] = r;
    check_stats(std::move(all), true);
    if (failure_.empty() && with_history)
      check_all_history();
  }

  void check_all_history() {
    for (std::uint32_t r = 0; r < cfg_.rooms; ++r) {
      auto& rm = rooms_[r];
      auto stored = db_->after(rm.stored.id, 0, rm.posts.size() + 1);
      if (stored.size() != rm.posts.size()) {
        fail('c', room_name(r) + " has " + std::to_string(stored.size()) + " stored posts, the model " +
                      std::to_string(rm.posts.size()));
        return;
      }
      for (size_t i = 0; i < stored.size(); ++i) {
        const auto& want = rm.posts[i];
        if (stored[i].seq != want.seq || stored[i].author != user_uris_[want.author] || stored[i].text != want.text) {
          fail('c', room_name(r) + " stored post " + std::to_string(i) + " is seq " + std::to_string(stored[i].seq) +
                        " " + stored[i].text + ", the model seq " + std::to_string(want.seq) + " " + want.text);
          return;
        }
      }
    }
  }

  // --- state ----------------------------------------------------------------------------------------------

  sim_config cfg_;
  std::string dir_;
  std::mt19937_64 rng_;
  sim_result res_;
  std::string failure_;
  std::string action_;
  std::uint64_t step_ = 0;

  sim_actor_config actor_cfg_;
  caf::actor_system sys_{actor_cfg_};
  caf::scheduler::test_coordinator& sched_ = dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler());
  std::shared_ptr<storage::store> db_;
  server_options opts_;
  std::shared_ptr<outbox> box_ = std::make_shared<outbox>();
  std::shared_ptr<observations> ob_ = std::make_shared<observations>();
  transport_actor transport_;
  caf::actor observer_;
  writer_actor writer_;
  directory_actor directory_;

  std::vector<std::string> user_uris_;
  std::vector<room_model> rooms_;
  std::unordered_map<std::string, std::uint32_t> by_uri_;
  std::unordered_map<std::string, std::uint32_t> by_guid_;
  std::unordered_map<dialog_id, dialog_model> dialogs_;         // connected
  std::unordered_map<std::uint32_t, std::uint32_t> dialogs_of_; // user -> connected dialogs
  std::vector<dialog_id> connected_;                            // for uniform picks
  std::unordered_map<dialog_id, std::size_t> connected_pos_;
  dialog_id next_dialog_ = 1000;
  std::uint64_t next_envid_ = 1; // of the documents clients send
  step_expectation exp_;
};

bool make_data_dir(const sim_config& cfg, std::string& dir, bool& temporary, std::string& err) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (cfg.data_dir.empty()) {
    auto tmpl = (fs::temp_directory_path(ec) / "pchat-sim-XXXXXX").string();
    if (ec || ::mkdtemp(tmpl.data()) == nullptr) {
      err = "cannot create a temporary directory";
      return false;
    }
    dir = tmpl;
    temporary = true;
    return true;
  }
  dir = cfg.data_dir;
  temporary = false;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    err = "data directory " + dir + " is not empty";
    return false;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    err = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  return true;
}

} // namespace

std::uint32_t server_participant_update_limit() {
  return server_options{}.participant_update_limit;
}

sim_result run_simulation(const sim_config& cfg) {
  sim_result res;
  if (cfg.users == 0 || cfg.rooms == 0) {
    res.failure = "setup: users and rooms must be at least 1 (seed=" + std::to_string(cfg.seed) + ")";
    return res;
  }
  std::string dir, err;
  bool temporary = false;
  if (!make_data_dir(cfg, dir, temporary, err)) {
    res.failure = "setup: " + err + " (seed=" + std::to_string(cfg.seed) + ")";
    return res;
  }
  // Refusals are part of the schedule; the server's info lines about them would drown the output.
  auto saved_level = log::current_level();
  log::set_level(log::level::error);
  {
    simulation sim(cfg, dir);
    res = sim.run();
  }
  log::set_level(saved_level);
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return res;
}

std::string replay_command(const sim_config& cfg) {
  sim_config def;
  std::ostringstream os;
  os << "pchat-sim --users " << cfg.users << " --rooms " << cfg.rooms << " --steps " << cfg.steps << " --seed "
     << cfg.seed;
  auto flag = [&](const char* name, double v, double d) {
    if (v == d)
      return;
    char buf[64];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr; // shortest text that reads back as v
    os << " --" << name << ' ' << std::string_view(buf, static_cast<std::size_t>(end - buf));
  };
  flag("p-signin", cfg.p_signin, def.p_signin);
  flag("p-join", cfg.p_join, def.p_join);
  flag("p-part", cfg.p_part, def.p_part);
  flag("p-post", cfg.p_post, def.p_post);
  flag("p-history", cfg.p_history, def.p_history);
  flag("p-disconnect", cfg.p_disconnect, def.p_disconnect);
  flag("restart-rate", cfg.p_restart, def.p_restart);
  if (cfg.max_dialogs_per_user != def.max_dialogs_per_user)
    os << " --max-dialogs " << cfg.max_dialogs_per_user;
  os << " --check-every " << cfg.check_every;
  if (cfg.participant_update_limit != def.participant_update_limit)
    os << " --participant-limit " << cfg.participant_update_limit;
  if (cfg.sync_writes)
    os << " --sync";
  if (cfg.inject_drop_delivery > 0)
    os << " --inject-drop " << cfg.inject_drop_delivery;
  return os.str();
}

std::string counters_line(const sim_result& r) {
  std::ostringstream os;
  os << "signins=" << r.signins << " joins=" << r.joins << " joins_refused=" << r.joins_refused << " parts=" << r.parts
     << " posts_accepted=" << r.posts_accepted << " posts_refused=" << r.posts_refused << " histories=" << r.histories
     << " deliveries=" << r.deliveries << " notices=" << r.notices << " disconnects=" << r.disconnects
     << " restarts=" << r.restarts << " full_checks=" << r.full_checks << " steps=" << r.steps_run;
  return os.str();
}

} // namespace pchat::sim
