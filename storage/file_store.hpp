#pragma once
// pchat storage: the content of room files on disk, by SHA-256 (docs/protocol.md "Room files"). Metadata (which
// room, name, type, uploader) is in the store's "files" column family (store.hpp, file_record); this class only
// keeps bytes.
//
// Contract
// - A plain class, thread-safe: besides the file system, its only state is the set of directories it has already
//   created and made durable (under a mutex).
// - Content lives in <root>/<first two hex digits>/<sha256>, read-only once there. Identical content is stored
//   once, whoever uploads it to whichever room.
// - Uploads stream: begin() opens a temporary file in <root>/tmp, write() appends and hashes (libcrypto EVP),
//   commit() fsyncs the file, renames it into place (or drops it when that content is already stored) and fsyncs
//   the directory (and, when it creates the fan-out directory, its parent), so a committed blob survives a crash. An upload destroyed without commit() removes its
//   temporary file; open() removes temporaries a crash left behind.
// - Errors are values (storage::status, errc::io_error with the path and errno text); nothing throws except
//   std::bad_alloc.
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "storage/store.hpp"

namespace pchat::storage {

class file_store {
public:
  // Creates <root> and <root>/tmp when missing and empties <root>/tmp.
  static status open(const std::string& root, std::unique_ptr<file_store>& out);

  const std::string& root() const { return root_; }

  // A plain file name an upload may carry: 1..255 bytes of valid UTF-8 without '/', '\', NUL or other control
  // characters, without bidirectional or invisible format characters (base/file_name.hpp), not "." or "..",
  // no leading or trailing space. Names never reach the file system (content is
  // stored by hash), but they travel in links, Content-Disposition headers and compliance records.
  static bool valid_name(std::string_view name);

  // One upload in progress. Not thread-safe (one HTTP request writes it).
  class upload {
  public:
    ~upload();
    upload(const upload&) = delete;
    upload& operator=(const upload&) = delete;

    // Appends n bytes; io_error (and the temporary file removed) when the disk refuses them.
    status write(const char* data, std::size_t n);
    std::uint64_t size() const { return size_; }
    // Makes the content durable under its hash; `sha256` gets the 64 lower-case hex digits. Once only.
    status commit(std::string& sha256);
    // Removes the temporary file now (the destructor does it too).
    void abort();

  private:
    friend class file_store;
    upload(const file_store& owner, int fd, std::string temp_path);
    struct hasher;

    const file_store& owner_;
    int fd_ = -1;
    std::string temp_path_;
    std::uint64_t size_ = 0;
    std::unique_ptr<hasher> hash_;
  };

  status begin(std::unique_ptr<upload>& out) const;

  // Where the blob with this hash is (whether or not it exists); "" unless `sha256` is 64 lower-case hex digits.
  std::string path_of(std::string_view sha256) const;
  bool contains(std::string_view sha256) const;

  enum class copy_mode {
    link_or_copy, // a hard link when dest_dir is on the same file system, else a copy
    copy,         // always a copy (what another file system gets; tests use it to exercise that path anywhere)
  };
  // Puts a copy of blob `sha256` at <dest_dir>/<sha256> (creating dest_dir and fsyncing the parent of every
  // directory it creates). The link or copy is made under a unique temporary name (.<sha256>.<random>.part),
  // fsynced, renamed into place and the directory fsynced, so concurrent calls for the same content each succeed
  // and the name only ever shows complete content. A file already at the destination is trusted only when it is
  // the blob itself (a hard link) or has the blob's size and SHA-256; anything else (a copy a crash truncated) is
  // replaced. The first use of a dest_dir by this file_store removes temporaries a crash left there (so one
  // dest_dir must not be shared by two file_stores at once; pchatd has one).
  status copy_to(std::string_view sha256, const std::string& dest_dir, copy_mode mode = copy_mode::link_or_copy) const;

private:
  explicit file_store(std::string root) : root_(std::move(root)) {}
  // Creates `dir` (durably, see make_dirs in the .cpp) once per file_store; with `clean`, also removes the
  // temporaries copy_to leaves behind in a crash. Afterwards the directory is known to exist durably.
  status prepare_dir(const std::string& dir, bool clean) const;
  void forget_dir(const std::string& dir) const;

  std::string root_;
  mutable std::mutex dirs_mutex_;
  mutable std::set<std::string> prepared_dirs_; // guarded by dirs_mutex_
};

} // namespace pchat::storage
