#pragma once
// The compliance adapter interface (Lync's AdapterType): what turns a batch of archived events into output.
// The XML adapter (xml_adapter.hpp) is the default; others implement this interface.
//
// Contract for implementations
// - write() returns ok only when the whole batch is durably out of pchat's hands; anything else leaves the
//   batch in the queue and the same batch (same id, same events) is offered again later, after a restart too.
// - So write() must be idempotent per batch id: writing batch N again replaces what an earlier attempt wrote
//   for N, it never adds a second copy.
// - write() is called from one thread at a time (the compliance actor) and may block (file I/O, fsync).
#include "compliance/queue.hpp"

namespace pchat::compliance {

class adapter {
public:
  virtual ~adapter() = default;
  virtual status write(const batch& b) = 0;
};

} // namespace pchat::compliance
