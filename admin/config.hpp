#pragma once
// pchatd's configuration (docs/operations.md "Configuration"): every option, its default and its help text, and
// the reader of the INI file and the command line. pchatd starts from it and pchatctl reads the same file, so the
// data directory, the domain and the run directory are said once. Unlike CAF's own reader, a key that names no
// option, a value of the wrong type or a key set twice is an error naming the file and line: a typo never goes
// unnoticed.
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

namespace pchat::admin {

struct server_config : caf::actor_system_config {
  std::string data_dir = "./var/data";
  std::string run_dir; // the admin socket and pchatd.stats (default: the data directory)
  std::string log_level = "info";
  std::string log_format = "auto";
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
  size_t retention_interval = 3600; // seconds between retention passes; 0: none
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
  size_t web_chat_tabs = 16;
  size_t web_chat_max_tabs = 20000;
  size_t web_chat_replay = 512;
  size_t web_chat_grace = 60;


  server_config();

  // The options, CAF's own (scheduler.*, work-stealing.*, logger.*, ...) included.
  const caf::config_option_set& options() const { return custom_options_; }
};

// How pchatd or pchatctl found its configuration.
struct load_result {
  bool ok = false;
  bool help = false;           // --help was asked for: the caller prints help_text() and exits 0
  std::string file;            // the INI file read ("" when none)
  std::vector<std::string> errors; // "pchatd.ini:12: unknown option sip.prot", ...
};

// Reads `file` (when not empty; an unreadable file is an error) and then `args`, pchatd's command-line options
// (--section.key=value; a bool option alone means true; --config-file=F and --config=F are taken out by
// config_file_argument() first), checking every key and value, and hands the result to CAF.
load_result load(server_config& cfg, const std::string& file, const std::vector<std::string>& args);

// The INI file named on the command line (--config-file=F, --config-file F, --config=F), removed from `args`;
// "" when none.
std::string config_file_argument(std::vector<std::string>& args);

// The options as help text: --section.key=TYPE (default) and what it does.
std::string help_text();

} // namespace pchat::admin
