// The record codec (storage/record_codec.hpp) on any bytes: what the store reads back from RocksDB, where a
// damaged or foreign value must give nullopt, never a crash or a read past its end. The first byte picks the
// record type, the rest is the value. The codec's contract is checked as it is written: the encoding is
// canonical, so a value that decodes is re-encoded to exactly the same bytes; and the key parsers take any key.
#include <string>

#include "fuzz/fuzz.hpp"
#include "storage/record_codec.hpp"

using namespace pchat;
using namespace pchat::storage;

namespace {

template <class Decoded, class Encode>
void canonical(std::string_view value, const Decoded& decoded, Encode&& encode) {
  if (decoded)
    PCHAT_FUZZ_CHECK(encode(*decoded) == value);
}

// Every primitive of the reader in a row, as far as the bytes go: each read consumes all or nothing.
void primitives(std::string_view in) {
  codec::reader rd{in};
  for (int round = 0; round < 64 && !rd.at_end(); ++round) {
    std::uint8_t byte = 0;
    std::uint64_t u = 0;
    std::int64_t i = 0;
    std::string s;
    switch (round % 4) {
    case 0:
      if (rd.varint(u)) {
        std::string again;
        codec::put_varint(again, u);
        PCHAT_FUZZ_CHECK(!again.empty() && again.size() <= 10);
      }
      break;
    case 1:
      rd.str(s);
      break;
    case 2:
      rd.u64(u);
      rd.i64(i);
      break;
    default:
      rd.u8(byte);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const auto value = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 8) {
  case 0:
    canonical(value, codec::decode_category(value), codec::encode_category);
    break;
  case 1:
    canonical(value, codec::decode_room(value), codec::encode_room);
    break;
  case 2: {
    auto m = codec::decode_message(value, 7, 9);
    PCHAT_FUZZ_CHECK(!m || (m->room_id == 7 && m->seq == 9));
    canonical(value, m, codec::encode_message);
    break;
  }
  case 3:
    canonical(value, codec::decode_invitation(value, "sip:alice@example.com", 3), codec::encode_invitation);
    break;
  case 4: {
    auto u = codec::decode_user(value, "sip:alice@example.com");
    PCHAT_FUZZ_CHECK(!u || (codec::is_lower_hex(u->ha1_md5, 32) && codec::is_lower_hex(u->ha1_sha256, 64)));
    canonical(value, u, codec::encode_user);
    break;
  }
  case 5:
    canonical(value, codec::decode_file(value, 7, "f1"), codec::encode_file);
    break;
  case 6:
    canonical(value, codec::decode_policy(value), codec::encode_policy);
    break;
  default: {
    // Keys: what a scan over a column family hands the store.
    if (auto id = codec::key::record_id(value, codec::key::room_prefix))
      PCHAT_FUZZ_CHECK(codec::key::room(*id) == value);
    if (auto id = codec::key::record_id(value, codec::key::category_prefix))
      PCHAT_FUZZ_CHECK(codec::key::category(*id) == value);
    if (auto h = codec::key::parse_history(value))
      PCHAT_FUZZ_CHECK(codec::key::history(h->first, h->second) == value);
    if (auto v = codec::read_be64(value))
      PCHAT_FUZZ_CHECK(codec::be64(*v) == value);
    primitives(value);
  }
  }
  return 0;
}
