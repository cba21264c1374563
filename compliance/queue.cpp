#include "compliance/queue.hpp"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <optional>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "storage/record_codec.hpp"
#include "storage/rocks_status.hpp"

namespace pchat::compliance {

namespace codec = storage::codec;
using storage::from_rocks;

namespace {

// Keys (default column family):
//   "e" + be64(id)  -> encode(event)                   pending events, oldest first
//   "m:archived"    -> be64(last event id done) + be64(last batch id done) + hash of that event (32 bytes)
//   "m:open"        -> be64(batch id) + be64(first event id) + be64(last event id)   the batch handed out
// The next event id and the chain head follow from the newest "e" key, or from "m:archived" when none is left.
constexpr std::string_view archived_key = "m:archived";
constexpr std::string_view open_key = "m:open";

std::string event_key(std::uint64_t id) {
  std::string k = "e";
  codec::put_be64(k, id);
  return k;
}

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

// "m:archived" -> (last event id, its hash) and the last batch id done.
bool decode_archived(std::string_view v, chain_point& end, std::uint64_t& last_batch) {
  codec::reader rd{v};
  std::string hash;
  if (!rd.u64(end.id) || !rd.u64(last_batch) || !rd.str(hash) || hash.size() != end.hash.size() || !rd.at_end())
    return false;
  std::copy(hash.begin(), hash.end(), end.hash.begin());
  return true;
}

struct open_batch {
  std::uint64_t id = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

class rocks_queue final : public queue {
public:
  ~rocks_queue() override {
    if (db_)
      db_->Close();
  }

  status init(const std::string& dir) {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.keep_log_file_num = 10;
    rocksdb::DB* raw = nullptr;
    if (auto s = rocksdb::DB::Open(o, dir, &raw); !s.ok())
      return storage::from_rocks_open(s, dir);
    db_.reset(raw);

    std::string v;
    if (get(archived_key, v) && !decode_archived(v, archived_, last_batch_))
      return {errc::corruption, "compliance queue: m:archived does not decode"};
    next_id_ = archived_.id + 1;
    head_ = archived_.hash;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{})};
    it->SeekForPrev(event_key(UINT64_MAX));
    if (it->Valid() && it->key().starts_with("e")) {
      auto e = decode(std::string_view{it->value().data(), it->value().size()});
      if (!e || event_key(e->id) != it->key().ToString())
        return {errc::corruption, "compliance queue: the newest event does not decode"};
      next_id_ = e->id + 1;
      head_ = e->hash;
    }
    if (get(open_key, v)) {
      codec::reader rd{v};
      open_batch b;
      if (!rd.u64(b.id) || !rd.u64(b.first) || !rd.u64(b.last) || !rd.at_end() || b.first != archived_.id + 1 ||
          b.last < b.first || b.last >= next_id_)
        return {errc::corruption, "compliance queue: m:open does not match the pending events"};
      open_ = b;
    }
    return status::success();
  }

  status enqueue(std::vector<event>& events) override {
    if (events.empty())
      return status::success();
    if (write_failed_)
      db_->Resume(); // a failed synced write leaves RocksDB read-only until it recovers; ask it to try now
    auto out = events;
    rocksdb::WriteBatch wb;
    auto id = next_id_;
    auto head = head_;
    for (auto& e : out) {
      make_xml_safe(e);
      e.id = id++;
      e.hash = chain_hash(head, e);
      head = e.hash;
      wb.Put(event_key(e.id), encode(e));
    }
    if (auto st = write(wb, "enqueue"); !st.ok())
      return st;
    next_id_ = id;
    head_ = head;
    events = std::move(out);
    return status::success();
  }

  status take(std::size_t max, batch& out) override {
    out = batch{};
    if (!open_) {
      if (next_id_ == archived_.id + 1)
        return status::success();
      open_batch b{last_batch_ + 1, archived_.id + 1,
                   std::min(next_id_ - 1, archived_.id + std::max<std::size_t>(max, 1))};
      std::string v;
      codec::put_be64(v, b.id);
      codec::put_be64(v, b.first);
      codec::put_be64(v, b.last);
      rocksdb::WriteBatch wb;
      wb.Put(slice(open_key), v);
      if (auto st = write(wb, "take"); !st.ok())
        return st;
      open_ = b;
    }
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{})};
    auto id = open_->first;
    for (it->Seek(event_key(id)); it->Valid() && id <= open_->last; it->Next(), ++id) {
      auto e = decode(std::string_view{it->value().data(), it->value().size()});
      if (!e || e->id != id || it->key().ToString() != event_key(id))
        return {errc::corruption, "compliance queue: event " + std::to_string(id) + " is missing or damaged"};
      out.events.push_back(std::move(*e));
    }
    if (auto st = from_rocks(it->status(), "reading the queue"); !st.ok())
      return st;
    if (id != open_->last + 1) {
      out = batch{};
      return {errc::corruption, "compliance queue: event " + std::to_string(id) + " is missing"};
    }
    out.id = open_->id;
    out.prev = archived_.hash;
    return status::success();
  }

  status done(std::uint64_t batch_id) override {
    if (!open_ || open_->id != batch_id)
      return {errc::invalid_argument, "batch " + std::to_string(batch_id) + " is not the open batch"};
    std::string v;
    std::optional<event> last;
    if (get(event_key(open_->last), v))
      last = decode(v);
    if (!last)
      return {errc::corruption, "compliance queue: event " + std::to_string(open_->last) + " is missing"};
    rocksdb::WriteBatch wb;
    for (auto id = open_->first; id <= open_->last; ++id)
      wb.Delete(event_key(id));
    std::string rec;
    codec::put_be64(rec, last->id);
    codec::put_be64(rec, open_->id);
    codec::put_str(rec, {reinterpret_cast<const char*>(last->hash.data()), last->hash.size()});
    wb.Put(slice(archived_key), rec);
    wb.Delete(slice(open_key));
    if (auto st = write(wb, "done"); !st.ok())
      return st;
    archived_ = {last->id, last->hash};
    last_batch_ = open_->id;
    open_.reset();
    return status::success();
  }

  queue_counts counts() const override {
    queue_counts c;
    c.pending = next_id_ - 1 - archived_.id;
    c.next_id = next_id_;
    c.next_batch = last_batch_ + 1;
    c.open_batch = open_ ? open_->id : 0;
    c.archived = archived_;
    return c;
  }

private:
  bool get(std::string_view key, std::string& out) const {
    return db_->Get(rocksdb::ReadOptions{}, slice(key), &out).ok();
  }

  status checkpoint(const std::string& dir) override { return storage::make_checkpoint(*db_, dir); }

  status write(rocksdb::WriteBatch& wb, std::string_view what) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = from_rocks(db_->Write(wo, &wb), what);
    write_failed_ = !st.ok();
    return st;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::uint64_t next_id_ = 1;
  digest head_{};
  chain_point archived_;
  std::uint64_t last_batch_ = 0;
  std::optional<open_batch> open_;
  bool write_failed_ = false;
};

} // namespace

status queue::archived_end(const std::string& dir, chain_point& out) {
  rocksdb::DB* raw = nullptr;
  if (auto s = rocksdb::DB::OpenForReadOnly(rocksdb::Options{}, dir, &raw); !s.ok())
    return storage::from_rocks_open(s, dir);
  std::unique_ptr<rocksdb::DB> db{raw};
  std::string v;
  out = chain_point{};
  auto s = db->Get(rocksdb::ReadOptions{}, slice(archived_key), &v);
  if (s.IsNotFound())
    return status::success(); // nothing archived yet
  std::uint64_t last_batch = 0;
  if (s.ok() && !decode_archived(v, out, last_batch))
    return {errc::corruption, "compliance queue: m:archived does not decode"};
  return from_rocks(s, "reading " + dir);
}

status queue::open(const std::string& dir, std::unique_ptr<queue>& out) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return {errc::io_error, "cannot create " + dir + ": " + ec.message()};
    auto q = std::make_unique<rocks_queue>();
    if (auto st = q->init(dir); !st.ok())
      return st;
    out = std::move(q);
    return status::success();
  } catch (const std::exception& e) {
    return {errc::io_error, "opening " + dir + ": " + e.what()};
  }
}

} // namespace pchat::compliance
