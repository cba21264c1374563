#include "storage/store.hpp"

#include "base/random.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "storage/record_codec.hpp"
#include "storage/rocks_status.hpp"
#include "storage/store_checks.hpp"
#include "storage/text_index.hpp"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <string_view>
#include <system_error>

namespace pchat::storage {

const char* to_string(errc code) {
  switch (code) {
  case errc::ok:
    return "ok";
  case errc::not_found:
    return "not_found";
  case errc::already_exists:
    return "already_exists";
  case errc::invalid_argument:
    return "invalid_argument";
  case errc::io_error:
    return "io_error";
  case errc::corruption:
    return "corruption";
  case errc::busy:
    return "busy";
  }
  return "unknown";
}

status make_checkpoint(rocksdb::DB& db, const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  if (auto st = from_rocks(rocksdb::Checkpoint::Create(&db, &raw), "checkpoint"); !st.ok())
    return st;
  std::unique_ptr<rocksdb::Checkpoint> cp{raw};
  // log_size_for_flush 0: the memtables are flushed first, so the copy needs no WAL replay to be complete.
  return from_rocks(cp->CreateCheckpoint(dir, 0), "checkpoint into " + dir);
}

status from_rocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok())
    return status::success();
  std::string msg = std::string{what} + ": " + s.ToString();
  if (s.IsCorruption())
    return {errc::corruption, std::move(msg)};
  if (s.IsNotFound() || s.IsPathNotFound())
    return {errc::not_found, std::move(msg)};
  return {errc::io_error, std::move(msg)};
}

status from_rocks_open(const rocksdb::Status& s, const std::string& dir) {
  std::string text = s.ToString();
  // Another process: "While lock file: <dir>/LOCK: Resource temporarily unavailable"; this process:
  // "lock hold by current process ... <dir>/LOCK: No locks available". (A bare "lock" would match "block".)
  if (s.IsIOError() && (text.find("/LOCK") != std::string::npos || text.find("lock hold") != std::string::npos))
    return {errc::busy, "data directory " + dir + " is in use (is pchatd running?): " + text};
  if (s.IsInvalidArgument() && text.find("does not exist") != std::string::npos)
    return {errc::not_found, "no database in " + dir + ": " + text};
  return from_rocks(s, "opening " + dir);
}

namespace {

namespace keys = codec::key;

// Column family indexes into rocks_store::cfs_; the order is the open order.
enum cf_index : std::size_t {
  cf_meta = 0, cf_catalog, cf_history, cf_roles, cf_follows, cf_invites, cf_prefs, cf_search, cf_users, cf_files,
  cf_count
};
constexpr std::array<const char*, cf_count> cf_names = {"default", "catalog", "history", "roles", "follows",
                                                        "invites", "prefs",   "search",  "users", "files"};

status fail(errc code, std::string message) {
  return {code, std::move(message)};
}

bool starts_with(const rocksdb::Slice& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

using checks::valid_user;
using codec::key::principal_list;

const status& read_only_status = checks::read_only;

class rocks_store final : public store {
public:
  explicit rocks_store(bool read_only) : read_only_(read_only) {}

  ~rocks_store() override {
    if (db_) {
      for (auto* h : cfs_)
        if (h != nullptr)
          db_->DestroyColumnFamilyHandle(h);
      db_->Close();
    }
  }

  rocks_store(const rocks_store&) = delete;
  rocks_store& operator=(const rocks_store&) = delete;

  // Opens the DB and loads/initialises the meta keys; validates every catalog record.
  status init(const std::string& dir, const open_options& opts) {
    rocksdb::DBOptions o;
    o.create_if_missing = opts.create_if_missing && !read_only_;
    o.create_missing_column_families = o.create_if_missing;
    o.keep_log_file_num = 10;

    rocksdb::ColumnFamilyOptions hist;
    hist.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
    rocksdb::BlockBasedTableOptions bt;
    bt.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    bt.whole_key_filtering = false;
    hist.table_factory.reset(rocksdb::NewBlockBasedTableFactory(bt));

    // A read-only open cannot create the families a newer pchat added; it opens those that exist and reads
    // the others as empty.
    std::vector<std::string> existing;
    if (read_only_)
      rocksdb::DB::ListColumnFamilies(o, dir, &existing);
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    std::vector<std::size_t> opened;
    for (std::size_t i = 0; i < cf_count; ++i) {
      if (read_only_ && std::find(existing.begin(), existing.end(), cf_names[i]) == existing.end())
        continue;
      descs.emplace_back(cf_names[i], i == cf_history ? hist : rocksdb::ColumnFamilyOptions{});
      opened.push_back(i);
    }

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = read_only_ ? rocksdb::DB::OpenForReadOnly(o, dir, descs, &handles, &raw)
                                   : rocksdb::DB::Open(o, dir, descs, &handles, &raw);
    if (!s.ok())
      return from_rocks_open(s, dir);
    db_.reset(raw);
    for (std::size_t i = 0; i < opened.size() && i < handles.size(); ++i)
      cfs_[opened[i]] = handles[i];

    if (auto st = load_meta(); !st.ok())
      return st;
    return validate_catalog();
  }

  std::string db_version() const override { return db_version_; }
  std::string root_guid() const override { return root_guid_; }

  // --- categories -------------------------------------------------------------------------------------------

  status create_category(category& c) override {
    if (read_only_)
      return read_only_status;
    if (auto st = checks::category_ok(c); !st.ok())
      return st;
    std::lock_guard<std::mutex> guard{mutex_};
    auto name_key = keys::category_name(c.name);
    if (auto st = check_absent(cf_catalog, name_key, "category name '" + c.name + "' is taken"); !st.ok())
      return st;
    category stored = c;
    stored.id = next_category_id_;
    if (stored.guid.empty())
      stored.guid = new_guid();
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_catalog], keys::category(stored.id), codec::encode_category(stored));
    wb.Put(cfs_[cf_catalog], name_key, codec::be64(stored.id));
    put_principals(wb, stored);
    put_retention(wb, keys::category_retention(stored.id), checks::stored_rule(stored));
    wb.Put(cfs_[cf_meta], keys::next_category_id, codec::be64(stored.id + 1));
    if (auto st = write(wb, true, "create_category"); !st.ok())
      return st;
    next_category_id_ = stored.id + 1;
    c.id = stored.id;
    c.guid = stored.guid;
    return status::success();
  }

  std::vector<category> categories() const override {
    std::vector<category> out;
    scan(cf_catalog, keys::category_prefix, [&](std::string_view k, std::string_view v) {
      if (keys::record_id(k, keys::category_prefix))
        if (auto c = codec::decode_category(v))
          out.push_back(std::move(*c));
      return true;
    });
    for (auto& c : out) {
      load_principals(c);
      c.keep = load_retention(keys::category_retention(c.id)).value_or(retention{});
    }
    return out;
  }

  std::optional<category> category_by_id(std::uint64_t id) const override {
    std::string v;
    if (!get(cf_catalog, keys::category(id), v))
      return std::nullopt;
    auto c = codec::decode_category(v);
    if (!c || c->id != id)
      return std::nullopt;
    load_principals(*c);
    c->keep = load_retention(keys::category_retention(id)).value_or(retention{});
    return c;
  }

  std::optional<category> category_by_name(const std::string& name) const override {
    if (auto id = index_lookup(keys::category_name(name)))
      return category_by_id(*id);
    return std::nullopt;
  }

  status update_category(const category& c) override {
    if (read_only_)
      return read_only_status;
    if (auto st = checks::category_ok(c); !st.ok())
      return st;
    std::lock_guard<std::mutex> guard{mutex_};
    std::string v;
    if (!get(cf_catalog, keys::category(c.id), v))
      return fail(errc::not_found, "no category with id " + std::to_string(c.id));
    auto old = codec::decode_category(v);
    if (!old || old->id != c.id)
      return fail(errc::corruption, "category record " + std::to_string(c.id) + " does not decode");
    category stored = c;
    stored.guid = old->guid; // immutable
    rocksdb::WriteBatch wb;
    if (auto st = rename(wb, keys::category_name(old->name), keys::category_name(stored.name), stored.id,
                         "category name '" + c.name + "' is taken");
        !st.ok())
      return st;
    wb.Put(cfs_[cf_catalog], keys::category(stored.id), codec::encode_category(stored));
    delete_prefix(wb, cf_catalog, keys::scope_prefix(stored.id));
    put_principals(wb, stored);
    put_retention(wb, keys::category_retention(stored.id), checks::stored_rule(stored));
    return write(wb, true, "update_category");
  }

  status remove_category(std::uint64_t id) override {
    if (read_only_)
      return read_only_status;
    std::lock_guard<std::mutex> guard{mutex_};
    auto c = category_by_id(id);
    if (!c)
      return fail(errc::not_found, "no category with id " + std::to_string(id));
    bool used = false;
    scan(cf_catalog, keys::room_prefix, [&](std::string_view k, std::string_view v) {
      if (keys::record_id(k, keys::room_prefix))
        if (auto r = codec::decode_room(v); r && r->category_id == id)
          used = true;
      return !used;
    });
    if (used)
      return fail(errc::invalid_argument, "category '" + c->name + "' still has rooms");
    rocksdb::WriteBatch wb;
    wb.Delete(cfs_[cf_catalog], keys::category(id));
    wb.Delete(cfs_[cf_catalog], keys::category_name(c->name));
    delete_prefix(wb, cf_catalog, keys::scope_prefix(id));
    wb.Delete(cfs_[cf_catalog], keys::category_retention(id));
    return write(wb, true, "remove_category");
  }

  // --- rooms ------------------------------------------------------------------------------------------------

  status create_room(room& r) override {
    if (read_only_)
      return read_only_status;
    if (r.name.empty())
      return fail(errc::invalid_argument, "room name is empty");
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto st = check_category(r.category_id); !st.ok())
      return st;
    auto name_key = keys::room_name(r.name);
    if (auto st = check_absent(cf_catalog, name_key, "room name '" + r.name + "' is taken"); !st.ok())
      return st;
    room stored = r;
    stored.id = next_room_id_;
    if (stored.guid.empty())
      stored.guid = new_guid();
    if (stored.created_ticks == 0)
      stored.created_ticks = now_ticks();
    auto guid_key = keys::room_guid(stored.guid);
    if (auto st = check_absent(cf_catalog, guid_key, "room guid '" + stored.guid + "' is taken"); !st.ok())
      return st;
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_catalog], keys::room(stored.id), codec::encode_room(stored));
    wb.Put(cfs_[cf_catalog], name_key, codec::be64(stored.id));
    wb.Put(cfs_[cf_catalog], guid_key, codec::be64(stored.id));
    put_retention(wb, keys::room_retention(stored.id), stored.keep);
    wb.Put(cfs_[cf_meta], keys::next_room_id, codec::be64(stored.id + 1));
    if (auto st = write(wb, true, "create_room"); !st.ok())
      return st;
    next_room_id_ = stored.id + 1;
    r.id = stored.id;
    r.guid = stored.guid;
    r.created_ticks = stored.created_ticks;
    return status::success();
  }

  status update_room(const room& r) override {
    if (read_only_)
      return read_only_status;
    if (r.name.empty())
      return fail(errc::invalid_argument, "room name is empty");
    std::lock_guard<std::mutex> guard{mutex_};
    std::string v;
    if (!get(cf_catalog, keys::room(r.id), v))
      return fail(errc::not_found, "no room with id " + std::to_string(r.id));
    auto old = codec::decode_room(v);
    if (!old || old->id != r.id)
      return fail(errc::corruption, "room record " + std::to_string(r.id) + " does not decode");
    if (!r.guid.empty() && ascii_lower(r.guid) != ascii_lower(old->guid))
      return fail(errc::invalid_argument, "a room's guid cannot change");
    if (auto st = check_category(r.category_id); !st.ok())
      return st;
    room stored = r;
    stored.guid = old->guid;                   // immutable
    stored.created_ticks = old->created_ticks; // immutable
    rocksdb::WriteBatch wb;
    if (auto st = rename(wb, keys::room_name(old->name), keys::room_name(stored.name), stored.id,
                         "room name '" + r.name + "' is taken");
        !st.ok())
      return st;
    wb.Put(cfs_[cf_catalog], keys::room(stored.id), codec::encode_room(stored));
    put_retention(wb, keys::room_retention(stored.id), stored.keep);
    return write(wb, true, "update_room");
  }

  status remove_room(std::uint64_t id) override {
    if (read_only_)
      return read_only_status;
    std::lock_guard<std::mutex> guard{mutex_};
    auto r = room_by_id(id);
    if (!r)
      return fail(errc::not_found, "no room with id " + std::to_string(id));
    rocksdb::WriteBatch wb;
    wb.Delete(cfs_[cf_catalog], keys::room(id));
    wb.Delete(cfs_[cf_catalog], keys::room_name(r->name));
    wb.Delete(cfs_[cf_catalog], keys::room_guid(r->guid));
    wb.Delete(cfs_[cf_catalog], keys::room_retention(id));
    for (auto& [user, bits] : room_roles(id))
      wb.Delete(cfs_[cf_roles], keys::user_role(user, id));
    delete_prefix(wb, cf_roles, keys::room_roles_prefix(id));
    wb.DeleteRange(cfs_[cf_history], keys::history(id, 0), keys::history(id + 1, 0));
    delete_prefix(wb, cf_files, keys::files_prefix(id));
    return write(wb, true, "remove_room");
  }

  std::vector<room> rooms() const override {
    std::vector<room> out;
    scan(cf_catalog, keys::room_prefix, [&](std::string_view k, std::string_view v) {
      if (keys::record_id(k, keys::room_prefix))
        if (auto r = codec::decode_room(v))
          out.push_back(std::move(*r));
      return true;
    });
    for (auto& r : out)
      r.keep = load_retention(keys::room_retention(r.id));
    return out;
  }

  std::optional<room> room_by_id(std::uint64_t id) const override {
    std::string v;
    if (!get(cf_catalog, keys::room(id), v))
      return std::nullopt;
    auto r = codec::decode_room(v);
    if (!r || r->id != id)
      return std::nullopt;
    r->keep = load_retention(keys::room_retention(id));
    return r;
  }

  std::optional<room> room_by_guid(const std::string& guid) const override {
    if (auto id = index_lookup(keys::room_guid(guid)))
      return room_by_id(*id);
    return std::nullopt;
  }

  std::optional<room> room_by_name(const std::string& name) const override {
    if (auto id = index_lookup(keys::room_name(name)))
      return room_by_id(*id);
    return std::nullopt;
  }

  // --- roles ------------------------------------------------------------------------------------------------

  status set_roles(std::uint64_t room_id, const std::string& user, std::uint8_t roles) override {
    return set_roles_impl(room_id, user, roles, nullptr);
  }

  status set_roles(std::uint64_t room_id, const std::string& user, std::uint8_t roles,
                   invitation& invite) override {
    return set_roles_impl(room_id, user, roles, &invite);
  }

  status set_roles_impl(std::uint64_t room_id, const std::string& user, std::uint8_t roles, invitation* invite) {
    if (read_only_)
      return read_only_status;
    if (auto st = checks::roles_ok(user, roles); !st.ok())
      return st;
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto st = check_room(room_id); !st.ok())
      return st;
    rocksdb::WriteBatch wb;
    auto fwd = keys::room_role(room_id, user);
    auto rev = keys::user_role(user, room_id);
    if (roles == 0) {
      wb.Delete(cfs_[cf_roles], fwd);
      wb.Delete(cfs_[cf_roles], rev);
    } else {
      std::string bits(1, static_cast<char>(roles));
      wb.Put(cfs_[cf_roles], fwd, bits);
      wb.Put(cfs_[cf_roles], rev, bits);
    }
    if (invite == nullptr)
      return write(wb, true, "set_roles");
    invitation stored = *invite;
    stored.id = next_invite_id_;
    stored.user = user;
    stored.room_id = room_id;
    if (stored.ticks == 0)
      stored.ticks = now_ticks();
    wb.Put(cfs_[cf_invites], keys::invite(user, stored.id), codec::encode_invitation(stored));
    wb.Put(cfs_[cf_meta], keys::next_invite_id, codec::be64(stored.id + 1));
    if (auto st = write(wb, true, "set_roles"); !st.ok())
      return st;
    ++next_invite_id_;
    *invite = std::move(stored);
    return status::success();
  }

  std::uint8_t roles_of(std::uint64_t room_id, const std::string& user) const override {
    std::string v;
    if (!valid_user(user) || !get(cf_roles, keys::room_role(room_id, user), v) || v.size() != 1)
      return 0;
    return static_cast<std::uint8_t>(v[0]);
  }

  std::vector<std::pair<std::string, std::uint8_t>> room_roles(std::uint64_t room_id) const override {
    std::vector<std::pair<std::string, std::uint8_t>> out;
    auto prefix = keys::room_roles_prefix(room_id);
    scan(cf_roles, prefix, [&](std::string_view k, std::string_view v) {
      if (k.size() > prefix.size() && v.size() == 1)
        out.emplace_back(std::string{k.substr(prefix.size())}, static_cast<std::uint8_t>(v[0]));
      return true;
    });
    return out;
  }

  std::vector<std::pair<std::uint64_t, std::uint8_t>> user_rooms(const std::string& user) const override {
    std::vector<std::pair<std::uint64_t, std::uint8_t>> out;
    if (!valid_user(user))
      return out;
    auto prefix = keys::user_roles_prefix(user);
    scan(cf_roles, prefix, [&](std::string_view k, std::string_view v) {
      if (auto id = codec::read_be64(k.substr(prefix.size())); id && v.size() == 1)
        out.emplace_back(*id, static_cast<std::uint8_t>(v[0]));
      return true;
    });
    return out;
  }

  // --- follows ----------------------------------------------------------------------------------------------

  status follow(const std::string& user, std::uint64_t room_id) override {
    if (read_only_)
      return read_only_status;
    if (!valid_user(user))
      return fail(errc::invalid_argument, "user is empty or contains NUL");
    if (auto st = check_room(room_id); !st.ok())
      return st;
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_follows], keys::follow(user, room_id), rocksdb::Slice{});
    return write(wb, true, "follow");
  }

  status unfollow(const std::string& user, std::uint64_t room_id) override {
    if (read_only_)
      return read_only_status;
    if (!valid_user(user))
      return fail(errc::invalid_argument, "user is empty or contains NUL");
    rocksdb::WriteBatch wb;
    wb.Delete(cfs_[cf_follows], keys::follow(user, room_id));
    return write(wb, true, "unfollow");
  }

  std::vector<std::uint64_t> follows(const std::string& user) const override {
    std::vector<std::uint64_t> out;
    if (!valid_user(user))
      return out;
    auto prefix = keys::follows_prefix(user);
    scan(cf_follows, prefix, [&](std::string_view k, std::string_view) {
      if (auto id = codec::read_be64(k.substr(prefix.size())))
        out.push_back(*id);
      return true;
    });
    return out;
  }

  // --- invitations ------------------------------------------------------------------------------------------

  std::vector<invitation> invitations(const std::string& user) const override {
    std::vector<invitation> out;
    if (!valid_user(user))
      return out;
    auto prefix = keys::invites_prefix(user);
    scan(cf_invites, prefix, [&](std::string_view k, std::string_view v) {
      if (auto id = codec::read_be64(k.substr(prefix.size())))
        if (auto inv = codec::decode_invitation(v, user, *id))
          out.push_back(std::move(*inv));
      return true;
    });
    return out;
  }

  status mark_seen(const std::string& user, const std::vector<std::uint64_t>& ids) override {
    if (read_only_)
      return read_only_status;
    if (!valid_user(user))
      return fail(errc::invalid_argument, "user is empty or contains NUL");
    rocksdb::WriteBatch wb;
    for (auto id : ids) {
      std::string v;
      if (!get(cf_invites, keys::invite(user, id), v))
        continue;
      auto inv = codec::decode_invitation(v, user, id);
      if (!inv)
        return fail(errc::corruption, "invitation " + std::to_string(id) + " does not decode");
      inv->seen = true;
      wb.Put(cfs_[cf_invites], keys::invite(user, id), codec::encode_invitation(*inv));
    }
    return wb.Count() == 0 ? status::success() : write(wb, true, "mark_seen");
  }

  // --- preferences ------------------------------------------------------------------------------------------

  status set_pref(const std::string& user, const std::string& label, const std::string& value) override {
    if (read_only_)
      return read_only_status;
    if (!valid_user(user) || label.empty())
      return fail(errc::invalid_argument, "user or label is empty, or the user contains NUL");
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_prefs], keys::pref(user, label), value);
    return write(wb, true, "set_pref");
  }

  std::optional<std::string> pref(const std::string& user, const std::string& label) const override {
    std::string v;
    if (!valid_user(user) || !get(cf_prefs, keys::pref(user, label), v))
      return std::nullopt;
    return v;
  }

  // --- room files -------------------------------------------------------------------------------------------

  status put_file(const file_record& f) override {
    if (read_only_)
      return read_only_status;
    if (auto st = checks::file_ok(f); !st.ok())
      return st;
    if (auto st = check_room(f.room_id); !st.ok())
      return st;
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_files], keys::file(f.room_id, f.id), codec::encode_file(f));
    return write(wb, true, "put_file");
  }

  std::optional<file_record> file(std::uint64_t room_id, const std::string& id) const override {
    std::string v;
    auto k = keys::file(room_id, id);
    if (id.empty() || !get(cf_files, k, v))
      return std::nullopt;
    return codec::decode_file(v, room_id, std::string_view{k}.substr(8));
  }

  std::vector<file_record> files(std::uint64_t room_id) const override {
    std::vector<file_record> out;
    scan(cf_files, keys::files_prefix(room_id), [&](std::string_view k, std::string_view v) {
      if (auto f = codec::decode_file(v, room_id, k.substr(8)))
        out.push_back(std::move(*f));
      return true;
    });
    return out;
  }

  // --- users and policy -------------------------------------------------------------------------------------

  status add_user(const user_record& u) override { return put_user(u, true); }
  status update_user(const user_record& u) override { return put_user(u, false); }

  status remove_user(const std::string& aor) override {
    if (read_only_)
      return read_only_status;
    std::lock_guard<std::mutex> guard{mutex_};
    std::string v;
    if (auto st = read(cf_users, keys::user(aor), v); !st.ok())
      return st.code == errc::not_found ? fail(errc::not_found, "no user " + aor) : st;
    rocksdb::WriteBatch wb;
    wb.Delete(cfs_[cf_users], keys::user(aor)); // a policy set for the user stays: it also applies without an account
    return write(wb, true, "remove_user");
  }

  status find_user(const std::string& aor, user_record& out) const override {
    std::string v;
    if (auto st = read(cf_users, keys::user(aor), v); !st.ok())
      return st.code == errc::not_found ? fail(errc::not_found, "no user " + aor) : st;
    auto u = codec::decode_user(v, aor);
    if (!u)
      return fail(errc::corruption, "the user record of " + aor + " does not decode");
    out = std::move(*u);
    return status::success();
  }

  std::vector<user_record> users() const override {
    std::vector<user_record> out;
    scan(cf_users, keys::user_prefix, [&](std::string_view k, std::string_view v) {
      if (auto u = codec::decode_user(v, k.substr(keys::user_prefix.size())))
        out.push_back(std::move(*u));
      return true;
    });
    return out;
  }

  status set_policy(policy_scope scope, const std::string& subject, std::optional<bool> enabled) override {
    if (read_only_)
      return read_only_status;
    if (auto st = checks::policy_ok(scope, subject); !st.ok())
      return st;
    auto k = keys::policy(scope, checks::policy_subject(scope, subject));
    rocksdb::WriteBatch wb;
    if (enabled)
      wb.Put(cfs_[cf_users], k, codec::encode_policy(*enabled));
    else
      wb.Delete(cfs_[cf_users], k);
    return write(wb, true, "set_policy");
  }

  std::vector<policy_setting> policies() const override {
    std::vector<policy_setting> out;
    scan(cf_users, keys::policy_prefix, [&](std::string_view k, std::string_view v) {
      auto enabled = codec::decode_policy(v);
      auto scope = k.size() > 1 ? k[1] - '0' : -1;
      if (enabled && scope >= 0 && scope <= static_cast<int>(policy_scope::user))
        out.push_back({static_cast<policy_scope>(scope), std::string{k.substr(2)}, *enabled});
      return true;
    });
    return out;
  }

  status persistent_chat_policy(const std::string& aor, std::optional<policy_setting>& out) const override {
    out.reset();
    const std::pair<policy_scope, std::string> order[] = {
        {policy_scope::user, aor}, {policy_scope::domain, checks::domain_of(aor)}, {policy_scope::global, ""}};
    for (const auto& [scope, subject] : order) {
      if (scope != policy_scope::global && subject.empty())
        continue;
      std::string v;
      auto st = read(cf_users, keys::policy(scope, subject), v);
      if (st.code == errc::not_found)
        continue;
      if (!st.ok())
        return st;
      auto enabled = codec::decode_policy(v);
      if (!enabled)
        return fail(errc::corruption, "a policy record for " + (subject.empty() ? "global" : subject) +
                                          " does not decode");
      out = policy_setting{scope, subject, *enabled};
      return status::success();
    }
    return status::success();
  }

  // --- history ----------------------------------------------------------------------------------------------

  status append(const std::vector<message>& batch, bool sync) override {
    write_set w;
    w.messages = batch;
    return commit(w, sync);
  }

  status commit(const write_set& w, bool sync) override {
    if (read_only_)
      return read_only_status;
    if (w.empty())
      return status::success();
    if (auto st = checks::write_set_ok(w); !st.ok())
      return st;
    rocksdb::WriteBatch wb;
    for (const auto& m : w.messages) {
      wb.Put(cfs_[cf_history], keys::history(m.room_id, m.seq), codec::encode_message(m));
      // The index, in the same batch: a post is findable exactly when it is stored.
      auto seq_key = codec::be64(m.seq);
      for (const auto& term : index_terms(m.text))
        wb.Put(cfs_[cf_search], keys::posting_prefix(term, m.room_id) + seq_key, rocksdb::Slice{});
      wb.Put(cfs_[cf_search], keys::posting_prefix(keys::author_term(m.author), m.room_id) + seq_key,
             rocksdb::Slice{});
    }
    for (const auto& [user, room_id] : w.follows)
      if (check_room(room_id).ok())
        wb.Put(cfs_[cf_follows], keys::follow(user, room_id), rocksdb::Slice{});
    for (const auto& [user, room_id] : w.unfollows)
      wb.Delete(cfs_[cf_follows], keys::follow(user, room_id));
    return write(wb, sync, "commit");
  }

  std::vector<message> last(std::uint64_t room_id, std::size_t n) const override {
    std::vector<message> out;
    if (n == 0)
      return out;
    auto prefix = keys::history_prefix(room_id);
    auto it = history_iterator();
    for (it->SeekForPrev(keys::history(room_id, std::numeric_limits<std::uint64_t>::max()));
         it->Valid() && starts_with(it->key(), prefix) && out.size() < n; it->Prev())
      push_message(out, it->key(), it->value());
    std::reverse(out.begin(), out.end());
    return out;
  }

  std::vector<message> after(std::uint64_t room_id, std::uint64_t after_seq, std::size_t n) const override {
    std::vector<message> out;
    if (n == 0 || after_seq == std::numeric_limits<std::uint64_t>::max())
      return out;
    auto prefix = keys::history_prefix(room_id);
    auto it = history_iterator();
    for (it->Seek(keys::history(room_id, after_seq + 1));
         it->Valid() && starts_with(it->key(), prefix) && out.size() < n; it->Next())
      push_message(out, it->key(), it->value());
    return out;
  }

  std::uint64_t last_seq(std::uint64_t room_id) const override {
    auto prefix = keys::history_prefix(room_id);
    auto it = history_iterator();
    it->SeekForPrev(keys::history(room_id, std::numeric_limits<std::uint64_t>::max()));
    if (it->Valid() && starts_with(it->key(), prefix))
      if (auto k = keys::parse_history(view(it->key())))
        return k->second;
    return seq_floor(room_id); // no history: what a clear left, 0 for a room never cleared
  }

  std::uint64_t last_seq_before(std::uint64_t room_id, std::int64_t before_ticks) const override {
    auto it = history_iterator();
    auto prefix = keys::history_prefix(room_id);
    // Ticks never decrease with seq: binary search over the stored seqs for the last one before the time.
    std::uint64_t hi = last_seq(room_id);
    std::uint64_t a = 0, b = hi; // answer in [a, b]
    auto ticks_at_or_before = [&](std::uint64_t s) -> std::optional<std::int64_t> {
      it->SeekForPrev(keys::history(room_id, s));
      if (!it->Valid() || !starts_with(it->key(), prefix))
        return std::nullopt;
      std::vector<message> one;
      push_message(one, it->key(), it->value());
      if (one.empty())
        return std::nullopt;
      return one.front().ticks;
    };
    while (a < b) {
      auto mid = a + (b - a + 1) / 2;
      auto t = ticks_at_or_before(mid);
      if (!t || *t < before_ticks)
        a = mid;
      else
        b = mid - 1;
    }
    return a;
  }

  std::uint64_t cleared_up_to(std::uint64_t room_id) const override { return seq_floor(room_id); }

  status clear_history(std::uint64_t room_id, std::uint64_t up_to_seq) override {
    if (read_only_)
      return read_only_status;
    if (up_to_seq == 0)
      return status::success();
    rocksdb::WriteBatch wb;
    wb.DeleteRange(cfs_[cf_history], keys::history(room_id, 1), keys::history(room_id, up_to_seq + 1));
    if (up_to_seq > seq_floor(room_id))
      wb.Put(cfs_[cf_meta], seq_floor_key(room_id), codec::be64(up_to_seq));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return from_rocks(db_->Write(wo, &wb), "clearing history");
  }

  status replace_message(std::uint64_t room_id, std::uint64_t seq, const std::string& text) override {
    if (read_only_)
      return read_only_status;
    std::string value;
    auto key = keys::history(room_id, seq);
    auto st = from_rocks(db_->Get(rocksdb::ReadOptions{}, cfs_[cf_history], key, &value), "reading a message");
    if (!st.ok())
      return st.code == errc::not_found ? fail(errc::not_found, "no message " + std::to_string(seq)) : st;
    auto old = codec::decode_message(value, room_id, seq);
    if (!old)
      return fail(errc::corruption, "message " + std::to_string(seq) + " does not decode");
    message m = *old;
    m.text = text;
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_history], key, codec::encode_message(m));
    // The index follows: the old words no longer find it, the new ones do (the author's posting stays).
    auto seq_key = codec::be64(seq);
    for (const auto& term : index_terms(old->text))
      wb.Delete(cfs_[cf_search], keys::posting_prefix(term, room_id) + seq_key);
    for (const auto& term : index_terms(text))
      wb.Put(cfs_[cf_search], keys::posting_prefix(term, room_id) + seq_key, rocksdb::Slice{});
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return from_rocks(db_->Write(wo, &wb), "replacing a message");
  }

  history_hits search(std::uint64_t room_id, const history_query& q) const override {
    history_hits h;
    std::uint64_t hi = last_seq(room_id);
    if (q.limit == 0 || hi == 0 || q.from_ticks > q.to_ticks || cfs_[cf_search] == nullptr)
      return h;
    auto hist = history_iterator();
    // The newest message with seq <= s (nullopt if none): history's SeekForPrev.
    auto at_or_before = [&](std::uint64_t s) -> std::optional<message> {
      ++h.keys_examined;
      hist->SeekForPrev(keys::history(room_id, s));
      std::vector<message> one;
      if (hist->Valid() && starts_with(hist->key(), keys::history_prefix(room_id)))
        push_message(one, hist->key(), hist->value());
      if (one.empty())
        return std::nullopt;
      return std::move(one.front());
    };
    // Time range -> seq range by binary search (ticks never decrease with seq): O(log N) seeks each. Nothing at
    // or below a clear's floor is stored, so the range starts above it: postings left by a clear are never read.
    std::uint64_t lo = seq_floor(room_id) + 1;
    if (q.from_ticks > 0) {
      std::uint64_t a = lo, b = hi + 1; // first seq whose message is at or after from_ticks, hi + 1 if none
      while (a < b) {
        auto mid = a + (b - a) / 2;
        auto m = at_or_before(mid);
        if (m && m->ticks >= q.from_ticks)
          b = mid;
        else
          a = mid + 1;
      }
      lo = a;
    }
    if (q.to_ticks != std::numeric_limits<std::int64_t>::max()) {
      std::uint64_t a = 0, b = hi; // last seq whose message is at or before to_ticks, 0 if none
      while (a < b) {
        auto mid = a + (b - a + 1) / 2;
        auto m = at_or_before(mid);
        if (!m || m->ticks <= q.to_ticks)
          a = mid;
        else
          b = mid - 1;
      }
      hi = a;
    }
    auto take = [&](std::uint64_t seq) {
      auto m = at_or_before(seq);
      if (m && m->seq == seq && m->ticks >= q.from_ticks && m->ticks <= q.to_ticks)
        h.messages.push_back(std::move(*m));
    };
    std::vector<std::string> prefixes;
    for (const auto& w : q.words)
      prefixes.push_back(keys::posting_prefix(w, room_id));
    if (!q.author.empty())
      prefixes.push_back(keys::posting_prefix(keys::author_term(q.author), room_id));
    if (prefixes.empty()) { // time range only: the newest posts in it
      for (auto s = hi; s >= lo && s > 0 && h.messages.size() < q.limit; --s)
        take(s);
      return h;
    }
    // Leapfrog intersection, newest first: every list jumps to its last seq <= target; if they agree it is a
    // hit, else the smallest becomes the next target.
    std::vector<std::unique_ptr<rocksdb::Iterator>> its;
    for (std::size_t i = 0; i < prefixes.size(); ++i)
      its.emplace_back(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf_search]));
    std::uint64_t target = hi;
    while (target >= lo && target > 0 && h.messages.size() < q.limit) {
      std::uint64_t lowest = target;
      for (std::size_t i = 0; i < prefixes.size(); ++i) {
        ++h.keys_examined;
        its[i]->SeekForPrev(prefixes[i] + codec::be64(target));
        if (!its[i]->Valid() || !starts_with(its[i]->key(), prefixes[i]))
          return h; // this word has nothing at or before target
        auto seq = codec::read_be64(view(its[i]->key()).substr(prefixes[i].size()));
        if (!seq || *seq < lo)
          return h;
        lowest = std::min(lowest, *seq);
      }
      if (lowest == target) {
        take(target);
        --target;
      } else {
        target = lowest;
      }
    }
    return h;
  }

private:
  // Reads the meta keys; on a writable store creates the missing ones (first open) in one synced batch.
  status load_meta() {
    rocksdb::WriteBatch wb;
    auto load_guid = [&](std::string_view k, std::string& out) {
      if (!get(cf_meta, std::string{k}, out) && !read_only_) {
        out = new_guid();
        wb.Put(cfs_[cf_meta], rocksdb::Slice{k.data(), k.size()}, out);
      }
    };
    load_guid(keys::db_version, db_version_);
    load_guid(keys::root_guid, root_guid_);
    // A counter never goes below the highest stored id + 1, even if the meta key were lost.
    auto load_counter = [&](std::string_view k, std::string_view record_prefix, std::uint64_t& out) -> bool {
      std::uint64_t next = 1;
      std::string v;
      if (get(cf_meta, std::string{k}, v)) {
        auto stored = codec::read_be64(v);
        if (!stored)
          return false;
        next = std::max(next, *stored);
      }
      std::string upper{record_prefix};
      codec::put_be64(upper, std::numeric_limits<std::uint64_t>::max());
      std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf_catalog])};
      it->SeekForPrev(upper);
      if (it->Valid())
        if (auto id = keys::record_id(view(it->key()), record_prefix))
          next = std::max(next, *id + 1);
      out = next;
      return true;
    };
    std::string invite_counter;
    if (get(cf_meta, std::string{keys::next_invite_id}, invite_counter)) {
      auto stored = codec::read_be64(invite_counter);
      if (!stored)
        return fail(errc::corruption, "the invitation counter in the meta column family is not 8 bytes");
      next_invite_id_ = std::max<std::uint64_t>(1, *stored);
    }
    if (!load_counter(keys::next_category_id, keys::category_prefix, next_category_id_) ||
        !load_counter(keys::next_room_id, keys::room_prefix, next_room_id_))
      return fail(errc::corruption, "an id counter in the meta column family is not 8 bytes");
    if (wb.Count() > 0)
      return write(wb, true, "initialising meta keys");
    return status::success();
  }

  // Decodes every category and room record so that an unreadable catalog (e.g. written by a newer pchat with a
  // higher record version) is reported at open time, not silently skipped by the list calls.
  status validate_catalog() const {
    status st;
    scan(cf_catalog, "", [&](std::string_view k, std::string_view v) {
      bool bad = false;
      if (auto id = keys::record_id(k, keys::category_prefix)) {
        auto c = codec::decode_category(v);
        bad = !c || c->id != *id;
      } else if (auto rid = keys::record_id(k, keys::room_prefix)) {
        auto r = codec::decode_room(v);
        bad = !r || r->id != *rid;
      }
      if (bad) {
        st = fail(errc::corruption, std::string{"catalog record "} + (k[0] == 'c' ? "category " : "room ") +
                                        std::to_string(*codec::read_be64(k.substr(1))) +
                                        " does not decode (unknown format version or damaged)");
        return false;
      }
      return true;
    });
    return st;
  }

  std::string new_guid() { return random_guid(); }

  status write(rocksdb::WriteBatch& wb, bool sync, std::string_view what) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    return from_rocks(db_->Write(wo, &wb), what);
  }

  // not_found when the key is absent (or its column family is missing in a read-only open), io_error/corruption
  // when RocksDB failed: unlike get(), for callers that must not take a failed read for "absent".
  status read(cf_index cf, const std::string& k, std::string& out) const {
    if (cfs_[cf] == nullptr)
      return fail(errc::not_found, "no " + std::string{cf_names[cf]} + " column family");
    return from_rocks(db_->Get(rocksdb::ReadOptions{}, cfs_[cf], k, &out), "reading " + std::string{cf_names[cf]});
  }

  status put_user(const user_record& u, bool create) {
    if (read_only_)
      return read_only_status;
    if (auto st = checks::user_record_ok(u); !st.ok())
      return st;
    std::lock_guard<std::mutex> guard{mutex_};
    std::string v;
    auto found = read(cf_users, keys::user(u.aor), v);
    if (create && found.ok())
      return fail(errc::already_exists, "user " + u.aor + " exists");
    if (!found.ok() && (!create || found.code != errc::not_found))
      return found;
    rocksdb::WriteBatch wb;
    wb.Put(cfs_[cf_users], keys::user(u.aor), codec::encode_user(u));
    return write(wb, true, create ? "add_user" : "update_user");
  }

  // True and `out` filled when the key exists; false when absent or on a read error.
  bool get(cf_index cf, const std::string& k, std::string& out) const {
    return cfs_[cf] != nullptr && db_->Get(rocksdb::ReadOptions{}, cfs_[cf], k, &out).ok();
  }

  // Moves a unique-name index entry from `old_key` to `new_key` (no-op when equal); already_exists if taken.
  status rename(rocksdb::WriteBatch& wb, const std::string& old_key, const std::string& new_key, std::uint64_t id,
                std::string taken_message) const {
    if (new_key == old_key)
      return status::success();
    if (auto st = check_absent(cf_catalog, new_key, std::move(taken_message)); !st.ok())
      return st;
    wb.Delete(cfs_[cf_catalog], old_key);
    wb.Put(cfs_[cf_catalog], new_key, codec::be64(id));
    return status::success();
  }

  void delete_prefix(rocksdb::WriteBatch& wb, cf_index cf, const std::string& prefix) const {
    scan(cf, prefix, [&](std::string_view k, std::string_view) {
      wb.Delete(cfs_[cf], rocksdb::Slice{k.data(), k.size()});
      return true;
    });
  }

  void put_principals(rocksdb::WriteBatch& wb, const category& c) const {
    auto put = [&](principal_list list, const std::vector<std::string>& principals) {
      for (const auto& p : principals)
        wb.Put(cfs_[cf_catalog], keys::scope(c.id, list, p), rocksdb::Slice{});
    };
    put(principal_list::allow, c.allow);
    put(principal_list::deny, c.deny);
    put(principal_list::creator, c.creators);
  }

  void put_retention(rocksdb::WriteBatch& wb, const std::string& key, const std::optional<retention>& r) const {
    if (r)
      wb.Put(cfs_[cf_catalog], key, codec::encode_retention(*r));
    else
      wb.Delete(cfs_[cf_catalog], key);
  }
  // nullopt when absent; a record that does not decode reads as absent (and keeps everything), never as a limit.
  std::optional<retention> load_retention(const std::string& key) const {
    std::string v;
    if (!get(cf_catalog, key, v))
      return std::nullopt;
    return codec::decode_retention(v);
  }

  void load_principals(category& c) const {
    auto prefix = keys::scope_prefix(c.id);
    scan(cf_catalog, prefix, [&](std::string_view k, std::string_view) {
      if (k.size() <= prefix.size())
        return true;
      auto principal = std::string{k.substr(prefix.size() + 1)};
      switch (static_cast<principal_list>(k[prefix.size()])) {
        case principal_list::allow: c.allow.push_back(std::move(principal)); break;
        case principal_list::deny: c.deny.push_back(std::move(principal)); break;
        case principal_list::creator: c.creators.push_back(std::move(principal)); break;
      }
      return true;
    });
  }

  // A name or guid index entry -> the id it points to.
  std::optional<std::uint64_t> index_lookup(const std::string& k) const {
    std::string v;
    if (!get(cf_catalog, k, v))
      return std::nullopt;
    return codec::read_be64(v);
  }

  status check_absent(cf_index cf, const std::string& k, std::string taken_message) const {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[cf], k, &v);
    if (s.ok())
      return fail(errc::already_exists, std::move(taken_message));
    if (s.IsNotFound())
      return status::success();
    return from_rocks(s, "reading the catalog");
  }

  status check_category(std::uint64_t id) const {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[cf_catalog], keys::category(id), &v);
    if (s.IsNotFound())
      return fail(errc::invalid_argument, "unknown category " + std::to_string(id));
    if (!s.ok())
      return from_rocks(s, "reading the catalog");
    if (!codec::decode_category(v))
      return fail(errc::corruption, "category record " + std::to_string(id) + " does not decode");
    return status::success();
  }

  status check_room(std::uint64_t id) const {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions{}, cfs_[cf_catalog], keys::room(id), &v);
    if (s.IsNotFound())
      return fail(errc::not_found, "no room with id " + std::to_string(id));
    return from_rocks(s, "reading the catalog");
  }

  // Calls fn(key, value) for every key starting with `prefix`, in key order, until fn returns false.
  void scan(cf_index cf, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& fn) const {
    if (cfs_[cf] == nullptr)
      return;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf])};
    for (it->Seek(rocksdb::Slice{prefix.data(), prefix.size()}); it->Valid() && starts_with(it->key(), prefix);
         it->Next())
      if (!fn(view(it->key()), view(it->value())))
        break;
  }

  std::unique_ptr<rocksdb::Iterator> history_iterator() const {
    rocksdb::ReadOptions ro;
    ro.prefix_same_as_start = true;
    return std::unique_ptr<rocksdb::Iterator>{db_->NewIterator(ro, cfs_[cf_history])};
  }

  status checkpoint(const std::string& dir) override {
    try {
      return make_checkpoint(*db_, dir);
    } catch (const std::exception& e) {
      return fail(errc::io_error, std::string{"checkpoint: "} + e.what());
    }
  }

  static std::string seq_floor_key(std::uint64_t room_id) { return std::string{keys::seq_floor} + codec::be64(room_id); }

  std::uint64_t seq_floor(std::uint64_t room_id) const {
    std::string v;
    if (!db_->Get(rocksdb::ReadOptions{}, cfs_[cf_meta], seq_floor_key(room_id), &v).ok())
      return 0;
    return codec::read_be64(v).value_or(0);
  }

  // Undecodable messages are skipped: the read API has no error channel.
  static void push_message(std::vector<message>& out, const rocksdb::Slice& k, const rocksdb::Slice& v) {
    if (auto rs = keys::parse_history(view(k)))
      if (auto m = codec::decode_message(view(v), rs->first, rs->second))
        out.push_back(std::move(*m));
  }

  const bool read_only_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, cf_count> cfs_{};
  std::string db_version_;
  std::string root_guid_;
  std::mutex mutex_; // serialises id allocation and check-then-write sequences
  std::uint64_t next_category_id_ = 1;
  std::uint64_t next_room_id_ = 1;
  std::uint64_t next_invite_id_ = 1;
};

} // namespace

status store::open(const std::string& dir, const open_options& opts, std::unique_ptr<store>& out) {
  try {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      if (!opts.create_if_missing || opts.read_only)
        return fail(errc::not_found, "no database in " + dir + " (directory does not exist)");
      if (!fs::create_directories(dir, ec) && ec)
        return fail(errc::io_error, "cannot create " + dir + ": " + ec.message());
    } else if ((!opts.create_if_missing || opts.read_only) && !fs::exists(fs::path(dir) / "CURRENT", ec)) {
      return fail(errc::not_found, "no database in " + dir + " (the directory holds no pchat store)");
    }
    auto s = std::make_unique<rocks_store>(opts.read_only);
    if (auto st = s->init(dir, opts); !st.ok())
      return st;
    out = std::move(s);
    return status::success();
  } catch (const std::exception& e) {
    return fail(errc::io_error, std::string{"opening "} + dir + ": " + e.what());
  } catch (...) {
    return fail(errc::io_error, "opening " + dir + ": unknown exception");
  }
}

} // namespace pchat::storage
