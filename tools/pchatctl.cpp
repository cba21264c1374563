// pchatctl: administration of a pchat data directory, as Lync admins used the PersistentChat cmdlets: categories
// (scope, creators, invitations), rooms (settings, privacy, type, members, managers, presenters), users (SIP
// Digest accounts), persistent chat policy, history, live stats. With pchatd stopped it opens DIR itself; while pchatd runs it hands the command to pchatd over
// DIR/pchatd.sock, so changes apply to the running server at once. The commands: admin/admin.cpp
// (`pchatctl --help`). DIR defaults to ./var/data. Exit status: 0 ok, 1 failed, 2 usage, 3 data directory busy.
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "base/version.hpp"
#include "storage/store.hpp"
#include "admin/admin.hpp"
#include "admin/admin_socket.hpp"
#include "admin/cert.hpp"

using namespace pchat;

namespace {

int stats(const std::string& data) {
  // pchatd rewrites this file every second (Prometheus text); it needs no access to RocksDB.
  std::string path = data + "/pchatd.stats";
  std::ifstream in(path);
  if (!in) {
    std::cerr << "pchatctl: no " << path << " (is pchatd running with --pchat.data-dir=" << data << "?)\n";
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

int main(int argc, char** argv) {
  std::string data = "./var/data";
  std::string domain = "example.com";
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-h" || s == "--help") {
      std::cout << admin::usage();
      return 0;
    }
    if (s == "--version") {
      std::cout << "pchatctl " << pchat::version() << "\n";
      return 0;
    }
    if ((s == "--data" || s == "--domain") && i + 1 < argc)
      (s == "--data" ? data : domain) = argv[++i];
    else
      args.push_back(std::move(s));
  }
  if (args.empty()) {
    std::cerr << admin::usage();
    return 2;
  }
  if (args[0] == "stats")
    return stats(data);
  if (args[0] == "cert")
    return print(admin::cert_command({args.begin() + 1, args.end()}, domain));
  if (std::string error; !resolve_password(args, error)) {
    std::cerr << "pchatctl: " << error << "\n";
    return 2;
  }

  std::unique_ptr<storage::store> opened;
  storage::open_options oo;
  // Any change may be the first; reading a directory that does not exist is an error.
  bool reads = args[0] == "history" || (args.size() > 1 && (args[1] == "list" || args[1] == "show"));
  oo.create_if_missing = !reads;
  auto st = storage::store::open(data, oo, opened);
  if (st.code == storage::errc::busy) {
    // pchatd holds the directory: it runs the command itself.
    std::string error;
    if (auto r = admin::call(data + "/pchatd.sock", args, error))
      return print(*r);
    std::cerr << "pchatctl: " << data << " is in use, but pchatd does not answer on its admin socket (" << error
              << ")\n";
    return 3;
  }
  if (!st.ok()) {
    std::cerr << "pchatctl: open " << data << ": " << storage::to_string(st.code) << ": " << st.message << "\n";
    return 1;
  }
  std::shared_ptr<storage::store> db = std::move(opened);
  auto ops = admin::local_operations(db, domain);
  return print(admin::run(args, {*db, *ops, data, domain}));
}
