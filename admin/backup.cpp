#include "admin/backup.hpp"

#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/text.hpp"
#include "base/version.hpp"
#include "compliance/queue.hpp"

namespace pchat::admin {

namespace {

namespace fs = std::filesystem;

constexpr int backup_format = 1;
constexpr const char* manifest_name = "pchat-backup.json";

bool holds_store(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / "CURRENT", ec);
}


// Room file content from `from` into `to`: hard links where the file system allows (content is immutable once
// stored), copies otherwise; the upload area tmp/ is skipped. -> files linked or copied, or -1 with `error`.
long long copy_files(const fs::path& from, const fs::path& to, std::string& error) {
  std::error_code ec;
  long long n = 0;
  if (!fs::exists(from, ec))
    return 0;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    auto rel = fs::relative(it->path(), from, ec);
    if (ec)
      break;
    if (rel.begin() != rel.end() && *rel.begin() == "tmp") {
      if (it->is_directory(ec))
        it.disable_recursion_pending();
      continue;
    }
    auto target = to / rel;
    if (it->is_directory(ec)) {
      fs::create_directories(target, ec);
    } else if (it->is_regular_file(ec) && !fs::exists(target, ec)) {
      fs::create_directories(target.parent_path(), ec);
      fs::create_hard_link(it->path(), target, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(it->path(), target, ec);
      }
      ++n;
    }
    if (ec)
      break;
  }
  if (ec) {
    error = "copying room files from " + from.string() + ": " + ec.message();
    return -1;
  }
  return n;
}

result failed(const std::string& why) {
  return {1, {}, "pchatctl: " + why + "\n"};
}

} // namespace

result backup(const context& where, const std::string& dest) {
  std::error_code ec;
  fs::path to = dest;
  if (!to.is_absolute())
    return failed("backup " + dest + ": the destination must be an absolute path (pchatd writes it)");
  if (fs::exists(to, ec) && !(fs::is_directory(to, ec) && fs::is_empty(to, ec)))
    return failed("backup " + dest + ": exists and is not empty (a backup goes into a new directory)");
  fs::create_directories(to, ec);
  if (ec)
    return failed("backup " + dest + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_all, ec); // password digests and private history: owner only

  // The store first: its checkpoint is the instant the backup stands for.
  if (auto st = where.store.checkpoint((to / "store").string()); !st.ok())
    return failed("backup " + dest + ": the store: " + st.message);
  const auto rooms = where.store.rooms();
  std::uint64_t posts = 0;
  for (const auto& r : rooms)
    posts += where.store.last_seq(r.id);

  // The compliance queue: the running service's, or the one on disk when pchatd is stopped.
  const std::string queue_dir = where.compliance_dir.empty() ? where.data_dir + "/compliance" : where.compliance_dir;
  bool compliance = false;
  if (where.compliance_queue) {
    if (auto st = where.compliance_queue->checkpoint((to / "compliance").string()); !st.ok())
      return failed("backup " + dest + ": the compliance queue: " + st.message);
    compliance = true;
  } else if (holds_store(queue_dir)) {
    std::unique_ptr<compliance::queue> q;
    if (auto st = compliance::queue::open(queue_dir, q); !st.ok())
      return failed("backup " + dest + ": the compliance queue " + queue_dir + ": " + st.message);
    if (auto st = q->checkpoint((to / "compliance").string()); !st.ok())
      return failed("backup " + dest + ": the compliance queue: " + st.message);
    compliance = true;
  }

  // Room files: every blob the store's metadata names was stored before its metadata, so the copy (taken after
  // the checkpoint) has them all; blobs uploaded since are harmless extras.
  std::string error;
  const std::string files_dir = where.files_dir.empty() ? where.data_dir + "/files" : where.files_dir;
  auto files = copy_files(files_dir, to / "files", error);
  if (files < 0)
    return failed("backup " + dest + ": " + error);

  nlohmann::json manifest = {{"format", backup_format},
                             {"pchat", pchat::version()},
                             {"created", utc_iso8601(std::time(nullptr))},
                             {"source", where.data_dir},
                             {"store_id", where.store.db_version()},
                             {"rooms", rooms.size()},
                             {"posts", posts},
                             {"files", files},
                             {"compliance", compliance}};
  {
    std::ofstream out(to / manifest_name);
    out << manifest.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!out.flush())
      return failed("backup " + dest + ": cannot write " + manifest_name);
  }
  ::sync(); // the copies and the manifest on disk before we say done
  std::ostringstream out;
  out << "backup " << dest << ": " << rooms.size() << " rooms, " << posts << " posts, " << files << " room files"
      << (compliance ? ", the compliance queue" : "") << "\n";
  return {0, out.str(), {}};
}

// Copies the RocksDB directory `src` into `to` so that an interrupted restore never leaves a store that looks
// whole: the copy is staged on the target's own file system first — inside `to` when it exists (an empty directory,
// perhaps a mount point or a symlink's target), else as a hidden sibling — synced, then moved into place with one
// rename when `to` is new, else file by file with CURRENT, what makes RocksDB see a database, last.
bool place_db(const fs::path& src, fs::path to, std::string& error) {
  std::error_code ec;
  to = fs::weakly_canonical(fs::absolute(to, ec), ec); // a symlink is followed, never replaced
  if (ec) {
    error = "cannot resolve " + to.string() + ": " + ec.message();
    return false;
  }
  if (to.filename().empty())
    to = to.parent_path();
  const bool exists = fs::is_directory(to, ec);
  if (!exists && fs::exists(fs::symlink_status(to, ec))) {
    error = to.string() + " is not a directory";
    return false;
  }
  const fs::path tmp = exists ? to / ".restoring" : to.parent_path() / ("." + to.filename().string() + ".restoring");
  auto give_up = [&](const std::string& why) {
    error = why;
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    return false;
  };
  fs::remove_all(tmp, ec); // left by an interrupted restore
  if (!exists)
    fs::create_directories(to.parent_path(), ec);
  fs::copy(src, tmp, fs::copy_options::recursive, ec);
  if (ec)
    return give_up("copying " + src.string() + " to " + tmp.string() + ": " + ec.message());
  fs::permissions(tmp, fs::perms::owner_all, ec);
  ::sync(); // every file on disk before anything makes them look like a database
  if (!exists) {
    fs::rename(tmp, to, ec);
    return ec ? give_up("moving " + tmp.string() + " to " + to.string() + ": " + ec.message()) : true;
  }
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(tmp, ec))
    if (e.path().filename() != "CURRENT")
      entries.push_back(e.path());
  if (ec)
    return give_up("reading " + tmp.string() + ": " + ec.message());
  entries.push_back(tmp / "CURRENT");
  for (const auto& e : entries) // every check before the first move
    if (fs::exists(fs::symlink_status(to / e.filename(), ec)))
      return give_up((to / e.filename()).string() + " is in the way");
  for (const auto& e : entries) {
    fs::rename(e, to / e.filename(), ec);
    if (ec)
      return give_up("moving " + e.string() + " into " + to.string() + ": " + ec.message());
  }
  fs::remove_all(tmp, ec);
  return true;
}

result restore(const std::string& src, const std::string& data_dir, const std::string& files_dir,
               const std::string& compliance_dir) {
  std::error_code ec;
  fs::path from = src;
  nlohmann::json manifest;
  {
    std::ifstream in(from / manifest_name);
    if (!in)
      return failed("restore " + src + ": no " + manifest_name + " (not a pchat backup)");
    manifest = nlohmann::json::parse(in, nullptr, false);
  }
  if (manifest.is_discarded() || !manifest.is_object() || !manifest.contains("format"))
    return failed("restore " + src + ": " + manifest_name + " is not a backup manifest");
  if (manifest["format"] != backup_format)
    return failed("restore " + src + ": backup format " + manifest["format"].dump() + " (this pchatctl reads format " +
                  std::to_string(backup_format) + ")");
  if (!holds_store((from / "store").string()))
    return failed("restore " + src + ": store/ is missing or incomplete");
  const std::string queue_to = compliance_dir.empty() ? data_dir + "/compliance" : compliance_dir;
  const std::string files_to = files_dir.empty() ? data_dir + "/files" : files_dir;
  const bool compliance = fs::exists(from / "compliance", ec);
  // Nothing is overwritten: every check before the first copy.
  if (holds_store(data_dir))
    return failed("restore: " + data_dir + " already holds a store (restore into a new directory, or move it away)");
  if (compliance && holds_store(queue_to))
    return failed("restore: " + queue_to + " already holds a compliance queue");

  std::string error;
  // The compliance queue first: a store restored without its queue would start archiving from scratch.
  if (compliance && !place_db(from / "compliance", queue_to, error))
    return failed("restore: the compliance queue: " + error);
  if (!place_db(from / "store", data_dir, error))
    return failed("restore: the store: " + error);
  auto files = copy_files(from / "files", files_to, error);
  if (files < 0)
    return failed("restore: " + error);
  ::sync();

  // The proof: the restored store opens.
  std::unique_ptr<storage::store> db;
  storage::open_options oo;
  oo.create_if_missing = false;
  if (auto st = storage::store::open(data_dir, oo, db); !st.ok())
    return failed("restore: the restored store does not open: " + st.message);
  std::uint64_t posts = 0;
  for (const auto& r : db->rooms())
    posts += db->last_seq(r.id);
  std::ostringstream out;
  out << "restored " << src << " (taken " << (manifest.contains("created") && manifest["created"].is_string() ? manifest["created"].get<std::string>() : "?") << ") into " << data_dir
      << ": " << db->rooms().size() << " rooms, " << posts << " posts, " << files << " room files"
      << (compliance ? ", the compliance queue" : "") << "\n";
  return {0, out.str(), {}};
}

} // namespace pchat::admin
