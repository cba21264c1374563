#pragma once
// Starting a pchatd child process, for the end-to-end tests and pchat-bench: fork + exec with stdout piped and
// stderr appended to a log file, then wait for the "pchatd ready" line it prints once SIP is listening (an
// event, not a sleep). Errors are values.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pchat::client {

struct launched {
  pid_t pid = -1;      // > 0 when pchatd printed its ready line; the caller owns (and must reap) it
  std::string output;  // what it printed on stdout
  std::string error;   // why it did not start; empty on success
};

// argv[0] is `binary`; the child runs in `workdir` (so no stray pchatd.ini is picked up) and its stderr goes to
// `log_path`. A pchatd that exits or stays silent past `timeout` is killed, reaped and reported.
launched launch_pchatd(const std::string& binary, const std::vector<std::string>& args, const std::string& workdir,
                       const std::string& log_path, std::chrono::milliseconds timeout);

// A port free for both TCP and UDP on 127.0.0.1 right now; 0 when none was found.
std::uint16_t free_loopback_port();

} // namespace pchat::client
