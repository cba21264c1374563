// The store on PostgreSQL (docs/pool.md "The PostgreSQL store"): the same contract as the RocksDB store
// (store.hpp), checked by the same test suite, for pools of pchatd nodes sharing one database.
//
// How the contract maps onto SQL
// - One table per kind of record, real columns (an operator can read them with psql). Identifiers and names are
//   text COLLATE "C", so ORDER BY is byte order, as RocksDB's keys are; a name PostgreSQL's text cannot hold (a
//   NUL byte, invalid UTF-8) is refused with invalid_argument, never stored cut short. Free text (descriptions,
//   topics, posts), post authors and search terms are bytea, byte for byte: a group commit must never fail
//   because one post carries bytes that are not valid text.
// - Unique names: a name_key column (ascii_lower of the name, as the RocksDB keys fold it) with a unique index.
// - Ids stay dense (a failed create consumes none): a counter row per kind, updated in the creating transaction,
//   so a rollback gives the id back and concurrent creators, on any node, queue on the row lock.
// - commit() is one statement: data-modifying CTEs over arrays (history, search terms, the room's head, follows),
//   atomic and one round trip whatever the batch holds. PostgreSQL commits synchronously (synchronous_commit as
//   the server has it, on by default): ok means on disk, on the standby too when the server is set up so.
// - Values above 2^63-1 (ids, seqs) do not fit PostgreSQL's int8: refused on write, never found on read.
// - The schema is created and migrated here, under an advisory lock, and versioned in pchat_schema.
#include "storage/store.hpp"

#include "base/random.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "storage/pg.hpp"
#include "storage/store_checks.hpp"
#include "storage/text_index.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace pchat::storage {

namespace {

using checks::fail;
using checks::valid_user;
using pg::params;
using pg::result;

constexpr auto int8_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

bool fits(std::uint64_t v) { return v <= int8_max; }
std::int64_t i8(std::uint64_t v) { return static_cast<std::int64_t>(v); }

// The schema, one entry per version; open() applies those the database lacks, in order, each in its own
// transaction. Never edit a released entry: add the next one.
struct migration {
  int version;
  const char* sql;
};
const migration migrations[] = {
  {1, R"sql(
CREATE TABLE meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
CREATE TABLE counters (name text COLLATE "C" PRIMARY KEY, next int8 NOT NULL);
INSERT INTO counters VALUES ('category', 1), ('room', 1), ('invitation', 1);
CREATE TABLE categories (
  id int8 PRIMARY KEY, guid text COLLATE "C" NOT NULL, name text NOT NULL,
  name_key text COLLATE "C" NOT NULL UNIQUE, description bytea NOT NULL,
  invite bool NOT NULL, logged bool NOT NULL, filepost bool NOT NULL,
  keep_days int8, keep_posts int8);
CREATE TABLE category_principals (
  category_id int8 NOT NULL REFERENCES categories ON DELETE CASCADE, list int8 NOT NULL,
  principal text COLLATE "C" NOT NULL, PRIMARY KEY (category_id, list, principal));
CREATE TABLE rooms (
  id int8 PRIMARY KEY, guid text COLLATE "C" NOT NULL, guid_key text COLLATE "C" NOT NULL UNIQUE,
  category_id int8 NOT NULL REFERENCES categories, name text NOT NULL, name_key text COLLATE "C" NOT NULL UNIQUE,
  description bytea NOT NULL, topic bytea NOT NULL, addin_url bytea NOT NULL, privacy int8 NOT NULL,
  type int8 NOT NULL, invite int8 NOT NULL, disabled bool NOT NULL, created_ticks int8 NOT NULL,
  keep_days int8, keep_posts int8);
CREATE TABLE room_state (
  room_id int8 PRIMARY KEY, last_seq int8 NOT NULL DEFAULT 0, cleared_up_to int8 NOT NULL DEFAULT 0);
CREATE TABLE roles (
  room_id int8 NOT NULL REFERENCES rooms ON DELETE CASCADE, member text COLLATE "C" NOT NULL,
  bits int8 NOT NULL, PRIMARY KEY (room_id, member));
CREATE INDEX roles_by_member ON roles (member, room_id);
CREATE TABLE follows (member text COLLATE "C" NOT NULL, room_id int8 NOT NULL, PRIMARY KEY (member, room_id));
CREATE TABLE invitations (
  id int8 PRIMARY KEY, member text COLLATE "C" NOT NULL, room_id int8 NOT NULL, inviter text NOT NULL,
  ticks int8 NOT NULL, seen bool NOT NULL);
CREATE INDEX invitations_by_member ON invitations (member, id);
CREATE TABLE prefs (
  member text COLLATE "C" NOT NULL, label text COLLATE "C" NOT NULL, value bytea NOT NULL,
  PRIMARY KEY (member, label));
CREATE TABLE files (
  room_id int8 NOT NULL REFERENCES rooms ON DELETE CASCADE, id text COLLATE "C" NOT NULL, name text NOT NULL,
  content_type text NOT NULL, size int8 NOT NULL, sha256 text NOT NULL, uploader text NOT NULL,
  ticks int8 NOT NULL, PRIMARY KEY (room_id, id));
CREATE TABLE users (
  aor text COLLATE "C" PRIMARY KEY, display_name text NOT NULL, realm text NOT NULL, ha1_md5 text NOT NULL,
  ha1_sha256 text NOT NULL, nt_hash text NOT NULL, disabled bool NOT NULL);
CREATE TABLE policies (
  scope int8 NOT NULL, subject text COLLATE "C" NOT NULL, persistent_chat bool NOT NULL,
  PRIMARY KEY (scope, subject));
CREATE TABLE history (
  room_id int8 NOT NULL, seq int8 NOT NULL, author bytea NOT NULL, ticks int8 NOT NULL, body bytea NOT NULL,
  PRIMARY KEY (room_id, seq));
CREATE INDEX history_by_time ON history (room_id, ticks);
CREATE TABLE search_terms (room_id int8 NOT NULL, term bytea NOT NULL, seq int8 NOT NULL,
  PRIMARY KEY (room_id, term, seq));
)sql"},
};
constexpr int schema_version = 1;
// Any constant, the same in every pchat: the advisory lock that serialises schema changes between nodes.
constexpr std::int64_t schema_lock = 0x70636861745f7631; // "pchat_v1"

// The columns every room query selects, in decode_room's order.
constexpr const char* room_columns =
  "id, guid, category_id, name, description, topic, addin_url, privacy, type, invite, disabled, created_ticks, "
  "keep_days, keep_posts";
constexpr const char* category_columns =
  "id, guid, name, description, invite, logged, filepost, keep_days, keep_posts";

std::optional<retention> retention_at(const result& r, int row, int col) {
  if (r.is_null(row, col))
    return std::nullopt;
  return retention{static_cast<std::uint32_t>(r.i64(row, col)), r.u64(row, col + 1)};
}

void bind_retention(params& p, const std::optional<retention>& keep) {
  if (keep)
    p.i64(keep->days).i64(i8(keep->posts));
  else
    p.null().null();
}

category decode_category(const result& r, int row) {
  category c;
  c.id = r.u64(row, 0);
  c.guid = r.str(row, 1);
  c.name = r.str(row, 2);
  c.description = r.str(row, 3);
  c.invite = r.boolean(row, 4);
  c.logged = r.boolean(row, 5);
  c.filepost = r.boolean(row, 6);
  c.keep = retention_at(r, row, 7).value_or(retention{});
  return c;
}

room decode_room(const result& r, int row) {
  room out;
  out.id = r.u64(row, 0);
  out.guid = r.str(row, 1);
  out.category_id = r.u64(row, 2);
  out.name = r.str(row, 3);
  out.description = r.str(row, 4);
  out.topic = r.str(row, 5);
  out.addin_url = r.str(row, 6);
  out.privacy_mode = static_cast<privacy>(r.i64(row, 7));
  out.type = static_cast<room_type>(r.i64(row, 8));
  out.invite = static_cast<room_invite>(r.i64(row, 9));
  out.disabled = r.boolean(row, 10);
  out.created_ticks = r.i64(row, 11);
  out.keep = retention_at(r, row, 12);
  return out;
}

// seq, author, ticks, body
message decode_message(const result& r, int row, std::uint64_t room_id) {
  message m;
  m.room_id = room_id;
  m.seq = r.u64(row, 0);
  m.author = r.str(row, 1);
  m.ticks = r.i64(row, 2);
  m.text = r.str(row, 3);
  return m;
}

// The search index's words of a post: its text's words and its author (as one more term, like the RocksDB index).
std::vector<std::string> terms_of(const message& m) {
  auto terms = index_terms(m.text);
  terms.push_back(codec::key::author_term(m.author));
  return terms;
}

class pg_store final : public store {
public:
  pg_store(std::string conninfo, std::size_t connections, bool read_only)
      : pool_(std::move(conninfo), std::max<std::size_t>(connections, 1)), read_only_(read_only) {}

  // Creates or migrates the schema (unless read-only or told not to create) and loads the identity.
  status init(const open_options& opts) {
    return with([&](pg::connection& c) -> status {
      result r;
      if (auto st = c.exec("SELECT to_regclass('pchat_schema') IS NOT NULL", &r); !st.ok())
        return st;
      bool exists = r.boolean(0, 0);
      if (!exists && (!opts.create_if_missing || read_only_))
        return fail(errc::not_found, "the database holds no pchat store (create one with `pchatctl init`)");
      if (!read_only_)
        if (auto st = migrate(c); !st.ok())
          return st;
      if (auto st = c.exec("SELECT max(version) FROM pchat_schema", &r); !st.ok())
        return st;
      if (r.i64(0, 0) > schema_version)
        return fail(errc::corruption, "the database's pchat schema is version " + std::to_string(r.i64(0, 0)) +
                                          ", newer than this pchat's " + std::to_string(schema_version) +
                                          ": upgrade pchat");
      if (auto st = c.exec("SELECT key, value FROM meta", &r); !st.ok())
        return st;
      for (int i = 0; i < r.rows(); ++i)
        (r.str(i, 0) == "db_version" ? db_version_ : root_guid_) = r.str(i, 1);
      return status::success();
    });
  }

  std::string db_version() const override { return db_version_; }
  std::string root_guid() const override { return root_guid_; }

  // --- categories -------------------------------------------------------------------------------------------

  status create_category(category& c) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::category_ok(c); !st.ok())
      return st;
    category stored = c;
    if (stored.guid.empty())
      stored.guid = random_guid();
    auto st = in_transaction([&](pg::connection& db) -> status {
      if (auto taken = absent(db, "SELECT 1 FROM categories WHERE name_key = $1", ascii_lower(c.name),
                              "category name '" + c.name + "' is taken");
          !taken.ok())
        return taken;
      if (auto id = next_id(db, "category", stored.id); !id.ok())
        return id;
      params p;
      p.i64(i8(stored.id)).text(stored.guid).text(stored.name).text(ascii_lower(stored.name)).bytes(stored.description);
      p.boolean(stored.invite).boolean(stored.logged).boolean(stored.filepost);
      bind_retention(p, checks::stored_rule(stored));
      if (auto ins = db.exec("INSERT INTO categories (id, guid, name, name_key, description, invite, logged, "
                             "filepost, keep_days, keep_posts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                             p);
          !ins.ok())
        return ins;
      return put_principals(db, stored);
    });
    if (!st.ok())
      return st;
    c.id = stored.id;
    c.guid = stored.guid;
    return status::success();
  }

  std::vector<category> categories() const override {
    std::vector<category> out;
    read([&](pg::connection& db) {
      out.clear();
      result r;
      if (auto st = db.exec(std::string{"SELECT "} + category_columns + " FROM categories ORDER BY id", &r); !st.ok())
        return st;
      for (int i = 0; i < r.rows(); ++i)
        out.push_back(decode_category(r, i));
      return load_principals(db, out);
    });
    return out;
  }

  std::optional<category> category_by_id(std::uint64_t id) const override {
    return one_category("id = $1", params{}.i64(i8(id)), fits(id));
  }

  std::optional<category> category_by_name(const std::string& name) const override {
    return one_category("name_key = $1", params{}.text(ascii_lower(name)), true);
  }

  status update_category(const category& c) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::category_ok(c); !st.ok())
      return st;
    return in_transaction([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec("SELECT name_key FROM categories WHERE id = $1 FOR UPDATE", params{}.i64(i8(c.id)), &r);
          !st.ok())
        return st;
      if (!fits(c.id) || r.rows() == 0)
        return fail(errc::not_found, "no category with id " + std::to_string(c.id));
      auto key = ascii_lower(c.name);
      if (key != r.str(0, 0))
        if (auto taken = absent(db, "SELECT 1 FROM categories WHERE name_key = $1", key,
                                "category name '" + c.name + "' is taken");
            !taken.ok())
          return taken;
      params p;
      p.i64(i8(c.id)).text(c.name).text(key).bytes(c.description);
      p.boolean(c.invite).boolean(c.logged).boolean(c.filepost);
      bind_retention(p, checks::stored_rule(c));
      if (auto st = db.exec("UPDATE categories SET name = $2, name_key = $3, description = $4, invite = $5, "
                            "logged = $6, filepost = $7, keep_days = $8, keep_posts = $9 WHERE id = $1",
                            p);
          !st.ok())
        return st;
      if (auto st = db.exec("DELETE FROM category_principals WHERE category_id = $1", params{}.i64(i8(c.id)));
          !st.ok())
        return st;
      return put_principals(db, c);
    });
  }

  status remove_category(std::uint64_t id) override {
    if (read_only_)
      return checks::read_only;
    return in_transaction([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec("SELECT name, EXISTS (SELECT 1 FROM rooms WHERE category_id = $1) FROM categories "
                            "WHERE id = $1 FOR UPDATE",
                            params{}.i64(i8(id)), &r);
          !st.ok())
        return st;
      if (!fits(id) || r.rows() == 0)
        return fail(errc::not_found, "no category with id " + std::to_string(id));
      if (r.boolean(0, 1))
        return fail(errc::invalid_argument, "category '" + r.str(0, 0) + "' still has rooms");
      return db.exec("DELETE FROM categories WHERE id = $1", params{}.i64(i8(id)));
    });
  }

  // --- rooms ------------------------------------------------------------------------------------------------

  status create_room(room& r) override {
    if (read_only_)
      return checks::read_only;
    if (r.name.empty())
      return fail(errc::invalid_argument, "room name is empty");
    room stored = r;
    if (stored.guid.empty())
      stored.guid = random_guid();
    if (stored.created_ticks == 0)
      stored.created_ticks = now_ticks();
    auto st = in_transaction([&](pg::connection& db) -> status {
      if (auto known = category_exists(db, r.category_id); !known.ok())
        return known;
      if (auto taken = absent(db, "SELECT 1 FROM rooms WHERE name_key = $1", ascii_lower(r.name),
                              "room name '" + r.name + "' is taken");
          !taken.ok())
        return taken;
      if (auto taken = absent(db, "SELECT 1 FROM rooms WHERE guid_key = $1", ascii_lower(stored.guid),
                              "room guid '" + stored.guid + "' is taken");
          !taken.ok())
        return taken;
      if (auto id = next_id(db, "room", stored.id); !id.ok())
        return id;
      params p;
      p.i64(i8(stored.id)).text(stored.guid).text(ascii_lower(stored.guid)).i64(i8(stored.category_id));
      p.text(stored.name).text(ascii_lower(stored.name)).bytes(stored.description).bytes(stored.topic);
      p.bytes(stored.addin_url).i64(static_cast<std::int64_t>(stored.privacy_mode));
      p.i64(static_cast<std::int64_t>(stored.type)).i64(static_cast<std::int64_t>(stored.invite));
      p.boolean(stored.disabled).i64(stored.created_ticks);
      bind_retention(p, stored.keep);
      return db.exec("INSERT INTO rooms (id, guid, guid_key, category_id, name, name_key, description, topic, "
                     "addin_url, privacy, type, invite, disabled, created_ticks, keep_days, keep_posts) VALUES "
                     "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                     p);
    });
    if (!st.ok())
      return st;
    r.id = stored.id;
    r.guid = stored.guid;
    r.created_ticks = stored.created_ticks;
    return status::success();
  }

  status update_room(const room& r) override {
    if (read_only_)
      return checks::read_only;
    if (r.name.empty())
      return fail(errc::invalid_argument, "room name is empty");
    return in_transaction([&](pg::connection& db) -> status {
      result old;
      if (auto st = db.exec("SELECT guid_key, name_key FROM rooms WHERE id = $1 FOR UPDATE", params{}.i64(i8(r.id)),
                            &old);
          !st.ok())
        return st;
      if (!fits(r.id) || old.rows() == 0)
        return fail(errc::not_found, "no room with id " + std::to_string(r.id));
      if (!r.guid.empty() && ascii_lower(r.guid) != old.str(0, 0))
        return fail(errc::invalid_argument, "a room's guid cannot change");
      if (auto known = category_exists(db, r.category_id); !known.ok())
        return known;
      auto key = ascii_lower(r.name);
      if (key != old.str(0, 1))
        if (auto taken = absent(db, "SELECT 1 FROM rooms WHERE name_key = $1", key,
                                "room name '" + r.name + "' is taken");
            !taken.ok())
          return taken;
      params p;
      p.i64(i8(r.id)).i64(i8(r.category_id)).text(r.name).text(key).bytes(r.description).bytes(r.topic);
      p.bytes(r.addin_url).i64(static_cast<std::int64_t>(r.privacy_mode)).i64(static_cast<std::int64_t>(r.type));
      p.i64(static_cast<std::int64_t>(r.invite)).boolean(r.disabled);
      bind_retention(p, r.keep);
      return db.exec("UPDATE rooms SET category_id = $2, name = $3, name_key = $4, description = $5, topic = $6, "
                     "addin_url = $7, privacy = $8, type = $9, invite = $10, disabled = $11, keep_days = $12, "
                     "keep_posts = $13 WHERE id = $1",
                     p);
    });
  }

  status remove_room(std::uint64_t id) override {
    if (read_only_)
      return checks::read_only;
    return in_transaction([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec("DELETE FROM rooms WHERE id = $1", params{}.i64(i8(id)), &r); !st.ok())
        return st;
      if (!fits(id) || r.affected() == 0)
        return fail(errc::not_found, "no room with id " + std::to_string(id));
      // Roles and files go with the room (ON DELETE CASCADE); history, its index and the head here. Follows stay
      // behind, as the contract says (room ids are never reused).
      for (const char* sql : {"DELETE FROM history WHERE room_id = $1", "DELETE FROM search_terms WHERE room_id = $1",
                              "DELETE FROM room_state WHERE room_id = $1"})
        if (auto st = db.exec(sql, params{}.i64(i8(id))); !st.ok())
          return st;
      return status::success();
    });
  }

  std::vector<room> rooms() const override { return some_rooms("TRUE ORDER BY id", params{}, true); }

  std::optional<room> room_by_id(std::uint64_t id) const override {
    return first(some_rooms("id = $1", params{}.i64(i8(id)), fits(id)));
  }
  std::optional<room> room_by_guid(const std::string& guid) const override {
    return first(some_rooms("guid_key = $1", params{}.text(ascii_lower(guid)), true));
  }
  std::optional<room> room_by_name(const std::string& name) const override {
    return first(some_rooms("name_key = $1", params{}.text(ascii_lower(name)), true));
  }

  // --- roles ------------------------------------------------------------------------------------------------

  status set_roles(std::uint64_t room_id, const std::string& user, std::uint8_t roles) override {
    return set_roles_impl(room_id, user, roles, nullptr);
  }
  status set_roles(std::uint64_t room_id, const std::string& user, std::uint8_t roles,
                   invitation& invite) override {
    return set_roles_impl(room_id, user, roles, &invite);
  }

  std::uint8_t roles_of(std::uint64_t room_id, const std::string& user) const override {
    std::uint8_t bits = 0;
    if (valid_user(user) && fits(room_id))
      query("SELECT bits FROM roles WHERE room_id = $1 AND member = $2", params{}.i64(i8(room_id)).text(user),
            [&](const result& r, int i) { bits = static_cast<std::uint8_t>(r.i64(i, 0)); });
    return bits;
  }

  std::vector<std::pair<std::string, std::uint8_t>> room_roles(std::uint64_t room_id) const override {
    std::vector<std::pair<std::string, std::uint8_t>> out;
    if (fits(room_id))
      query("SELECT member, bits FROM roles WHERE room_id = $1 ORDER BY member", params{}.i64(i8(room_id)),
            [&](const result& r, int i) { out.emplace_back(r.str(i, 0), static_cast<std::uint8_t>(r.i64(i, 1))); });
    return out;
  }

  std::vector<std::pair<std::uint64_t, std::uint8_t>> user_rooms(const std::string& user) const override {
    std::vector<std::pair<std::uint64_t, std::uint8_t>> out;
    if (valid_user(user))
      query("SELECT room_id, bits FROM roles WHERE member = $1 ORDER BY room_id", params{}.text(user),
            [&](const result& r, int i) { out.emplace_back(r.u64(i, 0), static_cast<std::uint8_t>(r.i64(i, 1))); });
    return out;
  }

  // --- follows ----------------------------------------------------------------------------------------------

  status follow(const std::string& user, std::uint64_t room_id) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::user_ok(user); !st.ok())
      return st;
    return with([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec("INSERT INTO follows (member, room_id) SELECT $1, id FROM rooms WHERE id = $2 "
                            "ON CONFLICT DO NOTHING RETURNING 1",
                            params{}.text(user).i64(i8(room_id)), &r);
          !st.ok())
        return st;
      if (r.rows() == 0 && !room_exists(db, room_id))
        return fail(errc::not_found, "no room with id " + std::to_string(room_id));
      return status::success();
    });
  }

  status unfollow(const std::string& user, std::uint64_t room_id) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::user_ok(user); !st.ok())
      return st;
    if (!fits(room_id))
      return status::success();
    return exec("DELETE FROM follows WHERE member = $1 AND room_id = $2", params{}.text(user).i64(i8(room_id)));
  }

  std::vector<std::uint64_t> follows(const std::string& user) const override {
    std::vector<std::uint64_t> out;
    if (valid_user(user))
      query("SELECT room_id FROM follows WHERE member = $1 ORDER BY room_id", params{}.text(user),
            [&](const result& r, int i) { out.push_back(r.u64(i, 0)); });
    return out;
  }

  // --- invitations ------------------------------------------------------------------------------------------

  std::vector<invitation> invitations(const std::string& user) const override {
    std::vector<invitation> out;
    if (valid_user(user))
      query("SELECT id, room_id, inviter, ticks, seen FROM invitations WHERE member = $1 ORDER BY id",
            params{}.text(user), [&](const result& r, int i) {
              invitation inv;
              inv.id = r.u64(i, 0);
              inv.user = user;
              inv.room_id = r.u64(i, 1);
              inv.inviter = r.str(i, 2);
              inv.ticks = r.i64(i, 3);
              inv.seen = r.boolean(i, 4);
              out.push_back(std::move(inv));
            });
    return out;
  }

  status mark_seen(const std::string& user, const std::vector<std::uint64_t>& ids) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::user_ok(user); !st.ok())
      return st;
    std::vector<std::int64_t> wanted;
    for (auto id : ids)
      if (fits(id))
        wanted.push_back(i8(id));
    if (wanted.empty())
      return status::success();
    return exec("UPDATE invitations SET seen = TRUE WHERE member = $1 AND id = ANY($2::int8[])",
                params{}.text(user).i64_array(wanted));
  }

  // --- preferences ------------------------------------------------------------------------------------------

  status set_pref(const std::string& user, const std::string& label, const std::string& value) override {
    if (read_only_)
      return checks::read_only;
    if (!valid_user(user) || label.empty())
      return fail(errc::invalid_argument, "user or label is empty, or the user contains NUL");
    return exec("INSERT INTO prefs (member, label, value) VALUES ($1, $2, $3) "
                "ON CONFLICT (member, label) DO UPDATE SET value = EXCLUDED.value",
                params{}.text(user).text(label).bytes(value));
  }

  std::optional<std::string> pref(const std::string& user, const std::string& label) const override {
    std::optional<std::string> out;
    if (valid_user(user))
      query("SELECT value FROM prefs WHERE member = $1 AND label = $2", params{}.text(user).text(label),
            [&](const result& r, int i) { out = r.str(i, 0); });
    return out;
  }

  // --- room files -------------------------------------------------------------------------------------------

  status put_file(const file_record& f) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::file_ok(f); !st.ok())
      return st;
    return with([&](pg::connection& db) -> status {
      if (!room_exists(db, f.room_id))
        return fail(errc::not_found, "no room with id " + std::to_string(f.room_id));
      params p;
      p.i64(i8(f.room_id)).text(ascii_lower(f.id)).text(f.name).text(f.content_type).i64(i8(f.size));
      p.text(f.sha256).text(f.uploader).i64(f.ticks);
      return db.exec("INSERT INTO files (room_id, id, name, content_type, size, sha256, uploader, ticks) VALUES "
                     "($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (room_id, id) DO UPDATE SET name = "
                     "EXCLUDED.name, content_type = EXCLUDED.content_type, size = EXCLUDED.size, sha256 = "
                     "EXCLUDED.sha256, uploader = EXCLUDED.uploader, ticks = EXCLUDED.ticks",
                     p);
    });
  }

  std::optional<file_record> file(std::uint64_t room_id, const std::string& id) const override {
    if (id.empty())
      return std::nullopt;
    return first(some_files("room_id = $1 AND id = $2", params{}.i64(i8(room_id)).text(ascii_lower(id)),
                            fits(room_id)));
  }

  std::vector<file_record> files(std::uint64_t room_id) const override {
    return some_files("room_id = $1 ORDER BY id", params{}.i64(i8(room_id)), fits(room_id));
  }

  // --- users and policy -------------------------------------------------------------------------------------

  status add_user(const user_record& u) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::user_record_ok(u); !st.ok())
      return st;
    auto st = exec("INSERT INTO users (aor, display_name, realm, ha1_md5, ha1_sha256, nt_hash, disabled) VALUES "
                   "($1, $2, $3, $4, $5, $6, $7)",
                   user_params(u));
    if (st.code == errc::already_exists)
      return fail(errc::already_exists, "user " + u.aor + " exists");
    return st;
  }

  status update_user(const user_record& u) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::user_record_ok(u); !st.ok())
      return st;
    return changed_one("UPDATE users SET display_name = $2, realm = $3, ha1_md5 = $4, ha1_sha256 = $5, "
                       "nt_hash = $6, disabled = $7 WHERE aor = $1",
                       user_params(u), "no user " + u.aor);
  }

  status remove_user(const std::string& aor) override {
    if (read_only_)
      return checks::read_only;
    // A policy set for the user stays: it also applies without an account.
    return changed_one("DELETE FROM users WHERE aor = $1", params{}.text(aor), "no user " + aor);
  }

  status find_user(const std::string& aor, user_record& out) const override {
    bool found = false;
    auto st = query("SELECT aor, display_name, realm, ha1_md5, ha1_sha256, nt_hash, disabled FROM users WHERE "
                    "aor = $1",
                    params{}.text(aor), [&](const result& r, int i) {
                      out = decode_user(r, i);
                      found = true;
                    });
    if (!st.ok())
      return st.code == errc::invalid_argument ? fail(errc::not_found, "no user " + aor) : st;
    return found ? status::success() : fail(errc::not_found, "no user " + aor);
  }

  std::vector<user_record> users() const override {
    std::vector<user_record> out;
    query("SELECT aor, display_name, realm, ha1_md5, ha1_sha256, nt_hash, disabled FROM users ORDER BY aor",
          params{}, [&](const result& r, int i) { out.push_back(decode_user(r, i)); });
    return out;
  }

  status set_policy(policy_scope scope, const std::string& subject, std::optional<bool> enabled) override {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::policy_ok(scope, subject); !st.ok())
      return st;
    params p;
    p.i64(static_cast<std::int64_t>(scope)).text(checks::policy_subject(scope, subject));
    if (!enabled)
      return exec("DELETE FROM policies WHERE scope = $1 AND subject = $2", p);
    p.boolean(*enabled);
    return exec("INSERT INTO policies (scope, subject, persistent_chat) VALUES ($1, $2, $3) "
                "ON CONFLICT (scope, subject) DO UPDATE SET persistent_chat = EXCLUDED.persistent_chat",
                p);
  }

  std::vector<policy_setting> policies() const override {
    std::vector<policy_setting> out;
    query("SELECT scope, subject, persistent_chat FROM policies ORDER BY scope, subject", params{},
          [&](const result& r, int i) { out.push_back(decode_policy(r, i)); });
    return out;
  }

  status persistent_chat_policy(const std::string& aor, std::optional<policy_setting>& out) const override {
    out.reset();
    // The most specific of at most three settings: the user's, its domain's, the global one.
    return query("SELECT scope, subject, persistent_chat FROM policies WHERE (scope = 2 AND subject = $1) OR "
                 "(scope = 1 AND subject = $2) OR (scope = 0 AND subject = '') ORDER BY scope DESC LIMIT 1",
                 params{}.text(aor).text(checks::domain_of(aor)),
                 [&](const result& r, int i) { out = decode_policy(r, i); });
  }

  // --- history ----------------------------------------------------------------------------------------------

  status append(const std::vector<message>& batch, bool sync) override {
    write_set w;
    w.messages = batch;
    return commit(w, sync);
  }

  status commit(const write_set& w, bool /*sync: PostgreSQL's commit is synchronous as the server has it*/) override {
    if (read_only_)
      return checks::read_only;
    if (w.empty())
      return status::success();
    if (auto st = checks::write_set_ok(w); !st.ok())
      return st;
    // A record written twice in one batch keeps its last version (as a WriteBatch's second Put would).
    std::map<std::pair<std::uint64_t, std::uint64_t>, const message*> latest;
    for (const auto& m : w.messages) {
      if (!fits(m.room_id) || !fits(m.seq))
        return fail(errc::invalid_argument, "a room id or seq above 2^63-1 does not fit PostgreSQL's int8");
      latest[{m.room_id, m.seq}] = &m;
    }
    std::vector<std::int64_t> rooms, seqs, ticks, term_rooms, term_seqs;
    std::vector<std::string_view> authors, bodies, term_views;
    std::vector<std::string> terms;
    for (const auto& [key, m] : latest) {
      rooms.push_back(i8(m->room_id));
      seqs.push_back(i8(m->seq));
      authors.push_back(m->author);
      ticks.push_back(m->ticks);
      bodies.push_back(m->text);
      for (auto& t : terms_of(*m)) {
        terms.push_back(std::move(t));
        term_rooms.push_back(i8(m->room_id));
        term_seqs.push_back(i8(m->seq));
      }
    }
    term_views.assign(terms.begin(), terms.end());
    // Unfollows come after follows (store.hpp): a pair in both ends unfollowed.
    std::set<std::pair<std::string, std::uint64_t>> dropped(w.unfollows.begin(), w.unfollows.end());
    std::vector<std::string_view> follow_users, unfollow_users;
    std::vector<std::int64_t> follow_rooms, unfollow_rooms;
    for (const auto& f : w.follows)
      if (!dropped.count(f) && fits(f.second)) {
        follow_users.push_back(f.first);
        follow_rooms.push_back(i8(f.second));
      }
    for (const auto& [user, room_id] : dropped)
      if (fits(room_id)) {
        unfollow_users.push_back(user);
        unfollow_rooms.push_back(i8(room_id));
      }
    params p;
    p.i64_array(rooms).i64_array(seqs).bytes_array(authors).i64_array(ticks).bytes_array(bodies);
    p.i64_array(term_rooms).bytes_array(term_views).i64_array(term_seqs);
    p.text_array(follow_users).i64_array(follow_rooms).text_array(unfollow_users).i64_array(unfollow_rooms);
    // One statement, so one transaction: every CTE runs, all or nothing. Follows of rooms that do not exist are
    // skipped, not failed.
    return exec(R"sql(
WITH m AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::bytea[], $4::int8[], $5::bytea[])
             AS m(room_id, seq, author, ticks, body)),
ins AS (INSERT INTO history (room_id, seq, author, ticks, body) SELECT room_id, seq, author, ticks, body FROM m
        ON CONFLICT (room_id, seq) DO UPDATE SET author = EXCLUDED.author, ticks = EXCLUDED.ticks,
                                                 body = EXCLUDED.body),
terms AS (INSERT INTO search_terms (room_id, term, seq) SELECT * FROM unnest($6::int8[], $7::bytea[], $8::int8[])
          ON CONFLICT DO NOTHING),
heads AS (INSERT INTO room_state (room_id, last_seq) SELECT room_id, max(seq) FROM m GROUP BY room_id
          ON CONFLICT (room_id) DO UPDATE SET last_seq = greatest(room_state.last_seq, EXCLUDED.last_seq)),
fol AS (INSERT INTO follows (member, room_id) SELECT f.member, f.room_id
          FROM unnest($9::text[], $10::int8[]) AS f(member, room_id) JOIN rooms ON rooms.id = f.room_id
        ON CONFLICT DO NOTHING),
unf AS (DELETE FROM follows USING unnest($11::text[], $12::int8[]) AS u(member, room_id)
        WHERE follows.member = u.member AND follows.room_id = u.room_id)
SELECT 1)sql",
                p);
  }

  std::vector<message> last(std::uint64_t room_id, std::size_t n) const override {
    std::vector<message> out;
    if (n == 0 || !fits(room_id))
      return out;
    query("SELECT seq, author, ticks, body FROM history WHERE room_id = $1 ORDER BY seq DESC LIMIT $2",
          params{}.i64(i8(room_id)).i64(i8(std::min<std::uint64_t>(n, int8_max))),
          [&](const result& r, int i) { out.push_back(decode_message(r, i, room_id)); });
    std::reverse(out.begin(), out.end());
    return out;
  }

  std::vector<message> after(std::uint64_t room_id, std::uint64_t after_seq, std::size_t n) const override {
    std::vector<message> out;
    if (n == 0 || !fits(room_id) || after_seq >= int8_max)
      return out;
    query("SELECT seq, author, ticks, body FROM history WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
          params{}.i64(i8(room_id)).i64(i8(after_seq)).i64(i8(std::min<std::uint64_t>(n, int8_max))),
          [&](const result& r, int i) { out.push_back(decode_message(r, i, room_id)); });
    return out;
  }

  std::uint64_t last_seq(std::uint64_t room_id) const override {
    std::uint64_t seq = 0;
    if (fits(room_id))
      query("SELECT greatest(last_seq, cleared_up_to) FROM room_state WHERE room_id = $1", params{}.i64(i8(room_id)),
            [&](const result& r, int i) { seq = r.u64(i, 0); });
    return seq;
  }

  std::uint64_t last_seq_before(std::uint64_t room_id, std::int64_t before_ticks) const override {
    std::uint64_t seq = 0;
    // Ticks never decrease with seq: the newest message before the time ends the run of old ones; nothing
    // stored before then means everything up to the cleared floor.
    if (fits(room_id))
      query("SELECT greatest(coalesce((SELECT max(seq) FROM history WHERE room_id = $1 AND ticks < $2), 0), "
            "coalesce((SELECT cleared_up_to FROM room_state WHERE room_id = $1), 0))",
            params{}.i64(i8(room_id)).i64(before_ticks), [&](const result& r, int i) { seq = r.u64(i, 0); });
    return seq;
  }

  std::uint64_t cleared_up_to(std::uint64_t room_id) const override {
    std::uint64_t seq = 0;
    if (fits(room_id))
      query("SELECT cleared_up_to FROM room_state WHERE room_id = $1", params{}.i64(i8(room_id)),
            [&](const result& r, int i) { seq = r.u64(i, 0); });
    return seq;
  }

  status clear_history(std::uint64_t room_id, std::uint64_t up_to_seq) override {
    if (read_only_)
      return checks::read_only;
    if (up_to_seq == 0)
      return status::success();
    if (!fits(room_id) || !fits(up_to_seq))
      return fail(errc::invalid_argument, "a room id or seq above 2^63-1 does not fit PostgreSQL's int8");
    return exec(R"sql(
WITH h AS (DELETE FROM history WHERE room_id = $1 AND seq <= $2),
t AS (DELETE FROM search_terms WHERE room_id = $1 AND seq <= $2)
INSERT INTO room_state (room_id, last_seq, cleared_up_to) VALUES ($1, $2, $2)
ON CONFLICT (room_id) DO UPDATE SET cleared_up_to = greatest(room_state.cleared_up_to, $2),
                                    last_seq = greatest(room_state.last_seq, $2))sql",
                params{}.i64(i8(room_id)).i64(i8(up_to_seq)));
  }

  status replace_message(std::uint64_t room_id, std::uint64_t seq, const std::string& text) override {
    if (read_only_)
      return checks::read_only;
    return in_transaction([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec("UPDATE history SET body = $3 WHERE room_id = $1 AND seq = $2 RETURNING author",
                            params{}.i64(i8(room_id)).i64(i8(seq)).bytes(text), &r);
          !st.ok())
        return st;
      if (!fits(room_id) || !fits(seq) || r.rows() == 0)
        return fail(errc::not_found, "no message " + std::to_string(seq));
      // The index follows: the old words no longer find it, the new ones do (the author's term stays).
      message m;
      m.author = r.str(0, 0);
      m.text = text;
      auto terms = terms_of(m);
      std::vector<std::string_view> views(terms.begin(), terms.end());
      return db.exec(R"sql(
WITH d AS (DELETE FROM search_terms WHERE room_id = $1 AND seq = $2 AND NOT term = ANY($3::bytea[]))
INSERT INTO search_terms (room_id, term, seq) SELECT $1, t, $2 FROM unnest($3::bytea[]) AS t
ON CONFLICT DO NOTHING)sql",
                     params{}.i64(i8(room_id)).i64(i8(seq)).bytes_array(views));
    });
  }

  status checkpoint(const std::string&) override {
    return fail(errc::invalid_argument, "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, "
                                        "pg_basebackup; docs/pool.md \"Backup\"), not pchatctl backup");
  }

  // Posts with every word (and the author), in the time range, newest first: the terms' postings intersected by
  // counting (a seq found under all n terms is a hit), then the history rows. The cost is the postings of the
  // query's terms in the room, not the history; keys_examined stays 0 (it counts RocksDB seeks).
  history_hits search(std::uint64_t room_id, const history_query& q) const override {
    history_hits h;
    if (q.limit == 0 || q.from_ticks > q.to_ticks || !fits(room_id))
      return h;
    std::set<std::string> wanted(q.words.begin(), q.words.end());
    if (!q.author.empty())
      wanted.insert(codec::key::author_term(q.author));
    std::vector<std::string_view> terms(wanted.begin(), wanted.end());
    params p;
    p.i64(i8(room_id)).i64(q.from_ticks).i64(q.to_ticks).i64(i8(std::min<std::uint64_t>(q.limit, int8_max)));
    std::string sql = "SELECT h.seq, h.author, h.ticks, h.body FROM history h ";
    if (!terms.empty()) {
      p.bytes_array(terms).i64(static_cast<std::int64_t>(terms.size()));
      sql += "JOIN (SELECT seq FROM search_terms WHERE room_id = $1 AND term = ANY($5::bytea[]) GROUP BY seq "
             "HAVING count(*) = $6) hit ON hit.seq = h.seq ";
    }
    sql += "WHERE h.room_id = $1 AND h.ticks >= $2 AND h.ticks <= $3 ORDER BY h.seq DESC LIMIT $4";
    query(sql, p, [&](const result& r, int i) { h.messages.push_back(decode_message(r, i, room_id)); });
    return h;
  }

private:
  // Runs fn on a pooled connection; io_error when none can be had.
  template <class Fn>
  status with(Fn&& fn) const {
    status error;
    auto c = pool_.acquire(error);
    if (!c)
      return error;
    return fn(**c);
  }

  // Runs fn(connection) inside BEGIN ... COMMIT; anything but ok rolls back.
  template <class Fn>
  status in_transaction(Fn&& fn) {
    return with([&](pg::connection& db) -> status {
      pg::transaction tx{db};
      if (!tx.begun().ok())
        return tx.begun();
      if (auto st = fn(db); !st.ok())
        return st;
      return tx.commit();
    });
  }

  // A read: fn(connection) -> status, which must leave nothing behind when it fails. Tried once more on a fresh
  // connection when the first one broke under it (reads are idempotent; writes are not retried, their outcome
  // being unknown). The read API has no error channel: what still fails reads as nothing.
  template <class Fn>
  status read(Fn&& fn) const {
    status st;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool broken = false;
      st = with([&](pg::connection& db) {
        auto s = fn(db);
        broken = !s.ok() && !db.ok();
        return s;
      });
      if (st.ok() || !broken)
        break;
    }
    return st;
  }

  status exec(std::string_view sql, const params& p) {
    return with([&](pg::connection& db) { return db.exec(sql, p); });
  }

  // Runs a query and calls row(result, i) for each row.
  template <class Row>
  status query(std::string_view sql, const params& p, Row&& row) const {
    return read([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec(sql, p, &r); !st.ok())
        return st;
      for (int i = 0; i < r.rows(); ++i)
        row(r, i);
      return status::success();
    });
  }

  // An UPDATE/DELETE that must touch one row: not_found with `missing` when it touched none.
  status changed_one(std::string_view sql, const params& p, const std::string& missing) {
    return with([&](pg::connection& db) -> status {
      result r;
      if (auto st = db.exec(sql, p, &r); !st.ok())
        return st.code == errc::invalid_argument ? fail(errc::not_found, missing) : st;
      return r.affected() == 0 ? fail(errc::not_found, missing) : status::success();
    });
  }

  template <class T>
  static std::optional<T> first(std::vector<T> v) {
    if (v.empty())
      return std::nullopt;
    return std::move(v.front());
  }

  // Creates or upgrades the schema to schema_version; the advisory lock makes nodes that start together take
  // turns (the first creates, the others find it made).
  status migrate(pg::connection& c) {
    pg::transaction tx{c};
    if (!tx.begun().ok())
      return tx.begun();
    if (auto st = c.exec("SELECT pg_advisory_xact_lock($1)", params{}.i64(schema_lock)); !st.ok())
      return st;
    if (auto st = c.exec("CREATE TABLE IF NOT EXISTS pchat_schema (version int8 PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())");
        !st.ok())
      return st;
    result r;
    if (auto st = c.exec("SELECT coalesce(max(version), 0) FROM pchat_schema", &r); !st.ok())
      return st;
    auto have = r.i64(0, 0);
    for (const auto& m : migrations) {
      if (m.version <= have)
        continue;
      if (auto st = c.script(m.sql); !st.ok())
        return fail(st.code, "creating the pchat schema (version " + std::to_string(m.version) + "): " + st.message);
      if (auto st = c.exec("INSERT INTO pchat_schema (version) VALUES ($1)", params{}.i64(m.version)); !st.ok())
        return st;
    }
    // The identity, made once: the first node to get here writes it, the others read it.
    for (const char* key : {"db_version", "root_guid"})
      if (auto st = c.exec("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                           params{}.text(key).text(random_guid()));
          !st.ok())
        return st;
    return tx.commit();
  }

  // The next id of a kind, taken in the caller's transaction (its row lock queues concurrent creators).
  static status next_id(pg::connection& db, const char* kind, std::uint64_t& id) {
    result r;
    if (auto st = db.exec("UPDATE counters SET next = next + 1 WHERE name = $1 RETURNING next - 1",
                          params{}.text(kind), &r);
        !st.ok())
      return st;
    if (r.rows() != 1)
      return fail(errc::corruption, std::string{"the "} + kind + " counter is missing");
    id = r.u64(0, 0);
    return status::success();
  }

  // already_exists with `taken` when the query finds a row.
  static status absent(pg::connection& db, const char* sql, const std::string& key, std::string taken) {
    result r;
    if (auto st = db.exec(sql, params{}.text(key), &r); !st.ok())
      return st;
    return r.rows() == 0 ? status::success() : fail(errc::already_exists, std::move(taken));
  }

  static status category_exists(pg::connection& db, std::uint64_t id) {
    result r;
    if (auto st = db.exec("SELECT 1 FROM categories WHERE id = $1", params{}.i64(i8(id)), &r); !st.ok())
      return st;
    return fits(id) && r.rows() == 1 ? status::success()
                                     : fail(errc::invalid_argument, "unknown category " + std::to_string(id));
  }

  static bool room_exists(pg::connection& db, std::uint64_t id) {
    result r;
    return fits(id) && db.exec("SELECT 1 FROM rooms WHERE id = $1", params{}.i64(i8(id)), &r).ok() && r.rows() == 1;
  }

  static status put_principals(pg::connection& db, const category& c) {
    std::vector<std::int64_t> lists;
    std::vector<std::string_view> names;
    auto add = [&](codec::key::principal_list list, const std::vector<std::string>& principals) {
      for (const auto& p : principals) {
        lists.push_back(static_cast<std::int64_t>(list));
        names.push_back(p);
      }
    };
    add(codec::key::principal_list::allow, c.allow);
    add(codec::key::principal_list::deny, c.deny);
    add(codec::key::principal_list::creator, c.creators);
    if (names.empty())
      return status::success();
    return db.exec("INSERT INTO category_principals (category_id, list, principal) SELECT $1, l, p "
                   "FROM unnest($2::int8[], $3::text[]) AS x(l, p) ON CONFLICT DO NOTHING",
                   params{}.i64(i8(c.id)).i64_array(lists).text_array(names));
  }

  static status load_principals(pg::connection& db, std::vector<category>& cats) {
    if (cats.empty())
      return status::success();
    std::map<std::uint64_t, category*> by_id;
    std::vector<std::int64_t> ids;
    for (auto& c : cats) {
      by_id[c.id] = &c;
      ids.push_back(i8(c.id));
    }
    result r;
    if (auto st = db.exec("SELECT category_id, list, principal FROM category_principals WHERE category_id = "
                          "ANY($1::int8[]) ORDER BY category_id, list, principal",
                          params{}.i64_array(ids), &r);
        !st.ok())
      return st;
    for (int i = 0; i < r.rows(); ++i) {
      auto* c = by_id[r.u64(i, 0)];
      switch (static_cast<codec::key::principal_list>(r.i64(i, 1))) {
        case codec::key::principal_list::allow: c->allow.push_back(r.str(i, 2)); break;
        case codec::key::principal_list::deny: c->deny.push_back(r.str(i, 2)); break;
        case codec::key::principal_list::creator: c->creators.push_back(r.str(i, 2)); break;
      }
    }
    return status::success();
  }

  std::optional<category> one_category(const std::string& where, const params& p, bool valid) const {
    std::optional<category> out;
    if (!valid)
      return out;
    read([&](pg::connection& db) {
      result r;
      if (auto st = db.exec(std::string{"SELECT "} + category_columns + " FROM categories WHERE " + where, p, &r);
          !st.ok() || r.rows() == 0)
        return st;
      std::vector<category> one{decode_category(r, 0)};
      if (auto st = load_principals(db, one); !st.ok())
        return st;
      out = std::move(one.front());
      return status::success();
    });
    return out;
  }

  std::vector<room> some_rooms(const std::string& where, const params& p, bool valid) const {
    std::vector<room> out;
    if (valid)
      query(std::string{"SELECT "} + room_columns + " FROM rooms WHERE " + where, p,
            [&](const result& r, int i) { out.push_back(decode_room(r, i)); });
    return out;
  }

  std::vector<file_record> some_files(const std::string& where, const params& p, bool valid) const {
    std::vector<file_record> out;
    if (valid)
      query("SELECT room_id, id, name, content_type, size, sha256, uploader, ticks FROM files WHERE " + where, p,
            [&](const result& r, int i) {
              file_record f;
              f.room_id = r.u64(i, 0);
              f.id = r.str(i, 1);
              f.name = r.str(i, 2);
              f.content_type = r.str(i, 3);
              f.size = r.u64(i, 4);
              f.sha256 = r.str(i, 5);
              f.uploader = r.str(i, 6);
              f.ticks = r.i64(i, 7);
              out.push_back(std::move(f));
            });
    return out;
  }

  status set_roles_impl(std::uint64_t room_id, const std::string& user, std::uint8_t roles, invitation* invite) {
    if (read_only_)
      return checks::read_only;
    if (auto st = checks::roles_ok(user, roles); !st.ok())
      return st;
    invitation stored;
    auto st = in_transaction([&](pg::connection& db) -> status {
      // The room row locked: a remove_room cannot slip between the check and the write.
      result r;
      if (auto found = db.exec("SELECT 1 FROM rooms WHERE id = $1 FOR SHARE", params{}.i64(i8(room_id)), &r);
          !found.ok())
        return found;
      if (!fits(room_id) || r.rows() == 0)
        return fail(errc::not_found, "no room with id " + std::to_string(room_id));
      auto set = roles == 0 ? db.exec("DELETE FROM roles WHERE room_id = $1 AND member = $2",
                                      params{}.i64(i8(room_id)).text(user))
                            : db.exec("INSERT INTO roles (room_id, member, bits) VALUES ($1, $2, $3) "
                                      "ON CONFLICT (room_id, member) DO UPDATE SET bits = EXCLUDED.bits",
                                      params{}.i64(i8(room_id)).text(user).i64(roles));
      if (!set.ok() || invite == nullptr)
        return set;
      stored = *invite;
      stored.user = user;
      stored.room_id = room_id;
      if (stored.ticks == 0)
        stored.ticks = now_ticks();
      if (auto id = next_id(db, "invitation", stored.id); !id.ok())
        return id;
      params p;
      p.i64(i8(stored.id)).text(user).i64(i8(room_id)).text(stored.inviter).i64(stored.ticks).boolean(stored.seen);
      return db.exec("INSERT INTO invitations (id, member, room_id, inviter, ticks, seen) VALUES ($1, $2, $3, $4, "
                     "$5, $6)",
                     p);
    });
    if (st.ok() && invite != nullptr)
      *invite = std::move(stored);
    return st;
  }

  static params user_params(const user_record& u) {
    params p;
    p.text(u.aor).text(u.display_name).text(u.realm).text(u.ha1_md5).text(u.ha1_sha256).text(u.nt_hash);
    p.boolean(u.disabled);
    return p;
  }

  static user_record decode_user(const result& r, int i) {
    user_record u;
    u.aor = r.str(i, 0);
    u.display_name = r.str(i, 1);
    u.realm = r.str(i, 2);
    u.ha1_md5 = r.str(i, 3);
    u.ha1_sha256 = r.str(i, 4);
    u.nt_hash = r.str(i, 5);
    u.disabled = r.boolean(i, 6);
    return u;
  }

  static policy_setting decode_policy(const result& r, int i) {
    return {static_cast<policy_scope>(r.i64(i, 0)), r.str(i, 1), r.boolean(i, 2)};
  }

  mutable pg::pool pool_;
  const bool read_only_;
  std::string db_version_;
  std::string root_guid_;
};

} // namespace

status store::open_postgres(const std::string& conninfo, const open_options& opts, std::unique_ptr<store>& out,
                            std::size_t connections) {
  try {
    auto s = std::make_unique<pg_store>(conninfo, connections, opts.read_only);
    if (auto st = s->init(opts); !st.ok())
      return st;
    out = std::move(s);
    return status::success();
  } catch (const std::exception& e) {
    return fail(errc::io_error, std::string{"opening the PostgreSQL store: "} + e.what());
  }
}

} // namespace pchat::storage
