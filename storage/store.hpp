#pragma once
// pchat storage: the persistent room tree, roles, follow lists and room history, on RocksDB.
//
// Contract
// - `store` is a plain class (no actors inside). All methods are thread-safe: RocksDB is, and the few
//   read-check-write sequences (unique names, id allocation) are serialised by an internal mutex.
// - Errors are values: every mutating call returns a `status`; reads return empty optionals/vectors when
//   nothing matches and never throw.
// - History keys are 8-byte big-endian room id + 8-byte big-endian sequence, so a room's history is one
//   contiguous, numerically ordered key range (RocksDB's own PutFixed64 is little-endian and would not sort).
// - `commit(write_set, sync=true)` writes posts and follow changes in one WriteBatch with WriteOptions::sync: when
//   it returns ok, everything is on disk (WAL fsynced) and survives kill -9. This is the group-commit primitive the
//   store writer uses; `append` is the posts-only form of it.
// - Users are identified by their normalised SIP URI ("sip:alice@example.com", lower case); normalising is the
//   caller's job.
//
// Column families: default (meta), "catalog" (categories with their scope lists, rooms and their name/guid
// indexes), "history", "roles" (room -> user -> role bits, plus the reverse user -> room index), "follows",
// "invites", "prefs", "search" (the history index), "users" (accounts for SIP Digest and the persistent chat
// policy), "files" (room files' metadata; their content lives on disk, storage/file_store.hpp). Missing families are created when an older database is opened for writing; posts stored before
// "search" existed are not in the index.
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pchat::storage {

enum class errc {
  ok = 0,
  not_found,        // the room/category/user named does not exist
  already_exists,   // a unique name (room or category, case-insensitive) is taken
  invalid_argument, // empty name, unknown category, out-of-range value
  io_error,         // RocksDB reported an I/O error (disk full, ...)
  corruption,       // a stored record failed to decode
  busy,             // the data directory is locked by another process (pchatd running)
};

const char* to_string(errc code);

struct status {
  errc code = errc::ok;
  std::string message; // human-readable detail, empty when ok

  bool ok() const { return code == errc::ok; }
  static status success() { return {}; }
};

enum class privacy : std::uint8_t { open = 0, closed = 1, secret = 2 };
enum class room_type : std::uint8_t { normal = 0, auditorium = 1 };
// Room invitation flag: categories say true/false, rooms say inherit/false (docs/xccos.md §5).
enum class room_invite : std::uint8_t { inherit = 0, off = 1 };

// Role bits; a user may hold several.
namespace role {
constexpr std::uint8_t member = 1;
constexpr std::uint8_t manager = 2;
constexpr std::uint8_t presenter = 4;
} // namespace role

// The words pchatctl, the web API and exports use for these values. Inline: parsers that link nothing of the
// store (the web's request codec and its fuzz harness) use them too.
inline const char* privacy_name(privacy p) { // anything unknown reads "open"
  return p == privacy::secret ? "secret" : p == privacy::closed ? "closed" : "open";
}
inline std::optional<privacy> privacy_from(std::string_view name) {
  for (auto p : {privacy::open, privacy::closed, privacy::secret})
    if (name == privacy_name(p))
      return p;
  return std::nullopt;
}
inline constexpr std::pair<std::uint8_t, const char*> role_words[] = {
  {role::member, "member"}, {role::manager, "manager"}, {role::presenter, "presenter"}};
// "member" -> role::member, ...; nullopt for anything else.
inline std::optional<std::uint8_t> role_bit(std::string_view name) {
  for (const auto& [bit, word] : role_words)
    if (name == word)
      return bit;
  return std::nullopt;
}
// The words of the roles set in `bits`: member, manager, presenter, in that order.
inline std::vector<std::string> role_names(std::uint8_t bits) {
  std::vector<std::string> out;
  for (const auto& [bit, word] : role_words)
    if (bits & bit)
      out.emplace_back(word);
  return out;
}

// How much history a room keeps (docs/operations.md "Retention"): pchatd deletes, in the background, the posts
// older than `days` days and all but the newest `posts` posts. 0 means no limit of that kind; both 0 keeps
// everything.
struct retention {
  // Days stop here (273 years) so that a cut-off computed in 100-ns ticks cannot overflow.
  static constexpr std::uint32_t max_days = 100000;
  std::uint32_t days = 0;
  std::uint64_t posts = 0;
  bool keeps_all() const { return days == 0 && posts == 0; }
  friend bool operator==(const retention& a, const retention& b) { return a.days == b.days && a.posts == b.posts; }
  friend bool operator!=(const retention& a, const retention& b) { return !(a == b); }
};

struct category {
  std::uint64_t id = 0;   // assigned by create_category, never 0 once stored
  std::string guid;       // ma-cat://<domain>/<guid>; generated (random UUID) when empty on create
  std::string name;       // unique, case-insensitive
  std::string description;
  bool invite = false;    // invitations enabled for rooms in this category
  bool logged = true;     // chat history is stored
  bool filepost = true;   // file uploads allowed
  // Scope and creators (docs/xccos.md §5), kept as separate catalog keys and loaded with the record. A principal is
  // "*" (everyone), a domain ("example.com") or a user URI ("sip:alice@example.com"); rules.hpp matches them.
  // An empty allow list means everyone; deny wins over allow.
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::vector<std::string> creators; // who may create rooms in this category
  retention keep;                     // what its rooms keep, unless a room says otherwise; stored beside the record
};

struct room {
  std::uint64_t id = 0;          // assigned by create_room, never 0 once stored
  std::string guid;              // ma-chan://<domain>/<guid>; generated (random UUID) when empty on create
  std::uint64_t category_id = 0; // must name an existing category
  std::string name;              // unique across the pool, case-insensitive
  std::string description;
  std::string topic;
  std::string addin_url;
  privacy privacy_mode = privacy::open;
  room_type type = room_type::normal;
  room_invite invite = room_invite::inherit;
  bool disabled = false;
  std::int64_t created_ticks = 0; // 100-ns ticks since the Unix epoch (UTC); set by create_room when 0
  std::optional<retention> keep;  // nullopt: the category's; stored beside the record
};

// The retention that applies to a room: its own, else its category's.
inline retention effective_retention(const room& r, const category& c) { return r.keep ? *r.keep : c.keep; }

// One post in a room's history.
struct message {
  std::uint64_t room_id = 0;
  std::uint64_t seq = 0;   // per-room, starts at 1, strictly increasing
  std::string author;      // sip:user@domain
  std::int64_t ticks = 0;  // 100-ns ticks since the Unix epoch (UTC): exactly what XCCOS's 7 digits carry
  std::string text;        // plain text, unescaped, byte for byte as posted
};

// An invitation to a room, created when a user becomes a member of a room whose invitations are on.
struct invitation {
  std::uint64_t id = 0;    // assigned by set_roles, increasing across the store
  std::string user;        // the invitee
  std::uint64_t room_id = 0;
  std::string inviter;     // who added the member ("" for an administrator)
  std::int64_t ticks = 0;  // 100-ns ticks since the Unix epoch (UTC)
  bool seen = false;       // returned by a getinv once
};

// One group commit: history records and follow-list additions, written together in one WriteBatch.
struct write_set {
  std::vector<message> messages;
  std::vector<std::pair<std::string, std::uint64_t>> follows;   // (user, room id) to add
  std::vector<std::pair<std::string, std::uint64_t>> unfollows; // (user, room id) to remove, after the adds
  bool empty() const { return messages.empty() && follows.empty() && unfollows.empty(); }
  void clear() {
    messages.clear();
    follows.clear();
    unfollows.clear();
  }
};

// A history search (storage/text_index.hpp has the tokenizer): posts containing every word, by an author, in a
// time range, newest first.
struct history_query {
  std::vector<std::string> words;   // as index_terms() makes them; every one must occur
  std::string author;               // normalised sip: URI; empty for anyone
  std::int64_t from_ticks = 0;      // inclusive
  std::int64_t to_ticks = INT64_MAX; // inclusive
  std::size_t limit = 50;
};

struct history_hits {
  std::vector<message> messages; // newest first
  std::size_t keys_examined = 0; // index and history entries read: what the query cost
};

// An account (pchatctl user add). Never the password: the Digest HA1s over "user@host:realm:password"
// (RFC 7616 §3.4.2), which is all a server needs to check a response, as lower-case hex.
struct user_record {
  std::string aor;          // normalised sip: URI, the key ("sip:alice@example.com")
  std::string display_name;
  std::string realm;        // the realm the HA1s were computed for (pchatd's SIP domain)
  std::string ha1_md5;      // 32 lower-case hex digits
  std::string ha1_sha256;   // 64 lower-case hex digits
  // 32 lower-case hex digits: MD4 of the UTF-16LE password, what NTLM needs (docs/security.md "What the store
  // keeps": it is the weaker secret, a password equivalent for NTLM). Empty for accounts whose password was set
  // before NTLM existed here: they sign in with Digest until the password is set again.
  std::string nt_hash;
  bool disabled = false;    // a disabled account signs in nowhere
};

// Where a persistent chat policy setting applies. The most specific setting wins: user, then domain, then global.
enum class policy_scope : std::uint8_t { global = 0, domain = 1, user = 2 };
struct policy_setting {
  policy_scope scope = policy_scope::global;
  std::string subject;          // "" (global), a domain ("example.com") or a normalised user URI
  bool persistent_chat = true;  // EnablePersistentChat for whoever it applies to
};

// A file uploaded to a room (docs/protocol.md "Room files"). The content is the blob `sha256` in the file store
// (storage/file_store.hpp), shared by every record with the same content.
struct file_record {
  std::uint64_t room_id = 0;
  std::string id;           // random GUID (lower case), unique within the room: the link names it
  std::string name;         // the name the uploader gave (a plain file name: file_store::valid_name)
  std::string content_type; // as uploaded ("application/octet-stream" when none was given)
  std::uint64_t size = 0;
  std::string sha256;       // 64 lower-case hex digits
  std::string uploader;     // normalised sip: URI
  std::int64_t ticks = 0;   // 100-ns ticks since the Unix epoch (UTC)
};

struct open_options {
  bool create_if_missing = true;
  bool read_only = false; // OpenForReadOnly: works while pchatd holds the lock; sees data as of open time
};

class store {
public:
  virtual ~store() = default;

  // Opens (or creates) the database in `dir`. On first creation a db_version GUID and a root category GUID are
  // generated and persisted. Fails with errc::busy when another process holds the lock.
  static status open(const std::string& dir, const open_options& opts, std::unique_ptr<store>& out);
  // Opens (or, unless read-only or told not to create, creates or migrates) the store in a PostgreSQL database,
  // `conninfo` a libpq connection string (storage/pg_store.cpp, docs/pool.md). `connections` bounds the
  // connections this store opens (threads beyond that wait their turn). not_found when the database holds no
  // store and may not create one; io_error when PostgreSQL cannot be reached. Never busy: every node of a pool
  // opens the same database.
  static status open_postgres(const std::string& conninfo, const open_options& opts, std::unique_ptr<store>& out,
                              std::size_t connections = 8);

  // Identity of this database, stable across restarts.
  virtual std::string db_version() const = 0;
  virtual std::string root_guid() const = 0;

  // --- categories ---------------------------------------------------------------------------------------
  // Assigns c.id (and c.guid when empty). errc::already_exists if the name is taken, invalid_argument if empty.
  virtual status create_category(category& c) = 0;
  virtual std::vector<category> categories() const = 0; // ordered by id
  virtual std::optional<category> category_by_id(std::uint64_t id) const = 0;
  virtual std::optional<category> category_by_name(const std::string& name) const = 0; // case-insensitive
  // Replaces the stored settings and principal lists of c.id (id and guid are immutable, names stay unique).
  virtual status update_category(const category& c) = 0;
  // not_found if absent, invalid_argument while rooms remain in it.
  virtual status remove_category(std::uint64_t id) = 0;

  // --- rooms ----------------------------------------------------------------------------------------------
  // Assigns r.id (and r.guid, r.created_ticks when unset). Fails: already_exists (name), invalid_argument
  // (empty name, unknown category).
  virtual status create_room(room& r) = 0;
  // Replaces the stored settings of r.id (id and guid are immutable; a rename keeps names unique).
  virtual status update_room(const room& r) = 0;
  virtual std::vector<room> rooms() const = 0; // ordered by id
  virtual std::optional<room> room_by_id(std::uint64_t id) const = 0;
  virtual std::optional<room> room_by_guid(const std::string& guid) const = 0; // case-insensitive
  virtual std::optional<room> room_by_name(const std::string& name) const = 0; // case-insensitive
  // Removes the room with its indexes, roles, history and file records (blobs stay: other rooms may share them).
  // Follows of it and its search postings stay behind and are
  // ignored (room ids are never reused).
  virtual status remove_room(std::uint64_t id) = 0;

  // --- roles (membership) ---------------------------------------------------------------------------------
  // Sets the role bits of `user` in room `room_id`; 0 removes the user. not_found if the room does not exist.
  virtual status set_roles(std::uint64_t room_id, const std::string& user, std::uint8_t roles) = 0;
  // The same, and stores `invite` (its id and user filled in here) in the same write.
  virtual status set_roles(std::uint64_t room_id, const std::string& user, std::uint8_t roles,
                           invitation& invite) = 0;
  virtual std::uint8_t roles_of(std::uint64_t room_id, const std::string& user) const = 0; // 0 if none
  // (user, role bits) of a room, ordered by user.
  virtual std::vector<std::pair<std::string, std::uint8_t>> room_roles(std::uint64_t room_id) const = 0;
  // (room id, role bits) of a user, ordered by room id.
  virtual std::vector<std::pair<std::uint64_t, std::uint8_t>> user_rooms(const std::string& user) const = 0;

  // --- follow lists ---------------------------------------------------------------------------------------
  virtual status follow(const std::string& user, std::uint64_t room_id) = 0;   // idempotent
  virtual status unfollow(const std::string& user, std::uint64_t room_id) = 0; // idempotent
  virtual std::vector<std::uint64_t> follows(const std::string& user) const = 0; // ordered by room id

  // --- invitations ----------------------------------------------------------------------------------------
  virtual std::vector<invitation> invitations(const std::string& user) const = 0; // ordered by id
  virtual status mark_seen(const std::string& user, const std::vector<std::uint64_t>& ids) = 0;

  // --- preferences (getpref/setpref): per-user opaque values under a label ---------------------------------
  virtual status set_pref(const std::string& user, const std::string& label, const std::string& value) = 0;
  virtual std::optional<std::string> pref(const std::string& user, const std::string& label) const = 0;

  // --- room files (metadata) ------------------------------------------------------------------------------
  // Stores (or replaces) the record of f.room_id/f.id; invalid_argument for an empty id or name, a sha256 that
  // is not 64 lower-case hex digits, or a room that does not exist (not_found).
  virtual status put_file(const file_record& f) = 0;
  virtual std::optional<file_record> file(std::uint64_t room_id, const std::string& id) const = 0; // id: any case
  virtual std::vector<file_record> files(std::uint64_t room_id) const = 0; // ordered by id

  // --- users and policy (point reads only: the SIP thread calls them per request) -------------------------------
  // invalid_argument for an empty aor, HA1s that are not 32/64 lower-case hex digits, or an empty realm;
  // already_exists (add) / not_found (update, remove) otherwise.
  virtual status add_user(const user_record& u) = 0;
  virtual status update_user(const user_record& u) = 0;
  virtual status remove_user(const std::string& aor) = 0;
  // not_found when there is no such user, corruption when its record does not decode, io_error on a failed read.
  virtual status find_user(const std::string& aor, user_record& out) const = 0;
  virtual std::vector<user_record> users() const = 0; // ordered by aor; undecodable records are skipped
  // Sets (or, with `persistent_chat` nullopt, removes) the setting for `subject` at `scope`; domains are
  // case-folded. invalid_argument for an empty subject at domain/user scope or a non-empty one at global.
  virtual status set_policy(policy_scope scope, const std::string& subject, std::optional<bool> persistent_chat) = 0;
  virtual std::vector<policy_setting> policies() const = 0; // global, then domains, then users, each ordered
  // The setting that decides for user `aor` — its own, else its domain's, else the global one — in `out`;
  // nullopt when none is stored (the caller's default applies). At most three point reads. Errors as in
  // find_user, except that "nothing stored" is ok.
  virtual status persistent_chat_policy(const std::string& aor, std::optional<policy_setting>& out) const = 0;

  // --- history --------------------------------------------------------------------------------------------
  // Writes all records in one WriteBatch; with sync=true the WAL is fsynced before returning ok.
  virtual status append(const std::vector<message>& batch, bool sync) = 0;
  // Writes every record and follow of `w` in one WriteBatch (synced when `sync`): the store writer's group
  // commit. Fails as a whole (nothing written) on a message with seq 0 or a follow with an invalid user; follows
  // of rooms that do not exist are skipped, not failed, so one stale follow cannot cost a batch of posts.
  virtual status commit(const write_set& w, bool sync) = 0;
  // The newest n messages of a room, returned oldest first.
  virtual std::vector<message> last(std::uint64_t room_id, std::size_t n) const = 0;
  // Up to n messages with seq > after_seq, ascending.
  virtual std::vector<message> after(std::uint64_t room_id, std::uint64_t after_seq, std::size_t n) const = 0;
  // Highest stored seq of a room, 0 when the room has no history.
  virtual std::uint64_t last_seq(std::uint64_t room_id) const = 0;
  // --- deleting history (pchatctl history clear, message remove: docs/operations.md "Deleting history") ---------
  // How far `clear_history` goes to delete every message posted before `before_ticks`: the highest seq whose
  // message (and every one before it) was posted before then, or that is already cleared; 0 when none. O(log N).
  virtual std::uint64_t last_seq_before(std::uint64_t room_id, std::int64_t before_ticks) const = 0;
  // Deletes a room's oldest messages, seq 1 to `up_to_seq`, in one synced write (a range delete: cheap whatever
  // their number). last_seq() never goes below up_to_seq afterwards, so seqs are not reused. Their search
  // postings stay behind and are never read: search() starts above the highest seq ever cleared.
  virtual status clear_history(std::uint64_t room_id, std::uint64_t up_to_seq) = 0;
  // The highest seq a clear_history deleted up to, 0 for a room never cleared.
  virtual std::uint64_t cleared_up_to(std::uint64_t room_id) const = 0;
  // Replaces the text of message `seq`, author and time kept, with its search postings (synced). not_found when
  // that message is not stored.
  virtual status replace_message(std::uint64_t room_id, std::uint64_t seq, const std::string& text) = 0;

  // A consistent copy of the whole store in `dir` (which must not exist), taken while the store stays in use:
  // every write finished before the call is in it, none half (docs/operations.md "Backup").
  virtual status checkpoint(const std::string& dir) = 0;
  // Searches one room's history through the word and author index that commit() keeps ("search" column family).
  // Cost: O(log N) seeks to turn the time range into a seq range (ticks never decrease with seq), then a leapfrog
  // intersection of the posting lists, newest first: each step is one seek per list, and there are at most
  // (limit + the number of posts of the rarest word in range) steps, whatever N is.
  virtual history_hits search(std::uint64_t room_id, const history_query& q) const = 0;
};

} // namespace pchat::storage
