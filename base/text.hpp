#pragma once
// Text helpers every layer uses, each in one place: ASCII case folding, XML escaping (XCCOS documents, the
// compliance XML, the client's commands), percent-encoding (file links and URL paths) and the ASCII stand-in of
// a file name (Content-Disposition).
//
// Contract: pure functions on bytes, no locale, no exceptions (except std::bad_alloc).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pchat {

// --- case ------------------------------------------------------------------------------------------------------
// ASCII lower case; other bytes unchanged (UTF-8 passes through as it is).
char ascii_lower(char c);
std::string ascii_lower(std::string_view s);

// "2026-12-05T13:00:00Z": a time in whole seconds, UTC, ISO 8601 (backup manifests, export headers).
std::string utc_iso8601(std::int64_t seconds_since_epoch);
// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// --- XML escaping ----------------------------------------------------------------------------------------------
// Character data: & < > escaped, and CR as &#13; (a literal CR would be normalised away by the reader, XML 1.0
// §2.11). Text escaped this way comes back byte for byte from any conforming parser.
void append_xml_text(std::string& out, std::string_view s);
// An attribute value (without the quotes): & < > " escaped, and TAB, LF and CR as character references, since
// attribute-value normalisation turns literal ones into spaces (XML 1.0 §3.3.3).
// Both: bytes that are not an XML character (invalid UTF-8, C0 controls but TAB/LF/CR, U+FFFE, U+FFFF) become
// U+FFFD, one per byte, so a document built from what a client sent is always well-formed.
void append_xml_attr(std::string& out, std::string_view s);
// ` name="value"` with the value escaped as above.
void append_xml_attribute(std::string& out, std::string_view name, std::string_view value);
// True when every character of the UTF-8 string may appear in an XML 1.0 document (TAB, LF, CR and >= 0x20,
// no U+FFFE/U+FFFF, valid UTF-8). Text that fails this cannot be carried in XML at all.
bool is_xml_text(std::string_view s);

// --- percent-encoding (RFC 3986 §2.1) --------------------------------------------------------------------------
// Unreserved bytes (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX (upper-case hex).
std::string percent_encode(std::string_view s);
// Undoes any %XX (either case); nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

// --- file names ------------------------------------------------------------------------------------------------
// A file name's ASCII stand-in for Content-Disposition's filename="..." (the exact name goes in filename*, RFC
// 6266): one byte per byte, '_' for anything but printable ASCII and for '"', '\' and '%'. The web server writes
// it and the client checks a name against it, so both use this one.
std::string ascii_stand_in(std::string_view name);

} // namespace pchat
