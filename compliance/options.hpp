#pragma once
// Settings of the compliance service (Lync's Set-CsPersistentChatComplianceConfiguration, plus pchat's
// durability knobs). Plain data; pchatd fills it from its [compliance] options.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "compliance/xml_adapter.hpp"

namespace pchat::compliance {

// What happens to new events while the queue cannot be written (disk full, I/O errors):
// - refuse: posts are refused (the room's archive request fails, the client gets an error) until the queue
//   works again; the server never acknowledges a post it has not archived. Joins, parts and reads wait in
//   memory (up to hold_max) meanwhile.
// - queue: every event waits in memory (up to hold_max) and posts go on; the service reports "degraded". A
//   crash while degraded loses what was held. Past hold_max posts are refused as with `refuse`.
enum class store_failure_policy { refuse, queue };

inline const char* to_string(store_failure_policy p) {
  return p == store_failure_policy::queue ? "queue" : "refuse";
}
inline std::optional<store_failure_policy> policy_from_string(std::string_view s) {
  if (s == "refuse")
    return store_failure_policy::refuse;
  if (s == "queue")
    return store_failure_policy::queue;
  return std::nullopt;
}

struct compliance_options {
  bool enabled = false;   // off: no actor, nothing on the post path
  std::string dir;        // the queue's RocksDB directory, e.g. <data-dir>/compliance
  std::string output_dir; // AdapterOutputDirectory
  std::chrono::milliseconds run_interval = std::chrono::minutes(15); // RunInterval: one adapter run per interval
  bool one_room_per_file = false;                                    // OneChatRoomPerOutputFile
  bool add_room_details = false;                                     // AddChatRoomDetails
  bool add_user_details = false;                                     // AddUserDetails
  std::size_t batch_max = 10'000;                                    // most events per batch (per adapter call)
  store_failure_policy on_store_failure = store_failure_policy::refuse;
  std::size_t hold_max = 100'000; // events held in memory while the queue cannot be written
  // Adapter failure: the batch is retried after retry_min, doubling up to retry_max.
  std::chrono::milliseconds retry_min = std::chrono::seconds(1);
  std::chrono::milliseconds retry_max = std::chrono::minutes(5);

  xml_options xml() const { return {output_dir, one_room_per_file, add_room_details, add_user_details}; }
};

} // namespace pchat::compliance
