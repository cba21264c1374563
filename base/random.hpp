#pragma once
// Random ids, all from one source: the system's CSPRNG through libcrypto's RAND_bytes. Room and category GUIDs,
// file ids and tokens, web session tokens, Digest nonces and secrets, SIP tags, branches and Call-IDs, and
// temporary file names all come from here, so none of them can be guessed from another.
//
// Contract: thread-safe, never throws (except std::bad_alloc). RAND_bytes fails only when the system has no
// entropy source at all; then the process logs why and aborts: refusing to run beats handing out predictable
// tokens, and no caller (an actor, a request handler) could do anything useful with such an error.
#include <cstddef>
#include <cstdint>
#include <string>

namespace pchat {

// `n` random bytes.
std::string random_bytes(std::size_t n);
// A random 64-bit value (seeds, starting points of counters).
std::uint64_t random_u64();
// Lower-case hex of `bytes` random bytes (2 * bytes digits).
std::string random_hex(std::size_t bytes);
// A random version-4 GUID ("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx", lower case, RFC 4122 §4.4): 122 bits
// nobody can guess.
std::string random_guid();

} // namespace pchat
