#pragma once
// What the browser's chat reads, as JSON: the XCCOS documents a session sends (replies, fan-out, notices) turned
// into the shapes of docs/web.md "Chat API". Pure functions over the parsed document (codec/xccos.hpp), no I/O and
// no actors, so the web ingress calls them on its actor thread and the tests call them directly. Every string
// passes through as the codec decoded it: the page renders text as text.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "codec/xccos.hpp"

namespace pchat::web {

using json = nlohmann::json;

// A pushed document's item as a live event: {"type": "post"|"join"|"part"|"newcontent"|"invitation", ...}.
// nullopt for items that are not events (replies, unknown notices).
std::optional<json> event_of(const xccos::item& item);

// Every `name` child of `parent`, each as `one` makes it: a JSON array.
json each(const xccos::node& parent, const char* name, json (*one)(const xccos::node&));

// A <grpchat> or history <msg>: {"room", "seq", "author", "ts", "text"}.
json message_of(const xccos::node& msg);
// A room summary <chanib> (chansrch, getassoc): {"uri", "name", "description", "topic", "users", "visibility",
// "filepost", "invite", "logged"} and "followed" when the element says.
json room_of(const xccos::node& chanib);
// rpl:join's data: {"room": {"uri","name","topic"}, "participants": [{"uri","manager"}]}.
json joined_of(const xccos::node& data);
// A room's history (rpl:bccontext, one room of rpl:catchup): {"room", "messages": [...], "more"}.
json history_of(const xccos::node& chanib);
// rpl:roster's data: {"room", "start", "total", "participants": [{"uri","manager"}]}.
json roster_of(const xccos::node& data);
// rpl:getassoc's data: {"member": [...], "manager": [...], "followed": [...]} of room summaries.
json assoc_of(const xccos::node& data);
// An <inv> (rpl:getinv, ntc:inv): {"id", "room", "name", "inviter", "ts"}.
json invitation_of(const xccos::node& inv);

} // namespace pchat::web
