#pragma once
// Random ids, all from one source: the system's CSPRNG through libcrypto's RAND_bytes. Room and category GUIDs,
// file ids and tokens, web session tokens, Digest nonces and secrets, SIP tags, branches and Call-IDs, and
// temporary file names all come from here, so none of them can be guessed from another.
//
// Contract: thread-safe. RAND_bytes fails only when the system has no entropy source at all; these functions
// then throw std::runtime_error — refusing to run beats handing out predictable tokens. Callers at actor or
// request boundaries need not catch it: such a process cannot serve anyone safely.
#include <cstddef>
#include <string>

namespace pchat {

// `n` random bytes.
std::string random_bytes(std::size_t n);
// Lower-case hex of `bytes` random bytes (2 * bytes digits).
std::string random_hex(std::size_t bytes);
// A random version-4 GUID ("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx", lower case, RFC 4122 §4.4): 122 bits
// nobody can guess.
std::string random_guid();

} // namespace pchat
