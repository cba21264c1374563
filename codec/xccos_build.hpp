#pragma once
// Builders of the documents the server sends: every ntc: notice and the data of every rpl: reply, and the
// provisioning document of the sign-in (docs/xccos.md §2.1, §4). They are the only place where server-side XCCOS
// markup is written; actors, the SIP edge and the web fill in values and call them.
//
// Contract: pure functions, no I/O; every value is escaped on the way in (codec/xccos.hpp's escaping), so any
// string is safe to pass. Whole documents come back ready to send (envelope included) where the name says
// "document" or "notice"; "append_" functions add a fragment to an rpl's <data>.
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/xccos.hpp"

namespace pchat::xccos {

// --- notices (whole documents, a fresh envid each) ----------------------------------------------------------
// ntc:join to the others in the room: <uib uri><aib key domain value/></uib>, key 12276 for a manager and 3984
// for everyone else (docs/xccos.md §4).
std::string join_notice(std::string_view user, bool manager, std::string_view domain, std::string_view room_guid);
// ntc:part: <chanib uri><uib uri/></chanib> (docs/xccos.md §6 vector 12).
std::string part_notice(std::string_view room_uri, std::string_view user);

// --- the provisioning document ------------------------------------------------------------------------------
// The provisionGroupList piggy-backed on the 200 to the provisioning-v2 SUBSCRIBE ([MS-SIPREGE] 2.2.2.5.11,
// docs/xccos.md §2.1): persistentChatConfiguration with EnablePersistentChat, the pool URIs and, when there is
// one, the room-management page as PersistentChatWebManagerUriInt/Ext.
std::string provisioning_document(bool enabled, std::string_view service_uri, std::string_view web_manager_uri);

} // namespace pchat::xccos
