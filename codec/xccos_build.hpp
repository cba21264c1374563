#pragma once
// Builders of the documents the server sends: every ntc: notice and the data of every rpl: reply, and the
// provisioning document of the sign-in (docs/xccos.md §2.1, §4). With the envelope, grpchat and room-summary
// writers of codec/xccos.hpp they are the only place where server-side XCCOS markup is written; actors, the SIP
// edge and the web fill in values and call them.
//
// Contract: pure functions, no I/O; every value is escaped on the way in (base/text.hpp's escaping), so any
// string is safe to pass. Whole documents come back ready to send (envelope included) where the name says
// "document" or "notice"; "append_" functions add a fragment to an rpl's <data>.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/xccos.hpp"

namespace pchat::xccos {

// --- notices (whole documents, a fresh envid each) ----------------------------------------------------------
// ntc:join to the others in the room: <uib uri><aib key domain value/></uib>, key 12276 for a manager and 3984
// for everyone else (docs/xccos.md §4).
std::string join_notice(std::string_view user, bool manager, std::string_view domain, std::string_view room_guid);
// ntc:part: <chanib uri><uib uri/></chanib> (docs/xccos.md §6 vector 12).
std::string part_notice(std::string_view room_uri, std::string_view user);

// ntc:inv to the invitee's sessions: the <inv> of rpl:getinv, pushed as it happens (docs/protocol.md "Invitations").
struct invitation {
  std::uint64_t id = 0;
  std::string room_uri;
  std::string room_name;
  std::string inviter; // "" when an administrator added the member
  std::int64_t ticks = 0;
};
std::string invitation_notice(const invitation& inv);
// ntc:newcontent: <chanib uri name seq/>, seq the first new post's (docs/protocol.md "New content in followed rooms").
std::string newcontent_notice(std::string_view room_uri, std::string_view room_name, std::uint64_t seq);

// --- replies --------------------------------------------------------------------------------------------------
// The rpl answering `cmd`: id cmd.reply_id(), seqid the command's ("1" when it had none), <commandid seqid envid/>
// when the command had either, <resp code>token</resp>, and `data` (a fragment built below) inside <data>
// (docs/xccos.md §3).
std::string reply_document(const command& cmd, int code, std::string_view token, std::string data = {});

// --- rpl data fragments ---------------------------------------------------------------------------------------
// <uib uri/>: rpl:requri's service URI (docs/xccos.md §4).
void append_uib(std::string& out, std::string_view uri);
// <sib infoType serverTime searchLimit messageSizeLimit storySizeLimit rootUri dbVersion/>: rpl:getserverinfo
// (docs/xccos.md §4).
struct server_info {
  std::string info_type;
  std::int64_t server_ticks = 0;
  std::uint32_t search_limit = 0;
  std::uint32_t message_size_limit = 0;
  std::uint32_t story_size_limit = 0;
  std::string root_uri;
  std::string db_version;
};
void append_server_info(std::string& out, const server_info& info);
// <chanib uri/>: one room of rpl:part and rpl:follow (docs/xccos.md §4 cmd:part; docs/protocol.md "XCCOS commands").
void append_chanib_uri(std::string& out, std::string_view room_uri);
// <fib key="OPERATION_FAILED" value=GUID domain/>: a room of rpl:bjoin, rpl:catchup or rpl:follow that failed
// (docs/xccos.md §4 cmd:bjoin).
void append_failed_room(std::string& out, const chan_ref& chan);
// <inv inviteId chanUri name inviter ts/>: one invitation of rpl:getinv (docs/xccos.md §4; docs/protocol.md
// "Invitations").
void append_invitation(std::string& out, const invitation& inv);
// <assoc type><chanib … followed="true|false">…</chanib>…</assoc>: one group of rpl:getassoc, type "member",
// "manager" or "follow" (docs/xccos.md §4 "GetAssociations"; docs/protocol.md "getassoc").
struct assoc_room {
  room_summary room;
  bool followed = false;
};
void append_assoc(std::string& out, std::string_view type, const std::vector<assoc_room>& rooms);
// <pref label seqid [content]/>: rpl:getpref (content, possibly "") and rpl:setpref (none) (docs/xccos.md §4).
void append_pref(std::string& out, std::string_view label, std::string_view seqid,
                 std::optional<std::string_view> content = std::nullopt);
// <cat uri name description/>: one category of rpl:nodespermcreatechild (docs/xccos.md §4).
void append_category(std::string& out, std::string_view uri, std::string_view name, std::string_view description);
// <uib uri roles invited/>: one change made by cmd:chanrole (docs/protocol.md "Room management").
void append_role_change(std::string& out, std::string_view user, std::string_view roles, bool invited);
// <chanib uri [more]><msg …/>…</chanib>: a room's history, rpl:bccontext (no more, docs/xccos.md §4) and one room
// of rpl:catchup (more="true|false", docs/protocol.md "catchup"); messages are written as given, in order.
void append_room_history(std::string& out, std::string_view room_uri, const std::vector<chat_message>& msgs,
                         std::optional<bool> more = std::nullopt);
// <chanib uri seq/>: an acknowledged post's room and sequence number, rpl:grpchat's data (docs/protocol.md
// "Acknowledged posts").
void append_posted(std::string& out, std::string_view room_uri, std::uint64_t seq);
// <chanib uri start total><uib uri [manager="true"]/>…</chanib>: a page of rpl:roster (docs/protocol.md
// "Large rooms").
void append_roster(std::string& out, std::string_view room_uri, std::uint32_t start, std::uint32_t total,
                   const std::vector<participant>& page);

// --- the provisioning document ------------------------------------------------------------------------------
// The provisionGroupList piggy-backed on the 200 to the provisioning-v2 SUBSCRIBE ([MS-SIPREGE] 2.2.2.5.11,
// docs/xccos.md §2.1): persistentChatConfiguration with EnablePersistentChat, the pool URIs and, when there is
// one, the room-management page as PersistentChatWebManagerUriInt/Ext.
std::string provisioning_document(bool enabled, std::string_view service_uri, std::string_view web_manager_uri);

} // namespace pchat::xccos
