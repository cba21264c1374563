// pchatd: the Persistent Chat server. One process: Sofia-SIP on its own thread, CAF actors on the scheduler
// threads, RocksDB under the data directory. See README.md and tools/pchatd.ini (the commented default config).
#include <pthread.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sys/statvfs.h>
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
#include "actors/retention.hpp"
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
#include "admin/config.hpp"
#include "web/web_server.hpp"

namespace {

using pchatd_config = pchat::admin::server_config;

// Bytes of the regular files in `dir` (and below it when `recursive`); 0 when it does not exist.
std::uint64_t directory_bytes(const std::string& dir, bool recursive) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::uint64_t total = 0;
  auto add = [&](const fs::directory_entry& e) {
    std::error_code fec;
    if (e.is_regular_file(fec))
      total += e.file_size(fec);
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      add(*it);
  } else {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      add(*it);
  }
  return total;
}

// The disks pchatd writes: the store's size (RocksDB keeps its files flat in the data directory), the room files'
// (walked at most once a minute: there may be many) and the free space under both.
struct disk_usage {
  std::string data_dir;
  std::string files_dir;
  std::uint64_t files_bytes = 0;
  std::chrono::steady_clock::time_point files_checked{};

  void render(pchat::prometheus_text& out) {
    out.gauge("pchat_store_bytes", "Bytes of the store's files in the data directory.",
              static_cast<double>(directory_bytes(data_dir, false)));
    auto now = std::chrono::steady_clock::now();
    if (files_checked == std::chrono::steady_clock::time_point{} || now - files_checked > std::chrono::minutes(1)) {
      files_bytes = directory_bytes(files_dir, true);
      files_checked = now;
    }
    out.gauge("pchat_file_store_bytes", "Bytes of room file content (checked once a minute).",
              static_cast<double>(files_bytes));
    out.family("pchat_disk_free_bytes", "gauge", "Bytes free to pchatd on the file system of each directory.");
    for (const auto& [what, dir] : {std::pair{"data", data_dir}, std::pair{"files", files_dir}}) {
      struct statvfs vfs {};
      if (::statvfs(dir.c_str(), &vfs) == 0)
        out.sample("pchat_disk_free_bytes", std::string{"dir=\""} + what + "\"",
                   static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize));
    }
  }
};

// The actors' and the SIP thread's counters, the build, the process and the disks: pchatd.stats and /metrics.
void render_stats(pchat::prometheus_text& out, const pchat::metrics& live, const pchat::sip::sip_counters& sip) {
  pchat::render_prometheus(live, out);
  out.family("pchat_build_info", "gauge", "The pchatd version running (always 1).");
  out.sample("pchat_build_info", "version=\"" + pchat::prometheus_text::label_value(pchat::version()) + "\"", 1);
  auto add = [&](const char* name, const char* help, std::uint64_t v) {
    out.counter(name, help, static_cast<double>(v));
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
    out.gauge(name, help, static_cast<double>(v));
  };
  gauge("pchat_sip_outbound_pending", "INFOs to clients queued or awaiting their 200.", sip.outbound_pending.load());
  gauge("pchat_sip_connections", "Client TCP connections open (that sent a valid request).", sip.connections.load());
  gauge("pchat_sip_accept_paused", "1 while the SIP listeners do not accept: descriptors are short.",
        sip.accept_paused.load());
  pchat::render_process(out);
}

// The compliance service's counters (docs/compliance.md), asked of its actor; nothing when compliance is off or
// it does not answer within a second (then the rest of the metrics still go out).
void render_compliance(pchat::prometheus_text& out, caf::actor_system& sys, const pchat::compliance_actor& compliance) {
  if (!compliance)
    return;
  caf::scoped_actor self{sys};
  self->request(compliance, std::chrono::seconds(1), pchat::stats_atom::value)
    .receive(
      [&](const pchat::compliance_stats& cs) {
        auto add = [&](const char* name, const char* type, const char* help, std::uint64_t v) {
          out.family(name, type, help);
          out.sample(name, {}, static_cast<double>(v));
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
  std::vector<std::string> args(argv + 1, argv + argc);
  auto config_file = admin::config_file_argument(args);
  if (config_file.empty() && access("pchatd.ini", F_OK) == 0)
    config_file = "pchatd.ini";
  pchatd_config cfg;
  auto configured = admin::load(cfg, config_file, args);
  if (configured.help) {
    std::cout << admin::help_text();
    return 0;
  }
  if (!configured.ok) {
    for (const auto& e : configured.errors)
      std::cerr << "pchatd: " << e << "\n";
    std::cerr << "pchatd: bad configuration: not started (pchatd --help lists the options)\n";
    return 2;
  }
  log::level lvl;
  log::format fmt;
  if (!log::parse_format(cfg.log_format, fmt)) {
    std::cerr << "pchatd: pchat.log-format=" << cfg.log_format << ": expected text, json or auto\n";
    return 2;
  }
  log::set_format(fmt);
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

  // The store is made by `pchatctl init`, never here: a mistyped data-dir must not start an empty server.
  std::unique_ptr<storage::store> opened;
  storage::open_options existing;
  existing.create_if_missing = false;
  auto st = storage::store::open(cfg.data_dir, existing, opened);
  if (st.code == storage::errc::not_found) {
    std::cerr << "pchatd: " << cfg.data_dir << " holds no pchat store: create one with `pchatctl init`"
              << (configured.file.empty() ? "" : " --config " + configured.file) << " (or fix pchat.data-dir)\n";
    return 2;
  }
  if (!st.ok()) {
    std::cerr << "pchatd: cannot open data directory " << cfg.data_dir << ": " << st.message << "\n";
    return st.code == storage::errc::busy ? 3 : 1;
  }
  // The admin socket and the stats file: pchat.run-dir (a RuntimeDirectory under systemd) or the data directory.
  const std::string run_dir = cfg.run_dir.empty() ? cfg.data_dir : cfg.run_dir;
  if (std::error_code ec; !std::filesystem::create_directories(run_dir, ec) && ec) {
    std::cerr << "pchatd: cannot create pchat.run-dir " << run_dir << ": " << ec.message() << "\n";
    return 2;
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
    std::shared_ptr<compliance::queue> compliance_queue; // shared with the backup (admin socket)
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
      auto cst = start_compliance(sys, co, opts.compliance, &compliance_queue);
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
    // Every metric, in one Prometheus text: pchatd.stats each second and the web's /metrics (which adds its
    // listener's own). The disk sampler is shared by both callers, hence the mutex.
    disk_usage disks{cfg.data_dir, cfg.web_files_dir.empty() ? cfg.data_dir + "/files" : cfg.web_files_dir};
    std::mutex disks_mutex;
    std::function<std::string()> all_metrics = [&, live = opts.live, compliance = opts.compliance] {
      prometheus_text out;
      render_stats(out, *live, server.counters());
      render_compliance(out, sys, compliance);
      {
        std::lock_guard<std::mutex> lock{disks_mutex};
        disks.render(out);
      }
      return out.take();
    };
    auto writer = spawn_store_writer(sys, db, true, cfg.sync_writes);
    auto dir = sys.spawn(directory, db, writer, opts);
    auto ing = sys.spawn(sip::ingress, &server, dir, opts, load);
    // Retention rules (pchatctl room/category set --keep-days/--keep-posts), applied in the background.
    auto keeper = sys.spawn(retention, db, dir, std::chrono::seconds(cfg.retention_interval),
                            std::chrono::seconds(std::min<size_t>(cfg.retention_interval, 10)));
    // pchatctl's changes while we run: its commands arrive on <run-dir>/pchatd.sock and go to the directory.
    auto admin_ops = admin::actor_operations(sys, dir);
    admin::socket_server admin_socket;
    std::string error;
    if (!admin_socket.start(
          run_dir + "/pchatd.sock",
          [&](const std::vector<std::string>& words) {
            return admin::run(words, {*db, *admin_ops, cfg.data_dir, opts.domain, cfg.web_files_dir,
                                      cfg.compliance_dir, compliance_queue});
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
      wo.metrics_text = all_metrics;
      wo.chat = opts; // browser tabs get sessions with the same settings as SIP dialogs
      wo.chat_limit.tabs_per_user = std::max<size_t>(1, cfg.web_chat_tabs);
      wo.chat_limit.max_tabs = std::max<size_t>(1, cfg.web_chat_max_tabs);
      wo.chat_limit.replay = std::clamp<size_t>(cfg.web_chat_replay, 1, 1000000);
      wo.chat_limit.grace = std::chrono::seconds(std::clamp<size_t>(cfg.web_chat_grace, 1, 7 * 24 * 3600));
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
      // Until a stop signal: once a second, the live metrics go to <run-dir>/pchatd.stats (Prometheus text,
      // written to a temporary file and renamed, so readers never see half a file). `pchatctl stats` prints it.
      const std::string stats_path = run_dir + "/pchatd.stats";
      int sig = -1;
      while (sig < 0) {
        write_stats(stats_path, all_metrics() + (www ? www->metrics_text() : std::string{}));
        timespec second{1, 0};
        sig = sigtimedwait(&stop_signals, nullptr, &second);
      }
      write_stats(stats_path, all_metrics() + (www ? www->metrics_text() : std::string{}));
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
    caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
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
