// The compliance event codec (compliance/event.hpp) on any bytes: the durable queue's records, read back after
// a restart, where a damaged record must give nullopt, never a crash. Checked as the contract says:
// - decode is strict, so a record that decodes is re-encoded to exactly the same bytes;
// - make_xml_safe leaves only text XML can carry, changes nothing the second time, and keeps ASCII text as it is;
// - the hash chain's input (canonical) and the chain hash take any event.
#include <string>

#include "base/text.hpp"
#include "compliance/event.hpp"
#include "fuzz/fuzz.hpp"

using namespace pchat;
using namespace pchat::compliance;

namespace {

bool printable_ascii(const std::string& s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto record = fuzz::text_of(data, size);
  auto e = decode(record);
  if (!e)
    return 0;
  PCHAT_FUZZ_CHECK(encode(*e) == record);
  PCHAT_FUZZ_CHECK(decode(encode(*e)) == e);
  PCHAT_FUZZ_CHECK(kind_from_string(to_string(e->kind)) == e->kind);

  auto safe = *e;
  make_xml_safe(safe);
  for (const auto* field : {&safe.room_uri, &safe.room_name, &safe.user_uri, &safe.display_name, &safe.content})
    PCHAT_FUZZ_CHECK(is_xml_text(*field));
  auto twice = safe;
  make_xml_safe(twice);
  PCHAT_FUZZ_CHECK(twice == safe);
  if (printable_ascii(e->content))
    PCHAT_FUZZ_CHECK(safe.content == e->content);

  PCHAT_FUZZ_CHECK(!canonical(safe).empty());
  auto link = chain_hash(e->hash, safe);
  PCHAT_FUZZ_CHECK(chain_hash(e->hash, safe) == link);
  sender_address(e->user_uri);
  return 0;
}
