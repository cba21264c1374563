// pchatd: the Persistent Chat server. One process: Sofia-SIP on its own thread, CAF actors on the scheduler
// threads, RocksDB under the data directory. See README.md and tools/pchatd.ini (the commented default config).
#include <pthread.h>
#include <sys/resource.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/directory.hpp"
#include "base/log.hpp"
#include "base/tls.hpp"
#include "base/version.hpp"
#include "actors/protocol.hpp"
#include "actors/store_writer.hpp"
#include "actors/compliance_actor.hpp"
#include "sip/ingress.hpp"
#include "codec/ntlm.hpp"
#include "codec/sip_message.hpp"
#include "sip/sip_stack.hpp"
#include "storage/file_store.hpp"
#include "storage/store.hpp"
#include "admin/admin.hpp"
#include "admin/admin_socket.hpp"
#include "web/web_server.hpp"

namespace {

struct pchatd_config : caf::actor_system_config {
  std::string data_dir = "./var/data";
  std::string log_level = "info";
  size_t max_open_files = 0; // 0: as many as the hard limit allows
  std::string sip_host = "127.0.0.1";
  size_t sip_port = 5060;
  bool sip_udp = true;
  bool sip_tcp = true;
  std::string domain = "example.com";
  std::string service_uri; // default: sip:pchat@<domain>
  bool persistent_chat = true;
  size_t register_expires = 3600;
  size_t session_expires = 1800;
  size_t max_body = 65536;
  size_t max_pending = 10000;
  size_t max_outbound = 20000;
  size_t max_connection_pending = 1000;
  size_t max_connection_bytes = 8u << 20;
  size_t request_timeout = 32;
  size_t sip_threads = 1;
  std::string sip_auth = "auto";
  size_t sip_tls_port = 5061;
  std::string ntlm_target; // default: the domain
  size_t max_connections_per_address = 256;
  size_t sign_in_timeout = 30;
  std::string sip_plaintext_auth = "auto";
  // [tls] (docs/security.md "TLS"): one certificate for SIP over TLS and HTTPS
  std::string tls_certificate;
  std::string tls_key;
  size_t nonce_lifetime = 300;
  size_t search_limit = 999;
  size_t message_size_limit = 8000;
  size_t story_size_limit = 80000;
  size_t history_cache = 200;
  size_t participant_update_limit = 75;
  bool sync_writes = true;
  // [compliance] (docs/compliance.md; Lync's Set-CsPersistentChatComplianceConfiguration)
  bool compliance = false;
  std::string compliance_dir;    // default <data-dir>/compliance
  std::string compliance_output; // default <data-dir>/compliance-output
  size_t compliance_run_interval = 900;
  bool compliance_one_room_per_file = false;
  bool compliance_room_details = false;
  bool compliance_user_details = false;
  size_t compliance_batch_max = 10000;
  std::string compliance_on_store_failure = "refuse";
  // [web] (docs/web.md)
  bool web = true;
  std::string web_host = "127.0.0.1";
  size_t web_port = 8080;
  std::string web_public_url;
  bool web_tls = true;
  size_t web_threads = 8;
  size_t web_header_timeout = 10;
  size_t web_max_connections_per_address = 32;
  std::string web_static_dir;
  size_t web_session_ttl = 8 * 3600;
  size_t web_max_upload = 100u << 20;
  size_t web_file_token_ttl = 300;
  std::string web_files_dir; // default <data-dir>/files
  size_t web_min_free_mb = 512;

  pchatd_config() {
    pchat::register_types(*this);
    // A CAF 0.17 worker with nothing to do polls 100 times, then 500 times with a 50 µs nanosleep before it
    // blocks on its condition variable: at 10 posts/s that idle polling cost as much CPU as a third of the SIP
    // edge (docs/performance.md "After the SIP edge rebuild"). Ten moderate polls keep the wake-up fast and
    // let idle workers block. Still overridable with --work-stealing.moderate-poll-attempts.
    set("work-stealing.moderate-poll-attempts", size_t{10});
    opt_group{custom_options_, "pchat"}
      .add(data_dir, "data-dir", "RocksDB data directory (created if missing)")
      .add(log_level, "log-level", "error, warning, info or debug")
      .add(max_open_files, "max-open-files", "descriptor limit (0: raise to the hard limit, at least 131072 if allowed)")
      .add(domain, "domain", "SIP domain served; room URIs are ma-chan://<domain>/<guid>")
      .add(service_uri, "service-uri", "URI of the chat service (default sip:pchat@<domain>)")
      .add(persistent_chat, "persistent-chat", "EnablePersistentChat in the provisioning document")
      .add(search_limit, "search-limit", "most rooms one chansrch returns")
      .add(message_size_limit, "message-size-limit", "largest chat text in bytes")
      .add(story_size_limit, "story-size-limit", "largest story in bytes (reported in getserverinfo)")
      .add(history_cache, "history-cache", "recent messages each room keeps in memory")
      .add(participant_update_limit, "participant-update-limit",
           "above this many users a room stops pushing joins/parts and full rosters")
      .add(sync_writes, "sync-writes", "fsync the WAL before a post is acknowledged (keep on)");
    opt_group{custom_options_, "sip"}
      .add(sip_host, "host", "address to listen on")
      .add(sip_port, "port", "port for UDP and TCP")
      .add(sip_udp, "udp", "listen on UDP")
      .add(sip_tcp, "tcp", "listen on TCP")
      .add(register_expires, "register-expires", "Expires granted to REGISTER")
      .add(session_expires, "session-expires", "Session-Expires for chat dialogs (seconds)")
      .add(max_body, "max-body", "largest INFO body in bytes; larger gets 413")
      .add(max_pending, "max-pending", "commands queued in sessions before INFOs get 503")
      .add(max_outbound, "max-outbound", "INFOs to clients queued or unanswered before INFOs get 503")
      .add(max_connection_pending, "max-connection-pending",
           "unanswered requests on one client connection before it is closed (the client stopped reading)")
      .add(max_connection_bytes, "max-connection-bytes",
           "bytes of unanswered requests on one client connection before it is closed")
      .add(request_timeout, "request-timeout", "seconds a client has to answer an INFO or BYE before its dialog ends")
      .add(sip_threads, "threads", "SIP threads (only 1 with Debian's Sofia-SIP: docs/architecture.md \"The SIP edge\")")
      .add(sip_auth, "auth", "digest, ntlm (NTLM and Digest), anonymous, known or auto (digest unless the listener is loopback)")
      .add(nonce_lifetime, "nonce-lifetime", "seconds a Digest nonce stays fresh")
      .add(max_connections_per_address, "max-connections-per-address",
           "client connections from one address before new ones get 503 and are closed")
      .add(sign_in_timeout, "sign-in-timeout", "seconds a client connection may stay without a chat dialog")
      .add(ntlm_target, "ntlm-targetname", "this server's name in NTLM exchanges (default: pchat.domain)")
      .add(sip_tls_port, "tls-port", "port for SIP over TLS (when tls.certificate is set; 0: no TLS listener)")
      .add(sip_plaintext_auth, "plaintext-auth",
           "true, false or auto: whether sign-ins may send credentials over UDP/TCP (auto: only on loopback)");
    opt_group{custom_options_, "tls"}
      .add(tls_certificate, "certificate", "PEM certificate chain for SIP over TLS and HTTPS (none: no TLS)")
      .add(tls_key, "key", "PEM private key of tls.certificate (unencrypted; keep it 0600)");
    opt_group{custom_options_, "compliance"}
      .add(compliance, "enabled", "archive joins, parts, posts, reads and searches (off: no cost)")
      .add(compliance_dir, "dir", "the durable event queue (default <data-dir>/compliance)")
      .add(compliance_output, "output-dir", "AdapterOutputDirectory (default <data-dir>/compliance-output)")
      .add(compliance_run_interval, "run-interval", "RunInterval in seconds: one XML batch per interval")
      .add(compliance_one_room_per_file, "one-room-per-file", "OneChatRoomPerOutputFile")
      .add(compliance_room_details, "add-room-details", "AddChatRoomDetails")
      .add(compliance_user_details, "add-user-details", "AddUserDetails")
      .add(compliance_batch_max, "batch-max", "most events in one adapter batch")
      .add(compliance_on_store_failure, "on-store-failure",
           "refuse (posts are refused while the queue cannot be written) or queue (held in memory)");
    opt_group{custom_options_, "web"}
      .add(web, "enabled", "serve the room-management page, room files, /metrics and /healthz over HTTP")
      .add(web_host, "host", "address to listen on")
      .add(web_port, "port", "HTTP port (0: any free port, printed on the ready line)")
      .add(web_public_url, "public-url", "URL clients reach the web server at (default http(s)://host:port)")
      .add(web_tls, "tls", "HTTPS with tls.certificate when it is set (false: plain HTTP, e.g. behind a TLS proxy)")
      .add(web_threads, "threads", "HTTP worker threads")
      .add(web_header_timeout, "header-timeout",
           "seconds from connecting until a request's head (and a body up to 64 KiB) must have arrived")
      .add(web_max_connections_per_address, "max-connections-per-address",
           "HTTP connections one client address (IPv6: one /64) may have open at once")
      .add(web_static_dir, "static-dir", "serve the page from this directory instead of the built-in copy")
      .add(web_session_ttl, "session-ttl", "seconds a web sign-in lasts without use")
      .add(web_max_upload, "max-upload", "largest room file upload in bytes (larger: 413)")
      .add(web_file_token_ttl, "file-token-ttl", "seconds a file upload/download token may be used")
      .add(web_files_dir, "files-dir", "room file content (default <data-dir>/files)")
      .add(web_min_free_mb, "min-free-mb", "MiB uploads leave free on the files' disk (history needs room too)");
  }
};

// CAF 0.17 treats a bool option on the command line as a flag without a value ("--sip.udp" sets it), so
// "--sip.udp=false" is a parse error and a default-true option could not be turned off. We take the "=value"
// forms of our bool options out of argv before CAF sees it and apply them after the INI file.
struct bool_override {
  bool* target;
  bool value;
};

bool take_bool_options(pchatd_config& cfg, std::vector<char*>& args, std::vector<bool_override>& out,
                       std::string& error) {
  const std::pair<const char*, bool*> options[] = {
    {"--pchat.persistent-chat", &cfg.persistent_chat}, {"--pchat.sync-writes", &cfg.sync_writes},
    {"--sip.udp", &cfg.sip_udp}, {"--sip.tcp", &cfg.sip_tcp}, {"--compliance.enabled", &cfg.compliance},
    {"--compliance.one-room-per-file", &cfg.compliance_one_room_per_file},
    {"--compliance.add-room-details", &cfg.compliance_room_details},
    {"--compliance.add-user-details", &cfg.compliance_user_details}, {"--web.enabled", &cfg.web},
    {"--web.tls", &cfg.web_tls}};
  std::vector<char*> kept;
  for (char* a : args) {
    std::string_view arg{a};
    bool taken = false;
    for (const auto& [name, target] : options) {
      std::string_view n{name};
      if (arg.size() > n.size() && arg.substr(0, n.size()) == n && arg[n.size()] == '=') {
        auto v = arg.substr(n.size() + 1);
        if (v != "true" && v != "false") {
          error = std::string{arg} + ": expected true or false";
          return false;
        }
        out.push_back({target, v == "true"});
        taken = true;
      }
    }
    if (!taken)
      kept.push_back(a);
  }
  args = std::move(kept);
  return true;
}

// Prometheus text of the actors' and the SIP thread's counters: pchatd.stats and /metrics.
std::string render_stats(const pchat::metrics& live, const pchat::sip::sip_counters& sip) {
  std::string text = pchat::render_prometheus(live);
  text += std::string("# HELP pchat_build_info The pchatd version running (always 1).\n# TYPE pchat_build_info gauge\n"
                      "pchat_build_info{version=\"") + pchat::version() + "\"} 1\n";
  auto add = [&](const char* name, const char* help, std::uint64_t v) {
    text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " "
            + std::to_string(v) + "\n";
  };
  add("pchat_sip_registers_total", "REGISTER requests answered.", sip.registers.load());
  add("pchat_sip_invites_total", "INVITE requests answered.", sip.invites.load());
  add("pchat_sip_infos_in_total", "INFO requests received.", sip.infos_in.load());
  add("pchat_sip_infos_out_total", "INFO requests sent to clients.", sip.infos_out.load());
  add("pchat_sip_infos_failed_total", "INFO requests to clients that failed.", sip.infos_failed.load());
  add("pchat_sip_auth_challenges_total", "401 Digest challenges sent.", sip.auth_challenges.load());
  add("pchat_sip_auth_refused_total", "Requests refused for their credentials or account.", sip.auth_refused.load());
  add("pchat_sip_policy_refused_total", "INVITEs refused: persistent chat disabled.", sip.policy_refused.load());
  add("pchat_sip_connections_closed_total", "Client TCP connections that closed (either side).",
      sip.connections_closed.load());
  add("pchat_sip_slow_disconnects_total", "Client connections closed because the client stopped reading.",
      sip.slow_disconnects.load());
  add("pchat_sip_request_timeouts_total", "Requests to clients not answered within sip.request-timeout.",
      sip.request_timeouts.load());
  add("pchat_sip_address_refusals_total", "Connections refused: their address had sip.max-connections-per-address.",
      sip.address_refusals.load());
  add("pchat_sip_sign_in_timeouts_total", "Connections closed without a chat dialog within sip.sign-in-timeout.",
      sip.sign_in_timeouts.load());
  add("pchat_sip_sign_ins_throttled_total", "Sign-ins refused unchecked: too many failures for the user or address.",
      sip.sign_ins_throttled.load());
  add("pchat_sip_accept_pauses_total", "Times the SIP listeners stopped accepting because descriptors ran short.",
      sip.accept_pauses.load());
  auto gauge = [&](const char* name, const char* help, std::int64_t v) {
    text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " "
            + std::to_string(v) + "\n";
  };
  gauge("pchat_sip_outbound_pending", "INFOs to clients queued or awaiting their 200.", sip.outbound_pending.load());
  gauge("pchat_sip_connections", "Client TCP connections open (that sent a valid request).", sip.connections.load());
  gauge("pchat_sip_accept_paused", "1 while the SIP listeners do not accept: descriptors are short.",
        sip.accept_paused.load());
  gauge("pchat_open_descriptors", "Descriptors open in pchatd (checked every second).", sip.open_descriptors.load());
  return text;
}

// The compliance service's counters (docs/compliance.md), asked of its actor; nothing when compliance is off or
// it does not answer within a second (then the rest of the metrics still go out).
std::string render_compliance(caf::actor_system& sys, const pchat::compliance_actor& compliance) {
  if (!compliance)
    return {};
  std::string text;
  caf::scoped_actor self{sys};
  self->request(compliance, std::chrono::seconds(1), pchat::stats_atom::value)
    .receive(
      [&](const pchat::compliance_stats& cs) {
        auto add = [&](const char* name, const char* type, const char* help, std::uint64_t v) {
          text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
                  std::to_string(v) + "\n";
        };
        add("pchat_compliance_events_total", "counter", "Events handed to the compliance service.", cs.recorded);
        add("pchat_compliance_durable_total", "counter", "Events written to the durable queue.", cs.durable);
        add("pchat_compliance_archived_total", "counter", "Events the adapter wrote out.", cs.archived);
        add("pchat_compliance_batches_total", "counter", "Adapter batches written.", cs.batches);
        add("pchat_compliance_adapter_failures_total", "counter", "Failed adapter runs (each retried).",
            cs.adapter_failures);
        add("pchat_compliance_store_failures_total", "counter", "Failed queue writes.", cs.store_failures);
        add("pchat_compliance_refused_total", "counter", "Posts refused because they could not be archived.",
            cs.refused);
        add("pchat_compliance_dropped_total", "counter", "Events lost while the queue could not be written.",
            cs.dropped);
        add("pchat_compliance_pending", "gauge", "Events queued, not yet written by the adapter.", cs.pending);
        add("pchat_compliance_held", "gauge", "Events held in memory, not yet in the queue.", cs.held);
        add("pchat_compliance_degraded", "gauge", "1 while events wait in memory for the queue.", cs.degraded);
      },
      [](const caf::error&) {});
  return text;
}

void write_stats(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fclose(f) == 0 && ok;
    if (ok)
      std::rename(tmp.c_str(), path.c_str());
  }
}

} // namespace

int main(int argc, char** argv) {
  using namespace pchat;
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--version") {
      std::cout << "pchatd " << pchat::version() << "\n";
      return 0;
    }
  pchatd_config cfg;
  std::vector<char*> args(argv, argv + argc);
  std::vector<bool_override> overrides;
  std::string arg_error;
  if (!take_bool_options(cfg, args, overrides, arg_error)) {
    std::cerr << "pchatd: bad configuration: " << arg_error << "\n";
    return 2;
  }
  if (auto err = cfg.parse(static_cast<int>(args.size()), args.data(), "pchatd.ini")) {
    std::cerr << "pchatd: bad configuration: " << cfg.render(err) << "\n";
    return 2;
  }
  for (const auto& o : overrides)
    *o.target = o.value;
  if (cfg.cli_helptext_printed)
    return 0;
  log::level lvl;
  if (!log::parse_level(cfg.log_level, lvl)) {
    std::cerr << "pchatd: unknown log level " << cfg.log_level << "\n";
    return 2;
  }
  log::set_level(lvl);
  if (cfg.sip_port == 0 || cfg.sip_port > 65535) {
    std::cerr << "pchatd: sip.port must be 1..65535\n";
    return 2;
  }
  if (cfg.sip_threads != 1) {
    // Several threads need several nta agents sharing the listening port; Sofia-SIP 1.12.11's tport binds
    // without SO_REUSEPORT and cannot hand a connection to another thread (docs/dependencies.md §3).
    std::cerr << "pchatd: sip.threads=" << cfg.sip_threads << ": this pchatd runs one SIP thread (Sofia-SIP 1.12.11 "
              << "cannot share the listening port between threads; docs/architecture.md \"The SIP edge\")\n";
    return 2;
  }

  // SIGINT/SIGTERM are taken by sigwait() below; block them before any thread exists so none inherits them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // One descriptor per client connection: 20,000 sessions need far more than the usual soft limit of 1,024.
  // A privileged pchatd may raise the hard limit too; anyone may raise the soft limit up to the hard one.
  rlimit files{};
  if (cfg.max_open_files > 0 && getrlimit(RLIMIT_NOFILE, &files) == 0) {
    // An admin's (or a test's) lower limit: the SIP listeners pause before it is reached (docs/security.md).
    files.rlim_cur = std::min<rlim_t>(std::max<size_t>(cfg.max_open_files, 64), files.rlim_max);
    setrlimit(RLIMIT_NOFILE, &files);
  } else if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    rlimit wanted{std::max<rlim_t>(files.rlim_max, 1 << 17), std::max<rlim_t>(files.rlim_max, 1 << 17)};
    if (setrlimit(RLIMIT_NOFILE, &wanted) != 0 && files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      setrlimit(RLIMIT_NOFILE, &files);
    }
  }

  std::unique_ptr<storage::store> opened;
  auto st = storage::store::open(cfg.data_dir, {}, opened);
  if (!st.ok()) {
    std::cerr << "pchatd: cannot open data directory " << cfg.data_dir << ": " << st.message << "\n";
    return st.code == storage::errc::busy ? 3 : 1;
  }
  std::shared_ptr<storage::store> db = std::move(opened);

  server_options opts;
  opts.domain = cfg.domain;
  opts.service_uri = cfg.service_uri.empty() ? "sip:pchat@" + cfg.domain : cfg.service_uri;
  opts.search_limit = static_cast<std::uint32_t>(cfg.search_limit);
  opts.message_size_limit = static_cast<std::uint32_t>(cfg.message_size_limit);
  opts.story_size_limit = static_cast<std::uint32_t>(cfg.story_size_limit);
  opts.history_cache = static_cast<std::uint32_t>(cfg.history_cache);
  opts.participant_update_limit = static_cast<std::uint32_t>(cfg.participant_update_limit);
  opts.live = std::make_shared<metrics>();
  opts.root_uri = "ma-cat://" + cfg.domain + "/" + db->root_guid();
  opts.db_version = db->db_version();

  sip::sip_options sopts;
  sopts.host = cfg.sip_host;
  sopts.port = static_cast<std::uint16_t>(cfg.sip_port);
  sopts.udp = cfg.sip_udp;
  sopts.tcp = cfg.sip_tcp;
  sopts.domain = cfg.domain;
  sopts.service_uri = opts.service_uri;
  sopts.persistent_chat_enabled = cfg.persistent_chat;
  sopts.register_expires = static_cast<std::uint32_t>(cfg.register_expires);
  sopts.session_expires = static_cast<std::uint32_t>(cfg.session_expires);
  sopts.max_body = cfg.max_body;
  sopts.max_pending = static_cast<std::int64_t>(cfg.max_pending);
  sopts.max_outbound = static_cast<std::int64_t>(cfg.max_outbound);
  sopts.max_connection_pending = static_cast<std::int64_t>(cfg.max_connection_pending);
  sopts.max_connection_bytes = static_cast<std::int64_t>(cfg.max_connection_bytes);
  sopts.request_timeout_ms = static_cast<std::uint32_t>(cfg.request_timeout * 1000);
  sopts.nonce_lifetime = static_cast<std::uint32_t>(cfg.nonce_lifetime);
  sopts.max_connections_per_address = static_cast<int>(std::clamp<size_t>(cfg.max_connections_per_address, 1, 1 << 20));
  sopts.sign_in_timeout_ms = static_cast<std::uint32_t>(std::clamp<size_t>(cfg.sign_in_timeout, 1, 86400) * 1000);
  // Clients learn the room-management page from provisioning. With web.port=0 the port is known only once bound,
  // so then, and for a wildcard listener, only an explicit web.public-url is provisioned.
  bool web_wildcard = cfg.web_host == "0.0.0.0" || cfg.web_host == "::" || cfg.web_host == "[::]";
  if (cfg.web && !cfg.web_public_url.empty())
    sopts.web_manager_uri = cfg.web_public_url;
  else if (cfg.web && cfg.web_port != 0 && !web_wildcard)
    sopts.web_manager_uri = "http://" +
                            (cfg.web_host.find(':') != std::string::npos && cfg.web_host.front() != '['
                               ? "[" + cfg.web_host + "]"
                               : cfg.web_host) +
                            ":" + std::to_string(cfg.web_port) + "/";
  if (auto mode = sip::parse_auth_mode(cfg.sip_auth, cfg.sip_host)) {
    sopts.auth = *mode;
  } else {
    std::cerr << "pchatd: sip.auth must be digest, ntlm, anonymous, known or auto, not " << cfg.sip_auth << "\n";
    return 2;
  }
  if (sopts.auth == sip::auth_mode::ntlm) {
    if (std::string why; !sip::ntlm::available(why)) {
      std::cerr << "pchatd: sip.auth=ntlm: " << why << "\n";
      return 2;
    }
    sopts.ntlm_target = cfg.ntlm_target.empty() ? cfg.domain : cfg.ntlm_target;
  }
  // TLS (docs/security.md "TLS"): the certificate is checked here, once, for both listeners.
  std::optional<tls::certificate_info> cert;
  if (!cfg.tls_certificate.empty() || !cfg.tls_key.empty()) {
    if (cfg.tls_certificate.empty() || cfg.tls_key.empty()) {
      std::cerr << "pchatd: tls.certificate and tls.key go together\n";
      return 2;
    }
    auto loaded = tls::load(cfg.tls_certificate, cfg.tls_key);
    if (!loaded.ok) {
      std::cerr << "pchatd: " << loaded.error << "\n";
      return 2;
    }
    cert = std::move(loaded.info);
    if (cfg.sip_tls_port > 65535 || cfg.sip_tls_port == cfg.sip_port) {
      std::cerr << "pchatd: sip.tls-port must be 0..65535 and not sip.port\n";
      return 2;
    }
    if (cfg.sip_tls_port != 0) {
      sopts.tls_port = static_cast<std::uint16_t>(cfg.sip_tls_port);
      sopts.tls_certificate_pem = cert->certificate_pem;
      sopts.tls_key_pem = cert->key_pem;
      sopts.tls_dir = cfg.data_dir + "/tls";
    }
  }
  if (cfg.sip_plaintext_auth == "auto") {
    sopts.plaintext_auth = sip::is_loopback_host(cfg.sip_host);
  } else if (cfg.sip_plaintext_auth == "true" || cfg.sip_plaintext_auth == "false") {
    sopts.plaintext_auth = cfg.sip_plaintext_auth == "true";
  } else {
    std::cerr << "pchatd: sip.plaintext-auth must be true, false or auto, not " << cfg.sip_plaintext_auth << "\n";
    return 2;
  }
  if (sip::takes_passwords(sopts.auth) && !sopts.plaintext_auth && sopts.tls_port == 0) {
    std::cerr << "pchatd: sip.auth=" << sip::to_string(sopts.auth) << " on " << cfg.sip_host << " would take passwords only over TLS, and there is "
              << "no TLS listener: set tls.certificate and tls.key (try pchatctl cert self-signed), or allow "
              << "sign-ins over plain TCP/UDP with sip.plaintext-auth=true (docs/security.md)\n";
    return 2;
  }
  log::line(log::level::info, "pchatd")
    << "sip.auth=" << cfg.sip_auth << ": " << sip::to_string(sopts.auth)
    << (sopts.auth == sip::auth_mode::digest ? " (SIP Digest against pchatctl's users, realm " + cfg.domain + ")"
        : sopts.auth == sip::auth_mode::ntlm ? " (NTLM with signed messages on connections, for pidgin-sipe, and SIP "
                                               "Digest, realm " + cfg.domain + ", against pchatctl's users)"
        : sopts.auth == sip::auth_mode::known ? " (no password; only enabled pchatctl users may sign in)"
                                              : " (clients are who their From header says: loopback and tests only)");

  // Signing in to the web page without a password is for a page nobody else can reach: sip.auth=auto decides
  // from sip.host, so a web listener on another address, or one published behind a proxy, must not inherit it.
  if (cfg.web && !sip::takes_passwords(sopts.auth) &&
      (!sip::is_loopback_host(cfg.web_host) || !cfg.web_public_url.empty())) {
    std::cerr << "pchatd: web sign-in would need no password (sip.auth is " << sip::to_string(sopts.auth)
              << ") but the page is reachable from elsewhere (web.host " << cfg.web_host
              << (cfg.web_public_url.empty() ? "" : ", web.public-url " + cfg.web_public_url)
              << "): use sip.auth=digest, keep web.host on loopback without web.public-url, or set "
                 "web.enabled=false\n";
    return 2;
  }
  auto load = std::make_shared<load_gauge>(0);
  int rc = 0;
  {
    caf::actor_system sys{cfg};
    sip::sip_stack server{sopts, load, opts.live, db};
    if (cfg.compliance) {
      compliance::compliance_options co;
      co.enabled = true;
      co.dir = cfg.compliance_dir.empty() ? cfg.data_dir + "/compliance" : cfg.compliance_dir;
      co.output_dir = cfg.compliance_output.empty() ? cfg.data_dir + "/compliance-output" : cfg.compliance_output;
      co.run_interval = std::chrono::seconds(std::max<size_t>(1, cfg.compliance_run_interval));
      co.one_room_per_file = cfg.compliance_one_room_per_file;
      co.add_room_details = cfg.compliance_room_details;
      co.add_user_details = cfg.compliance_user_details;
      co.batch_max = std::max<size_t>(1, cfg.compliance_batch_max);
      auto policy = compliance::policy_from_string(cfg.compliance_on_store_failure);
      if (!policy) {
        std::cerr << "pchatd: compliance.on-store-failure must be refuse or queue\n";
        return 2;
      }
      co.on_store_failure = *policy;
      auto cst = start_compliance(sys, co, opts.compliance);
      if (!cst.ok()) {
        std::cerr << "pchatd: cannot start compliance in " << co.dir << ": " << cst.message << "\n";
        return cst.code == storage::errc::busy ? 3 : 1;
      }
      log::line(log::level::info, "pchatd") << "compliance on: queue " << co.dir << ", XML to " << co.output_dir
                                            << " every " << co.run_interval.count() / 1000 << " s, on store failure "
                                            << compliance::to_string(co.on_store_failure);
    }
    if (cfg.web) {
      // Room files (docs/protocol.md "Room files"): content under web.files-dir, tokens from the directory.
      auto room_files = std::make_shared<file_service>();
      const auto files_dir = cfg.web_files_dir.empty() ? cfg.data_dir + "/files" : cfg.web_files_dir;
      std::unique_ptr<storage::file_store> blobs;
      if (auto fst = storage::file_store::open(files_dir, blobs); !fst.ok()) {
        std::cerr << "pchatd: cannot use web.files-dir " << files_dir << ": " << fst.message << "\n";
        return 1;
      }
      room_files->blobs = std::move(blobs);
      // Clamped so that no sum or time computed from them can overflow.
      room_files->max_upload = std::min<std::uint64_t>(cfg.web_max_upload, 1ull << 40);
      room_files->token_ttl = std::chrono::seconds(std::min<size_t>(cfg.web_file_token_ttl, 7 * 24 * 3600));
      room_files->min_free = std::min<std::uint64_t>(cfg.web_min_free_mb, 1ull << 30) << 20;
      if (cfg.compliance) // the compliance file store: a copy of every upload (docs/compliance.md)
        room_files->compliance_copies = (cfg.compliance_dir.empty() ? cfg.data_dir + "/compliance" : cfg.compliance_dir) +
                                   "/files";
      opts.files = std::move(room_files);
    }
    auto writer = spawn_store_writer(sys, db, true, cfg.sync_writes);
    auto dir = sys.spawn(directory, db, writer, opts);
    auto ing = sys.spawn(sip::ingress, &server, dir, opts, load);
    // pchatctl's changes while we run: its commands arrive on <data-dir>/pchatd.sock and go to the directory.
    auto admin_ops = admin::actor_operations(sys, dir);
    admin::socket_server admin_socket;
    std::string error;
    if (!admin_socket.start(
          cfg.data_dir + "/pchatd.sock",
          [&](const std::vector<std::string>& words) {
            return admin::run(words, {*db, *admin_ops, cfg.data_dir, opts.domain});
          }, error))
      log::line(log::level::warning, "pchatd") << "no admin socket, pchatctl cannot change a running server: "
                                               << error;
    std::unique_ptr<web::web_server> www;
    if (cfg.web) {
      web::web_options wo;
      wo.host = cfg.web_host;
      wo.port = static_cast<std::uint16_t>(cfg.web_port);
      wo.public_url = cfg.web_public_url;
      if (cert && cfg.web_tls) { // the same certificate as SIP over TLS
        wo.tls_certificate_pem = cert->certificate_pem;
        wo.tls_key_pem = cert->key_pem;
      }
      wo.plaintext = cfg.sip_plaintext_auth == "true"    ? web::plaintext_passwords::allowed
                     : cfg.sip_plaintext_auth == "false" ? web::plaintext_passwords::refused
                                                         : web::plaintext_passwords::loopback;
      wo.sign_in = sip::takes_passwords(sopts.auth) ? web::sign_in_mode::password
                   : sopts.auth == sip::auth_mode::known ? web::sign_in_mode::known
                                                         : web::sign_in_mode::anonymous;
      wo.realm = cfg.domain;
      wo.domain = cfg.domain;
      wo.threads = std::max<size_t>(1, cfg.web_threads);
      wo.header_timeout = std::chrono::seconds(std::max<size_t>(1, cfg.web_header_timeout));
      wo.max_connections_per_address = std::max<size_t>(1, cfg.web_max_connections_per_address);
      wo.session_ttl = std::chrono::seconds(std::max<size_t>(60, cfg.web_session_ttl));
      wo.static_dir = cfg.web_static_dir;
      wo.files = opts.files;
      wo.compliance = opts.compliance;
      wo.metrics_text = [live = opts.live, &server, &sys, compliance = opts.compliance] {
        return render_stats(*live, server.counters()) + render_compliance(sys, compliance);
      };
      www = std::make_unique<web::web_server>(sys, dir, db, wo);
    }
    dir = nullptr;
    if (cfg.web_port > 65535) {
      std::cerr << "pchatd: web.port must be 0..65535\n";
      rc = 2;
    } else if (www && !www->start(error)) {
      std::cerr << "pchatd: " << error << "\n";
      rc = 1;
    } else if (!server.start(ing, error)) {
      std::cerr << "pchatd: " << error << "\n";
      rc = 1;
    } else {
      std::cout << "pchatd ready sip=" << sopts.host << ":" << sopts.port << " domain=" << opts.domain
                << " service=" << opts.service_uri << " data=" << cfg.data_dir
                << " auth=" << sip::to_string(sopts.auth) << (www ? " web=" + www->public_url() : std::string{})
                << std::endl;
      // Until a stop signal: once a second, the live metrics go to <data-dir>/pchatd.stats (Prometheus text,
      // written to a temporary file and renamed, so readers never see half a file). `pchatctl stats` prints it.
      const std::string stats_path = cfg.data_dir + "/pchatd.stats";
      int sig = -1;
      while (sig < 0) {
        write_stats(stats_path, render_stats(*opts.live, server.counters()) + render_compliance(sys, opts.compliance) +
                                  (www ? www->metrics_text() : std::string{}));
        timespec second{1, 0};
        sig = sigtimedwait(&stop_signals, nullptr, &second);
      }
      write_stats(stats_path, render_stats(*opts.live, server.counters()) + render_compliance(sys, opts.compliance) +
                                (www ? www->metrics_text() : std::string{}));
      log::line(log::level::info, "pchatd") << "signal " << sig << ": shutting down";
      admin_socket.stop();
      if (www)
        www->stop();
      server.stop();
    }
    if (www)
      www->stop();
    admin_socket.stop();
    admin_ops.reset();
    caf::anon_send_exit(ing, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    if (opts.compliance) {
      // Everything archived so far goes to the adapter before we stop (a failure leaves it queued for next time).
      caf::scoped_actor self{sys};
      self->request(opts.compliance, std::chrono::seconds(30), drain_atom::value)
        .receive([](const compliance_stats& cs) {
                   log::line(log::level::info, "pchatd") << "compliance drained: archived=" << cs.archived
                                                         << " pending=" << cs.pending;
                 },
                 [&](const caf::error& err) {
                   log::line(log::level::error, "pchatd") << "compliance drain failed: " << sys.render(err);
                 });
      caf::anon_send_exit(opts.compliance, caf::exit_reason::user_shutdown);
      opts.compliance = nullptr;
    }
    sys.await_actors_before_shutdown(false);
  }
  log::line(log::level::info, "pchatd") << "stopped";
  return rc;
}
