#pragma once
// RocksDB statuses as pchat storage statuses, for every class that keeps a RocksDB database (the store, the
// compliance queue). Only .cpp files that talk to RocksDB include this header.
#include <string>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/status.h>

#include "storage/store.hpp"

namespace pchat::storage {

// ok -> ok; corruption -> errc::corruption; not found -> errc::not_found; anything else -> errc::io_error.
// `what` says what we were doing and prefixes the message.
status from_rocks(const rocksdb::Status& s, std::string_view what);

// The same for DB::Open of `dir`, which also knows the lock ("is pchatd running?" -> errc::busy) and a missing
// database (errc::not_found).
status from_rocks_open(const rocksdb::Status& s, const std::string& dir);

// A RocksDB checkpoint of `db` in `dir` (which must not exist): a consistent copy as of one instant, every write
// finished before the call included, made while the database stays open and in use (SST files hard-linked when
// `dir` is on the same file system, copied otherwise). The backup's building block (docs/operations.md "Backup").
status make_checkpoint(rocksdb::DB& db, const std::string& dir);

} // namespace pchat::storage
