#pragma once
// pchat storage: pure binary encoding of stored records and the key helpers of every column family.
//
// Contract
// - No I/O, no RocksDB, no global state; every function is thread-safe and never throws (except std::bad_alloc).
// - Record values (category, room, message) start with one format-version byte (`format_version`, currently 1),
//   followed by the fields in a fixed order: fixed-width integers as big-endian, strings as a LEB128 varint byte
//   length plus the raw bytes (any bytes allowed, including NUL and non-UTF-8), booleans packed into a flags byte.
// - The encoding is canonical: decoding is strict (no trailing bytes, no unknown flag bits, no out-of-range enum
//   values, no overlong varints), so `decode(x)` succeeds only if `encode(*decode(x)) == x`.
// - Decoders are bounds-checked and return std::nullopt on truncated, malformed or unknown-version input; they
//   never read past the end of their input.
// - Keys that must sort numerically (ids, sequence numbers) embed them as 8-byte big-endian (`be64`).
//
// Key layout (see store.cpp for what each value holds):
//   default CF : "db_version", "root_guid", "next_category_id", "next_room_id"
//   catalog    : "c" + be64(id) -> category      "r" + be64(id) -> room
//                "n:c:" + ascii_lower(name) -> be64(category id)
//                "n:r:" + ascii_lower(name) -> be64(room id)      "g:r:" + ascii_lower(guid) -> be64(room id)
//                "kc" + be64(category id), "kr" + be64(room id) -> retention (a room without one follows its category)
//   history    : be64(room id) + be64(seq) -> message
//   roles      : "r" + be64(room) + user -> role bits (1 byte)   "u" + user + '\0' + be64(room) -> role bits
//                "s" + be64(category id) + list ('a' allow, 'd' deny, 'c' creator) + principal -> ""
//   follows    : user + '\0' + be64(room) -> ""
//   invites    : user + '\0' + be64(invitation id) -> invitation      default CF: "next_invite_id"
//   prefs      : user + '\0' + label -> value (raw bytes, as the client sent them)
//   search     : term + '\0' + be64(room) + be64(seq) -> ""   (term: a word of the text, or '\x01' + author)
//   users      : "u" + aor -> user record        "p" + scope digit ('0' global, '1' domain, '2' user) + subject
//                -> policy (so a scan lists global, then domains, then users)
//   files      : be64(room id) + ascii_lower(file id) -> file record
// Users must not contain NUL (the store rejects such names) so that the user-first keys are unambiguous.
#include "storage/store.hpp"
#include "base/text.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pchat::storage::codec {

inline constexpr std::uint8_t format_version = 1;

// --- primitives -------------------------------------------------------------------------------------------
void put_be64(std::string& out, std::uint64_t value);
std::string be64(std::uint64_t value);
// Reads exactly 8 bytes; nullopt when `in` is not 8 bytes long.
std::optional<std::uint64_t> read_be64(std::string_view in);
// LEB128, 1..10 bytes.
void put_varint(std::string& out, std::uint64_t value);
// A varint byte length plus the raw bytes.
void put_str(std::string& out, std::string_view s);

// Bounds-checked cursor over an encoded record, the reading side of the put_* functions. Every read either
// consumes exactly what it returns or fails without moving; nothing reads past the end of the input.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}
  bool u8(std::uint8_t& out);
  bool u64(std::uint64_t& out); // 8 bytes big-endian
  bool i64(std::int64_t& out);  // 8 bytes big-endian, two's complement
  bool varint(std::uint64_t& out);
  bool str(std::string& out);   // as written by put_str
  bool at_end() const { return pos_ == in_.size(); }

private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

// --- records ----------------------------------------------------------------------------------------------
std::string encode_category(const category& c);
std::optional<category> decode_category(std::string_view value);

std::string encode_room(const room& r);
std::optional<room> decode_room(std::string_view value);

// The value holds author, ticks and text only; room id and seq live in the key and are filled in by the decoder.
std::string encode_message(const message& m);
std::optional<message> decode_message(std::string_view value, std::uint64_t room_id, std::uint64_t seq);

// The value holds room, time, inviter and the seen flag; user and id live in the key.
std::string encode_invitation(const invitation& inv);
std::optional<invitation> decode_invitation(std::string_view value, std::string_view user, std::uint64_t id);

// user v1: the value holds flags(disabled), display name, realm and both HA1s; the aor lives in the key. The HA1s
// must be 32 / 64 lower-case hex digits and the realm non-empty, or the record does not decode.
std::string encode_user(const user_record& u);
std::optional<user_record> decode_user(std::string_view value, std::string_view aor);
// Whether `hex` is `digits` lower-case hex digits (the shape of a stored HA1).
bool is_lower_hex(std::string_view hex, std::size_t digits);

// file v1: version | size be64 | ticks be64 | name | content type | sha256 (64 hex) | uploader; room and id live
// in the key.
std::string encode_file(const file_record& f);
std::optional<file_record> decode_file(std::string_view value, std::uint64_t room_id, std::string_view id);

// retention v1: version | days varint (< 2^32) | posts varint.
std::string encode_retention(const retention& r);
std::optional<retention> decode_retention(std::string_view value);

// policy v1: version | persistent chat (0 or 1).
std::string encode_policy(bool persistent_chat);
std::optional<bool> decode_policy(std::string_view value);

// --- keys -------------------------------------------------------------------------------------------------
namespace key {
// default CF
inline constexpr std::string_view db_version = "db_version";
inline constexpr std::string_view root_guid = "root_guid";
inline constexpr std::string_view next_category_id = "next_category_id";
inline constexpr std::string_view next_room_id = "next_room_id";
inline constexpr std::string_view next_invite_id = "next_invite_id";
// default CF: "seq_floor" + be64(room id) -> be64(seq): the highest seq a history clear deleted, so a room whose
// whole history was cleared still continues after it (sequence numbers are never reused).
inline constexpr std::string_view seq_floor = "seq_floor";

// catalog CF
inline constexpr std::string_view category_prefix = "c";
inline constexpr std::string_view room_prefix = "r";
std::string category(std::uint64_t id);
std::string room(std::uint64_t id);
std::string category_name(std::string_view name); // case-folded
std::string room_name(std::string_view name);     // case-folded
std::string room_guid(std::string_view guid);     // case-folded
// The id of a "c"/"r" record key; nullopt if `k` is not prefix + 8 bytes.
std::optional<std::uint64_t> record_id(std::string_view k, std::string_view prefix);

// Category scope and creators (catalog CF).
enum class principal_list : char { allow = 'a', deny = 'd', creator = 'c' };
std::string scope_prefix(std::uint64_t category_id); // every list of one category
std::string scope(std::uint64_t category_id, principal_list list, std::string_view principal);
// Retention rules (catalog CF): "kc" + be64(category id) and "kr" + be64(room id) -> retention. A room without
// its key follows its category.
std::string category_retention(std::uint64_t category_id);
std::string room_retention(std::uint64_t room_id);

// history CF
std::string history_prefix(std::uint64_t room_id); // 8 bytes
std::string history(std::uint64_t room_id, std::uint64_t seq);
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_history(std::string_view k); // (room, seq)

// roles CF
std::string room_roles_prefix(std::uint64_t room_id);
std::string room_role(std::uint64_t room_id, std::string_view user);
std::string user_roles_prefix(std::string_view user);
std::string user_role(std::string_view user, std::uint64_t room_id);

// follows CF
std::string follows_prefix(std::string_view user);
std::string follow(std::string_view user, std::uint64_t room_id);

// invites CF, prefs CF
std::string invites_prefix(std::string_view user);
std::string invite(std::string_view user, std::uint64_t id);
std::string pref(std::string_view user, std::string_view label);

// search CF: one posting list per (term, room), seqs ascending.
std::string posting_prefix(std::string_view term, std::uint64_t room_id);
std::string author_term(std::string_view author);
// files CF
std::string files_prefix(std::uint64_t room_id); // 8 bytes
std::string file(std::uint64_t room_id, std::string_view id); // id case-folded
// users CF
inline constexpr std::string_view user_prefix = "u";
inline constexpr std::string_view policy_prefix = "p";
std::string user(std::string_view aor);
std::string policy(policy_scope scope, std::string_view subject);
} // namespace key

} // namespace pchat::storage::codec
