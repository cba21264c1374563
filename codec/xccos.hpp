#pragma once
// XCCOS codec: parse and serialize the XML documents that Persistent Chat clients and servers exchange inside
// SIP INFO bodies (docs/xccos.md §3–§4). Pure functions on tinyxml2: no I/O, no actors, no
// global state except the envid counter helper, which is atomic.
//
// Two levels:
//  1. A generic parse of any envelope into `item`s holding a small DOM (`node`). Clients and tests use this.
//  2. A typed decode of client commands (`command`), which the server's session actor uses; it never fails on an
//     unknown command (that becomes `unknown_cmd`, answered with 501 UNKNOWN_COMMAND), only on a document that is
//     not an XCCOS envelope at all.
// Serialization builds strings directly (it is on the fan-out hot path) with XML escaping that keeps chat text
// byte-identical through any conforming parser: CR, LF and TAB in attributes and CR in text become character
// references, because XML end-of-line and attribute normalisation would otherwise rewrite them.
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/error.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

namespace pchat::xccos {

inline constexpr const char* xmlns = "urn:parlano:xml:ns:xccos";

// Result codes carried in <resp code="..">TOKEN</resp>. Only 200 SUCCESS_OK is attested in captures; the rest
// are ours and documented in docs/protocol.md.
namespace code {
constexpr int ok = 200;
constexpr int bad_request = 400;
constexpr int unauthorized = 401;
constexpr int forbidden = 403;
constexpr int not_found = 404;
constexpr int conflict = 409;
constexpr int too_large = 413;
constexpr int server_error = 500;
constexpr int not_implemented = 501;
constexpr int unavailable = 503;
} // namespace code

// --- timestamps -------------------------------------------------------------------------------------------
// Time is carried as 100-ns ticks since the Unix epoch (UTC, base/time.hpp's now_ticks()), the resolution of
// XCCOS's 7 fractional digits.
// "2010-09-14T14:26:17.6206356Z" (always 7 digits, always Z). Valid for years 1970..9999.
std::string format_ts(std::int64_t ticks);
// Accepts 0..7 fractional digits (more are truncated), with or without a trailing Z (sipe appends Z when
// missing). Returns nullopt on anything else.
std::optional<std::int64_t> parse_ts(std::string_view s);

// --- generic document model --------------------------------------------------------------------------------
struct node {
  std::string name; // local name, namespace prefix stripped
  std::vector<std::pair<std::string, std::string>> attrs;
  std::string text; // concatenated character data directly inside this element (entities decoded)
  std::vector<node> children;

  const std::string* attr(std::string_view key) const;
  std::string attr_or(std::string_view key, std::string_view fallback = {}) const;
  const node* child(std::string_view child_name) const;
  std::vector<const node*> children_named(std::string_view child_name) const;
};

enum class item_kind { cmd, rpl, ntc, grpchat };

struct item {
  item_kind kind = item_kind::cmd;
  std::string id;    // "cmd:join", "rpl:join", "ntc:join", "grpchat"
  std::string seqid; // as sent; may be empty
  // rpl only: the command this answers (<commandid seqid envid/>), and <resp code>TOKEN</resp>.
  std::string cmd_seqid;
  std::string cmd_envid;
  int code = 0;      // 0 when there is no <resp>
  std::string token;
  node element;      // the whole item element (for grpchat: its attributes and <chat> child)
  const node* data() const { return element.child("data"); }
};

struct envelope {
  std::string envid;
  std::vector<item> items;
};

struct parse_error {
  pchat_errc code = pchat_errc::malformed_xml; // malformed_xml, or not_xccos (another root, or no item)
  std::string detail;                          // human-readable
};

// Parses an XCCOS document. Fails on malformed XML, a root other than <xccos>, or an envelope with no items.
// Unknown child elements of the root are skipped. Malformed includes characters XML 1.0 does not allow (control
// characters other than TAB, LF and CR, also written as character references like &#1;, and invalid UTF-8) in
// the envid and in any item, which tinyxml2 alone would let through: every string of a parsed envelope is text
// that XML can carry, so whatever the server echoes back (ids, names, values) keeps its replies well-formed.
std::variant<envelope, parse_error> parse(std::string_view body);

// For error replies to documents that did not parse: digs envid, the first item's seqid and id out of raw
// text so the reply can still reference the command. Every field may come back empty.
struct salvage {
  std::string envid;
  std::string seqid;
  std::string id;
};
salvage salvage_ids(std::string_view body);

// --- typed client commands (server side) -------------------------------------------------------------------
// A room reference as the client sends it: <chanid key domain value=GUID/> or <chanib uri="ma-chan://d/GUID"/>.
struct chan_ref {
  std::string key;    // bjoin item index, echoed in <fib>
  std::string domain;
  std::string guid;
  std::string uri() const { return "ma-chan://" + domain + "/" + guid; }
};
// Splits "ma-chan://domain/guid" (sipe splits on '/', docs/xccos.md §3). nullopt when the shape is wrong.
std::optional<chan_ref> parse_chan_uri(std::string_view uri);

struct requri_cmd {};
struct getserverinfo_cmd {
  std::string domain;
  std::string info_type;
};
struct chansrch_cmd {
  std::string qtype; // BYNAME (only one known); others answered as BYNAME
  std::string criteria;
  bool extended = false;
};
struct join_cmd {
  chan_ref chan;
};
struct bjoin_cmd {
  std::vector<chan_ref> chans;
};
struct part_cmd {
  chan_ref chan;
};
struct bccontext_cmd {
  chan_ref chan;
  std::uint32_t last = 25; // <bcq><last cnt=N/></bcq>
  std::uint64_t before = 0; // <last cnt before=SEQ/>: the N posts below SEQ (our extension); 0: the newest N
};
struct getinv_cmd {
  std::string invite_id;
  std::string domain;
};
struct getassoc_cmd {};
// Our extension (docs/protocol.md "follow"): cmd:follow / cmd:unfollow with <chanib uri/> items.
struct follow_cmd {
  std::vector<chan_ref> chans;
  bool on = true; // follow (true) or unfollow
};
// Our extension (docs/protocol.md "catchup"): everything after a sequence number, for several rooms at once.
// <cmd id="cmd:catchup"><data><chanib uri=".." seq="N"/>...</data></cmd>
struct catchup_cmd {
  std::vector<std::pair<chan_ref, std::uint64_t>> rooms; // room, last seq the client has
};
// getpref/setpref (docs/xccos.md §4): <pref label seqid createdefault [content]/>; content is the client's base64 text,
// stored and returned as is.
struct getpref_cmd {
  std::string label;
  std::string seqid;
  bool create_default = false;
};
struct setpref_cmd {
  std::string label;
  std::string seqid;
  std::string content;
};
// nodespermcreatechild (docs/xccos.md §4): which categories may this user create rooms in.
struct nodespermcreatechild_cmd {};
// Our room-management extensions (docs/protocol.md "Room management"). Settings travel as attributes of
// <chanib>: name, description, topic, addin, privacy, type, invite, disabled, and for chancreate category (its
// ma-cat URI). Other attributes (uri) are not settings.
struct chancreate_cmd {
  std::vector<std::pair<std::string, std::string>> fields;
};
struct chanupd_cmd {
  chan_ref chan;
  std::vector<std::pair<std::string, std::string>> fields;
};
// <chanib uri/><uib uri="sip:bob@example.com" roles="member,presenter"/>...; roles="" removes the user.
struct chanrole_cmd {
  chan_ref chan;
  std::vector<std::pair<std::string, std::string>> users; // (uri, roles as sent)
};
// Our extension (docs/protocol.md "History search"): <srch text author from to limit/> and optionally the rooms
// to search as <chanib uri/> items (none: every room the user may read). from/to are XCCOS timestamps.
struct histsrch_cmd {
  std::string text;
  std::string author;
  std::int64_t from_ticks = 0;
  std::int64_t to_ticks = INT64_MAX;
  std::uint32_t limit = 0; // 0: the server's searchLimit
  std::vector<chan_ref> chans;
};
// Our extension (docs/protocol.md "Large rooms"): who is online, a page at a time.
// <chanib uri/><page start="0" count="500"/>
struct roster_cmd {
  chan_ref chan;
  std::uint32_t start = 0;
  std::uint32_t count = 500;
};
// getfutok / getfdtok (docs/xccos.md §4, docs/protocol.md "Room files"): <ftdb channelUri fileUrl/>. For an upload
// fileUrl is the name of the file to upload; for a download, the file's ma-filelink: link. Both are answered
// with rpl:getftok.
struct getftok_cmd {
  bool upload = true; // getfutok (true) or getfdtok
  chan_ref chan;
  std::string file_url;
};
struct grpchat_cmd {
  chan_ref chan;
  std::string author; // as claimed by the client; the server replaces it with the session's user
  std::string ts;     // as sent; the server stamps its own time
  std::string text;   // unescaped chat text
  bool ack = false;   // ack="true" (our extension): answer success too, with the post's seq
};
// A well-formed item the server does not implement, or one whose arguments are missing/invalid.
struct unknown_cmd {};
struct invalid_cmd {
  std::string detail;
};

using command_data = std::variant<unknown_cmd, invalid_cmd, requri_cmd, getserverinfo_cmd, chansrch_cmd, join_cmd,
                                  bjoin_cmd, part_cmd, bccontext_cmd, getinv_cmd, getassoc_cmd, catchup_cmd,
                                  follow_cmd, getpref_cmd, setpref_cmd, nodespermcreatechild_cmd, chancreate_cmd,
                                  chanupd_cmd, chanrole_cmd, histsrch_cmd, roster_cmd, getftok_cmd,
                                  grpchat_cmd>;

struct command {
  std::string id;    // "cmd:join", "grpchat", ...
  std::string seqid;
  std::string envid; // of the envelope it came in
  command_data data;
  // "rpl:join" for "cmd:join"; "rpl:grpchat" for a grpchat (used only for failures); "rpl:getftok" for both
  // file token commands (docs/xccos.md §4).
  std::string reply_id() const;
};

// Decodes every cmd/grpchat item of a parsed envelope; rpl/ntc items from a client are ignored.
std::vector<command> decode_commands(const envelope& env);

// --- serialization -----------------------------------------------------------------------------------------
// Envelope ids for server documents: a process-wide counter started at a random 63-bit value.
std::uint64_t next_envid();

// One reply or notice. `data` is an already-serialized fragment placed inside <data>...</data>.
struct out_item {
  item_kind kind = item_kind::rpl; // rpl or ntc
  std::string id;
  std::string seqid = "1";
  std::string cmd_seqid; // rpl: <commandid seqid envid/> (omitted when both empty)
  std::string cmd_envid;
  int code = code::ok;   // rpl: <resp code>; 0 omits <resp> (notices)
  std::string token = "SUCCESS_OK";
  std::string data;
};
std::string serialize(std::uint64_t envid, const std::vector<out_item>& items);

// A chat message as posted/stored/fanned out.
struct chat_message {
  std::string chan_uri;
  std::string author;
  std::int64_t ticks = 0;
  std::string text;
  std::uint64_t seq = 0; // emitted as msgid when > 0 (our extension; clients ignore unknown attributes)
};
// <grpchat id="grpchat" seqid="1" chanUri author ts [msgid]><chat>text</chat></grpchat> in an envelope.
std::string serialize_grpchat(std::uint64_t envid, const chat_message& m);
// The same message as a history item: <msg id="grpchat" chanUri author ts [msgid]><chat>..</chat></msg>.
void append_history_msg(std::string& out, const chat_message& m);

// Room description as chansrch and getassoc show it.
struct room_summary {
  std::string uri;
  std::string name;
  std::string description;
  std::string topic;
  std::uint32_t user_count = 0;
  std::string visibility = "public"; // "private" for closed/secret rooms (docs/xccos.md §4, sic "visibilty")
  bool filepost = true;
  bool invite = false;
  bool logged = true;
};
// <chanib name description uri [topic]><info ucnt/><info visibilty/><prop filepost/><prop invite/><prop logged/>
// </chanib>
void append_chanib_summary(std::string& out, const room_summary& r, std::string_view extra_attrs = {});

// A participant list for rpl:join / rpl:bjoin (docs/xccos.md §4): uib siblings, then chanib with aib id lists.
struct participant {
  std::string uri;
  bool manager = false;
};
// Appends <uib id uri/>... for `people` numbered from *next_id (kept unique across a whole rpl:bjoin) and then
// <chanib uri name topic><aib key="3984" value="ids"/>[<aib key="12276" value="ids"/>]</chanib>.
void append_join_result(std::string& out, std::uint32_t& next_id, const room_summary& room,
                        const std::vector<participant>& people);

// A room file's link, as a grpchat carries it (docs/protocol.md "Room files"):
//   ma-filelink://<domain>/<room guid>/<file id>/<file name, percent-encoded>
// Every byte of the name other than A-Z a-z 0-9 - . _ ~ is %XX-encoded (upper-case hex), so a link is one word
// of ASCII that ends where the chat text's next space begins.
struct file_link {
  std::string domain;
  std::string room_guid;
  std::string file_id;
  std::string name; // decoded
  std::string chan_uri() const { return "ma-chan://" + domain + "/" + room_guid; }
};
std::string format_file_link(const file_link& l);
// nullopt unless the scheme, the four non-empty parts and every %XX escape are well-formed.
std::optional<file_link> parse_file_link(std::string_view link);
// <token token="..." serveruri="..."/>: the data of rpl:getftok.
void append_file_token(std::string& out, std::string_view token, std::string_view server_uri);

// Utility for builders: <name a="v" .../> with escaped values.
void append_empty_element(std::string& out, std::string_view name,
                          std::initializer_list<std::pair<std::string_view, std::string_view>> attrs);

} // namespace pchat::xccos
