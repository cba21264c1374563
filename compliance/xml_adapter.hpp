#pragma once
// The default compliance adapter: Lync's XML output format (docs/compliance.md), one file per
// batch, or one per room and batch with one_room_per_file, plus the hash chain as attributes in pchat's own
// namespace (docs/compliance.md). Files are written atomically: a hidden temporary file in the output
// directory, fsync, rename over the final name, fsync of the directory.
//
// Output of batch B: pchat-compliance-<B, 12 digits>-<part, 3 digits>.xml, parts 001..N (N = 1, or the number
// of rooms in the batch with one_room_per_file). Rewriting a batch rewrites the same names with the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compliance/adapter.hpp"

namespace pchat::compliance {

// Lync's AdapterOutputDirectory, OneChatRoomPerOutputFile, AddChatRoomDetails, AddUserDetails.
struct xml_options {
  std::string output_dir;
  bool one_room_per_file = false;
  // Channel name = the room's name and islogged = true/false; without it name = the room uri and islogged is
  // empty, as in Lync's sample output.
  bool add_room_details = false;
  // Sender email = the user's address and internal = true; without it both are empty. UserName (display name,
  // else the address), id and uri are always there.
  bool add_user_details = false;
};

// pchat's namespace for the chain attributes (pc:batch, pc:part, pc:parts, pc:prev on Conversations; pc:hash
// on Message).
inline constexpr const char* chain_namespace = "urn:pchat:compliance:1";

class xml_adapter final : public adapter {
public:
  explicit xml_adapter(xml_options opts);
  status write(const batch& b) override;

private:
  xml_options opts_;
};

std::string output_file_name(std::uint64_t batch_id, std::size_t part);

// The three encodings of one instant (docs/compliance.md "Output shape"): milliseconds since 1970, ISO-8601 UTC with 7
// fractional digits, .NET ticks since 0001-01-01.
std::int64_t since1970(std::int64_t ticks);
std::string utc_string(std::int64_t ticks);
std::int64_t dotnet_ticks(std::int64_t ticks);

// The Sender id attribute: a stable number derived from the sender address (the first 6 bytes of its SHA-256),
// so that the same user has the same id in every file without a user table.
std::uint64_t sender_id(std::string_view user_uri);

} // namespace pchat::compliance
