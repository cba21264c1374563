// Pure tests of storage/record_codec: record round trips, strict decoding, key ordering.
#include "storage/record_codec.hpp"
#include "base/text.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace pchat::storage;
using namespace std::string_literals;

namespace {

constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

std::string bytes(std::initializer_list<int> bs) {
  std::string s;
  for (int b : bs)
    s.push_back(static_cast<char>(b));
  return s;
}

// Text with an embedded NUL, UTF-8 (é, 中, emoji), a lone invalid byte and control characters.
const std::string weird_text = "a\0b\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xff\r\n\t\x01 end"s;

std::vector<category> sample_categories() {
  std::vector<category> out;
  out.push_back(category{}); // id 0, all strings empty, default flags
  category full;
  full.id = u64_max;
  full.guid = "0f8fad5b-d9cb-469f-a165-70867728950e";
  full.name = weird_text;
  full.description = std::string(300, 'x'); // length needs a 2-byte varint
  full.invite = true;
  full.logged = false;
  full.filepost = false;
  out.push_back(full);
  category one;
  one.id = 1;
  one.name = "General";
  one.invite = true;
  one.logged = true;
  one.filepost = true;
  out.push_back(one);
  return out;
}

std::vector<room> sample_rooms() {
  std::vector<room> out;
  out.push_back(room{});
  room full;
  full.id = u64_max;
  full.guid = "ABC";
  full.category_id = u64_max;
  full.name = weird_text;
  full.description = "\0"s;
  full.topic = std::string(70000, 't'); // 3-byte varint
  full.addin_url = "https://example.com/addin?x=1&y=2";
  full.privacy_mode = privacy::secret;
  full.type = room_type::auditorium;
  full.invite = room_invite::off;
  full.disabled = true;
  full.created_ticks = std::numeric_limits<std::int64_t>::min();
  out.push_back(full);
  room mid;
  mid.id = 256;
  mid.category_id = 1;
  mid.name = "lobby";
  mid.privacy_mode = privacy::closed;
  mid.created_ticks = std::numeric_limits<std::int64_t>::max();
  out.push_back(mid);
  room neg;
  neg.id = 2;
  neg.created_ticks = -1;
  out.push_back(neg);
  return out;
}

std::vector<message> sample_messages() {
  std::vector<message> out;
  out.push_back(message{});
  message m;
  m.author = "sip:alice@example.com";
  m.ticks = 17'000'000'000'000'000;
  m.text = weird_text;
  out.push_back(m);
  message big;
  big.author = weird_text;
  big.ticks = -5;
  big.text = std::string(1 << 20, '\0');
  out.push_back(big);
  return out;
}

bool same(const category& a, const category& b) {
  return a.id == b.id && a.guid == b.guid && a.name == b.name && a.description == b.description &&
         a.invite == b.invite && a.logged == b.logged && a.filepost == b.filepost;
}

bool same(const room& a, const room& b) {
  return a.id == b.id && a.guid == b.guid && a.category_id == b.category_id && a.name == b.name &&
         a.description == b.description && a.topic == b.topic && a.addin_url == b.addin_url &&
         a.privacy_mode == b.privacy_mode && a.type == b.type && a.invite == b.invite && a.disabled == b.disabled &&
         a.created_ticks == b.created_ticks;
}

} // namespace

TEST_CASE("codec: category round trip") {
  for (const auto& c : sample_categories()) {
    auto enc = codec::encode_category(c);
    REQUIRE(static_cast<std::uint8_t>(enc[0]) == codec::format_version);
    auto dec = codec::decode_category(enc);
    REQUIRE(dec);
    CHECK(same(*dec, c));
    CHECK(dec->name.size() == c.name.size());
  }
}

TEST_CASE("codec: room round trip") {
  for (const auto& r : sample_rooms()) {
    auto enc = codec::encode_room(r);
    REQUIRE(static_cast<std::uint8_t>(enc[0]) == codec::format_version);
    auto dec = codec::decode_room(enc);
    REQUIRE(dec);
    CHECK(same(*dec, r));
  }
  // every enum value survives
  for (auto p : {privacy::open, privacy::closed, privacy::secret})
    for (auto t : {room_type::normal, room_type::auditorium})
      for (auto i : {room_invite::inherit, room_invite::off}) {
        room r;
        r.privacy_mode = p;
        r.type = t;
        r.invite = i;
        auto dec = codec::decode_room(codec::encode_room(r));
        REQUIRE(dec);
        CHECK(dec->privacy_mode == p);
        CHECK(dec->type == t);
        CHECK(dec->invite == i);
      }
}

TEST_CASE("codec: message round trip fills room id and seq from the key") {
  for (const auto& m : sample_messages()) {
    auto enc = codec::encode_message(m);
    // version + ticks + two varint-prefixed strings; no room id or seq in the value
    CHECK(enc.size() <= 1 + 8 + 2 * 3 + m.author.size() + m.text.size());
    for (std::uint64_t room_id : {std::uint64_t{0}, std::uint64_t{7}, u64_max}) {
      auto dec = codec::decode_message(enc, room_id, u64_max - room_id);
      REQUIRE(dec);
      CHECK(dec->room_id == room_id);
      CHECK(dec->seq == u64_max - room_id);
      CHECK(dec->author == m.author);
      CHECK(dec->ticks == m.ticks);
      CHECK(dec->text == m.text);
    }
  }
}

TEST_CASE("codec: every truncation is rejected") {
  // The samples above minus the huge ones, to keep this quadratic loop fast.
  for (auto c : sample_categories()) {
    c.description.resize(std::min<std::size_t>(c.description.size(), 200));
    auto enc = codec::encode_category(c);
    for (std::size_t len = 0; len < enc.size(); ++len)
      CHECK_FALSE(codec::decode_category(std::string_view{enc}.substr(0, len)));
    CHECK(codec::decode_category(enc));
  }
  for (auto r : sample_rooms()) {
    r.topic.resize(std::min<std::size_t>(r.topic.size(), 200));
    auto enc = codec::encode_room(r);
    for (std::size_t len = 0; len < enc.size(); ++len)
      CHECK_FALSE(codec::decode_room(std::string_view{enc}.substr(0, len)));
    CHECK(codec::decode_room(enc));
  }
  for (auto m : sample_messages()) {
    m.text.resize(std::min<std::size_t>(m.text.size(), 200));
    auto enc = codec::encode_message(m);
    for (std::size_t len = 0; len < enc.size(); ++len)
      CHECK_FALSE(codec::decode_message(std::string_view{enc}.substr(0, len), 1, 1));
    CHECK(codec::decode_message(enc, 1, 1));
  }
}

TEST_CASE("codec: malformed records are rejected") {
  category c;
  c.name = "n";
  room r;
  r.name = "n";
  message m;
  m.text = "hello";
  const auto cat = codec::encode_category(c);
  const auto rm = codec::encode_room(r);
  const auto msg = codec::encode_message(m);

  SECTION("unknown or zero format version") {
    for (int v : {0, 2, 255}) {
      auto bad_c = cat;
      bad_c[0] = static_cast<char>(v);
      CHECK_FALSE(codec::decode_category(bad_c));
      auto bad_r = rm;
      bad_r[0] = static_cast<char>(v);
      CHECK_FALSE(codec::decode_room(bad_r));
      auto bad_m = msg;
      bad_m[0] = static_cast<char>(v);
      CHECK_FALSE(codec::decode_message(bad_m, 1, 1));
    }
  }
  SECTION("trailing bytes") {
    CHECK_FALSE(codec::decode_category(cat + "x"));
    CHECK_FALSE(codec::decode_room(rm + "\0"s));
    CHECK_FALSE(codec::decode_message(msg + "x", 1, 1));
  }
  SECTION("unknown flag bits and out-of-range enums") {
    auto bad_c = cat;
    bad_c.back() = static_cast<char>(0x08);
    CHECK_FALSE(codec::decode_category(bad_c));
    // room tail: privacy, type, invite, flags, created_ticks(8)
    const std::size_t flags_at = rm.size() - 9;
    for (std::size_t at : {flags_at - 3, flags_at - 2, flags_at - 1, flags_at}) {
      auto bad_r = rm;
      bad_r[at] = static_cast<char>(3);
      CHECK_FALSE(codec::decode_room(bad_r));
    }
    auto ok_r = rm;
    ok_r[flags_at - 3] = static_cast<char>(2); // privacy::secret is valid
    CHECK(codec::decode_room(ok_r));
  }
  SECTION("string length past the end, overlong and overflowing varints") {
    // message: version | ticks(8) | author len | author | text len | text
    std::string head = msg.substr(0, 9);
    CHECK_FALSE(codec::decode_message(head + bytes({0x05}) + "abc" + bytes({0x00}), 1, 1));
    // a length of 2^63 must not overflow the bounds check
    CHECK_FALSE(
        codec::decode_message(head + bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), 1, 1));
    // 11-byte varint
    CHECK_FALSE(codec::decode_message(
        head + bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}) + bytes({0x00}), 1, 1));
    // 10th byte > 1 overflows 64 bits
    CHECK_FALSE(
        codec::decode_message(head + bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}), 1, 1));
    // non-canonical zero length (0x80 0x00)
    CHECK_FALSE(codec::decode_message(head + bytes({0x80, 0x00, 0x00}), 1, 1));
    // the canonical form of the same thing decodes
    CHECK(codec::decode_message(head + bytes({0x00, 0x00}), 1, 1));
  }
}

TEST_CASE("codec: random garbage never crashes and only canonical input decodes") {
  std::mt19937_64 rng{12345};
  auto check_canonical = [](const std::string& in) {
    if (auto c = codec::decode_category(in))
      CHECK(codec::encode_category(*c) == in);
    if (auto r = codec::decode_room(in))
      CHECK(codec::encode_room(*r) == in);
    if (auto m = codec::decode_message(in, 1, 2))
      CHECK(codec::encode_message(*m) == in);
  };
  int decoded = 0;
  const auto seeds =
      std::vector<std::string>{codec::encode_category(sample_categories()[2]), codec::encode_room(sample_rooms()[2]),
                               codec::encode_message(sample_messages()[1])};
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    if (i % 2 == 0) {
      in.resize(rng() % 64);
      for (auto& ch : in)
        ch = static_cast<char>(rng());
      if (!in.empty() && i % 4 == 0)
        in[0] = 1; // get past the version check
    } else {
      in = seeds[rng() % seeds.size()];
      in[rng() % in.size()] = static_cast<char>(rng()); // one random byte flipped
    }
    if (codec::decode_category(in) || codec::decode_room(in) || codec::decode_message(in, 1, 2))
      ++decoded;
    check_canonical(in);
  }
  CHECK(decoded > 0); // the mutations did exercise successful decodes, not only rejections
}

TEST_CASE("codec: varint and big-endian encodings") {
  auto varint = [](std::uint64_t v) {
    std::string s;
    codec::put_varint(s, v);
    return s;
  };
  CHECK(varint(0) == bytes({0x00}));
  CHECK(varint(127) == bytes({0x7f}));
  CHECK(varint(128) == bytes({0x80, 0x01}));
  CHECK(varint(300) == bytes({0xac, 0x02}));
  CHECK(varint(u64_max) == bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));

  CHECK(codec::be64(0x0102030405060708) == bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(codec::be64(256) == bytes({0, 0, 0, 0, 0, 0, 1, 0}));
  CHECK(codec::read_be64(codec::be64(u64_max)) == u64_max);
  CHECK(codec::read_be64(codec::be64(0)) == std::uint64_t{0});
  CHECK_FALSE(codec::read_be64("1234567"));
  CHECK_FALSE(codec::read_be64("123456789"));
}

TEST_CASE("codec: big-endian keys sort numerically") {
  // Byte-wise comparison is what RocksDB's default comparator does.
  CHECK(codec::be64(255) < codec::be64(256));
  CHECK(codec::be64(256) < codec::be64(65536));
  CHECK(codec::be64(65536) < codec::be64(u64_max));
  CHECK(codec::key::history(1, 255) < codec::key::history(1, 256));
  CHECK(codec::key::history(1, 256) < codec::key::history(1, 65536));
  CHECK(codec::key::history(1, u64_max) < codec::key::history(2, 0));
  CHECK(codec::key::history(2, u64_max) < codec::key::history(256, 1));
  CHECK(codec::key::room(255) < codec::key::room(256));
  CHECK(codec::key::user_role("sip:a@x", 255) < codec::key::user_role("sip:a@x", 256));
  CHECK(codec::key::follow("sip:a@x", 256) < codec::key::follow("sip:a@x", 65536));

  std::vector<std::uint64_t> seqs{65536, 1, 256, 255, 0, u64_max, 65535};
  std::vector<std::string> ks;
  for (auto s : seqs)
    ks.push_back(codec::key::history(3, s));
  std::sort(ks.begin(), ks.end());
  std::sort(seqs.begin(), seqs.end());
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    auto parsed = codec::key::parse_history(ks[i]);
    REQUIRE(parsed);
    CHECK(parsed->first == 3);
    CHECK(parsed->second == seqs[i]);
  }
  CHECK(codec::key::history(3, 9).substr(0, 8) == codec::key::history_prefix(3));
  CHECK_FALSE(codec::key::parse_history("short"));
}

TEST_CASE("codec: catalog and role keys") {
  CHECK(codec::key::room_name("LoBBy") == codec::key::room_name("lobby"));
  CHECK(codec::key::category_name("Lobby") != codec::key::room_name("Lobby"));
  CHECK(codec::key::room_guid("ABC-def") == "g:r:abc-def");
  CHECK(pchat::ascii_lower("ÄBC\xc3\x84") == "Äbc\xc3\x84"); // non-ASCII bytes untouched
  CHECK(codec::key::record_id(codec::key::room(42), codec::key::room_prefix) == std::uint64_t{42});
  CHECK_FALSE(codec::key::record_id(codec::key::room(42), codec::key::category_prefix));
  CHECK_FALSE(codec::key::record_id("r1234", codec::key::room_prefix));
  // a user whose name extends another's must not fall inside the shorter user's prefix
  CHECK(codec::key::user_role("sip:ab@x", 1).rfind(codec::key::user_roles_prefix("sip:a"), 0) == std::string::npos);
  CHECK(codec::key::follow("sip:ab@x", 1).rfind(codec::key::follows_prefix("sip:ab"), 0) == std::string::npos);
}

TEST_CASE("codec: invitation round trip takes user and id from the key, and decodes strictly") {
  invitation inv;
  inv.room_id = 42;
  inv.ticks = 638000000000000000;
  inv.inviter = "sip:alice@example.com";
  inv.seen = true;
  auto v = codec::encode_invitation(inv);
  auto back = codec::decode_invitation(v, "sip:bob@example.com", 7);
  REQUIRE(back);
  CHECK(back->id == 7);
  CHECK(back->user == "sip:bob@example.com");
  CHECK(back->room_id == 42);
  CHECK(back->ticks == inv.ticks);
  CHECK(back->inviter == inv.inviter);
  CHECK(back->seen);
  for (std::size_t n = 0; n < v.size(); ++n)
    CHECK_FALSE(codec::decode_invitation(v.substr(0, n), "u", 1));
  auto bad_flag = v;
  bad_flag.back() = 2;
  CHECK_FALSE(codec::decode_invitation(bad_flag, "u", 1));
  CHECK_FALSE(codec::decode_invitation(v + "x", "u", 1));
}

TEST_CASE("codec: scope keys group a category's lists and keep principals intact") {
  using codec::key::principal_list;
  auto a = codec::key::scope(5, principal_list::allow, "example.com");
  auto d = codec::key::scope(5, principal_list::deny, "sip:m@example.com");
  auto other = codec::key::scope(6, principal_list::allow, "example.com");
  auto prefix = codec::key::scope_prefix(5);
  CHECK(a.rfind(prefix, 0) == 0);
  CHECK(d.rfind(prefix, 0) == 0);
  CHECK(other.rfind(prefix, 0) != 0);
  CHECK(a.substr(prefix.size()) == "aexample.com");
  // Scope keys never look like category or room records.
  CHECK_FALSE(codec::key::record_id(a, codec::key::category_prefix));
  CHECK_FALSE(codec::key::record_id(a, codec::key::room_prefix));
}
