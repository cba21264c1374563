#pragma once
// What the in-process benchmark modes (actor_load, join_search) share: the steady clock they time with, a
// fresh store in a temporary directory with one "Bench" category, removed again when the run ends, the quiet
// CAF configuration they run under, and their teardown.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <vector>

#include <stdlib.h>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "storage/store.hpp"

namespace pchat::bench {

using clock_type = std::chrono::steady_clock;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// A store under a fresh temporary directory, with the category "Bench"; the directory goes with the object.
class bench_store {
public:
  bench_store() = default;
  bench_store(const bench_store&) = delete;
  bench_store& operator=(const bench_store&) = delete;
  ~bench_store() {
    db.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // Creates the directory and opens the store; on failure says why in `error` and returns false.
  bool open(std::string& error) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pchat-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      error = "cannot create a temporary directory";
      return false;
    }
    dir_ = tmpl;
    std::unique_ptr<storage::store> opened;
    auto st = storage::store::open(dir_, {}, opened);
    if (!st.ok()) {
      error = "store: " + st.message;
      return false;
    }
    db = std::move(opened);
    category.name = "Bench";
    db->create_category(category);
    return true;
  }

  std::shared_ptr<storage::store> db;
  storage::category category; // "Bench", with its id once created

private:
  std::string dir_;
};

// `threads` scheduler threads, CAF's own logging off.
struct bench_config : caf::actor_system_config {
  explicit bench_config(std::uint32_t threads) {
    register_types(*this);
    set("scheduler.max-threads", static_cast<size_t>(threads));
    set("logger.console-verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

// Ends the sessions, then the other actors a run spawned (rooms die with the actor system).
template <class... Actors>
void stop_actors(caf::actor_system& sys, const std::vector<session_actor>& sessions, const Actors&... others) {
  for (auto& s : sessions)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  (caf::anon_send_exit(others, caf::exit_reason::user_shutdown), ...);
  sys.await_actors_before_shutdown(false);
}

} // namespace pchat::bench
