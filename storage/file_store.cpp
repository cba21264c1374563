#include "storage/file_store.hpp"

#include "storage/file_name.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

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

std::string random_hex(std::size_t bytes) {
  static thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rng() & 0xff);
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 0xf]);
  }
  return out;
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    auto w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

} // namespace

// --- names ------------------------------------------------------------------------------------------------------

bool file_store::valid_name(std::string_view name) { return valid_file_name(name); }

// --- the store --------------------------------------------------------------------------------------------------

status file_store::open(const std::string& root, std::unique_ptr<file_store>& out) {
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

status file_store::copy_to(std::string_view sha256, const std::string& dest_dir) const {
  auto src = path_of(sha256);
  if (src.empty() || !contains(sha256))
    return {errc::not_found, "no stored content " + std::string{sha256}};
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec)
    return {errc::io_error, "creating " + dest_dir + ": " + ec.message()};
  auto dest = dest_dir + "/" + std::string{sha256};
  if (fs::exists(dest, ec))
    return status::success();
  if (::link(src.c_str(), dest.c_str()) == 0 || errno == EEXIST)
    return sync_dir(dest_dir);
  // Another file system (EXDEV) or no hard links: a copy, written under a temporary name and renamed.
  auto temp = dest + ".part";
  fs::copy_file(src, temp, fs::copy_options::overwrite_existing, ec);
  if (ec)
    return {errc::io_error, "copying " + src + " to " + temp + ": " + ec.message()};
  int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  bool synced = fd >= 0 && ::fsync(fd) == 0;
  int err = errno;
  if (fd >= 0)
    ::close(fd);
  if (!synced || ::rename(temp.c_str(), dest.c_str()) != 0) {
    err = synced ? errno : err;
    fs::remove(temp, ec);
    return io_fail("storing " + dest, err);
  }
  return sync_dir(dest_dir);
}

// --- uploads ----------------------------------------------------------------------------------------------------

struct file_store::upload::hasher {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  ~hasher() { EVP_MD_CTX_free(ctx); }
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
  if (!hash_->ok || EVP_DigestUpdate(hash_->ctx, data, n) != 1) {
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
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (!hash_->ok || EVP_DigestFinal_ex(hash_->ctx, md.data(), &len) != 1 || len != 32) {
    abort();
    return {errc::io_error, "libcrypto: SHA-256 unavailable"};
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string digest;
  for (unsigned i = 0; i < len; ++i) {
    digest.push_back(hex[md[i] >> 4]);
    digest.push_back(hex[md[i] & 0xf]);
  }
  if (::fsync(fd_) != 0) {
    auto st = io_fail("fsync " + temp_path_, errno);
    abort();
    return st;
  }
  ::close(fd_);
  fd_ = -1;
  auto dest = owner_.path_of(digest);
  auto dir = dest.substr(0, dest.rfind('/'));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    abort();
    return {errc::io_error, "creating " + dir + ": " + ec.message()};
  }
  if (owner_.contains(digest)) {
    abort(); // the same content is stored already: keep one copy
  } else {
    if (::rename(temp_path_.c_str(), dest.c_str()) != 0) {
      auto st = io_fail("renaming " + temp_path_ + " to " + dest, errno);
      abort();
      return st;
    }
    temp_path_.clear();
    if (auto st = sync_dir(dir); !st.ok())
      return st;
  }
  sha256 = std::move(digest);
  return status::success();
}

} // namespace pchat::storage
