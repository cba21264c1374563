#pragma once
// pchatctl's commands, shared by the pchatctl binary (pchatd stopped: it opens the data directory itself) and by
// pchatd (running: pchatctl hands it the command line over <data-dir>/pchatd.sock and pchatd runs it here,
// changing the catalog through its directory actor so live rooms and sessions see the change at once).
// Either way every change goes through the catalog's checks (actors/catalog.hpp) as an administrator.
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/protocol.hpp"
#include "compliance/queue.hpp"
#include "storage/store.hpp"

namespace pchat::admin {

// What a command printed and its exit status: 0 ok, 1 failed, 2 usage.
struct result {
  int code = 0;
  std::string out;
  std::string err;
};

// The changes pchatctl makes, as the administrator. Rooms and categories are named by name, guid or URI.
class operations {
public:
  virtual ~operations() = default;
  virtual caf::expected<category_view> create_category(const patch& fields) = 0;
  virtual caf::expected<category_view> update_category(const std::string& ref, const patch& fields) = 0;
  virtual caf::expected<bool> remove_category(const std::string& ref) = 0;
  virtual caf::expected<room_view> create_room(const patch& fields) = 0;
  virtual caf::expected<room_view> update_room(const std::string& ref, const patch& fields) = 0;
  virtual caf::expected<bool> remove_room(const std::string& ref) = 0;
  // -> whether an invitation was recorded
  virtual caf::expected<bool> set_roles(const std::string& ref, const std::string& user, std::uint8_t bits) = 0;
  // Deletes the room's posts made before `before_ticks` -> the seq up to which history is now gone (0: none).
  virtual caf::expected<std::uint64_t> clear_history(const std::string& ref, std::int64_t before_ticks) = 0;
  // Replaces post `seq`'s text -> whether there was such a post.
  virtual caf::expected<bool> replace_message(const std::string& ref, std::uint64_t seq, const std::string& text) = 0;
};

// pchatd stopped: a catalog over the store, in this process. With `compliance_dir` (compliance on), history
// deletions are archived into the compliance queue there before they are made.
std::unique_ptr<operations> local_operations(std::shared_ptr<storage::store> store, std::string domain,
                                             std::string compliance_dir = {});
// pchatd running: requests to its directory actor (blocking, from a thread that is not an actor).
std::unique_ptr<operations> actor_operations(caf::actor_system& sys, directory_actor directory);

// Where a command runs: the store for reads, the operations for changes, the data directory (for the compliance
// queue's default place) and the SIP domain (for URIs).
struct context {
  storage::store& store;
  operations& ops;
  std::string data_dir;
  std::string domain;
  std::string files_dir;      // room file content (web.files-dir; "" means <data-dir>/files)
  std::string compliance_dir; // the compliance queue (compliance.dir; "" means <data-dir>/compliance)
  // The running compliance service's queue, for the backup's checkpoint; null when pchatd is stopped (then the
  // backup opens the queue itself) or compliance is off.
  std::shared_ptr<compliance::queue> compliance_queue;
};

// Runs one command (the words after pchatctl's global options).
result run(const std::vector<std::string>& args, const context& where);

// The usage text.
std::string usage();

} // namespace pchat::admin
