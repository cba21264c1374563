#pragma once
// Verifies a directory of XML adapter output against its hash chain (docs/compliance.md "Hash chain"): what
// `pchatctl compliance verify DIR` runs. Reads only the files; never writes.
//
// Detects, and names the file and Message id where it is seen:
// - a changed event (type, content, id, room, sender or time): its pc:hash no longer matches;
// - a removed Message: a gap in the ids (which are contiguous from 1);
// - reordered Messages: ids out of order within a Conversation;
// - a removed file: a missing part of a batch, or a missing batch number, and the gap in the ids it leaves;
// - files removed at the end of the archive, or a chain rewritten from some point to its end: only against
//   `expect_end`, the archived end the compliance queue keeps (queue_counts::archived);
// - FirstMessage differing from the first Message, the three time encodings disagreeing, a file renamed,
//   a file that does not parse.
// Not covered by the chain (details the adapter settings may hide): room name, islogged, UserName, email,
// internal, StartTimeUTC/EndTimeUTC.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compliance/queue.hpp"

namespace pchat::compliance {

struct verify_options {
  // The directory holds the archive from its first event (id 1). False when older files were moved away: the
  // chain then starts at the pc:prev of the file holding the lowest id.
  bool from_genesis = true;
  std::optional<chain_point> expect_end;
};

struct verify_problem {
  std::string file;             // file name within the directory (of a missing file: the name it would have)
  std::uint64_t message_id = 0; // 0 when the problem is not about one Message
  std::string what;
};

struct verify_report {
  std::size_t files = 0;
  std::size_t messages = 0;
  chain_point end; // the last event of the chain as read
  std::vector<verify_problem> problems;
  bool ok() const { return problems.empty(); }
};

verify_report verify_dir(const std::string& dir, const verify_options& opts = {});

// "ok: 12 files, 3400 messages, chain end 3400 <hash>" or one line per problem ("FILE message N: what").
std::string to_string(const verify_report& r);

} // namespace pchat::compliance
