#include "admin/check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "admin/admin_socket.hpp"
#include "admin/config.hpp"
#include "base/log.hpp"
#include "base/tls.hpp"
#include "storage/store.hpp"

namespace pchat::admin {

namespace {

class findings {
public:
  void ok(const std::string& s) { out_ << "ok       " << s << "\n"; }
  void note(const std::string& s) { out_ << "note     " << s << "\n"; }
  void warning(const std::string& s) { out_ << "warning  " << s << "\n"; }
  void error(const std::string& s) {
    out_ << "error    " << s << "\n";
    ++errors_;
  }
  // An error in the configuration itself: exit status 2, which the systemd unit does not restart on.
  void config_error(const std::string& s) {
    error(s);
    ++config_errors_;
  }
  result done() {
    out_ << (errors_ == 0 ? "no errors\n" : std::to_string(errors_) + (errors_ == 1 ? " error\n" : " errors\n"));
    return {config_errors_ > 0 ? 2 : errors_ == 0 ? 0 : 1, out_.str(), {}};
  }

private:
  std::ostringstream out_;
  int errors_ = 0;
  int config_errors_ = 0;
};

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a)
      return true;
  return false;
}

// Whether pchatd could listen on host:port over TCP now: "" or why not.
std::string tcp_bind_problem(const std::string& host, std::size_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *v6;
  } else {
    return {}; // a name: pchatd resolves it; not checked here
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return std::strerror(errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::string problem;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    problem = errno == EADDRINUSE    ? "in use by another program"
              : errno == EACCES      ? "needs privileges (a port below 1024: CAP_NET_BIND_SERVICE)"
              : errno == EADDRNOTAVAIL ? "not an address of this machine"
                                       : std::strerror(errno);
  ::close(fd);
  return problem;
}

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

} // namespace

result check(const std::string& config_file, const std::string& data_dir, const std::string& domain) {
  findings f;
  server_config cfg;
  if (config_file.empty()) {
    f.note("no configuration file (--config F, ./pchatd.ini or " PCHAT_SYSCONF_DIR "/pchatd.ini): the defaults");
  } else {
    auto loaded = load(cfg, config_file, {});
    if (!loaded.ok) {
      for (const auto& e : loaded.errors)
        f.config_error(e);
      return f.done(); // the rest depends on what the file says
    }
    f.ok("configuration " + config_file + " reads without errors");
  }
  const std::string data = data_dir.empty() ? cfg.data_dir : data_dir;
  const std::string dom = domain.empty() ? cfg.domain : domain;
  const std::string run = cfg.run_dir.empty() || !data_dir.empty() ? data : cfg.run_dir;

  // Values pchatd checks only when it starts.
  if (log::format fmt; !log::parse_format(cfg.log_format, fmt))
    f.config_error("pchat.log-format=" + cfg.log_format + ": expected text, json or auto");
  if (log::level lvl; !log::parse_level(cfg.log_level, lvl))
    f.config_error("pchat.log-level=" + cfg.log_level + ": expected error, warning, info or debug");
  if (!one_of(cfg.sip_auth, {"auto", "digest", "ntlm", "known", "anonymous"}))
    f.config_error("sip.auth=" + cfg.sip_auth + ": expected digest, ntlm, known, anonymous or auto");
  if (!one_of(cfg.sip_plaintext_auth, {"auto", "true", "false"}))
    f.config_error("sip.plaintext-auth=" + cfg.sip_plaintext_auth + ": expected true, false or auto");
  if (!one_of(cfg.compliance_on_store_failure, {"refuse", "queue"}))
    f.config_error("compliance.on-store-failure=" + cfg.compliance_on_store_failure + ": expected refuse or queue");
  if (cfg.sip_threads != 1)
    f.config_error("sip.threads=" + std::to_string(cfg.sip_threads) + ": this pchatd runs one SIP thread");
  if (dom.empty() || dom.find_first_of(" /@:") != std::string::npos)
    f.config_error("pchat.domain=\"" + dom + "\" is not a SIP domain");

  // The data directory and the store in it.
  namespace fs = std::filesystem;
  std::error_code ec;
  bool running = false;
  std::unique_ptr<storage::store> db;
  if (!fs::is_directory(data, ec)) {
    f.error("data directory " + data + " does not exist: pchatctl init creates it");
  } else {
    storage::open_options ro;
    ro.create_if_missing = false;
    ro.read_only = true; // works beside a running pchatd
    auto st = storage::store::open(data, ro, db);
    if (!st.ok()) {
      f.error("data directory " + data + ": " + st.message + (st.code == storage::errc::not_found ? " (pchatctl init)" : ""));
      db.reset();
    } else {
      f.ok("data directory " + data + ": " + std::to_string(db->categories().size()) + " categories, " +
           std::to_string(db->rooms().size()) + " rooms, " + std::to_string(db->users().size()) + " accounts");
    }
    if (::access(data.c_str(), W_OK) != 0)
      f.warning("data directory " + data + " is not writable by this user (pchatd must run as its owner)");
    std::string why;
    running = call(run + "/pchatd.sock", {"category", "list"}, why).has_value();
    if (running)
      f.note("pchatd is running: its admin socket " + run + "/pchatd.sock answers");
  }
  if (db) {
    std::map<std::string, int> other_realms;
    for (const auto& u : db->users())
      if (u.realm != dom)
        ++other_realms[u.realm];
    for (const auto& [realm, n] : other_realms)
      f.warning(std::to_string(n) + (n == 1 ? " account has its password" : " accounts have their passwords") +
              " for realm " + realm + " but pchat.domain is " + dom +
              ": they cannot sign in with Digest (set them again: pchatctl user passwd)");
  }

  // Ports: valid, distinct where they share TCP, and free (when pchatd is not the one holding them).
  struct listener {
    std::string what;
    std::string host;
    std::size_t port;
  };
  std::vector<listener> tcp;
  if (cfg.sip_port == 0 || cfg.sip_port > 65535)
    f.error("sip.port=" + std::to_string(cfg.sip_port) + ": expected 1..65535");
  else if (cfg.sip_tcp)
    tcp.push_back({"sip.port", cfg.sip_host, cfg.sip_port});
  const bool tls = !cfg.tls_certificate.empty();
  if (cfg.sip_tls_port > 65535)
    f.error("sip.tls-port=" + std::to_string(cfg.sip_tls_port) + ": expected 0..65535");
  else if (tls && cfg.sip_tls_port != 0)
    tcp.push_back({"sip.tls-port", cfg.sip_host, cfg.sip_tls_port});
  if (cfg.web_port > 65535)
    f.error("web.port=" + std::to_string(cfg.web_port) + ": expected 0..65535");
  else if (cfg.web && cfg.web_port != 0)
    tcp.push_back({"web.port", cfg.web_host, cfg.web_port});
  for (std::size_t i = 0; i < tcp.size(); ++i)
    for (std::size_t j = i + 1; j < tcp.size(); ++j)
      if (tcp[i].port == tcp[j].port)
        f.error(tcp[i].what + " and " + tcp[j].what + " are both " + std::to_string(tcp[i].port));
  if (!running)
    for (const auto& l : tcp) {
      auto problem = tcp_bind_problem(l.host, l.port);
      if (problem.empty())
        f.ok(l.what + " " + l.host + ":" + std::to_string(l.port) + " is free");
      else
        f.error(l.what + " " + l.host + ":" + std::to_string(l.port) + ": " + problem);
    }

  // TLS.
  if (tls) {
    auto loaded = tls::load(cfg.tls_certificate, cfg.tls_key);
    if (!loaded.ok) {
      f.error(loaded.error);
    } else {
      auto days = (loaded.info.not_after - static_cast<std::int64_t>(std::time(nullptr))) / 86400;
      std::string names;
      for (const auto& n : loaded.info.names)
        names += (names.empty() ? "" : ", ") + n;
      f.ok("tls.certificate " + cfg.tls_certificate + ": " + loaded.info.subject + " (" + names + "), valid " +
           std::to_string(days) + " more days");
      if (days < 30)
        f.warning("the TLS certificate expires in " + std::to_string(days) + " days");
    }
  } else if (!loopback(cfg.sip_host)) {
    f.warning("no tls.certificate while sip.host is " + cfg.sip_host +
              ": clients off this machine cannot sign in with a password unless sip.plaintext-auth=true");
  }

  // Directories pchatd writes besides the data directory.
  auto writable_or_creatable = [&](const std::string& what, const std::string& dir) {
    fs::path p = dir;
    while (!p.empty() && !fs::exists(p, ec))
      p = p.parent_path();
    if (p.empty())
      p = ".";
    if (::access(p.c_str(), W_OK) != 0)
      f.warning(what + " " + dir + " cannot be written or made by this user");
  };
  if (!cfg.run_dir.empty())
    writable_or_creatable("pchat.run-dir", cfg.run_dir);
  if (cfg.compliance) {
    writable_or_creatable("compliance.dir", cfg.compliance_dir.empty() ? data + "/compliance" : cfg.compliance_dir);
    writable_or_creatable("compliance.output-dir",
                          cfg.compliance_output.empty() ? data + "/compliance-output" : cfg.compliance_output);
  }
  if (cfg.web && !cfg.web_static_dir.empty() && !fs::is_directory(cfg.web_static_dir, ec))
    f.error("web.static-dir " + cfg.web_static_dir + " is not a directory");
  return f.done();
}

} // namespace pchat::admin
