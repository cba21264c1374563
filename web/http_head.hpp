#pragma once
// The request head as pchatd checks it before cpp-httplib parses it (docs/web.md "Connections"). The listener
// (web/http_listener.hpp) buffers what a client sends until the head, and a small body declared with it, are
// complete; examine_head() decides when that is and refuses, with a clear status, what is too long or not
// well-formed. It is strict where a lenient reading could differ from cpp-httplib's (bare LF line ends, folded
// lines, a space before the colon, two different Content-Length values): then nothing ambiguous reaches it.
//
// Bounding the head here also bounds every std::regex cpp-httplib runs on it (its Range parser and its route
// patterns are backtracking regexes: an unbounded input overflows the thread's stack).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace pchat::web {

struct head_limits {
  std::size_t max_target = 4096;     // request-target bytes (path and query): longer gets 414
  std::size_t max_head = 16 * 1024;  // request line and header fields: larger gets 431
  std::size_t max_fields = 100;      // header fields: more gets 431
  std::size_t max_range = 128;       // a Range header's bytes (pchatd serves one range): longer gets 416
};

struct head_info {
  std::size_t size = 0;                       // bytes up to and including the empty line
  std::optional<std::uint64_t> content_length; // the one Content-Length value
  bool transfer_encoding = false;             // a Transfer-Encoding field is present (chunked bodies)
  bool expect_continue = false;               // Expect: 100-continue
};

struct head_verdict {
  enum class state { incomplete, complete, refused };
  state is = state::incomplete;
  head_info info;              // when complete
  pchat_errc error{};          // when refused: what to answer (its HTTP status from base/error.hpp)
  std::string message;         // when refused: why, for the answer and the log
};

// What the bytes received so far say: the head is incomplete (wait for more), complete (and well-formed), or
// refused. Refusals that need no more bytes come as soon as they are certain (a request line already longer
// than the limit is 414 before its end arrives).
head_verdict examine_head(std::string_view received, const head_limits& limits = {});

// A complete HTTP/1.1 answer with a JSON body ({"error", "message"} from the error table, as the web API's
// send_error), "Connection: close", for refusals made before cpp-httplib sees the request.
std::string refusal_response(pchat_errc code, const std::string& message, const std::string& extra_headers = {});

} // namespace pchat::web
