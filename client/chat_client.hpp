#pragma once
// A Persistent Chat client over real SIP: the XCCOS layer on top of sip_agent. The pchat CLI, pchat-bench and
// the end-to-end tests use it.
//
// sign_in() does what a Lync-era client does (docs/xccos.md §2): REGISTER, SUBSCRIBE provisioning-v2 (is persistent
// chat enabled, which pool URI), INVITE the pool (lookup dialog) -> cmd:requri -> BYE -> INVITE the channel URI it
// returned (channel dialog). Every later command travels as one INFO on the channel dialog; the result comes back
// as a separate INFO whose <commandid envid> names the command's envelope.
//
// Threading: one application thread drives a chat_client. Documents the server pushes (grpchat fan-out, ntc:*),
// and replies nobody is waiting for, are kept in order and handed out by next_event().
// Errors are values: every call returns a result or an error with a message; nothing throws.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/xccos.hpp"
#include "client/sip_agent.hpp"

namespace pchat::client {

struct chat_config {
  std::string user;              // sip:alice@example.com (a bare alice@example.com is accepted)
  std::string host = "127.0.0.1";
  std::uint16_t port = 5060;
  duration timeout{10000};       // per request / reply
  bool lookup = true;            // run the lookup dialog (requri) before opening the channel dialog
  std::string password;          // for SIP Digest (sip_agent answers 401/407); empty: sign in anonymously
  tls_options tls;               // SIP over TLS to host:port (the server's sip.tls-port)
};

struct server_info {
  std::string server_time;
  std::string root_uri;
  std::string db_version;
  std::uint32_t search_limit = 0;
  std::uint32_t message_size_limit = 0;
  std::uint32_t story_size_limit = 0;
};

struct room_entry {
  std::string uri;
  std::string name;
  std::string description;
  std::string topic;
  std::uint32_t user_count = 0;
  std::string visibility;
  bool followed = false;
};

struct chat_line {
  std::string chan_uri;
  std::string author;
  std::string ts;
  std::string text;
  std::uint64_t seq = 0; // msgid, 0 if the server sent none
};

struct join_info {
  std::string uri;
  std::string name;
  std::string topic;
  std::vector<std::string> participants;
};

struct assoc_info {
  std::vector<room_entry> member;
  std::vector<room_entry> manager;
  std::vector<room_entry> followed_only;
  std::vector<room_entry> followed() const; // every room marked followed, member/manager/follow order, no repeats
};

// A reply that was not 200 becomes an error with errc::rejected, status = resp code, message = token.
struct event {
  xccos::item item;
  time_point received;
};

class chat_client {
public:
  explicit chat_client(chat_config config);
  ~chat_client();
  chat_client(const chat_client&) = delete;
  chat_client& operator=(const chat_client&) = delete;

  // Connects and signs in; afterwards commands may be sent. The provisioning document's pool URI is used as
  // the chat service; sign-in fails if the document says persistent chat is disabled.
  error sign_in();
  // BYE the channel dialog, unsubscribe, unregister; then close the connection.
  void sign_out();

  const std::string& user() const { return user_; }
  const std::string& pool_uri() const { return pool_uri_; }
  bool enabled() const { return enabled_; }
  sip_agent& agent() { return agent_; }
  const dialog& channel() const { return channel_; }
  dialog& channel() { return channel_; } // for raw in-dialog requests (tests)

  // Sends <cmd id="cmd:NAME" seqid="1"><data>DATA</data></cmd> and waits for the rpl that references it.
  // Any resp code is returned in the item (check item.code); errors are transport/timeout problems only.
  result<xccos::item> command(const std::string& name, const std::string& data);
  // Sends a whole document as one INFO; returns the SIP final response (200, 413, 503, ...).
  result<sip::message> send_document(const std::string& body);
  // Waits for the rpl whose commandid names `envid`.
  result<xccos::item> wait_reply(const std::string& envid);

  result<server_info> get_server_info();
  result<std::vector<room_entry>> search(const std::string& criteria);
  result<assoc_info> get_assoc();
  result<join_info> join(const std::string& room_uri);
  // One rpl:bjoin: joined rooms, and the GUIDs that came back as <fib>.
  result<std::vector<join_info>> bjoin(const std::vector<std::string>& room_uris, std::vector<std::string>* failed);
  error part(const std::string& room_uri);
  result<std::vector<chat_line>> history(const std::string& room_uri, std::uint32_t n);
  result<xccos::item> get_invitations();
  // cmd:follow / cmd:unfollow of one room; a room the server refuses (unknown, hidden) is an error.
  error follow(const std::string& room_uri, bool on = true);
  // Everything posted after `last_seq` in each room, in one round trip (docs/protocol.md "catchup"): the
  // reconnect path. Rooms that failed are listed in `failed` (GUIDs); `more` says a room had more than the limit.
  struct caught_up {
    std::string uri;
    std::vector<chat_line> lines;
    bool more = false;
  };
  result<std::vector<caught_up>> catch_up(const std::vector<std::pair<std::string, std::uint64_t>>& rooms,
                                          std::vector<std::string>* failed = nullptr);
  // Posts and waits until the server fans the post back to us (the sender gets its own post, docs/xccos.md §4);
  // a refusal (rpl:grpchat with an error code) becomes an error.
  result<chat_line> post(const std::string& room_uri, const std::string& text);
  // Posts without waiting for anything but the INFO's SIP response.
  error post_async(const std::string& room_uri, const std::string& text, std::string* envid = nullptr);

  // --- room files (docs/protocol.md "Room files"; client/file_transfer.cpp) -----------------------------
  // cmd:getfutok (upload) / cmd:getfdtok (download): fileUrl is the file's name for an upload, its ma-filelink
  // link for a download. A refusal is errc::rejected with the resp code as status and the token as message.
  struct file_token {
    std::string token;
    std::string server_uri; // where to use it (HTTP)
  };
  result<file_token> get_file_token(const std::string& room_uri, bool upload, const std::string& file_url);
  struct uploaded_file {
    std::string id;
    std::string name;
    std::string link; // ma-filelink://..., to post in the room
    std::string content_type;
    std::string sha256;
    std::uint64_t size = 0;
  };
  // A token for `name` (default: the file name of `path`), then one HTTP PUT streaming the file from disk.
  // `content_type` empty: guessed from the name's extension. HTTP refusals are errc::rejected with the HTTP status
  // and the server's message.
  result<uploaded_file> upload_file(const std::string& room_uri, const std::string& path, std::string name = {},
                                    std::string content_type = {});
  struct downloaded_file {
    std::string content_type;
    std::uint64_t size = 0;
    std::string name; // the file's name as the server sent it (Content-Disposition); "" when it sent none usable
    std::string path; // where the file was saved
  };
  // A token for the file `link` names, then one HTTP GET streamed into `out_path`. The bytes go to a new,
  // uniquely named temporary beside it (.<name>.<random>.part, created O_EXCL) that is renamed to out_path once
  // complete; nothing is left behind on failure. With `replace` false an existing out_path is never replaced
  // (renameat2 RENAME_NOREPLACE, or link + unlink where the file system lacks it): errc::bad_input.
  result<downloaded_file> download_file(const std::string& room_uri, const std::string& link,
                                        const std::string& out_path, bool replace = true);
  // The same into directory `dir` under the file's own name: the name the server sends (Content-Disposition,
  // the uploader's name as the server validated it), else the one in the link, used only when it is a
  // safe_local_name. Never replaces an existing file unless `replace`.
  result<downloaded_file> download_file_into(const std::string& room_uri, const std::string& link,
                                             const std::string& dir, bool replace = false);
  // A name to create in a local directory from someone else's say-so: a valid room file name
  // (base/file_name.hpp: no '/', '\', control, bidirectional or invisible format characters), which also
  // makes it a plain base name, and no leading '.' (no dotfiles such as .bashrc, no hidden files).
  static bool safe_local_name(std::string_view name);

  // The next pushed document (grpchat, ntc, or a reply nobody waited for), oldest first.
  std::optional<event> next_event(duration timeout);
  // Waits for the next grpchat (other events before it are kept for next_event).
  std::optional<chat_line> next_chat(duration timeout);

  // Resolves a room name, GUID or ma-chan:// URI to its URI via search (exact name match, case-insensitive).
  result<std::string> resolve_room(const std::string& name_or_uri);

  static chat_line to_chat_line(const xccos::node& grpchat_or_msg);
  // `text` safe to print on a terminal: control characters (C0, DEL, C1), bidirectional and invisible format
  // characters and bytes that are not UTF-8 become \xNN or \u{XXXX}; a backslash becomes "\\".
  static std::string printable(std::string_view text);
  std::string next_envid();

private:
  error pump(duration timeout); // reads one INFO into pending_
  result<downloaded_file> download(const std::string& room_uri, const std::string& link, const std::string& out_path,
                                   const std::string& dir, bool replace);
  std::string domain() const;

  chat_config config_;
  std::string user_;
  sip_agent agent_;
  dialog channel_;
  dialog provisioning_; // the SUBSCRIBE's dialog: sign-out unsubscribes inside it, as pidgin-sipe does
  bool signed_in_ = false;
  bool enabled_ = false;
  std::string pool_uri_;
  std::uint32_t envid_ = 0;
  std::deque<event> pending_; // pushed documents and unclaimed replies, in arrival order
};

} // namespace pchat::client
