#pragma once
// Builders of the documents a client sends: the command envelope, a grpchat post, the data of every command the
// client library, pchat-bench and the simulation send, and the provisioning SUBSCRIBE body (docs/xccos.md §2.1,
// §3, §4; pchat's extensions in docs/protocol.md "XCCOS commands"). They are the only place where client-side
// XCCOS markup is written; the server's own documents are codec/xccos_build.hpp's.
//
// Contract: pure functions, no I/O; every value is escaped on the way in (base/text.hpp's append_xml_attr and
// append_xml_text), so any string is safe to pass and comes back byte for byte from pchat::xccos::parse. Names
// ending in "_document" return a whole document ready to send; the others return a fragment to pass as the
// `data` of command_document (fragments may be concatenated, e.g. one chanid per room of a bjoin).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pchat::xccos {

// --- whole documents ------------------------------------------------------------------------------------------
// <xccos ver="1" envid xmlns><cmd id="cmd:NAME" seqid="1"><data>DATA</data></cmd></xccos> (docs/xccos.md §3);
// `data` is a fragment built below (or empty), placed as it is.
std::string command_document(std::string_view envid, std::string_view name, std::string_view data);
// <xccos ...><grpchat id="grpchat" seqid="1" chanUri author ts><chat>TEXT</chat></grpchat></xccos>, ts as
// format_ts(ticks) (docs/xccos.md §3 timestamps, §4 grpchat). `ack`: ack="true", our extension asking for an
// rpl:grpchat on success too, carrying the post's sequence number (docs/protocol.md "Acknowledged posts").
std::string grpchat_document(std::string_view envid, std::string_view room_uri, std::string_view author,
                             std::int64_t ticks, std::string_view text, bool ack = false);
// The provisioning-v2 SUBSCRIBE body asking for the persistentChatConfiguration group only (docs/xccos.md §2.1).
std::string provisioning_subscription_document();

// --- command data ---------------------------------------------------------------------------------------------
// cmd:getserverinfo: <sib domain infoType="123"/> (docs/xccos.md §4).
std::string serverinfo_query(std::string_view domain);
// cmd:chansrch: <qib qtype="BYNAME" criteria extended="false"/>; empty criteria lists every room (docs/xccos.md §4).
std::string chansrch_query(std::string_view criteria);
// cmd:join / cmd:bjoin: <chanid key domain value=GUID/>, key the room's position in a bjoin (docs/xccos.md §4).
std::string chanid(std::size_t key, std::string_view domain, std::string_view guid);
// cmd:part, cmd:follow / cmd:unfollow, and cmd:join's other form: <chanib uri/> (docs/xccos.md §4).
std::string chanib_uri(std::string_view room_uri);
// cmd:bccontext: <chanib uri/><bcq><last cnt=N/></bcq>, the newest N posts (docs/xccos.md §4); with `before`,
// <last cnt=N before=SEQ/>, the N posts below SEQ (docs/protocol.md, our extension).
std::string bccontext_last(std::string_view room_uri, std::uint32_t n, std::uint64_t before = 0);
// cmd:catchup: <chanib uri seq=N/> per (room URI, last seq the client has) (docs/protocol.md "catchup").
std::string catchup_list(const std::vector<std::pair<std::string, std::uint64_t>>& rooms);
// cmd:roster: <chanib uri/><page start count/>, who is online from position `start` (docs/protocol.md "Large rooms").
std::string roster_query(std::string_view room_uri, std::uint32_t start, std::uint32_t count);
// cmd:getinv: <inv inviteId="1" domain/>, as sipe sends it (docs/xccos.md §4).
std::string invitations_query(std::string_view domain);
// cmd:getfutok / cmd:getfdtok: <ftdb channelUri fileUrl/>, fileUrl the name to upload or the ma-filelink: link to
// download (docs/xccos.md §4, docs/protocol.md "Room files").
std::string file_token_query(std::string_view room_uri, std::string_view file_url);
// cmd:histsrch: <srch text/>, every word of `text` in any room the user may read (docs/protocol.md "History
// search").
std::string histsrch_query(std::string_view text);

} // namespace pchat::xccos
