#pragma once
// Deterministic actor test fixture (docs/architecture.md "Conventions" §3): CAF 0.17's test_coordinator runs every actor on the test
// thread, only when the test says so (sched.run()). The transport is a probe actor that records every document
// sent to a dialog, so tests assert on decoded XCCOS exactly as a client would see it. Storage is a real
// RocksDB in a fresh temporary directory.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <catch2/catch.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "actors/session.hpp"
#include "actors/store_writer.hpp"
#include "codec/xccos.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

namespace pchat::test {

struct test_config : caf::actor_system_config {
  test_config() {
    register_types(*this);
    set("scheduler.policy", caf::atom("testing"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// What the transport was asked to send, per dialog, in order.
struct recorder {
  std::map<dialog_id, std::vector<std::string>> sent;
  std::vector<dialog_id> byes;
  std::size_t fanouts = 0;
};

inline caf::behavior probe(caf::event_based_actor*, std::shared_ptr<recorder> rec) {
  return {
    [=](send_atom, dialog_id d, const std::string& body) { rec->sent[d].push_back(body); },
    [=](fanout_atom, const std::vector<dialog_id>& ds, const std::string& body, std::int64_t) {
      ++rec->fanouts;
      for (auto d : ds)
        rec->sent[d].push_back(body);
    },
    [=](bye_atom, dialog_id d) { rec->byes.push_back(d); },
  };
}

inline std::string env(const std::string& envid, const std::string& inner) {
  return "<xccos ver=\"1\" envid=\"" + envid + "\" xmlns=\"urn:parlano:xml:ns:xccos\">" + inner + "</xccos>";
}

inline std::string cmd(const std::string& envid, const std::string& name, const std::string& data = "") {
  return env(envid, "<cmd id=\"cmd:" + name + "\" seqid=\"1\"><data>" + data + "</data></cmd>");
}

inline std::string chanid(const std::string& domain, const std::string& guid) {
  return "<chanid key=\"0\" domain=\"" + domain + "\" value=\"" + guid + "\"/>";
}

inline std::string grpchat(const std::string& envid, const std::string& uri, const std::string& author,
                           const std::string& escaped_text) {
  return env(envid, "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"" + uri + "\" author=\"" + author
                      + "\" ts=\"2024-05-01T10:00:00Z\"><chat>" + escaped_text + "</chat></grpchat>");
}

inline xccos::item single_item(const std::string& body) {
  auto r = xccos::parse(body);
  INFO(body);
  REQUIRE(std::holds_alternative<xccos::envelope>(r));
  auto& e = std::get<xccos::envelope>(r);
  REQUIRE(e.items.size() == 1);
  return e.items.front();
}

struct fixture {
  temp_dir dir;
  std::shared_ptr<storage::store> db;
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  transport_actor transport;
  writer_actor writer;
  directory_actor dir_actor;
  server_options opts;
  std::map<dialog_id, session_actor> sessions;
  storage::category general;

  fixture() {
    open_store();
    general.name = "General";
    REQUIRE(db->create_category(general).ok());
    opts.root_uri = "ma-cat://example.com/" + db->root_guid();
    opts.db_version = db->db_version();
    transport = caf::actor_cast<transport_actor>(sys.spawn(probe, rec));
    start_actors();
  }

  ~fixture() {
    sched.run();
    for (auto& [d, s] : sessions)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(dir_actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    sched.run();
  }

  void open_store() {
    std::unique_ptr<storage::store> s;
    auto st = storage::store::open(dir.path.string(), {}, s);
    INFO(st.message);
    REQUIRE(st.ok());
    db = std::move(s);
  }

  void start_actors() {
    writer = spawn_store_writer(sys, db, false);
    dir_actor = sys.spawn(directory, db, writer, opts);
    sched.run();
  }

  // Simulates a server restart: every actor gone, the store closed and reopened.
  void restart() {
    for (auto& [d, s] : sessions)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    sessions.clear();
    caf::anon_send_exit(dir_actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    sched.run();
    dir_actor = nullptr;
    writer = nullptr;
    db.reset();
    open_store();
    start_actors();
  }

  storage::room make_room(const std::string& name, storage::privacy p = storage::privacy::open,
                          storage::room_type t = storage::room_type::normal) {
    storage::room r;
    r.name = name;
    r.description = name + " room";
    r.category_id = general.id;
    r.privacy_mode = p;
    r.type = t;
    auto st = db->create_room(r);
    INFO(st.message);
    REQUIRE(st.ok());
    // The directory loads the catalog at start; restart it to see the new room.
    caf::anon_send_exit(dir_actor, caf::exit_reason::user_shutdown);
    sched.run();
    dir_actor = sys.spawn(directory, db, writer, opts);
    sched.run();
    return r;
  }

  std::string uri(const storage::room& r) const { return "ma-chan://example.com/" + r.guid; }

  dialog_id connect(const std::string& user) {
    dialog_id d = sessions.size() + 100;
    sessions.emplace(d, sys.spawn(session, d, user, transport, dir_actor, opts, nullptr));
    sched.run();
    return d;
  }

  void info(dialog_id d, const std::string& body) {
    caf::anon_send(sessions.at(d), info_atom::value, body);
    sched.run();
  }

  void close(dialog_id d) {
    caf::anon_send(sessions.at(d), closed_atom::value);
    sched.run();
    sessions.erase(d);
  }

  std::vector<std::string>& sent(dialog_id d) { return rec->sent[d]; }

  // The documents sent to `d` since the last call.
  std::vector<std::string> take(dialog_id d) {
    auto out = std::move(rec->sent[d]);
    rec->sent[d].clear();
    return out;
  }

  // Sends one command and returns the single reply it produced.
  xccos::item ask(dialog_id d, const std::string& body) {
    take(d);
    info(d, body);
    auto out = take(d);
    INFO(body);
    REQUIRE(out.size() == 1);
    return single_item(out.front());
  }

  xccos::item join(dialog_id d, const storage::room& r, const std::string& envid = "10") {
    return ask(d, cmd(envid, "join", chanid("example.com", r.guid)));
  }
};

} // namespace pchat::test
