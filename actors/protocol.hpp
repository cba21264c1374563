#pragma once
// The actor protocol: every atom, message type and typed actor interface of pchat, in one place (docs/architecture.md "Conventions" §2).
// Actors include this header, never each other's implementation headers except to spawn.
//
// Who talks to whom (see docs/architecture.md):
//   sip or web ingress --(open/info/closed)--> session --(resolve/search/assoc)--> directory --(spawns)--> room
//   directory --(delegates histsrch / pref / invite)--> its search, prefs and invitation workers, which answer the
//   requester (actors/directory.hpp)
//   session --(join/part/post/history)--> room --(append)--> store writer (group commit) --> RocksDB
//   session, room --(send/fanout/bye)--> transport (in pchatd the sip ingress for SIP dialogs and the web ingress for
//   browser tabs; a probe in tests; null in benches)
// Dialog ids are opaque numbers chosen by the transport; actors never see SIP objects.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/catalog.hpp"
#include "base/error.hpp"
#include "base/metrics.hpp"
#include "codec/xccos_build.hpp"
#include "compliance/event.hpp"
#include "storage/store.hpp"

namespace pchat::xccos {
// invitation_view travels between actors; its inspect() lives in the type's own namespace (found by ADL).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invitation& x) {
  return f(caf::meta::type_name("invitation_view"), x.id, x.room_uri, x.room_name, x.inviter, x.ticks);
}
} // namespace pchat::xccos

namespace pchat {

using dialog_id = std::uint64_t;

// --- atoms (CAF 0.17: at most 10 characters) -----------------------------------------------------------------
using open_atom = caf::atom_constant<caf::atom("open")>;       // a channel dialog was established
using info_atom = caf::atom_constant<caf::atom("info")>;       // an XCCOS body arrived on a dialog
using closed_atom = caf::atom_constant<caf::atom("closed")>;   // a dialog ended (BYE, transport failure)
using send_atom = caf::atom_constant<caf::atom("send")>;       // one INFO to one dialog
using fanout_atom = caf::atom_constant<caf::atom("fanout")>;   // the same INFO to many dialogs
using bye_atom = caf::atom_constant<caf::atom("bye")>;         // end a dialog from the server side
using resolve_atom = caf::atom_constant<caf::atom("resolve")>; // room guid -> room actor
using search_atom = caf::atom_constant<caf::atom("search")>;   // chansrch
using assoc_atom = caf::atom_constant<caf::atom("assoc")>;     // getassoc
using count_atom = caf::atom_constant<caf::atom("count")>;     // room -> directory: online user count changed
using join_atom = caf::atom_constant<caf::atom("join")>;
using joined_atom = caf::atom_constant<caf::atom("joined")>; // session -> room: the join's reply has gone out
using part_atom = caf::atom_constant<caf::atom("part")>;
using post_atom = caf::atom_constant<caf::atom("post")>;
using history_atom = caf::atom_constant<caf::atom("history")>;
using append_atom = caf::atom_constant<caf::atom("append")>;   // room -> store writer
using flush_atom = caf::atom_constant<caf::atom("flush")>;     // store writer -> itself
using commit_atom = caf::atom_constant<caf::atom("commit")>;   // store writer barrier: all before it is durable
using follow_atom = caf::atom_constant<caf::atom("follow")>;   // session -> directory: persist a follow
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using catchup_atom = caf::atom_constant<caf::atom("catchup")>; // posts after a sequence number
using create_atom = caf::atom_constant<caf::atom("create")>;   // room management: create a room or category
using update_atom = caf::atom_constant<caf::atom("update")>;   // change settings (directory -> room: new ones)
using remove_atom = caf::atom_constant<caf::atom("remove")>;   // remove a room or category
using clear_atom = caf::atom_constant<caf::atom("clear")>;     // delete a room's history before a time
using forget_atom = caf::atom_constant<caf::atom("forget")>; // a room drops cached posts the directory cleared
using redact_atom = caf::atom_constant<caf::atom("redact")>;   // replace one post's text
using roles_atom = caf::atom_constant<caf::atom("roles")>;     // set a user's roles in a room
using category_atom = caf::atom_constant<caf::atom("category")>; // tags category management requests
using hello_atom = caf::atom_constant<caf::atom("hello")>;     // session -> directory: I am online for user
using invite_atom = caf::atom_constant<caf::atom("invite")>;   // getinv, and directory -> session: new invitation
using pref_atom = caf::atom_constant<caf::atom("pref")>;       // getpref / setpref
using perm_atom = caf::atom_constant<caf::atom("perm")>;       // nodespermcreatechild
using histsrch_atom = caf::atom_constant<caf::atom("histsrch")>; // search history
using watch_atom = caf::atom_constant<caf::atom("watch")>;     // new-content notices: who watches what
using posted_atom = caf::atom_constant<caf::atom("posted")>;   // room -> directory: a post was fanned out
using notice_atom = caf::atom_constant<caf::atom("notice")>;   // directory -> session: new content in a room
using roster_atom = caf::atom_constant<caf::atom("roster")>;   // who is online in a room, on demand
using detail_atom = caf::atom_constant<caf::atom("detail")>;   // a room's settings and roles, for its managers
using ftoken_atom = caf::atom_constant<caf::atom("ftoken")>;   // getfutok/getfdtok: issue a file token
using redeem_atom = caf::atom_constant<caf::atom("redeem")>;   // web -> directory: use a file token

// --- errors ---------------------------------------------------------------------------------------------------
// Every refusal travels back to the requester as a caf::error holding a pchat_errc (base/error.hpp); the error
// table there says what it becomes in XCCOS, SIP, HTTP and /metrics.
caf::error make_error(pchat_errc x);
caf::error make_error(pchat_errc x, std::string detail);
// The atom under which pchat errors travel (register a renderer with it).
inline constexpr caf::atom_value pchat_error_category = caf::atom("pchat");

} // namespace pchat

// ---- compliance ----------------------------------------------------------------------------------------------
// The compliance service (actors/compliance_actor.hpp, docs/compliance.md): rooms and sessions hand it
// what users do; it keeps every event in its durable queue and hands batches to the adapter every RunInterval.
namespace pchat {

using record_atom = caf::atom_constant<caf::atom("record")>;   // an event, fire-and-forget
using archive_atom = caf::atom_constant<caf::atom("archive")>; // an event, answered once durable (posts)
using run_atom = caf::atom_constant<caf::atom("run")>;         // compliance -> itself: one adapter run
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;     // retention: one pass over every room
using drain_atom = caf::atom_constant<caf::atom("drain")>;     // everything to the adapter now (tests, shutdown)
using status_atom = caf::atom_constant<caf::atom("status")>;   // may posts be accepted?

struct compliance_stats {
  std::uint64_t recorded = 0;         // events received
  std::uint64_t durable = 0;          // events written to the queue
  std::uint64_t archived = 0;         // events the adapter wrote (and the queue deleted)
  std::uint64_t batches = 0;          // batches the adapter wrote
  std::uint64_t adapter_failures = 0; // failed adapter runs (each retried)
  std::uint64_t store_failures = 0;   // failed queue writes
  std::uint64_t refused = 0;          // archive requests answered with an error
  std::uint64_t dropped = 0;          // events lost: more than hold_max waiting in memory
  std::uint64_t pending = 0;          // in the queue, not yet written by the adapter
  std::uint64_t held = 0;             // in memory, not yet in the queue
  bool accepting = true;              // posts may be accepted (status_atom answers this)
  bool degraded = false;              // events are waiting in memory because the queue cannot be written
  std::int64_t retry_ms = 0;          // current adapter backoff, 0 after a successful run
  std::string last_error;             // of the last failure, empty if none
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, compliance_stats& x) {
  return f(caf::meta::type_name("compliance_stats"), x.recorded, x.durable, x.archived, x.batches,
           x.adapter_failures, x.store_failures, x.refused, x.dropped, x.pending, x.held, x.accepting, x.degraded,
           x.retry_ms, x.last_error);
}

} // namespace pchat

namespace pchat::compliance {
// Caller-set fields only: id and hash are the queue's.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("compliance_event"), x.kind, x.room_uri, x.room_name, x.room_logged, x.user_uri,
           x.display_name, x.ticks, x.content);
}
} // namespace pchat::compliance

namespace pchat {

using compliance_actor = caf::typed_actor<
  // record(event): join, part, history read, search, file transfer; never answered, never refused.
  caf::reacts_to<record_atom, compliance::event>,
  // archive(event) -> true once the event is durable in the queue; false when it is held in memory because the
  // queue cannot be written (policy queue: the service is degraded); error store_failed when posts must be
  // refused (policy refuse, or more than hold_max events waiting).
  caf::replies_to<archive_atom, compliance::event>::with<bool>,
  caf::reacts_to<flush_atom>,                  // group commit, sent to itself
  caf::reacts_to<run_atom, std::uint64_t>,     // timer generation; stale timers are ignored
  caf::replies_to<drain_atom>::with<compliance_stats>,
  caf::replies_to<stats_atom>::with<compliance_stats>,
  caf::replies_to<status_atom>::with<bool>>;

} // namespace pchat

namespace pchat::storage {
class file_store;
}

namespace pchat {

// --- room files (docs/protocol.md "Room files") -----------------------------------------------------------------
// What sessions, the directory and the web server share about room files. pchatd makes one when the web server
// runs (files move over HTTP); without it getfutok/getfdtok answer 503 FILES_UNAVAILABLE.
struct file_service {
  std::shared_ptr<storage::file_store> blobs;    // the content, by SHA-256 (<data-dir>/files)
  std::chrono::seconds token_ttl{300};           // web.file-token-ttl: how long a token may be used
  std::uint64_t max_upload = 100ull << 20;       // web.max-upload: bytes; larger uploads get 413
  std::uint64_t min_free = 512ull << 20;         // web.min-free: bytes uploads leave free on the files' disk
  std::string compliance_copies;                 // <compliance.dir>/files when compliance is on, else ""

  // The web server's public URL ("http://host:port"), known once it listens (port 0 picks one at start).
  void set_url(std::string url) {
    std::lock_guard<std::mutex> guard{mtx_};
    url_ = std::move(url);
  }
  std::string url() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return url_;
  }

private:
  mutable std::mutex mtx_;
  std::string url_;
};

// --- server-wide settings the actors need ---------------------------------------------------------------------
struct server_options {
  std::string domain = "example.com";
  std::string service_uri = "sip:pchat@example.com"; // our URI: requri answer and the chat pool URI
  std::uint32_t search_limit = 999;
  std::uint32_t message_size_limit = 8000; // bytes of chat text (after XML unescaping)
  std::uint32_t story_size_limit = 80000;
  std::uint32_t history_cache = 200;       // recent messages each room keeps in memory for bccontext
  std::uint32_t history_limit = 1000;      // most messages one bccontext returns
  std::uint32_t pref_size_limit = 65536;   // bytes of one setpref content
  // Lync's ParticipantUpdateLimit: in a room with more users online than this, joins and parts are no longer
  // pushed to everyone (ntc:join/ntc:part) and rpl:join lists only the joiner, because rosters of thousands
  // would cost O(N^2) INFOs and bytes as the room fills (docs/protocol.md "Large rooms").
  std::uint32_t participant_update_limit = 75;
  // Identity of the store, shown in getserverinfo (filled in from storage at start-up).
  std::string root_uri;   // ma-cat://domain/<root guid>
  std::string db_version; // GUID
  // Live counters and the fan-out histogram (base/metrics.hpp); null in tests that do not look at them.
  std::shared_ptr<metrics> live;
  // The compliance service, null when compliance is off (then it costs one null check per event).
  compliance_actor compliance;
  // Room files; null when the web server is off.
  std::shared_ptr<file_service> files;
};

// Monotonic clock in nanoseconds, for latencies measured across threads (post accepted -> INFO handed over).
std::int64_t monotonic_ns();

// Commands handed to sessions but not yet processed. The SIP side increments it per INFO it forwards and
// answers 503 above a bound; the session decrements it when it takes the INFO out of its mailbox.
using load_gauge = std::atomic<std::int64_t>;

// --- message payloads -----------------------------------------------------------------------------------------
// What a room looks like to a client (chansrch, join, getassoc).
struct room_view {
  std::uint64_t id = 0;
  std::string uri; // ma-chan://domain/guid
  std::string name;
  std::string description;
  std::string topic;
  std::uint8_t privacy = 0; // storage::privacy
  std::uint8_t type = 0;    // storage::room_type
  bool invite = false;
  bool logged = true;
  bool filepost = true;
  std::uint32_t user_count = 0;
};

struct participant_view {
  std::string uri;
  bool manager = false;
};

struct join_result {
  room_view room;
  std::vector<participant_view> participants; // distinct users online, the joiner included
};

// getassoc: the user's rooms by association (docs/protocol.md).
struct assoc_result {
  std::vector<room_view> member;
  std::vector<room_view> manager;
  std::vector<room_view> followed; // followed rooms where the user is neither member nor manager
  std::vector<std::uint64_t> follows; // ids of every followed room (the client rejoins these with bjoin)
};

// An invitation as the invitee sees it (getinv, ntc:inv): the very values the codec writes into <inv>.
using invitation_view = xccos::invitation;

// One history search result: the post and the URI of its room.
struct search_hit {
  std::string room_uri;
  storage::message msg;
};

// One room a history search covers, as the directory hands it to a search worker: the room and its URI (for the
// hits). The directory decides which rooms a user may read; the worker only searches what it is given.
struct search_scope {
  std::uint64_t room_id = 0;
  std::string uri;
};

// A category as clients see it (nodespermcreatechild).
struct category_view {
  std::string uri; // ma-cat://domain/guid
  std::string name;
  std::string description;
};

// One role holder of a room (storage::role bits).
struct role_entry {
  std::string user;
  std::uint8_t roles = 0;
};

// A room as its managers see it (the web page): every setting, its category, and who holds which role.
struct room_detail {
  room_view view;
  category_view category;
  std::string invite = "inherit"; // the room's own setting: inherit or false
  bool category_invite = false;   // the category's: with the room's, whether new members are invited
  bool disabled = false;
  std::string addin;
  std::vector<role_entry> roles;  // ordered by user
};

// A file token as the directory issues it: the token and the path (below the web server's public URL) to use it
// on, "/files/<room guid>/<name, percent-encoded>" for an upload and "/files/<room guid>/<file id>" for a
// download.
struct file_ticket {
  std::string token;
  std::string path;
};

// What a redeemed file token allows (the web handlers act on it): who, which room, and the file name (upload)
// or the file (download).
struct file_grant {
  std::string user;
  room_view room;
  std::string name;          // upload: the name the token was issued for
  storage::file_record file; // download: the file
};

struct room_stats {
  std::uint64_t posts = 0;
  std::uint64_t deliveries = 0;
  std::uint32_t online = 0;
  std::uint64_t last_seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_view& x) {
  return f(caf::meta::type_name("room_view"), x.id, x.uri, x.name, x.description, x.topic, x.privacy, x.type,
           x.invite, x.logged, x.filepost, x.user_count);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, participant_view& x) {
  return f(caf::meta::type_name("participant_view"), x.uri, x.manager);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_result& x) {
  return f(caf::meta::type_name("join_result"), x.room, x.participants);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assoc_result& x) {
  return f(caf::meta::type_name("assoc_result"), x.member, x.manager, x.followed, x.follows);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.room_uri, x.msg);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_scope& x) {
  return f(caf::meta::type_name("search_scope"), x.room_id, x.uri);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, category_view& x) {
  return f(caf::meta::type_name("category_view"), x.uri, x.name, x.description);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, principal& x) {
  return f(caf::meta::type_name("principal"), x.user, x.admin);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, role_entry& x) {
  return f(caf::meta::type_name("role_entry"), x.user, x.roles);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_detail& x) {
  return f(caf::meta::type_name("room_detail"), x.view, x.category, x.invite, x.category_invite, x.disabled,
           x.addin, x.roles);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_ticket& x) {
  return f(caf::meta::type_name("file_ticket"), x.token, x.path);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_grant& x) {
  return f(caf::meta::type_name("file_grant"), x.user, x.room, x.name, x.file);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_stats& x) {
  return f(caf::meta::type_name("room_stats"), x.posts, x.deliveries, x.online, x.last_seq);
}

} // namespace pchat

namespace pchat::storage {
// History records travel between rooms, the writer and sessions as they are stored.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("message"), x.room_id, x.seq, x.author, x.ticks, x.text);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_record& x) {
  return f(caf::meta::type_name("file_record"), x.room_id, x.id, x.name, x.content_type, x.size, x.sha256,
           x.uploader, x.ticks);
}
// History searches travel from the directory to its search workers.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_query& x) {
  return f(caf::meta::type_name("history_query"), x.words, x.author, x.from_ticks, x.to_ticks, x.limit);
}
// Rooms and categories travel from the directory to room actors when their settings change.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room& x) {
  return f(caf::meta::type_name("room"), x.id, x.guid, x.category_id, x.name, x.description, x.topic, x.addin_url,
           x.privacy_mode, x.type, x.invite, x.disabled, x.created_ticks);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, category& x) {
  return f(caf::meta::type_name("category"), x.id, x.guid, x.name, x.description, x.invite, x.logged, x.filepost,
           x.allow, x.deny, x.creators);
}
} // namespace pchat::storage

namespace pchat {

// --- typed interfaces -----------------------------------------------------------------------------------------

// Where XCCOS documents leave the actor system. Bodies are complete XCCOS envelopes. A fan-out carries the
// monotonic_ns() at which its post was accepted (0 for notices), so the transport can time the fan-out.
using transport_actor = caf::typed_actor<caf::reacts_to<send_atom, dialog_id, std::string>,
                                         caf::reacts_to<fanout_atom, std::vector<dialog_id>, std::string, std::int64_t>,
                                         caf::reacts_to<bye_atom, dialog_id>>;

// Group commit: every append is durable (synced WAL) before it is answered; appends and follows that queue up
// while one batch is being written go into the next batch together.
// Retention (actors/retention.hpp): a pass over every room's rule.
using retention_actor = caf::typed_actor<
  // A pass now (or the one running) -> how many sequence numbers it deleted, over all rooms.
  caf::replies_to<sweep_atom>::with<std::uint64_t>,
  // The timer's: a pass unless one is running, then the next timer.
  caf::reacts_to<sweep_atom, bool>>;

using writer_actor = caf::typed_actor<caf::replies_to<append_atom, storage::message>::with<std::uint64_t>,
                                      // follow(user, room id, true) / unfollow (false), in the next batch
                                      caf::reacts_to<follow_atom, std::string, std::uint64_t, bool>,
                                      caf::reacts_to<flush_atom>,
                                      // commit -> true once everything queued before it is durable
                                      caf::replies_to<commit_atom>::with<bool>>;

// Members are identified by their session actor (the sender of join/part/post/history), so dialog ids only
// matter to the transport that numbered them; a room can serve sessions behind several transports (pool nodes).
using room_actor = caf::typed_actor<
  // join(user, dialog, transport) -> the room and who is online; the others get ntc:join.
  caf::replies_to<join_atom, std::string, dialog_id, transport_actor>::with<join_result>,
  // joined: the sender has written its reply to the join (rpl:join / rpl:bjoin) to its transport. Until then the
  // room holds what it would send to that dialog, so a client never sees a room's traffic before the reply that
  // puts it in the room (docs/architecture.md "Ordering").
  caf::reacts_to<joined_atom>,
  // part(user): the sender leaves; the others get ntc:part once the user has no session left in the room.
  caf::reacts_to<part_atom, std::string>,
  // post(user, text) -> seq once durable and fanned out to every online dialog, the sender's included.
  caf::replies_to<post_atom, std::string, std::string>::with<std::uint64_t>,
  // history(user, n, before) -> the newest n posts with seq < before (0: the newest n), oldest first.
  caf::replies_to<history_atom, std::string, std::uint32_t, std::uint64_t>::with<std::vector<storage::message>>,
  // catchup(user, after_seq, n) -> up to n posts with seq > after_seq, ascending, none beyond what was fanned out.
  caf::replies_to<catchup_atom, std::string, std::uint64_t, std::uint32_t>::with<std::vector<storage::message>>,
  caf::replies_to<stats_atom>::with<room_stats>,
  // roster(user, start, count) -> (users online from position `start` in URI order, at most `count`; how many
  // are online): the roster on demand, for rooms above the participant update limit.
  caf::replies_to<roster_atom, std::string, std::uint32_t, std::uint32_t>::with<std::vector<participant_view>,
                                                                               std::uint32_t>,
  // From the directory after a management change: new settings (members who may no longer join are let go),
  // one user's new role bits, or the room's removal (everyone is let go, then the actor quits).
  caf::reacts_to<update_atom, storage::room, storage::category>,
  caf::reacts_to<roles_atom, std::string, std::uint8_t>,
  caf::reacts_to<remove_atom>,
  // From the directory, for the administrator (docs/operations.md "Deleting history"): clear(before_ticks) ->
  // the seq up to which history was deleted (0: none); redact(seq, text) -> whether that post was there and now
  // reads `text`. Only posts already fanned out are touched; the cache follows.
  // before ticks, keep posts (0: no count limit), who or what deletes (for the log and the compliance record)
  caf::replies_to<clear_atom, std::int64_t, std::uint64_t, std::string>::with<std::uint64_t>,
  caf::replies_to<redact_atom, std::uint64_t, std::string>::with<bool>,
  caf::reacts_to<forget_atom, std::uint64_t>,
  // watch(on): whether someone follows the room without being in it; while on, each post is told to the
  // directory (posted) for new-content notices.
  caf::reacts_to<watch_atom, bool>>;

// The answer for one guid of a resolve request.
struct resolved_room {
  bool found = false; // false for unknown rooms and for rooms the user may not know exist (secret)
  room_actor room;
  room_view view;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resolved_room& x) {
  return f(caf::meta::type_name("resolved_room"), x.found, x.room, x.view);
}

using directory_actor = caf::typed_actor<
  // resolve(user, guids) -> one resolved_room per guid, in order; rooms are spawned on first use.
  caf::replies_to<resolve_atom, std::string, std::vector<std::string>>::with<std::vector<resolved_room>>,
  // search(user, criteria) -> rooms whose name or description contains criteria (case-insensitive).
  caf::replies_to<search_atom, std::string, std::string>::with<std::vector<room_view>>,
  caf::replies_to<assoc_atom, std::string>::with<assoc_result>,
  // follow(user, room id): persist that the user follows the room.
  caf::reacts_to<follow_atom, std::string, std::uint64_t>,
  // follow(user, guids, on) -> per guid whether it was (un)followed; unknown and hidden rooms are false.
  caf::replies_to<follow_atom, std::string, std::vector<std::string>, bool>::with<std::vector<bool>>,
  caf::reacts_to<count_atom, std::uint64_t, std::uint32_t>,
  // hello(user) from a session: the directory tells it about new invitations until the session ends.
  caf::reacts_to<hello_atom, std::string>,
  // watch(room id, joined) from a session: it joined (true) or left (false) the room; sessions of users who
  // follow a room get one new-content notice per room until they join it (docs/protocol.md "New content").
  caf::reacts_to<watch_atom, std::uint64_t, bool>,
  // posted(room id, seq) from a watched room.
  caf::reacts_to<posted_atom, std::uint64_t, std::uint64_t>,
  // invite(user) -> the user's invitations not yet returned, now marked as returned.
  caf::replies_to<invite_atom, std::string>::with<std::vector<invitation_view>>,
  // pref(user, label) -> (found, value); pref(user, label, value) -> stored.
  caf::replies_to<pref_atom, std::string, std::string>::with<bool, std::string>,
  caf::replies_to<pref_atom, std::string, std::string, std::string>::with<bool>,
  // histsrch(user, text, author, from, to, limit, guids) -> posts newest first across the rooms named (none: all
  // the user may read), at most limit; rooms the user may not read count as not found.
  caf::replies_to<histsrch_atom, std::string, std::string, std::string, std::int64_t, std::int64_t, std::uint32_t,
                  std::vector<std::string>>::with<std::vector<search_hit>>,
  // ftoken(user, upload, room guid, fileUrl) -> a token for one upload of that name (upload) or for downloads of
  // the file the ma-filelink fileUrl names (download), valid for file_service::token_ttl. Only users who may join
  // the room get one, and uploads need the category's filepost; secret rooms are room_not_found to outsiders.
  caf::replies_to<ftoken_atom, std::string, bool, std::string, std::string>::with<file_ticket>,
  // redeem(token, upload, room guid, name or file id) -> what the token allows, after checking the room's rules
  // again; token_invalid when unknown, expired, used (uploads are single-use) or of the other purpose, forbidden
  // when it was issued for another room or file or the user may no longer use the room.
  caf::replies_to<redeem_atom, std::string, bool, std::string, std::string>::with<file_grant>,
  // perm(user) -> categories the user may create rooms in.
  caf::replies_to<perm_atom, std::string>::with<std::vector<category_view>>,
  // Room management (catalog.hpp says who may do what). Rooms are named by guid, ma-chan URI or name.
  caf::replies_to<create_atom, principal, patch>::with<room_view>,
  caf::replies_to<update_atom, principal, std::string, patch>::with<room_view>,
  caf::replies_to<remove_atom, principal, std::string>::with<bool>,
  // The administrator's history deletion, handed to the room's actor (spawned if it is not live).
  caf::replies_to<clear_atom, principal, std::string, std::int64_t>::with<std::uint64_t>,
  // Retention (actors/retention.cpp): room id, before ticks, keep posts, why -> the room's new clear floor.
  caf::replies_to<clear_atom, std::uint64_t, std::int64_t, std::uint64_t, std::string>::with<std::uint64_t>,
  caf::replies_to<redact_atom, principal, std::string, std::uint64_t, std::string>::with<bool>,
  // roles(who, room, user, bits) -> whether an invitation was recorded.
  caf::replies_to<roles_atom, principal, std::string, std::string, std::uint8_t>::with<bool>,
  // detail(who) -> the rooms `who` may manage (every room for an administrator), by name.
  caf::replies_to<detail_atom, principal>::with<std::vector<room_view>>,
  // detail(who, room) -> everything about one room; forbidden unless `who` may manage it (room_not_found when
  // it may not even see it).
  caf::replies_to<detail_atom, principal, std::string>::with<room_detail>,
  // Category management (administrators), named by guid, ma-cat URI or name.
  caf::replies_to<create_atom, principal, category_atom, patch>::with<category_view>,
  caf::replies_to<update_atom, principal, category_atom, std::string, patch>::with<category_view>,
  caf::replies_to<remove_atom, principal, category_atom, std::string>::with<bool>>;

// --- the directory's workers (actors/directory.hpp) --------------------------------------------------------------
// What reads or writes the store for longer than a lookup runs outside the directory's mailbox, so resolve (every
// join) never waits behind it. The directory spawns and owns these, and delegates the matching directory_actor
// requests to them (caf::delegate): the worker answers the original requester directly.

// histsrch(rooms, query) -> posts newest first across `rooms`, at most query.limit. The directory has already
// decided that the user may read every room of `rooms` (docs/protocol.md "History search").
using search_worker_actor = caf::typed_actor<
  caf::replies_to<histsrch_atom, std::vector<search_scope>, storage::history_query>::with<std::vector<search_hit>>>;

// pref(user, label) -> (found, value); pref(user, label, value) -> stored (a synced write): getpref and setpref.
using prefs_worker_actor =
  caf::typed_actor<caf::replies_to<pref_atom, std::string, std::string>::with<bool, std::string>,
                   caf::replies_to<pref_atom, std::string, std::string, std::string>::with<bool>>;

// invite(user) -> the user's invitations not yet returned, now marked as returned (a synced write): getinv.
using invite_worker_actor =
  caf::typed_actor<caf::replies_to<invite_atom, std::string>::with<std::vector<invitation_view>>>;

// One per channel dialog. invite: a new invitation for the session's user (sent on as ntc:inv).
// notice(room): new content in a followed room the session has not joined (sent on as ntc:newcontent).
using session_actor = caf::typed_actor<caf::reacts_to<info_atom, std::string>, caf::reacts_to<closed_atom>,
                                       caf::reacts_to<invite_atom, invitation_view>,
                                       caf::reacts_to<notice_atom, room_view, std::uint64_t>,
                                       // part(room id, tell): the room let this session go (settings or roles
                                       // changed); `tell`: the session sends the client's ntc:part itself, after
                                       // its join reply (the room had not heard `joined` yet)
                                       caf::reacts_to<part_atom, std::uint64_t, bool>>;

// An ingress (sip/ingress.hpp for SIP dialogs, web/web_ingress.hpp for browser tabs): the transport for the actors,
// and the entry point for what its edge reports. open(dialog, user, call-id) spawns the dialog's session;
// info(dialog, body) hands it a command document; closed(dialog) ends it.
using ingress_actor = transport_actor::extend<caf::reacts_to<open_atom, dialog_id, std::string, std::string>,
                                              caf::reacts_to<info_atom, dialog_id, std::string>,
                                              caf::reacts_to<closed_atom, dialog_id>>;

// Registers every custom message type with a config (call once per actor_system_config).
void register_types(caf::actor_system_config& cfg);

} // namespace pchat
