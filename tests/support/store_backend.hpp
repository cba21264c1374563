#pragma once
// Which store back end a test run uses: RocksDB (the default) or PostgreSQL (PCHAT_TEST_STORE=postgres; ctest
// runs the storage suite both ways, the PostgreSQL run named "pg storage: ...").
//
// open_store_at(dir, ...) opens "the store at dir": RocksDB in that directory, or on PostgreSQL a database of the
// test process's own server (support/pg_server.hpp) made for that directory on first use, so a test that reopens
// the same directory reopens the same database. When the run wants PostgreSQL and none can be started, the status
// says "SKIPPED: <why>", which ctest counts as skipped, never passed.
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "storage/store.hpp"
#include "support/pg_server.hpp"

namespace pchat::test {

inline bool on_postgres() {
  const char* e = std::getenv("PCHAT_TEST_STORE");
  return e != nullptr && std::string{e} == "postgres";
}

// The PostgreSQL connection string standing for `dir` ("" with `why` set when there is no server).
inline std::string postgres_for(const std::string& dir, std::string& why) {
  static std::map<std::string, std::string> databases;
  auto& server = pg_server::shared();
  if (!server.available()) {
    why = "SKIPPED: no PostgreSQL for this test: " + server.why_not();
    return {};
  }
  auto& conninfo = databases[dir];
  if (conninfo.empty())
    conninfo = server.create_database();
  if (conninfo.empty())
    why = "creating a test database failed: " + server.why_not();
  return conninfo;
}

inline storage::status open_store_at(const std::string& dir, const storage::open_options& opts,
                                     std::unique_ptr<storage::store>& out) {
  if (!on_postgres())
    return storage::store::open(dir, opts, out);
  std::string why;
  auto conninfo = postgres_for(dir, why);
  if (conninfo.empty())
    return {storage::errc::io_error, why};
  return storage::store::open_postgres(conninfo, opts, out);
}

} // namespace pchat::test
