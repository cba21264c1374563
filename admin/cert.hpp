#pragma once
// `pchatctl cert self-signed`: a key and a self-signed certificate for trying SIP over TLS and HTTPS
// (docs/security.md "TLS"). Needs no data directory and no running server.
#include <string>
#include <vector>

#include "admin/admin.hpp"

namespace pchat::admin {

// args: the words after "cert" ("self-signed [--out DIR] [--name N]... [--days D] [--force]"); `domain` is the
// default first name.
result cert_command(const std::vector<std::string>& args, const std::string& domain);

} // namespace pchat::admin
