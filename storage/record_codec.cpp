#include "storage/record_codec.hpp"

namespace pchat::storage::codec {

namespace {

bool read_version(reader& rd) {
  std::uint8_t v = 0;
  return rd.u8(v) && v == format_version;
}

// Category flags byte.
constexpr std::uint8_t cat_invite = 1;
constexpr std::uint8_t cat_logged = 2;
constexpr std::uint8_t cat_filepost = 4;
constexpr std::uint8_t cat_all = cat_invite | cat_logged | cat_filepost;

// Room flags byte.
constexpr std::uint8_t room_disabled = 1;
constexpr std::uint8_t room_all = room_disabled;

std::string prefixed(std::string_view prefix, std::string_view rest) {
  std::string k;
  k.reserve(prefix.size() + rest.size());
  k.append(prefix.data(), prefix.size());
  k.append(rest.data(), rest.size());
  return k;
}

} // namespace

// --- reader -----------------------------------------------------------------------------------------------

bool reader::u8(std::uint8_t& out) {
  if (pos_ >= in_.size())
    return false;
  out = static_cast<std::uint8_t>(in_[pos_++]);
  return true;
}

bool reader::u64(std::uint64_t& out) {
  if (in_.size() - pos_ < 8)
    return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<std::uint8_t>(in_[pos_ + i]);
  pos_ += 8;
  out = v;
  return true;
}

bool reader::i64(std::int64_t& out) {
  std::uint64_t v = 0;
  if (!u64(v))
    return false;
  out = static_cast<std::int64_t>(v);
  return true;
}

// Canonical LEB128: at most 10 bytes, no overflow, no redundant trailing zero group.
bool reader::varint(std::uint64_t& out) {
  std::uint64_t v = 0;
  std::size_t p = pos_;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (p >= in_.size())
      return false;
    auto byte = static_cast<std::uint8_t>(in_[p++]);
    if (shift == 63 && byte > 1)
      return false; // would overflow 64 bits
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      if (byte == 0 && shift != 0)
        return false; // overlong
      pos_ = p;
      out = v;
      return true;
    }
  }
  return false;
}

bool reader::str(std::string& out) {
  std::size_t start = pos_;
  std::uint64_t len = 0;
  if (!varint(len))
    return false;
  if (len > in_.size() - pos_) {
    pos_ = start;
    return false;
  }
  out.assign(in_.data() + pos_, static_cast<std::size_t>(len));
  pos_ += static_cast<std::size_t>(len);
  return true;
}

// --- primitives -------------------------------------------------------------------------------------------

void put_be64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((value >> shift) & 0xff));
}

std::string be64(std::uint64_t value) {
  std::string out;
  out.reserve(8);
  put_be64(out, value);
  return out;
}

std::optional<std::uint64_t> read_be64(std::string_view in) {
  if (in.size() != 8)
    return std::nullopt;
  reader rd{in};
  std::uint64_t v = 0;
  rd.u64(v);
  return v;
}

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_str(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s.data(), s.size());
}

// --- records ----------------------------------------------------------------------------------------------
// category v1: version | id be64 | guid | name | description | flags(invite, logged, filepost)

std::string encode_category(const category& c) {
  std::string out;
  out.reserve(1 + 8 + 3 + c.guid.size() + c.name.size() + c.description.size() + 1);
  out.push_back(static_cast<char>(format_version));
  put_be64(out, c.id);
  put_str(out, c.guid);
  put_str(out, c.name);
  put_str(out, c.description);
  std::uint8_t flags = (c.invite ? cat_invite : 0) | (c.logged ? cat_logged : 0) | (c.filepost ? cat_filepost : 0);
  out.push_back(static_cast<char>(flags));
  return out;
}

std::optional<category> decode_category(std::string_view value) {
  reader rd{value};
  category c;
  std::uint8_t flags = 0;
  if (!read_version(rd) || !rd.u64(c.id) || !rd.str(c.guid) || !rd.str(c.name) || !rd.str(c.description) ||
      !rd.u8(flags) || (flags & ~cat_all) != 0 || !rd.at_end())
    return std::nullopt;
  c.invite = (flags & cat_invite) != 0;
  c.logged = (flags & cat_logged) != 0;
  c.filepost = (flags & cat_filepost) != 0;
  return c;
}

std::string encode_retention(const retention& r) {
  std::string out;
  out.push_back(static_cast<char>(format_version));
  put_varint(out, r.days);
  put_varint(out, r.posts);
  return out;
}

std::optional<retention> decode_retention(std::string_view value) {
  reader rd{value};
  std::uint64_t days = 0;
  retention r;
  if (!read_version(rd) || !rd.varint(days) || days > retention::max_days || !rd.varint(r.posts) || !rd.at_end())
    return std::nullopt;
  r.days = static_cast<std::uint32_t>(days);
  return r;
}

// room v1: version | id be64 | category_id be64 | guid | name | description | topic | addin_url
//          | privacy u8 | type u8 | invite u8 | flags(disabled) | created_ticks be64

std::string encode_room(const room& r) {
  std::string out;
  out.reserve(1 + 16 + 5 + r.guid.size() + r.name.size() + r.description.size() + r.topic.size() + r.addin_url.size() +
              4 + 8);
  out.push_back(static_cast<char>(format_version));
  put_be64(out, r.id);
  put_be64(out, r.category_id);
  put_str(out, r.guid);
  put_str(out, r.name);
  put_str(out, r.description);
  put_str(out, r.topic);
  put_str(out, r.addin_url);
  out.push_back(static_cast<char>(r.privacy_mode));
  out.push_back(static_cast<char>(r.type));
  out.push_back(static_cast<char>(r.invite));
  out.push_back(static_cast<char>(r.disabled ? room_disabled : 0));
  put_be64(out, static_cast<std::uint64_t>(r.created_ticks));
  return out;
}

std::optional<room> decode_room(std::string_view value) {
  reader rd{value};
  room r;
  std::uint8_t priv = 0;
  std::uint8_t type = 0;
  std::uint8_t invite = 0;
  std::uint8_t flags = 0;
  if (!read_version(rd) || !rd.u64(r.id) || !rd.u64(r.category_id) || !rd.str(r.guid) || !rd.str(r.name) ||
      !rd.str(r.description) || !rd.str(r.topic) || !rd.str(r.addin_url) || !rd.u8(priv) || !rd.u8(type) ||
      !rd.u8(invite) || !rd.u8(flags) || !rd.i64(r.created_ticks) || !rd.at_end())
    return std::nullopt;
  if (priv > static_cast<std::uint8_t>(privacy::secret) || type > static_cast<std::uint8_t>(room_type::auditorium) ||
      invite > static_cast<std::uint8_t>(room_invite::off) || (flags & ~room_all) != 0)
    return std::nullopt;
  r.privacy_mode = static_cast<privacy>(priv);
  r.type = static_cast<room_type>(type);
  r.invite = static_cast<room_invite>(invite);
  r.disabled = (flags & room_disabled) != 0;
  return r;
}

// message v1: version | ticks be64 | author | text

std::string encode_message(const message& m) {
  std::string out;
  out.reserve(1 + 8 + 2 + m.author.size() + 5 + m.text.size());
  out.push_back(static_cast<char>(format_version));
  put_be64(out, static_cast<std::uint64_t>(m.ticks));
  put_str(out, m.author);
  put_str(out, m.text);
  return out;
}

std::optional<message> decode_message(std::string_view value, std::uint64_t room_id, std::uint64_t seq) {
  reader rd{value};
  message m;
  if (!read_version(rd) || !rd.i64(m.ticks) || !rd.str(m.author) || !rd.str(m.text) || !rd.at_end())
    return std::nullopt;
  m.room_id = room_id;
  m.seq = seq;
  return m;
}

// invitation v1: version | room_id be64 | ticks be64 | inviter | flags(seen)

std::string encode_invitation(const invitation& inv) {
  std::string out;
  out.reserve(1 + 16 + 1 + inv.inviter.size() + 1);
  out.push_back(static_cast<char>(format_version));
  put_be64(out, inv.room_id);
  put_be64(out, static_cast<std::uint64_t>(inv.ticks));
  put_str(out, inv.inviter);
  out.push_back(static_cast<char>(inv.seen ? 1 : 0));
  return out;
}

std::optional<invitation> decode_invitation(std::string_view value, std::string_view user, std::uint64_t id) {
  reader rd{value};
  invitation inv;
  std::uint8_t flags = 0;
  if (!read_version(rd) || !rd.u64(inv.room_id) || !rd.i64(inv.ticks) || !rd.str(inv.inviter) || !rd.u8(flags) ||
      flags > 1 || !rd.at_end())
    return std::nullopt;
  inv.id = id;
  inv.user = std::string{user};
  inv.seen = flags == 1;
  return inv;
}

std::string encode_file(const file_record& f) {
  std::string out;
  out.reserve(1 + 16 + 4 + f.name.size() + f.content_type.size() + f.sha256.size() + f.uploader.size());
  out.push_back(static_cast<char>(format_version));
  put_be64(out, f.size);
  put_be64(out, static_cast<std::uint64_t>(f.ticks));
  put_str(out, f.name);
  put_str(out, f.content_type);
  put_str(out, f.sha256);
  put_str(out, f.uploader);
  return out;
}

std::optional<file_record> decode_file(std::string_view value, std::uint64_t room_id, std::string_view id) {
  reader rd{value};
  file_record f;
  if (!read_version(rd) || !rd.u64(f.size) || !rd.i64(f.ticks) || !rd.str(f.name) || !rd.str(f.content_type) ||
      !rd.str(f.sha256) || !rd.str(f.uploader) || !rd.at_end() || !is_lower_hex(f.sha256, 64))
    return std::nullopt;
  f.room_id = room_id;
  f.id = std::string{id};
  return f;
}

// user v1: version | flags(disabled) | display_name | realm | ha1_md5 | ha1_sha256 [| nt_hash]
// (nt_hash was added later: records without it decode with an empty one)

bool is_lower_hex(std::string_view hex, std::size_t digits) {
  if (hex.size() != digits)
    return false;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

std::string encode_user(const user_record& u) {
  std::string out;
  out.reserve(2 + 4 + u.display_name.size() + u.realm.size() + 96);
  out.push_back(static_cast<char>(format_version));
  out.push_back(static_cast<char>(u.disabled ? 1 : 0));
  put_str(out, u.display_name);
  put_str(out, u.realm);
  put_str(out, u.ha1_md5);
  put_str(out, u.ha1_sha256);
  if (!u.nt_hash.empty())
    put_str(out, u.nt_hash);
  return out;
}

std::optional<user_record> decode_user(std::string_view value, std::string_view aor) {
  reader rd{value};
  user_record u;
  std::uint8_t flags = 0;
  if (!read_version(rd) || !rd.u8(flags) || flags > 1 || !rd.str(u.display_name) || !rd.str(u.realm) ||
      !rd.str(u.ha1_md5) || !rd.str(u.ha1_sha256) || u.realm.empty() || !is_lower_hex(u.ha1_md5, 32) ||
      !is_lower_hex(u.ha1_sha256, 64))
    return std::nullopt;
  if (!rd.at_end() && (!rd.str(u.nt_hash) || !is_lower_hex(u.nt_hash, 32)))
    return std::nullopt;
  if (!rd.at_end())
    return std::nullopt;
  u.aor = std::string{aor};
  u.disabled = flags == 1;
  return u;
}

// policy v1: version | persistent chat (0 or 1)

std::string encode_policy(bool persistent_chat) {
  return {static_cast<char>(format_version), static_cast<char>(persistent_chat ? 1 : 0)};
}

std::optional<bool> decode_policy(std::string_view value) {
  reader rd{value};
  std::uint8_t v = 0;
  if (!read_version(rd) || !rd.u8(v) || v > 1 || !rd.at_end())
    return std::nullopt;
  return v == 1;
}

// --- keys -------------------------------------------------------------------------------------------------

namespace key {

std::string category(std::uint64_t id) {
  return prefixed(category_prefix, be64(id));
}

std::string room(std::uint64_t id) {
  return prefixed(room_prefix, be64(id));
}

std::string category_name(std::string_view name) {
  return prefixed("n:c:", ascii_lower(name));
}

std::string room_name(std::string_view name) {
  return prefixed("n:r:", ascii_lower(name));
}

std::string room_guid(std::string_view guid) {
  return prefixed("g:r:", ascii_lower(guid));
}

std::optional<std::uint64_t> record_id(std::string_view k, std::string_view prefix) {
  if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  return read_be64(k.substr(prefix.size()));
}

std::string history_prefix(std::uint64_t room_id) {
  return be64(room_id);
}

std::string history(std::uint64_t room_id, std::uint64_t seq) {
  std::string k;
  k.reserve(16);
  put_be64(k, room_id);
  put_be64(k, seq);
  return k;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_history(std::string_view k) {
  if (k.size() != 16)
    return std::nullopt;
  return std::make_pair(*read_be64(k.substr(0, 8)), *read_be64(k.substr(8)));
}

std::string room_roles_prefix(std::uint64_t room_id) {
  return prefixed("r", be64(room_id));
}

std::string room_role(std::uint64_t room_id, std::string_view user) {
  return prefixed(room_roles_prefix(room_id), user);
}

std::string user_roles_prefix(std::string_view user) {
  std::string k = prefixed("u", user);
  k.push_back('\0');
  return k;
}

std::string user_role(std::string_view user, std::uint64_t room_id) {
  std::string k = user_roles_prefix(user);
  put_be64(k, room_id);
  return k;
}

std::string follows_prefix(std::string_view user) {
  std::string k{user};
  k.push_back('\0');
  return k;
}

std::string follow(std::string_view user, std::uint64_t room_id) {
  std::string k = follows_prefix(user);
  put_be64(k, room_id);
  return k;
}

std::string scope_prefix(std::uint64_t category_id) {
  return prefixed("s", be64(category_id));
}

std::string category_retention(std::uint64_t category_id) { return prefixed("kc", be64(category_id)); }
std::string room_retention(std::uint64_t room_id) { return prefixed("kr", be64(room_id)); }

std::string scope(std::uint64_t category_id, principal_list list, std::string_view principal) {
  std::string k = scope_prefix(category_id);
  k.push_back(static_cast<char>(list));
  k.append(principal.data(), principal.size());
  return k;
}

std::string invites_prefix(std::string_view user) {
  return follows_prefix(user);
}

std::string invite(std::string_view user, std::uint64_t id) {
  return follow(user, id);
}

std::string files_prefix(std::uint64_t room_id) {
  return be64(room_id);
}

std::string file(std::uint64_t room_id, std::string_view id) {
  std::string k = be64(room_id);
  k += ascii_lower(id);
  return k;
}

std::string pref(std::string_view user, std::string_view label) {
  std::string k = follows_prefix(user);
  k.append(label.data(), label.size());
  return k;
}

std::string posting_prefix(std::string_view term, std::uint64_t room_id) {
  std::string k{term};
  k.push_back('\0');
  put_be64(k, room_id);
  return k;
}

std::string author_term(std::string_view author) {
  return prefixed("\x01", author);
}

std::string user(std::string_view aor) {
  return prefixed(user_prefix, aor);
}

std::string policy(policy_scope scope, std::string_view subject) {
  std::string k{policy_prefix};
  k.push_back(static_cast<char>('0' + static_cast<int>(scope)));
  k.append(subject.data(), subject.size());
  return k;
}

} // namespace key

} // namespace pchat::storage::codec
