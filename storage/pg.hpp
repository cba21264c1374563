#pragma once
// A thin RAII layer over libpq (PostgreSQL's C client, Debian's libpq-dev) for the PostgreSQL store
// (storage/pg_store.cpp) and the compliance queue on PostgreSQL. Not a general database library: just what they
// need, with errors as storage::status values.
//
// Contract
// - `connection` owns one PGconn. Not thread-safe: one thread uses it at a time (`pool` hands them out).
// - Statements are sent with PQexecParams: parameters out of line (no SQL is ever built from values), results in
//   binary format, so integers arrive as big-endian bytes and bytea/text as their raw bytes. Columns are read with
//   the typed getters below; every query casts what it returns to int8, bool, text or bytea.
// - Failures map to storage::errc: unique_violation -> already_exists, foreign_key_violation -> not_found,
//   invalid text (bad UTF-8, NUL) -> invalid_argument, a lost connection or anything else -> io_error. The
//   message carries PostgreSQL's own text.
// - A connection whose socket broke is reset (PQreset) the next time it is handed out.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.hpp"

struct pg_conn;
struct pg_result;

namespace pchat::storage::pg {

// The values of one statement's $1, $2, ... in order. Scalars go binary; text goes as text (the server checks
// its encoding). Arrays go binary (PostgreSQL's array wire format), so their elements need no quoting.
class params {
public:
  params& text(std::string_view s);
  params& bytes(std::string_view s); // bytea
  params& i64(std::int64_t v);       // int8
  params& boolean(bool v);
  params& null();
  params& i64_array(const std::vector<std::int64_t>& v);
  params& text_array(const std::vector<std::string_view>& v);
  params& bytes_array(const std::vector<std::string_view>& v);

  // False when a text value held a NUL byte, which PostgreSQL's text cannot: exec() refuses such a statement
  // (invalid_argument) rather than send the text cut short.
  bool valid() const { return valid_; }
  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

private:
  params& add(std::string data, int format);
  params& array(std::uint32_t element_oid, const std::vector<std::string_view>& elements);

  std::deque<std::string> storage_; // deque: adding never moves what values_ points into
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  bool valid_ = true;
};

// A statement's rows. Getters take (row, column); a NULL reads as 0 / false / "" (check is_null when it matters).
class result {
public:
  result() = default;
  explicit result(pg_result* r);
  ~result();
  result(result&& o) noexcept;
  result& operator=(result&& o) noexcept;
  result(const result&) = delete;
  result& operator=(const result&) = delete;

  int rows() const;
  std::uint64_t affected() const; // rows an INSERT/UPDATE/DELETE touched
  bool is_null(int row, int col) const;
  std::int64_t i64(int row, int col) const;
  std::uint64_t u64(int row, int col) const { return static_cast<std::uint64_t>(i64(row, col)); }
  bool boolean(int row, int col) const;
  std::string str(int row, int col) const; // text or bytea, raw bytes

private:
  pg_result* r_ = nullptr;
};

class connection {
public:
  // Connects with a libpq connection string ("host=/run/postgresql dbname=pchat", or a postgresql:// URI).
  // io_error with libpq's message when the server cannot be reached or refuses.
  static status connect(const std::string& conninfo, std::unique_ptr<connection>& out);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Runs one statement; `out` gets the rows when given.
  status exec(std::string_view sql, const params& p, result* out = nullptr);
  status exec(std::string_view sql, result* out = nullptr) { return exec(sql, params{}, out); }
  // Runs several statements separated by ';' and no parameters (the schema's migrations), results dropped.
  status script(std::string_view sql);

  // True while the socket is usable; a broken connection is reset by reset_if_broken().
  bool ok() const;
  void reset_if_broken();
  // The server's version as PQserverVersion reports it (150018 for 15.18).
  int server_version() const;

private:
  explicit connection(pg_conn* c) : c_(c) {}
  // The status of a statement's result (which it takes over); its rows into `out` when given.
  status finish(pg_result* raw, result* out);
  pg_conn* c_;
};

// A transaction on one connection: BEGIN at construction (the status in begun()), ROLLBACK in the destructor
// unless commit() succeeded.
class transaction {
public:
  explicit transaction(connection& c, std::string_view begin_sql = "BEGIN");
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  const status& begun() const { return begun_; }
  status commit();

private:
  connection& c_;
  status begun_;
  bool done_ = false;
};

// A fixed number of connections to one database, handed out one thread at a time. Connections are opened on
// first need; a borrower waits while all are lent.
class pool {
public:
  pool(std::string conninfo, std::size_t size) : conninfo_(std::move(conninfo)), size_(size) {}

  class lease {
  public:
    lease(pool& p, std::unique_ptr<connection> c) : p_(&p), c_(std::move(c)) {}
    lease(lease&& o) noexcept = default;
    ~lease();
    connection* operator->() const { return c_.get(); }
    connection& operator*() const { return *c_; }

  private:
    pool* p_;
    std::unique_ptr<connection> c_;
  };

  // A connection, or the status of the failed connect in `error`.
  std::optional<lease> acquire(status& error);
  const std::string& conninfo() const { return conninfo_; }

private:
  void give_back(std::unique_ptr<connection> c);

  const std::string conninfo_;
  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<connection>> idle_; // guarded by mutex_
  std::size_t opened_ = 0;                        // guarded by mutex_
};

} // namespace pchat::storage::pg
