#include "admin/cert.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "base/tls.hpp"

namespace pchat::admin {

namespace {
const char* cert_usage =
  "usage: pchatctl cert self-signed [--out DIR] [--name NAME]... [--days N] [--force]\n"
  "  writes DIR/pchat.crt and DIR/pchat.key (0600); DIR defaults to ./var/tls, the names to the domain,\n"
  "  localhost, 127.0.0.1 and ::1, the validity to 365 days. Then set tls.certificate and tls.key.\n";
}

result cert_command(const std::vector<std::string>& args, const std::string& domain) {
  result r;
  if (args.empty() || args[0] != "self-signed") {
    r.code = 2;
    r.err = cert_usage;
    return r;
  }
  std::string out = "./var/tls";
  std::vector<std::string> names;
  int days = 365;
  bool force = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto& a = args[i];
    bool has_value = i + 1 < args.size();
    if (a == "--out" && has_value) {
      out = args[++i];
    } else if (a == "--name" && has_value) {
      names.push_back(args[++i]);
    } else if (a == "--days" && has_value) {
      const auto& v = args[++i];
      char* end = nullptr;
      errno = 0;
      long d = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno != 0 || d < 1 || d > 3650) {
        r.code = 2;
        r.err = "pchatctl: --days must be a whole number 1..3650, not \"" + v + "\"\n";
        return r;
      }
      days = static_cast<int>(d);
    } else if (a == "--force") {
      force = true;
    } else {
      r.code = 2;
      r.err = "pchatctl: unknown option " + a + "\n" + cert_usage;
      return r;
    }
  }
  if (names.empty())
    names = {domain, "localhost", "127.0.0.1", "::1"};
  std::string crt = out + "/pchat.crt";
  std::string key = out + "/pchat.key";
  std::error_code ec;
  if (!force && (std::filesystem::exists(crt, ec) || std::filesystem::exists(key, ec))) {
    r.code = 1;
    r.err = "pchatctl: " + crt + " or " + key + " exists; --force replaces them\n";
    return r;
  }
  std::filesystem::create_directories(out, ec);
  if (ec) {
    r.code = 1;
    r.err = "pchatctl: cannot create " + out + ": " + ec.message() + "\n";
    return r;
  }
  auto made = tls::make_self_signed(names, days);
  std::string error;
  if (!made.ok || !tls::write_private_file(key, made.key_pem, 0600, error) ||
      !tls::write_private_file(crt, made.certificate_pem, 0644, error)) {
    r.code = 1;
    r.err = "pchatctl: " + (made.ok ? error : made.error) + "\n";
    return r;
  }
  std::string list;
  for (const auto& n : names)
    list += (list.empty() ? "" : ", ") + n;
  r.out = "wrote " + crt + " and " + key + " (self-signed for " + list + ", " + std::to_string(days) +
          " days)\nin pchatd.ini:\n  [tls]\n  certificate=\"" + crt + "\"\n  key=\"" + key + "\"\n";
  return r;
}

} // namespace pchat::admin
