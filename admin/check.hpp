#pragma once
// `pchatctl check`: what an admin wants to know before starting pchatd (docs/operations.md "Checking a
// configuration"): that the configuration file reads, the data directory holds a store pchatd can use, the
// accounts' passwords fit the domain (the Digest realm), the ports are valid, distinct and free, and the TLS
// certificate and key load and match. One line per finding; exit 1 when any is an error.
#include <string>

#include "admin/admin.hpp"

namespace pchat::admin {

// `config_file` "" means defaults; `data_dir` and `domain` (when not empty) win over the file, as on pchatctl's
// command line.
result check(const std::string& config_file, const std::string& data_dir, const std::string& domain);

} // namespace pchat::admin
