#include "admin/config.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "actors/protocol.hpp"

namespace pchat::admin {

server_config::server_config() {
  pchat::register_types(*this);
  // A CAF 0.17 worker with nothing to do polls 100 times, then 500 times with a 50 µs nanosleep before it
  // blocks on its condition variable: at 10 posts/s that idle polling cost as much CPU as a third of the SIP
  // edge (docs/performance.md "After the SIP edge rebuild"). Ten moderate polls keep the wake-up fast and
  // let idle workers block. Still overridable with --work-stealing.moderate-poll-attempts.
  set("work-stealing.moderate-poll-attempts", size_t{10});
  opt_group{custom_options_, "pchat"}
    .add(data_dir, "data-dir", "the data directory (made by pchatctl init)")
    .add(run_dir, "run-dir", "where the admin socket pchatd.sock and pchatd.stats go (default: the data directory)")
    .add(log_level, "log-level", "error, warning, info or debug")
    .add(log_format, "log-format", "text, json, or auto (text; under systemd's journal without the time, with priorities)")
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
    .add(sync_writes, "sync-writes", "fsync the WAL before a post is acknowledged (keep on)")
    .add(retention_interval, "retention-interval",
         "seconds between passes applying the rooms' retention rules (0: never)");
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
    .add(web, "enabled", "serve chat in the browser, room management, room files, /metrics and /healthz over HTTP")
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
    .add(web_min_free_mb, "min-free-mb", "MiB uploads leave free on the files' disk (history needs room too)")
    .add(web_chat_tabs, "chat-tabs", "browser chat tabs (each one event stream) one user may have open")
    .add(web_chat_max_tabs, "chat-max-tabs", "browser chat tabs open in all")
    .add(web_chat_replay, "chat-replay", "events a chat tab keeps for a reconnecting stream (Last-Event-ID)")
    .add(web_chat_grace, "chat-grace", "seconds a chat tab lives without an event stream before its session ends");
}

namespace {

std::string str(caf::string_view v) {
  return {v.data(), v.size()};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// What a value of this option must look like, in words.
std::string expected_form(const caf::config_option& o) {
  std::string t = str(o.type_name());
  if (t == "bool" || t == "boolean")
    return "true or false";
  if (t.find("string") != std::string::npos)
    return "a string";
  if (t.find("uint") != std::string::npos || t.find("unsigned") != std::string::npos || t == "size_t")
    return "a whole number, 0 or more";
  if (t.find("int") != std::string::npos)
    return "a whole number";
  if (t.find("double") != std::string::npos || t.find("float") != std::string::npos)
    return "a number";
  if (t.find("timespan") != std::string::npos)
    return "a duration such as 100ms or 5s";
  return t;
}

std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string full_name(const caf::config_option& o) {
  return str(o.category()) + "." + str(o.long_name());
}

// " (did you mean sip.port?)" when one option's name is close to what was written.
std::string suggestion(const caf::config_option_set& options, const std::string& written) {
  const caf::config_option* best = nullptr;
  std::size_t best_d = 3;
  for (const auto& o : options) {
    auto d = distance(written, full_name(o));
    if (d < best_d) {
      best_d = d;
      best = &o;
    }
  }
  return best ? " (did you mean " + full_name(*best) + "?)" : "";
}

struct setting {
  const caf::config_option* option;
  caf::config_value value;
  std::string where; // "pchatd.ini:12" or "the command line"
};

class reader {
public:
  explicit reader(const caf::config_option_set& options) : options_(options) {
    for (const auto& o : options)
      categories_.insert(str(o.category()));
  }

  void set(const std::string& category, const std::string& key, std::string_view text, const std::string& where,
           bool from_file) {
    const auto* o = options_.qualified_name_lookup(category, key);
    if (!o) {
      errors_.push_back(where + ": unknown option " + category + "." + key +
                        suggestion(options_, category + "." + key));
      return;
    }
    auto value = o->parse(text);
    if (!value) {
      errors_.push_back(where + ": " + full_name(*o) + "=" + std::string{text} + ": expected " + expected_form(*o));
      return;
    }
    auto name = full_name(*o);
    auto known = settings_.find(name);
    if (known != settings_.end() && from_file && known->second.where.rfind("the command line", 0) != 0) {
      errors_.push_back(where + ": " + name + " is set twice (first at " + known->second.where + ")");
      return;
    }
    settings_[name] = {o, std::move(*value), where};
  }

  void read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
      errors_.push_back(path + ": cannot read it");
      return;
    }
    std::string line;
    std::string category;
    bool known_category = false;
    for (int n = 1; std::getline(in, line); ++n) {
      auto where = path + ":" + std::to_string(n);
      auto s = trim(line);
      if (s.empty() || s.front() == ';' || s.front() == '#')
        continue;
      if (s.front() == '[') {
        if (s.back() != ']') {
          errors_.push_back(where + ": a section is written [name]");
          known_category = false;
          continue;
        }
        category = std::string{trim(s.substr(1, s.size() - 2))};
        known_category = categories_.count(category) > 0;
        if (!known_category)
          errors_.push_back(where + ": unknown section [" + category + "]");
        continue;
      }
      auto eq = s.find('=');
      if (eq == std::string_view::npos) {
        errors_.push_back(where + ": expected key=value, found \"" + std::string{s} + "\"");
        continue;
      }
      auto key = std::string{trim(s.substr(0, eq))};
      auto value = trim(s.substr(eq + 1));
      if (category.empty()) {
        errors_.push_back(where + ": " + key + " comes before any [section]");
        continue;
      }
      if (!known_category)
        continue; // reported once, at the section
      if (!value.empty() && value.front() == '"') {
        // A quoted string ends at its closing quote; only a comment may follow.
        std::size_t end = 1;
        while (end < value.size() && value[end] != '"')
          end += value[end] == '\\' ? 2 : 1;
        auto rest = end < value.size() ? trim(value.substr(end + 1)) : std::string_view{"\""};
        if (end >= value.size() || (!rest.empty() && rest.front() != ';' && rest.front() != '#')) {
          errors_.push_back(where + ": " + category + "." + key + ": the quoted value does not end well");
          continue;
        }
        value = value.substr(0, end + 1);
      } else {
        // An unquoted value ends where a comment (" ;" or " #") starts.
        for (std::size_t i = 1; i < value.size(); ++i)
          if ((value[i] == ';' || value[i] == '#') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
            value = trim(value.substr(0, i));
            break;
          }
      }
      set(category, key, value, where, true);
    }
  }

  void read_args(const std::vector<std::string>& args, bool& help) {
    for (const auto& arg : args) {
      if (arg == "--help" || arg == "-h") {
        help = true;
        continue;
      }
      auto dot = arg.find('.');
      if (arg.rfind("--", 0) != 0 || dot == std::string::npos) {
        errors_.push_back("the command line: " + arg + ": options are written --section.key=value (--help lists them)");
        continue;
      }
      auto eq = arg.find('=');
      auto name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      dot = name.find('.');
      auto category = name.substr(0, dot);
      auto key = name.substr(dot + 1);
      std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
      if (eq == std::string::npos) {
        // A bool option alone means true; any other needs its value.
        const auto* o = options_.qualified_name_lookup(category, key);
        if (o && o->is_flag())
          value = "true";
        else if (o) {
          errors_.push_back("the command line: " + arg + ": needs a value (" + arg + "=...)");
          continue;
        }
      }
      set(category, key, value, "the command line", false);
    }
  }

  // Every setting as an INI document, for CAF's own reader (which then sees only keys and values it accepts).
  std::string normalized() const {
    std::map<std::string, std::string> sections;
    for (const auto& [name, s] : settings_)
      sections[str(s.option->category())] += str(s.option->long_name()) + "=" + caf::to_string(s.value) + "\n";
    std::string out;
    for (const auto& [category, body] : sections)
      out += "[" + category + "]\n" + body;
    return out;
  }

  std::vector<std::string>& errors() { return errors_; }

private:
  const caf::config_option_set& options_;
  std::set<std::string> categories_;
  std::map<std::string, setting> settings_;
  std::vector<std::string> errors_;
};

} // namespace

std::string config_file_argument(std::vector<std::string>& args) {
  std::string file;
  for (auto it = args.begin(); it != args.end();) {
    const std::string& a = *it;
    if (a.rfind("--config-file=", 0) == 0 || a.rfind("--config=", 0) == 0) {
      file = a.substr(a.find('=') + 1);
      it = args.erase(it);
    } else if ((a == "--config-file" || a == "--config") && it + 1 != args.end()) {
      file = *(it + 1);
      it = args.erase(it, it + 2);
    } else {
      ++it;
    }
  }
  return file;
}

load_result load(server_config& cfg, const std::string& file, const std::vector<std::string>& args) {
  load_result out;
  out.file = file;
  reader r{cfg.options()};
  if (!file.empty())
    r.read_file(file);
  r.read_args(args, out.help);
  out.errors = std::move(r.errors());
  if (!out.errors.empty() || out.help)
    return out;
  std::istringstream ini{r.normalized()};
  if (auto err = cfg.parse(std::vector<std::string>{}, ini)) {
    out.errors.push_back("CAF refused the configuration: " + cfg.render(err));
    return out;
  }
  out.ok = true;
  return out;
}

std::string help_text() {
  server_config cfg;
  std::ostringstream out;
  out << "usage: pchatd [--config-file=FILE] [--section.key=value]...      (pchatd --version: the version)\n"
         "FILE is an INI file of the same settings ([section] then key=value lines; tools/pchatd.ini is the\n"
         "commented default). Without --config-file pchatd reads ./pchatd.ini when there is one. The command line\n"
         "wins over the file. An unknown key or a value of the wrong type stops pchatd with the file and line.\n";
  std::string category;
  for (const char* wanted : {"pchat", "sip", "tls", "compliance", "web", "scheduler"})
    for (const auto& o : cfg.options()) {
      if (str(o.category()) != wanted || (str(o.category()) == "scheduler" && str(o.long_name()) != "max-threads"))
        continue;
      if (category != wanted) {
        category = wanted;
        out << "\n[" << category << "]\n";
      }
      std::string left = "  --" + full_name(o) + "=" + (o.is_flag() ? "true|false" : str(o.type_name()));
      std::string dflt;
      if (auto v = o.get())
        dflt = caf::to_string(*v);
      out << left << "\n      " << str(o.description()) << (dflt.empty() || dflt == "\"\"" ? "" : " (default " + dflt + ")")
          << "\n";
    }
  out << "\nCAF's own options (scheduler.*, work-stealing.*, logger.*) are accepted as well.\n"
         "Exit status: 0 stopped cleanly, 1 failed while running, 2 bad configuration or start-up failure.\n";
  return out.str();
}

} // namespace pchat::admin
