#pragma once
// `pchatctl export FILE` and `pchatctl import FILE` (docs/operations.md "Export and import"), like Lync's
// Export-/Import-CsPersistentChatData: categories (settings, scope, creators), rooms (settings, category), roles and
// history, as JSON Lines in a documented, versioned format. Export reads a store (read-only: it works beside a
// running pchatd); import writes into a store no pchatd holds, checks the whole file before it writes anything, and
// refuses a category or room that exists already (by GUID or name), so an import never merges into or overwrites
// what is there. GUIDs, sequence numbers, authors and times are kept: an export imported into a fresh store
// exports again to the same lines (but the header's time and source).
#include <string>
#include <vector>

#include "admin/admin.hpp"

namespace pchat::admin {

struct export_options {
  std::vector<std::string> rooms; // names, GUIDs or URIs; empty: every room (and every category)
  bool history = true;
};

// Writes the export to `file` ("-": standard output).
result export_data(storage::store& store, const std::string& file, const export_options& opts);
// Reads `file` ("-": standard input) into `store`.
result import_data(storage::store& store, const std::string& file);

} // namespace pchat::admin
