#pragma once
// `pchatctl backup DEST` and `pchatctl restore SRC` (docs/operations.md "Backup and restore"). A backup is a
// directory: store/ (a RocksDB checkpoint of the store: consistent as of one instant, every post acknowledged
// before the backup began included, none half), compliance/ (a checkpoint of the compliance queue, when there is
// one), files/ (room file content, hard-linked where it can be: content never changes once stored) and
// pchat-backup.json (what is in it). The backup works on a running pchatd (through its admin socket, RocksDB
// checkpoints while the store stays in use) and on a stopped one; restore only into a directory without a store.
#include <string>

#include "admin/admin.hpp"

namespace pchat::admin {

// Backs up into `dest`, an absolute path that must not exist or be an empty directory.
result backup(const context& where, const std::string& dest);

// Restores the backup in `src` into `data_dir` (which must hold no store), its room files into `files_dir` and
// its compliance queue into `compliance_dir` ("" for either: under data_dir, as pchatd's defaults).
result restore(const std::string& src, const std::string& data_dir, const std::string& files_dir,
               const std::string& compliance_dir);

} // namespace pchat::admin
