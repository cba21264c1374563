#include "tools/bench/join_search.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "actors/session.hpp"
#include "actors/store_writer.hpp"
#include "base/log.hpp"
#include "codec/xccos_commands.hpp"
#include "tools/bench/bench_store.hpp"

namespace pchat::bench {

namespace {

// What the transport and the searcher saw; shared with the driving thread under a mutex.
struct observations {
  std::mutex mtx;
  std::condition_variable cv;
  std::map<dialog_id, std::int64_t> sent_ns;   // probe -> when its cmd:join was handed to the session
  std::map<dialog_id, std::int64_t> joined_ns; // probe -> when its rpl:join 200 reached the transport
  std::vector<std::pair<std::int64_t, std::int64_t>> searches; // [request, reply] of each histsrch
  std::int64_t search_started_ns = 0;                          // of the one in flight, 0 if none
  bool stop = false;
  std::string error;
};

caf::behavior timing_transport(caf::event_based_actor*, std::shared_ptr<observations> obs) {
  return {
    [=](send_atom, dialog_id d, const std::string& body) {
      if (body.find("id=\"rpl:join\"") == std::string::npos)
        return;
      auto t = now_ns();
      std::lock_guard<std::mutex> guard{obs->mtx};
      if (body.find("code=\"200\"") == std::string::npos) {
        obs->error = "a join was refused: " + body;
      } else {
        obs->joined_ns.emplace(d, t);
      }
      obs->cv.notify_all();
    },
    [=](fanout_atom, const std::vector<dialog_id>&, const std::string&, std::int64_t) {},
    [=](bye_atom, dialog_id) {},
  };
}

// Keeps one histsrch in flight until told to stop.
caf::behavior searcher(caf::event_based_actor* self, directory_actor dir, std::shared_ptr<observations> obs) {
  auto ask = std::make_shared<std::function<void()>>();
  *ask = [self, dir, obs, ask] {
    {
      std::lock_guard<std::mutex> guard{obs->mtx};
      if (obs->stop) {
        obs->cv.notify_all();
        self->quit();
        return;
      }
      obs->search_started_ns = now_ns();
    }
    self
      ->request(dir, caf::infinite, histsrch_atom::value, std::string{"sip:searcher@example.com"},
                std::string{"alpha beta"}, std::string{}, std::int64_t{0}, std::numeric_limits<std::int64_t>::max(),
                std::uint32_t{0}, std::vector<std::string>{})
      .then(
        [obs, ask](const std::vector<search_hit>& hits) {
          {
            std::lock_guard<std::mutex> guard{obs->mtx};
            obs->searches.emplace_back(obs->search_started_ns, now_ns());
            obs->search_started_ns = 0;
            if (!hits.empty())
              obs->error = "histsrch \"alpha beta\" found posts; the fill is wrong";
          }
          (*ask)();
        },
        [self, obs](caf::error& err) {
          std::lock_guard<std::mutex> guard{obs->mtx};
          obs->error = "histsrch failed: " + self->system().render(err);
          obs->search_started_ns = 0;
          obs->stop = true;
          obs->cv.notify_all();
          self->quit();
        });
  };
  (*ask)();
  return {[](caf::atom_value) {}}; // nothing to answer: it only asks
}

// cmd:join of one room, as a client sends it (codec/xccos_commands.hpp).
std::string join_doc(const std::string& guid) {
  return xccos::command_document("1", "join", xccos::chanid(0, "example.com", guid));
}

} // namespace

join_search_result run_join_search(const join_search_config& cfg) {
  join_search_result res;
  if (cfg.rooms == 0 || cfg.posts_per_room == 0 || cfg.join_rate <= 0) {
    res.error = "nothing to do: no rooms, posts or joins";
    return res;
  }
  log::set_level(log::level::warning);
  bench_store store;
  if (!store.open(res.error))
    return res;
  auto& db = store.db;
  const auto& cat = store.category;
  // The fill: straight into the store (one unsynced batch per room), not through the actors.
  auto fill_start = clock_type::now();
  std::vector<std::string> guids;
  std::int64_t ticks = 638000000000000000; // 2022, in .NET ticks; every post 1 ms after the one before
  for (std::uint32_t r = 0; r < cfg.rooms; ++r) {
    storage::room room;
    room.name = "bench-" + std::to_string(r);
    room.category_id = cat.id;
    db->create_room(room);
    guids.push_back(room.guid);
    std::vector<storage::message> batch;
    for (std::uint64_t seq = 1; seq <= cfg.posts_per_room; ++seq) {
      storage::message m;
      m.room_id = room.id;
      m.seq = seq;
      m.author = "sip:writer@example.com";
      m.ticks = (ticks += 10000);
      m.text = (seq % 2 == 0 ? "alpha post " : "beta post ") + std::to_string(seq);
      batch.push_back(std::move(m));
    }
    if (auto a = db->append(batch, false); !a.ok()) {
      res.error = "fill: " + a.message;
      return res;
    }
    res.posts += batch.size();
  }
  res.fill_seconds = std::chrono::duration<double>(clock_type::now() - fill_start).count();

  server_options opts;
  opts.root_uri = "ma-cat://example.com/" + db->root_guid();
  opts.db_version = db->db_version();
  auto obs = std::make_shared<observations>();
  bench_config sys_cfg{cfg.threads};
  caf::actor_system sys{sys_cfg};
  auto transport = caf::actor_cast<transport_actor>(sys.spawn(timing_transport, obs));
  auto writer = spawn_store_writer(sys, db, true, true);
  auto dir = sys.spawn(directory, db, writer, opts);
  std::vector<session_actor> sessions;
  dialog_id next_dialog = 1;

  // One probe: a new session (a new user) joins a room, round robin over the rooms.
  auto probe = [&](bool timed) {
    auto d = next_dialog++;
    auto user = "sip:joiner" + std::to_string(d) + "@example.com";
    sessions.push_back(sys.spawn(session, d, user, transport, dir, opts, nullptr));
    {
      std::lock_guard<std::mutex> guard{obs->mtx};
      if (timed)
        obs->sent_ns[d] = now_ns();
    }
    caf::anon_send(sessions.back(), info_atom::value, join_doc(guids[d % guids.size()]));
    return d;
  };
  // Paced probes for `seconds`; returns their dialogs.
  auto probe_for = [&](double seconds) {
    std::vector<dialog_id> out;
    auto start = clock_type::now();
    for (std::size_t k = 0;; ++k) {
      auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / cfg.join_rate));
      if (due - start >= std::chrono::duration<double>(seconds))
        break;
      std::this_thread::sleep_until(due); // the driver's pacing, not a synchronisation
      out.push_back(probe(true));
    }
    return out;
  };
  auto wait_joined = [&](const std::vector<dialog_id>& ds, std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock{obs->mtx};
    return obs->cv.wait_for(lock, limit, [&] {
      if (!obs->error.empty())
        return true;
      for (auto d : ds)
        if (obs->joined_ns.count(d) == 0)
          return false;
      return true;
    });
  };

  // Warm-up: every room spawned and joined once, untimed.
  std::vector<dialog_id> warm;
  for (std::size_t r = 0; r < guids.size(); ++r)
    warm.push_back(probe(false));
  if (!wait_joined(warm, std::chrono::seconds(120)))
    res.error = "warm-up joins did not complete";

  std::vector<dialog_id> baseline, during;
  if (res.error.empty()) {
    baseline = probe_for(cfg.baseline_seconds);
    wait_joined(baseline, std::chrono::seconds(60));
    sys.spawn(searcher, dir, obs);
    // Probes start once the first search is in flight.
    {
      std::unique_lock<std::mutex> lock{obs->mtx};
      obs->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return obs->search_started_ns != 0; });
    }
    during = probe_for(cfg.search_seconds);
    {
      std::unique_lock<std::mutex> lock{obs->mtx};
      obs->stop = true;
    }
    wait_joined(during, std::chrono::seconds(120));
    std::unique_lock<std::mutex> lock{obs->mtx};
    obs->cv.wait_for(lock, std::chrono::seconds(120), [&] { return obs->search_started_ns == 0; });
  }

  {
    std::lock_guard<std::mutex> guard{obs->mtx};
    if (res.error.empty() && !obs->error.empty())
      res.error = obs->error;
    for (auto& [from, to] : obs->searches)
      res.search_us.push_back(static_cast<std::uint32_t>((to - from) / 1000));
    auto in_search = [&](std::int64_t t) {
      for (auto& [from, to] : obs->searches)
        if (t >= from && t < to)
          return true;
      return false;
    };
    auto collect = [&](const std::vector<dialog_id>& ds, std::vector<std::uint32_t>& out, bool need_search) {
      for (auto d : ds) {
        auto j = obs->joined_ns.find(d);
        if (j == obs->joined_ns.end()) {
          ++res.unanswered;
          continue;
        }
        auto s = obs->sent_ns.at(d);
        if (need_search && !in_search(s))
          continue;
        out.push_back(static_cast<std::uint32_t>((j->second - s) / 1000));
      }
    };
    collect(baseline, res.baseline_join_us, false);
    collect(during, res.search_join_us, true);
  }
  res.ok = res.error.empty() && res.unanswered == 0;
  if (res.ok && res.search_us.empty()) {
    res.ok = false;
    res.error = "no histsrch completed";
  }
  stop_actors(sys, sessions, dir, writer, transport);
  return res;
}

} // namespace pchat::bench
