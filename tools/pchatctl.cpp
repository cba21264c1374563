// pchatctl: administration of a pchat data directory, as Lync admins used the PersistentChat cmdlets: categories
// (scope, creators, invitations), rooms (settings, privacy, type, members, managers, presenters), users (SIP
// Digest accounts), persistent chat policy, history, live stats, checks. It reads pchatd's configuration for the
// data directory, domain and run directory (docs/operations.md). With pchatd stopped it opens the store itself;
// while pchatd runs it hands the command to pchatd over <run-dir>/pchatd.sock, so changes apply to the running
// server at once. Only `init` creates a store. The commands: admin/admin.cpp (`pchatctl --help`).
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/version.hpp"
#include "storage/store.hpp"
#include "admin/admin.hpp"
#include "admin/admin_socket.hpp"
#include "admin/backup.hpp"
#include "admin/cert.hpp"
#include "admin/check.hpp"
#include "admin/config.hpp"
#include "admin/export.hpp"

using namespace pchat;

namespace {

int stats(const std::string& run_dir) {
  // pchatd rewrites this file every second (Prometheus text); it needs no access to RocksDB.
  std::string path = run_dir + "/pchatd.stats";
  std::ifstream in(path);
  if (!in) {
    std::cerr << "pchatctl: no " << path << " (is pchatd running with this configuration?)\n";
    return 1;
  }
  std::error_code ec;
  auto age = std::filesystem::file_time_type::clock::now() - std::filesystem::last_write_time(path, ec);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(age).count();
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("# HELP", 0) != 0 && line.rfind("# TYPE", 0) != 0)
      std::cout << line << "\n";
  if (secs > 5)
    std::cout << "(written " << secs << " s ago: pchatd may not be running)\n";
  return 0;
}

// One line of the terminal with echo off (the prompt and the newline go to stderr).
bool read_hidden(const char* prompt, std::string& out) {
  std::cerr << prompt << std::flush;
  termios old{};
  bool restore = tcgetattr(STDIN_FILENO, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  bool ok = static_cast<bool>(std::getline(std::cin, out));
  if (restore)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  std::cerr << "\n";
  return ok;
}

// `user add` and `user passwd` take the password from --password, from the first line of --password-file F, or
// else from the terminal (typed twice, without echo) or, when stdin is not a terminal, from its first line. It is
// resolved here, where the file and the terminal are, and handed on as --password (to pchatd over its 0600
// socket when it runs); the store keeps only digests of it.
bool resolve_password(std::vector<std::string>& args, std::string& error) {
  if (args.size() < 3 || args[0] != "user" || (args[1] != "add" && args[1] != "passwd"))
    return true;
  if (std::find(args.begin(), args.end(), "--password") != args.end())
    return true;
  std::string password;
  auto file = std::find(args.begin(), args.end(), "--password-file");
  if (file != args.end()) {
    if (file + 1 == args.end()) {
      error = "--password-file needs a file";
      return false;
    }
    std::ifstream in(*(file + 1));
    if (!in || !std::getline(in, password)) {
      error = "cannot read a password from " + *(file + 1);
      return false;
    }
    args.erase(file, file + 2);
  } else if (isatty(STDIN_FILENO)) {
    std::string again;
    if (!read_hidden(("Password for " + args[2] + ": ").c_str(), password) || !read_hidden("Again: ", again)) {
      error = "no password typed";
      return false;
    }
    if (again != password) {
      error = "the passwords differ";
      return false;
    }
  } else if (!std::getline(std::cin, password)) {
    error = "no password: give --password or --password-file, or one line on stdin";
    return false;
  }
  if (!password.empty() && password.back() == '\r')
    password.pop_back();
  if (password.empty()) {
    error = "the password is empty";
    return false;
  }
  args.push_back("--password");
  args.push_back(password);
  return true;
}

int print(const admin::result& r) {
  std::cout << r.out;
  std::cerr << r.err;
  return r.code;
}

} // namespace

// Where pchatctl works: the data directory, the domain and pchatd's run directory, from pchatd's configuration
// file unless given on the command line.
struct place {
  std::string config_file;
  std::string data = "./var/data";
  std::string domain = "example.com";
  std::string run_dir;
  admin::server_config cfg;
};

// export [--rooms A,B] [--no-history] FILE: read-only, so it works beside a running pchatd (the data as of now).
// import FILE: into a store no pchatd holds (made by init), never through the admin socket.
int export_or_import(const place& at, const std::vector<std::string>& args) {
  const bool exporting = args[0] == "export";
  admin::export_options eo;
  std::string file;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (exporting && args[i] == "--rooms" && i + 1 < args.size()) {
      std::stringstream list(args[++i]);
      for (std::string ref; std::getline(list, ref, ',');)
        if (!ref.empty())
          eo.rooms.push_back(ref);
    } else if (exporting && args[i] == "--no-history") {
      eo.history = false;
    } else if (file.empty() && (args[i] == "-" || args[i].rfind("--", 0) != 0)) {
      file = args[i];
    } else {
      std::cerr << "pchatctl: " << args[0] << ": unexpected " << args[i] << "\n" << admin::usage();
      return 2;
    }
  }
  if (file.empty()) {
    std::cerr << "pchatctl: " << args[0] << " needs a FILE (- for " << (exporting ? "stdout" : "stdin") << ")\n";
    return 2;
  }
  std::unique_ptr<storage::store> db;
  storage::open_options oo;
  oo.create_if_missing = false;
  oo.read_only = exporting;
  auto st = storage::store::open(at.data, oo, db);
  if (st.code == storage::errc::busy) {
    std::cerr << "pchatctl: import: pchatd is running on " << at.data << "; stop it first (import writes the store "
              << "directly, and a running server would not see it)\n";
    return 3;
  }
  if (!st.ok()) {
    std::cerr << "pchatctl: " << at.data << ": " << st.message
              << (st.code == storage::errc::not_found ? " (pchatctl init creates a store)" : "") << "\n";
    return 1;
  }
  return print(exporting ? admin::export_data(*db, file, eo) : admin::import_data(*db, file));
}

int run_main(int argc, char** argv) {
  place at;
  std::string data_arg;
  std::string domain_arg;
  std::string command;
  // CLI11 for pchatctl's own options (docs/operations.md "Command-line programs"); the command and its words go
  // to admin::run as they are, because pchatd runs the same parser for commands that arrive on its socket.
  CLI::App app{"pchatctl: administration of a pchat server", "pchatctl"};
  app.set_help_flag(); // our usage text is the help
  app.add_option("--config", at.config_file, "pchatd's configuration file");
  app.add_option("--data", data_arg, "the data directory (instead of the configuration's)");
  app.add_option("--domain", domain_arg, "the SIP domain (instead of the configuration's)");
  bool help = false;
  bool version = false;
  app.add_flag("-h,--help", help);
  app.add_flag("--version", version);
  app.add_option("command", command);
  app.prefix_command();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::cerr << "pchatctl: " << e.what() << "\n" << admin::usage();
    return 2;
  }
  std::vector<std::string> args;
  if (!command.empty())
    args.push_back(command);
  for (auto& word : app.remaining())
    args.push_back(std::move(word));
  if (help || (args.size() > 1 && (args.back() == "--help" || args.back() == "-h"))) {
    std::cout << admin::usage();
    return 0;
  }
  if (version) {
    std::cout << "pchatctl " << pchat::version() << "\n";
    return 0;
  }
  if (args.empty()) {
    std::cerr << admin::usage();
    return 2;
  }
  // pchatd's configuration: --config F, or else (unless --data says where) ./pchatd.ini or /etc/pchat/pchatd.ini.
  if (at.config_file.empty() && data_arg.empty())
    for (const char* candidate : {"pchatd.ini", PCHAT_SYSCONF_DIR "/pchatd.ini"})
      if (::access(candidate, F_OK) == 0) {
        at.config_file = candidate;
        break;
      }
  if (!at.config_file.empty()) {
    auto loaded = admin::load(at.cfg, at.config_file, {});
    if (!loaded.ok && args[0] != "check") {
      for (const auto& e : loaded.errors)
        std::cerr << "pchatctl: " << e << "\n";
      std::cerr << "pchatctl: pchatd's configuration " << at.config_file << " is not valid (pchatctl check)\n";
      return 2;
    }
    at.data = at.cfg.data_dir;
    at.domain = at.cfg.domain;
    at.run_dir = at.cfg.run_dir;
  }
  if (!data_arg.empty())
    at.data = data_arg;
  if (!domain_arg.empty())
    at.domain = domain_arg;
  if (at.run_dir.empty() || !data_arg.empty())
    at.run_dir = at.data;

  if (args[0] == "stats")
    return stats(at.run_dir);
  if (args[0] == "cert")
    return print(admin::cert_command({args.begin() + 1, args.end()}, at.domain));
  if (args[0] == "check")
    return print(admin::check(at.config_file, data_arg, domain_arg));
  if (args[0] == "backup" && args.size() == 2) { // pchatd may write it, from its own working directory
    std::error_code ec;
    auto absolute = std::filesystem::absolute(args[1], ec);
    if (!ec)
      args[1] = absolute.lexically_normal().string();
  }
  if (args[0] == "restore") {
    if (args.size() != 2) {
      std::cerr << "pchatctl: restore SRC\n" << admin::usage();
      return 2;
    }
    return print(admin::restore(args[1], at.data, at.cfg.web_files_dir, at.cfg.compliance_dir));
  }
  if (args[0] == "export" || args[0] == "import")
    return export_or_import(at, args);
  if (std::string error; !resolve_password(args, error)) {
    std::cerr << "pchatctl: " << error << "\n";
    return 2;
  }

  std::unique_ptr<storage::store> opened;
  storage::open_options oo;
  // Only init makes a new store: anything else on a directory without one is a mistake (a wrong --data, or the
  // wrong working directory), never a silently created empty store.
  oo.create_if_missing = args[0] == "init";
  // Commands that only read open the store read-only: they write nothing into the data directory (bash completion
  // runs them, perhaps as root) and work beside a running pchatd without its socket.
  std::vector<std::string> w;
  for (const auto& x : args)
    if (x != "--json")
      w.push_back(x);
  const bool reads_only =
    (w.size() == 2 && w[1] == "list" && (w[0] == "room" || w[0] == "category" || w[0] == "user")) ||
    (w.size() == 3 && ((w[1] == "show" && (w[0] == "room" || w[0] == "category")) ||
                       (w[0] == "member" && w[1] == "list")));
  oo.read_only = reads_only;
  auto st = storage::store::open(at.data, oo, opened);
  if (st.code == storage::errc::busy) {
    // pchatd holds the directory: it runs the command itself.
    std::string error;
    if (auto r = admin::call(at.run_dir + "/pchatd.sock", args, error)) {
      // pchatd wrote the backup in its own view of the file system: under the unit's PrivateTmp= its /tmp is
      // not ours, and the backup would vanish with the service.
      std::error_code ec;
      if (args[0] == "backup" && args.size() == 2 && r->code == 0 &&
          !std::filesystem::exists(std::filesystem::path(args[1]) / "pchat-backup.json", ec)) {
        r->code = 1;
        r->err += "pchatctl: pchatd wrote the backup to " + args[1] +
                  ", which this process does not see: a private /tmp (systemd's PrivateTmp=)? Back up to a directory "
                  "outside /tmp and /var/tmp that the pchat user may write, e.g. /var/backups/pchat\n";
      }
      return print(*r);
    }
    std::cerr << "pchatctl: " << at.data << " is in use, but pchatd does not answer on its admin socket " << at.run_dir
              << "/pchatd.sock (" << error << ")\n";
    return 3;
  }
  if (st.code == storage::errc::not_found) {
    std::cerr << "pchatctl: " << at.data << " holds no pchat store: `pchatctl init` creates one"
              << (at.config_file.empty() ? " (no configuration read: --config F or --data DIR say where)"
                                         : " (the data directory of " + at.config_file + ")")
              << "\n";
    return 1;
  }
  if (!st.ok()) {
    std::cerr << "pchatctl: open " << at.data << ": " << storage::to_string(st.code) << ": " << st.message << "\n";
    return 1;
  }
  std::shared_ptr<storage::store> db = std::move(opened);
  const std::string compliance_queue =
    !at.cfg.compliance ? "" : at.cfg.compliance_dir.empty() ? at.data + "/compliance" : at.cfg.compliance_dir;
  auto ops = admin::local_operations(db, at.domain, compliance_queue);
  return print(admin::run(args, {*db, *ops, at.data, at.domain, at.cfg.web_files_dir, at.cfg.compliance_dir, {}}));
}

int main(int argc, char** argv) {
  // Every command reports its errors as values; this is the last line of defence (an allocation failure, a library
  // that throws where it should not): one clear line and exit 1, never an abort with a core dump.
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "pchatctl: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "pchatctl: internal error\n";
  }
  return 1;
}
