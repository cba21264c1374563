#pragma once
// A compliance event: one thing a user did in (or with) a room, as the archive records it
// (docs/compliance.md "Events archived"), its binary record for the durable queue, and the
// hash chain that makes the archive tamper-evident (docs/compliance.md "Hash chain").
//
// Contract
// - Plain data and pure functions: no I/O, thread-safe, never throw (except std::bad_alloc).
// - Callers fill kind, room, user, ticks and content; `id` and `hash` are assigned by the queue when the event
//   becomes durable (queue::enqueue), never by callers, and do not travel in actor messages.
// - decode() is strict (version byte, bounds, known kind, no trailing bytes): decode(encode(e)) == e, and
//   anything else is nullopt.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/sha256.hpp"
#include "base/time.hpp"

namespace pchat::compliance {

// A link of the hash chain: SHA-256 (base/sha256.hpp).
using digest = sha256_digest;

// The XML `type` of each kind: JOIN, PART, CHAT, BACKCHAT (a history read), SEARCH (our addition: Lync's
// cmdlets archive searches, its XML names no type for them), FILEUPLOAD, FILEDOWNLOAD, and our CLEAR (history
// deleted up to a post, by an administrator or by retention) and REMOVE (one post's text replaced).
enum class event_kind : std::uint8_t { join = 1, part, chat, backchat, search, fileupload, filedownload, clear, remove };

// Inline: the actor protocol's inspect() uses it, and actors/ does not link compliance/.
inline const char* to_string(event_kind k) {
  switch (k) {
  case event_kind::join:
    return "JOIN";
  case event_kind::part:
    return "PART";
  case event_kind::chat:
    return "CHAT";
  case event_kind::backchat:
    return "BACKCHAT";
  case event_kind::search:
    return "SEARCH";
  case event_kind::fileupload:
    return "FILEUPLOAD";
  case event_kind::filedownload:
    return "FILEDOWNLOAD";
  case event_kind::clear:
    return "CLEAR";
  case event_kind::remove:
    return "REMOVE";
  }
  return "UNKNOWN";
}
std::optional<event_kind> kind_from_string(std::string_view type);

struct event {
  event_kind kind = event_kind::chat;
  std::string room_uri;     // ma-chan://domain/guid; for a directory search the scope searched (ma-cat:// root)
  std::string room_name;    // empty when unknown
  bool room_logged = true;  // the room keeps chat history (Channel islogged)
  std::string user_uri;     // sip:user@domain, normalised
  std::string display_name; // empty when unknown
  std::int64_t ticks = 0;   // 100-ns ticks since the Unix epoch, UTC (as storage::message::ticks)
  std::string content;      // chat text, file name or search query; what was read for BACKCHAT; empty for JOIN/PART

  // Assigned by the queue.
  std::uint64_t id = 0; // 1, 2, 3, ... without gaps, across restarts: the XML Message id
  digest hash{};        // chain_hash(hash of event id-1, *this); event 1 chains to the zero digest

  friend bool operator==(const event& a, const event& b);
};

// "sip:alice@example.com" -> "alice@example.com": the Sender uri the XML shows (docs/compliance.md "Output shape").
std::string_view sender_address(std::string_view user_uri);

// Replaces whatever XML 1.0 cannot carry (invalid UTF-8, control characters other than tab, LF and CR,
// U+FFFE/U+FFFF) by U+FFFD in every text field, so that the archive holds exactly what its XML shows and the
// chain verifies from the XML alone. The queue applies it before hashing.
void make_xml_safe(event& e);

// The bytes the chain hashes: the fields the XML always shows, in a fixed order, each length-prefixed:
// id, type, content, room uri, sender address, ticks. Room name, display name and flags are details the adapter
// settings may hide, so they are not covered.
std::string canonical(const event& e);
digest chain_hash(const digest& prev, const event& e);

// Queue record v1: version | kind u8 | id be64 | ticks be64 | flags(room_logged) | room_uri | room_name | user_uri
//                  | display_name | content | hash; strings as in storage/record_codec.hpp
std::string encode(const event& e);
std::optional<event> decode(std::string_view record);

} // namespace pchat::compliance
