#include "storage/file_store.hpp"

#include "base/fd.hpp"
#include "base/file_name.hpp"
#include "base/hex.hpp"
#include "base/random.hpp"
#include "base/sha256.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace pchat::storage {

namespace fs = std::filesystem;

namespace {

status io_fail(const std::string& what, int err) {
  return {errc::io_error, what + ": " + std::strerror(err)};
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

// fsync of a directory, so a rename or link in it is durable.
status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_fail("opening " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? status::success() : io_fail("fsync " + dir, err);
}

// SHA-256 of a whole file in lower-case hex; "" when it cannot be read.
std::string sha256_of_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {};
  sha256 hash;
  bool ok = hash.ok();
  std::array<char, 64 * 1024> buf{};
  while (ok) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    ok = hash.update(buf.data(), static_cast<std::size_t>(n)).ok();
  }
  ::close(fd);
  auto d = ok ? hash.finish() : std::nullopt;
  return d ? hex::encode(*d) : std::string{};
}

std::string parent_of(const fs::path& p) {
  auto parent = p.parent_path();
  return parent.empty() ? std::string{"."} : parent.string();
}

// Creates `dir` and its missing parents. Each directory created is made durable by an fsync of its parent, and the
// parent of `dir` is fsynced even when `dir` was there already (another thread may have just created it and not
// yet synced), so a file later fsynced inside `dir` cannot vanish with its directory in a power loss.
status make_dirs(const std::string& dir) {
  fs::path leaf = fs::path{dir}.lexically_normal();
  if (leaf.has_parent_path() && leaf.filename().empty()) // "a/b/" -> "a/b"
    leaf = leaf.parent_path();
  std::vector<fs::path> missing; // leaf first
  for (fs::path at = leaf; !at.empty(); at = at.parent_path()) {
    struct stat st{};
    if (::stat(at.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return {errc::io_error, "creating " + dir + ": " + at.string() + " is not a directory"};
      break;
    }
    if (errno != ENOENT)
      return io_fail("creating " + dir + ": " + at.string(), errno);
    missing.push_back(at);
    if (at == at.parent_path())
      break;
  }
  for (auto i = missing.rbegin(); i != missing.rend(); ++i) {
    if (::mkdir(i->c_str(), 0750) != 0 && errno != EEXIST)
      return io_fail("creating " + i->string(), errno);
    if (auto st = sync_dir(parent_of(*i)); !st.ok())
      return st;
  }
  return missing.empty() ? sync_dir(parent_of(leaf)) : status::success();
}

// A copy of src in a new file dest (which must not exist), fsynced. 0 or the errno, `what` saying of what.
int copy_synced(const std::string& src, const std::string& dest, std::string& what) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    what = "opening " + src;
    return errno;
  }
  int out = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (out < 0) {
    int err = errno;
    ::close(in);
    what = "creating " + dest;
    return err;
  }
  std::array<char, 64 * 1024> buf{};
  int err = 0;
  for (;;) {
    auto n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) {
      if (::fsync(out) != 0)
        err = errno;
      break;
    }
    if (!write_all(out, buf.data(), static_cast<std::size_t>(n))) {
      err = errno;
      break;
    }
  }
  ::close(in);
  if (::close(out) != 0 && err == 0)
    err = errno;
  if (err != 0) {
    ::unlink(dest.c_str());
    what = "copying " + src + " to " + dest;
  }
  return err;
}

// Temporaries of copy_to: ".<64 hex>.<hex>.part", and "<64 hex>.part" of versions that used one fixed name.
bool is_copy_temporary(const std::string& name) {
  const std::string suffix = ".part";
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  if (name.size() == 64 + suffix.size())
    return is_hex64(std::string_view{name}.substr(0, 64));
  return name.size() > 1 + 64 + 1 + suffix.size() && name[0] == '.' && is_hex64(std::string_view{name}.substr(1, 64)) &&
         name[65] == '.';
}

} // namespace

// --- names ------------------------------------------------------------------------------------------------------

bool file_store::valid_name(std::string_view name) { return valid_file_name(name); }

// --- the store --------------------------------------------------------------------------------------------------

status file_store::open(const std::string& root, std::unique_ptr<file_store>& out) {
  // The root holds the fan-out directories of committed blobs: it must survive a power loss with them.
  if (auto st = make_dirs(root); !st.ok())
    return st;
  std::error_code ec;
  fs::create_directories(fs::path{root} / "tmp", ec);
  if (ec)
    return {errc::io_error, "creating " + root + "/tmp: " + ec.message()};
  // Temporaries are only ever those of uploads in progress; none are at start-up.
  for (const auto& e : fs::directory_iterator(fs::path{root} / "tmp", ec))
    fs::remove(e.path(), ec);
  out.reset(new file_store(root));
  return status::success();
}

status file_store::prepare_dir(const std::string& dir, bool clean) const {
  std::lock_guard<std::mutex> lock{dirs_mutex_};
  if (prepared_dirs_.count(dir))
    return status::success();
  if (auto st = make_dirs(dir); !st.ok())
    return st;
  if (clean) {
    // No copy_to of this process has used the directory yet (they all wait for this lock), so every temporary
    // in it is one a crash left behind.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (is_copy_temporary(e.path().filename().string()) && e.is_regular_file(ec))
        fs::remove(e.path(), ec);
  }
  prepared_dirs_.insert(dir);
  return status::success();
}

void file_store::forget_dir(const std::string& dir) const {
  std::lock_guard<std::mutex> lock{dirs_mutex_};
  prepared_dirs_.erase(dir);
}

std::string file_store::path_of(std::string_view sha256) const {
  if (!is_hex64(sha256))
    return {};
  return root_ + "/" + std::string{sha256.substr(0, 2)} + "/" + std::string{sha256};
}

bool file_store::contains(std::string_view sha256) const {
  auto p = path_of(sha256);
  struct stat st{};
  return !p.empty() && ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

status file_store::begin(std::unique_ptr<upload>& out) const {
  auto path = root_ + "/tmp/" + random_hex(16) + ".part";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0)
    return io_fail("creating " + path, errno);
  out.reset(new upload(*this, fd, std::move(path)));
  return status::success();
}

status file_store::copy_to(std::string_view sha256, const std::string& dest_dir, copy_mode mode) const {
  auto src = path_of(sha256);
  struct stat src_st{};
  if (src.empty() || ::stat(src.c_str(), &src_st) != 0 || !S_ISREG(src_st.st_mode))
    return {errc::not_found, "no stored content " + std::string{sha256}};
  const auto dest = dest_dir + "/" + std::string{sha256};
  // Twice at most: when dest_dir vanished under us (removed by hand), it is created again once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto st = prepare_dir(dest_dir, true); !st.ok())
      return st;
    // What is there already counts only when it is the blob itself or has its size and hash: a copy is renamed
    // into place only once complete and fsynced, but a crash of an older version, or a disk, may have left less.
    struct stat st{};
    if (::stat(dest.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ((st.st_dev == src_st.st_dev && st.st_ino == src_st.st_ino) ||
         (st.st_size == src_st.st_size && sha256_of_file(dest) == sha256)))
      return sync_dir(dest_dir); // it may be another thread's rename, not yet synced
    // A unique temporary (O_EXCL / link() never reuse a name), complete and durable before it gets the name.
    std::string temp;
    std::string what;
    int err = EEXIST;
    for (int tries = 0; tries < 5 && err == EEXIST; ++tries) {
      temp = dest_dir + "/." + std::string{sha256} + "." + random_hex(8) + ".part";
      if (mode == copy_mode::link_or_copy) {
        // The blob is already durable: a link needs no fsync of its own (the rename is synced below).
        err = ::link(src.c_str(), temp.c_str()) == 0 ? 0 : errno;
        what = "linking " + src + " to " + temp;
        if (err == 0 || err == EEXIST || err == ENOENT)
          continue;
        // Another file system (EXDEV) or no hard links there (EPERM, EMLINK, ENOTSUP, ...): a copy.
      }
      err = copy_synced(src, temp, what);
    }
    if (err == ENOENT && attempt == 0 && ::access(dest_dir.c_str(), F_OK) != 0) {
      forget_dir(dest_dir); // removed since it was prepared: once more from the start
      continue;
    }
    if (err != 0)
      return io_fail(what, err);
    if (::rename(temp.c_str(), dest.c_str()) != 0) {
      auto failed = io_fail("renaming " + temp + " to " + dest, errno);
      ::unlink(temp.c_str());
      return failed;
    }
    // rename() of two links to one file (dest was already our blob's link) succeeds and leaves both names.
    ::unlink(temp.c_str());
    return sync_dir(dest_dir);
  }
  return io_fail("creating " + dest_dir, ENOENT);
}

// --- uploads ----------------------------------------------------------------------------------------------------

struct file_store::upload::hasher {
  sha256 hash;
};

file_store::upload::upload(const file_store& owner, int fd, std::string temp_path)
  : owner_(owner), fd_(fd), temp_path_(std::move(temp_path)), hash_(std::make_unique<hasher>()) {}

file_store::upload::~upload() { abort(); }

void file_store::upload::abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

status file_store::upload::write(const char* data, std::size_t n) {
  if (fd_ < 0)
    return {errc::invalid_argument, "the upload is finished"};
  if (!hash_->hash.update(data, n).ok()) {
    abort();
    return {errc::io_error, "libcrypto: SHA-256 unavailable"};
  }
  if (!write_all(fd_, data, n)) {
    int err = errno;
    auto st = io_fail("writing " + temp_path_, err);
    abort();
    return st;
  }
  size_ += n;
  return status::success();
}

status file_store::upload::commit(std::string& sha256) {
  if (fd_ < 0)
    return {errc::invalid_argument, "the upload is finished"};
  auto md = hash_->hash.finish();
  if (!md) {
    abort();
    return {errc::io_error, "libcrypto: SHA-256 unavailable"};
  }
  std::string digest = hex::encode(*md);
  if (::fsync(fd_) != 0) {
    auto st = io_fail("fsync " + temp_path_, errno);
    abort();
    return st;
  }
  ::close(fd_);
  fd_ = -1;
  auto dest = owner_.path_of(digest);
  auto dir = dest.substr(0, dest.rfind('/'));
  // The fan-out directory is made durable (its parent fsynced) before the blob goes in, so a synced record can
  // never point into a directory a power loss took away.
  if (auto st = owner_.prepare_dir(dir, false); !st.ok()) {
    abort();
    return st;
  }
  if (owner_.contains(digest)) {
    abort(); // the same content is stored already: keep one copy
    if (auto st = sync_dir(dir); !st.ok()) // it may be a concurrent upload's rename, not yet synced
      return st;
  } else {
    if (::rename(temp_path_.c_str(), dest.c_str()) != 0) {
      int err = errno;
      if (err == ENOENT) // the fan-out directory was removed by hand: make it again, once
        owner_.forget_dir(dir);
      if (err != ENOENT || !owner_.prepare_dir(dir, false).ok() || ::rename(temp_path_.c_str(), dest.c_str()) != 0) {
        auto st = io_fail("renaming " + temp_path_ + " to " + dest, err == ENOENT ? errno : err);
        abort();
        return st;
      }
    }
    temp_path_.clear();
    if (auto st = sync_dir(dir); !st.ok())
      return st;
  }
  sha256 = std::move(digest);
  return status::success();
}

} // namespace pchat::storage
