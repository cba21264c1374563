#pragma once
// Conversions between stored records, actor payloads and XCCOS builder inputs. Pure functions.
#include <string>

#include "actors/protocol.hpp"
#include "codec/xccos.hpp"
#include "storage/store.hpp"
#include "base/text.hpp"

namespace pchat {

// ma-chan://<domain>/<guid>
std::string room_uri(const std::string& domain, const storage::room& r);

room_view make_room_view(const storage::room& r, const storage::category& c, const std::string& domain,
                         std::uint32_t online);

// "public" for open rooms, "private" for closed and secret ones (sipe reads only "private", docs/xccos.md §4).
const char* visibility_token(std::uint8_t privacy);

xccos::room_summary to_summary(const room_view& v);

} // namespace pchat
