#include "storage/pg.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <utility>

namespace pchat::storage::pg {

namespace {

// Type OIDs of PostgreSQL's built-in types (pg_type.dat; fixed since 8.x).
constexpr std::uint32_t oid_bytea = 17;
constexpr std::uint32_t oid_int8 = 20;
constexpr std::uint32_t oid_text = 25;

void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string be64(std::int64_t v) {
  std::string out;
  put_be64(out, static_cast<std::uint64_t>(v));
  return out;
}

// SQLSTATE -> errc (PostgreSQL's errcodes.txt, appendix A of its manual).
errc code_of(const char* sqlstate) {
  if (sqlstate == nullptr)
    return errc::io_error;
  std::string_view s{sqlstate};
  if (s == "23505") // unique_violation
    return errc::already_exists;
  if (s == "23503") // foreign_key_violation
    return errc::not_found;
  if (s.substr(0, 2) == "22") // data exceptions: bad encoding, NUL in text, out of range
    return errc::invalid_argument;
  return errc::io_error;
}

} // namespace

// --- params -------------------------------------------------------------------------------------------------

params& params::add(std::string data, int format) {
  auto& kept = storage_.emplace_back(std::move(data));
  values_.push_back(kept.data());
  lengths_.push_back(static_cast<int>(kept.size()));
  formats_.push_back(format);
  return *this;
}

// Text goes as text, so the server's encoding check applies (a NUL byte or bad UTF-8 is a data exception).
params& params::text(std::string_view s) {
  valid_ = valid_ && s.find('\0') == std::string_view::npos;
  return add(std::string{s}, 0);
}
params& params::bytes(std::string_view s) { return add(std::string{s}, 1); }
params& params::i64(std::int64_t v) { return add(be64(v), 1); }
params& params::boolean(bool v) { return add(std::string(1, v ? '\1' : '\0'), 1); }

params& params::null() {
  values_.push_back(nullptr);
  lengths_.push_back(0);
  formats_.push_back(1);
  return *this;
}

// The binary array format (array_send in PostgreSQL's arrayfuncs.c): ndim, has-nulls flag, element OID, then per
// dimension its length and lower bound, then each element as a 4-byte length and its bytes.
params& params::array(std::uint32_t element_oid, const std::vector<std::string_view>& elements) {
  std::string out;
  put_be32(out, 1);
  put_be32(out, 0);
  put_be32(out, element_oid);
  put_be32(out, static_cast<std::uint32_t>(elements.size()));
  put_be32(out, 1);
  for (auto e : elements) {
    put_be32(out, static_cast<std::uint32_t>(e.size()));
    out.append(e.data(), e.size());
  }
  return add(std::move(out), 1);
}

params& params::i64_array(const std::vector<std::int64_t>& v) {
  std::vector<std::string> encoded;
  encoded.reserve(v.size());
  for (auto x : v)
    encoded.push_back(be64(x));
  std::vector<std::string_view> views(encoded.begin(), encoded.end());
  return array(oid_int8, views);
}

params& params::text_array(const std::vector<std::string_view>& v) {
  for (auto e : v)
    valid_ = valid_ && e.find('\0') == std::string_view::npos;
  return array(oid_text, v);
}
params& params::bytes_array(const std::vector<std::string_view>& v) { return array(oid_bytea, v); }

// --- result -------------------------------------------------------------------------------------------------

result::result(pg_result* r) : r_(r) {}
result::~result() {
  if (r_ != nullptr)
    PQclear(r_);
}
result::result(result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
result& result::operator=(result&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr)
      PQclear(r_);
    r_ = std::exchange(o.r_, nullptr);
  }
  return *this;
}

int result::rows() const { return r_ == nullptr ? 0 : PQntuples(r_); }

std::uint64_t result::affected() const {
  const char* n = r_ == nullptr ? nullptr : PQcmdTuples(r_);
  return n == nullptr || *n == '\0' ? 0 : std::strtoull(n, nullptr, 10);
}

bool result::is_null(int row, int col) const { return r_ == nullptr || PQgetisnull(r_, row, col) != 0; }

std::int64_t result::i64(int row, int col) const {
  if (is_null(row, col) || PQgetlength(r_, row, col) != 8)
    return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

bool result::boolean(int row, int col) const {
  return !is_null(row, col) && PQgetlength(r_, row, col) == 1 && *PQgetvalue(r_, row, col) != 0;
}

std::string result::str(int row, int col) const {
  if (is_null(row, col))
    return {};
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

// --- connection ---------------------------------------------------------------------------------------------

status connection::connect(const std::string& conninfo, std::unique_ptr<connection>& out) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (c == nullptr)
    return {errc::io_error, "PostgreSQL: out of memory connecting"};
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
      msg.pop_back();
    PQfinish(c);
    return {errc::io_error, "cannot connect to PostgreSQL: " + msg};
  }
  // Text parameters and results are UTF-8 whatever the server's default.
  if (PQsetClientEncoding(c, "UTF8") != 0) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    return {errc::io_error, "PostgreSQL: cannot use UTF-8: " + msg};
  }
  out.reset(new connection{c});
  // Nothing here depends on the server's notices; keep them out of stderr.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  return status::success();
}

connection::~connection() { PQfinish(c_); }

bool connection::ok() const { return PQstatus(c_) == CONNECTION_OK; }

void connection::reset_if_broken() {
  // A server that ended the session while the connection sat idle (a restart, a failover, an administrator's
  // pg_terminate_backend) has left its goodbye or EOF on the socket: reading it marks the connection bad here,
  // before a statement is sent on it, rather than failing that statement.
  if (PQconsumeInput(c_) == 0 || !ok())
    PQreset(c_);
}

int connection::server_version() const { return PQserverVersion(c_); }

status connection::exec(std::string_view sql, const params& p, result* out) {
  if (!p.valid())
    return {errc::invalid_argument, "a text value contains a NUL byte"};
  std::string text{sql};
  return finish(PQexecParams(c_, text.c_str(), p.size(), nullptr, p.values(), p.lengths(), p.formats(), 1), out);
}

status connection::script(std::string_view sql) {
  std::string text{sql};
  return finish(PQexec(c_, text.c_str()), nullptr);
}

status connection::finish(pg_result* raw, result* out) {
  result r{raw};
  if (raw == nullptr)
    return {errc::io_error, "PostgreSQL: " + std::string{PQerrorMessage(c_)}};
  auto s = PQresultStatus(raw);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    std::string msg = PQresultErrorMessage(raw);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
      msg.pop_back();
    if (msg.empty())
      msg = PQerrorMessage(c_);
    return {code_of(PQresultErrorField(raw, PG_DIAG_SQLSTATE)), "PostgreSQL: " + msg};
  }
  if (out != nullptr)
    *out = std::move(r);
  return status::success();
}

// --- transaction --------------------------------------------------------------------------------------------

transaction::transaction(connection& c, std::string_view begin_sql) : c_(c), begun_(c.exec(begin_sql)) {}

transaction::~transaction() {
  if (!done_ && begun_.ok())
    c_.exec("ROLLBACK");
}

status transaction::commit() {
  auto st = c_.exec("COMMIT");
  done_ = true;
  return st;
}

// --- pool ---------------------------------------------------------------------------------------------------

pool::lease::~lease() {
  if (p_ != nullptr && c_)
    p_->give_back(std::move(c_));
}

std::optional<pool::lease> pool::acquire(status& error) {
  std::unique_lock<std::mutex> lock{mutex_};
  returned_.wait(lock, [&] { return !idle_.empty() || opened_ < size_; });
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    lock.unlock();
    c->reset_if_broken();
    return lease{*this, std::move(c)};
  }
  ++opened_;
  lock.unlock();
  std::unique_ptr<connection> c;
  error = connection::connect(conninfo_, c);
  if (!error.ok()) {
    std::lock_guard<std::mutex> again{mutex_};
    --opened_;
    returned_.notify_one();
    return std::nullopt;
  }
  return lease{*this, std::move(c)};
}

void pool::give_back(std::unique_ptr<connection> c) {
  std::lock_guard<std::mutex> lock{mutex_};
  idle_.push_back(std::move(c));
  returned_.notify_one();
}

} // namespace pchat::storage::pg
