#include "tools/bench/actor_load.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "actors/directory.hpp"
#include "base/log.hpp"
#include "tools/bench/bench_store.hpp"
#include "actors/protocol.hpp"
#include "actors/session.hpp"
#include "actors/store_writer.hpp"
#include "codec/xccos_commands.hpp"
#include "tools/bench/latency.hpp"

namespace pchat::bench {

namespace {

// What the null transport saw; shared with the driving thread under a mutex (one lock per message).
struct observations {
  std::mutex mtx;
  std::condition_variable cv;
  std::uint32_t joined = 0; // rpl:join 200 seen
  std::vector<std::int64_t> sent_ns;
  delivery_ledger ledger;
  std::vector<std::uint32_t> latency_us;
  std::uint64_t delivered = 0;
  std::int64_t last_ns = 0;
};

caf::behavior null_transport(caf::event_based_actor*, std::shared_ptr<observations> obs) {
  return {
    [=](send_atom, dialog_id, const std::string& body) {
      if (body.find("id=\"rpl:join\"") != std::string::npos && body.find("code=\"200\"") != std::string::npos) {
        std::lock_guard<std::mutex> guard{obs->mtx};
        ++obs->joined;
        obs->cv.notify_all();
      }
    },
    [=](fanout_atom, const std::vector<dialog_id>& dialogs, const std::string& body, std::int64_t) {
      auto t = now_ns();
      auto p = body.find("<chat>B");
      if (p == std::string::npos)
        return; // a notice
      std::size_t post = std::strtoull(body.c_str() + p + 7, nullptr, 10);
      std::lock_guard<std::mutex> guard{obs->mtx};
      if (post >= obs->sent_ns.size())
        return;
      auto us = static_cast<std::uint32_t>((t - obs->sent_ns[post]) / 1000);
      for (auto d : dialogs)
        if (obs->ledger.record(d, post)) {
          ++obs->delivered;
          obs->latency_us.push_back(us);
        }
      obs->last_ns = t;
      obs->cv.notify_all();
    },
    [=](bye_atom, dialog_id) {},
  };
}

} // namespace

actor_load_result run_actor_load(const actor_load_config& cfg) {
  actor_load_result res;
  if (cfg.rooms == 0 || cfg.members == 0 || cfg.posters == 0) {
    res.error = "nothing to do: no rooms, members or posters";
    return res;
  }
  log::set_level(log::level::warning);
  bench_store store;
  if (!store.open(res.error))
    return res;
  auto& db = store.db;
  const auto& cat = store.category;
  std::vector<std::string> guids;
  for (std::uint32_t r = 0; r < cfg.rooms; ++r) {
    storage::room room;
    room.name = "bench-" + std::to_string(r);
    room.category_id = cat.id;
    db->create_room(room);
    guids.push_back(room.guid);
  }

  server_options opts;
  opts.root_uri = "ma-cat://example.com/" + db->root_guid();
  opts.db_version = db->db_version();
  const std::size_t total = static_cast<std::size_t>(cfg.rooms) * cfg.members;
  const std::size_t planned = static_cast<std::size_t>(cfg.rate * cfg.duration) + 1;
  auto obs = std::make_shared<observations>();
  obs->ledger.resize(total, planned);
  obs->sent_ns.reserve(planned);
  obs->latency_us.reserve(planned * cfg.members);

  bench_config sys_cfg{cfg.threads};
  caf::actor_system sys{sys_cfg};
  auto transport = caf::actor_cast<transport_actor>(sys.spawn(null_transport, obs));
  auto writer = spawn_store_writer(sys, db, true, cfg.sync);
  auto dir = sys.spawn(directory, db, writer, opts);
  std::vector<session_actor> sessions;
  for (std::size_t i = 0; i < total; ++i)
    sessions.push_back(sys.spawn(session, static_cast<dialog_id>(i), "sip:bench" + std::to_string(i) + "@example.com",
                                 transport, dir, opts, nullptr));
  for (std::size_t i = 0; i < total; ++i)
    caf::anon_send(sessions[i], info_atom::value,
                   xccos::command_document("1", "join", xccos::chanid(0, "example.com", guids[i / cfg.members])));
  {
    std::unique_lock<std::mutex> lock{obs->mtx};
    if (!obs->cv.wait_for(lock, std::chrono::seconds(60 + total / 100), [&] { return obs->joined == total; })) {
      res.error = "joins did not complete: " + std::to_string(obs->joined) + " of " + std::to_string(total);
    }
    res.sessions = obs->joined;
  }
  if (res.error.empty()) {
    std::string padding(cfg.size + 16, 'x');
    auto start = clock_type::now();
    auto start_ns = now_ns();
    std::size_t k = 0;
    for (;; ++k) {
      auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / cfg.rate));
      if (due - start >= std::chrono::duration<double>(cfg.duration))
        break;
      std::this_thread::sleep_until(due); // the driver's pacing, not a synchronisation
      std::size_t j = k % cfg.posters;
      std::size_t room = j % cfg.rooms;
      std::size_t member = (j / cfg.rooms) % cfg.members;
      std::string id = "B" + std::to_string(k) + ":";
      std::string text = id + padding.substr(0, cfg.size > id.size() ? cfg.size - id.size() : 0);
      // The session takes the author from its dialog and stamps its own time (docs/xccos.md §4 grpchat).
      std::string body = xccos::grpchat_document("2", "ma-chan://example.com/" + guids[room], "", 0, text);
      {
        std::lock_guard<std::mutex> guard{obs->mtx};
        obs->sent_ns.push_back(now_ns());
      }
      caf::anon_send(sessions[room * cfg.members + member], info_atom::value, std::move(body));
      ++res.posts;
      res.expected += cfg.members;
    }
    res.posting_seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    std::unique_lock<std::mutex> lock{obs->mtx};
    obs->cv.wait_for(lock, std::chrono::duration<double>(cfg.drain), [&] { return obs->delivered >= res.expected; });
    res.delivered = obs->delivered;
    res.duplicates = obs->ledger.duplicates;
    res.lost = res.expected > res.delivered ? res.expected - res.delivered : 0;
    res.delivery_seconds = static_cast<double>(std::max(obs->last_ns, start_ns) - start_ns) / 1e9;
    res.latency_us = std::move(obs->latency_us);
    res.ok = true;
  }
  stop_actors(sys, sessions, dir, writer, transport);
  return res;
}

} // namespace pchat::bench
