#pragma once
// RocksDB statuses as pchat storage statuses, for every class that keeps a RocksDB database (the store, the
// compliance queue). Only .cpp files that talk to RocksDB include this header.
#include <string>
#include <string_view>

#include <rocksdb/status.h>

#include "storage/store.hpp"

namespace pchat::storage {

// ok -> ok; corruption -> errc::corruption; not found -> errc::not_found; anything else -> errc::io_error.
// `what` says what we were doing and prefixes the message.
status from_rocks(const rocksdb::Status& s, std::string_view what);

// The same for DB::Open of `dir`, which also knows the lock ("is pchatd running?" -> errc::busy) and a missing
// database (errc::not_found).
status from_rocks_open(const rocksdb::Status& s, const std::string& dir);

} // namespace pchat::storage
