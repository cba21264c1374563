#pragma once
// A PostgreSQL server of the tests' own (docs/pool.md "Tests"): Debian's postgresql-15 binaries, a cluster in a
// temporary directory, listening only on a Unix socket there, stopped and removed when the test process ends.
//
// - The cluster is made by initdb once per machine user and PostgreSQL version (a template under the temporary
//   directory, made under a lock) and copied for each server: a copy is ~0.1 s, initdb ~0.7 s.
// - PostgreSQL refuses to run as root. Run as root (CI, containers), the server and initdb run as the system's
//   postgres user (made by the postgresql package), the data directory owned by it; otherwise as whoever runs.
// - The server dies with the test process (PR_SET_PDEATHSIG, set after the change of user, which clears it).
// - fsync=off: durability of the test cluster itself is not under test; commits are still real commits.
// - Each test gets its own database (create_database), so tests never see each other's rows.
//
// `available()` is false, with the reason in `why_not()`, when no PostgreSQL server is installed: tests then
// report SKIPPED (tools/deps.sh --test installs postgresql-15).
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace pchat::test {

class pg_server {
public:
  // The server of this test process, started on first use.
  static pg_server& shared() {
    static pg_server server;
    return server;
  }

  bool available() const { return pid_ > 0; }
  const std::string& why_not() const { return why_not_; }
  // The Unix socket directory: libpq's host.
  const std::string& socket_dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  // A libpq connection string for database `db`.
  std::string conninfo(const std::string& db) const {
    return "host=" + dir_ + " port=" + std::to_string(port) + " user=postgres dbname=" + db;
  }

  // Creates a new empty database and returns its connection string ("" and why_not() set on failure).
  std::string create_database() {
    std::lock_guard<std::mutex> lock{mutex_};
    std::string name = "pchat_t" + std::to_string(++databases_);
    if (!available() || !exec("postgres", "CREATE DATABASE " + name + " TEMPLATE template0 ENCODING 'UTF8' "
                                          "LC_COLLATE 'C' LC_CTYPE 'C'"))
      return {};
    return conninfo(name);
  }

  // Runs one SQL command as the superuser in database `db`; false (and why_not() set) when it fails.
  bool exec(const std::string& db, const std::string& sql) {
    PGconn* c = PQconnectdb(conninfo(db).c_str());
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
      PGresult* r = PQexec(c, sql.c_str());
      ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
      if (!ok)
        why_not_ = PQresultErrorMessage(r);
      PQclear(r);
    } else {
      why_not_ = PQerrorMessage(c);
    }
    PQfinish(c);
    return ok;
  }

  // Stops the server now (it stays stopped). A test of what a store does when its database goes away uses it.
  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGINT); // fast shutdown: disconnects clients, ends at once
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  ~pg_server() {
    stop();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  static constexpr int port = 5432; // only the socket's name: nothing listens on TCP

private:
  pg_server() { start(); }

  // /usr/lib/postgresql/<version>/bin of the newest installed server, "" if none.
  static std::string bin_dir() {
    namespace fs = std::filesystem;
    std::string best;
    int best_version = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      auto bin = e.path() / "bin";
      int v = std::atoi(e.path().filename().c_str());
      if (v > best_version && fs::exists(bin / "postgres", ec) && fs::exists(bin / "initdb", ec)) {
        best_version = v;
        best = bin.string();
      }
    }
    return best;
  }

  // Runs argv as the server's user; returns the child's pid (or -1). With `pdeathsig` the child dies with us.
  pid_t spawn(const std::vector<std::string>& argv, bool pdeathsig, const std::string& log) const {
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid != 0)
      return pid;
    if (as_root_ && (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0))
      ::_exit(126);
    if (pdeathsig && (::prctl(PR_SET_PDEATHSIG, SIGINT) != 0 || ::getppid() != parent))
      ::_exit(126);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }

  bool run(const std::vector<std::string>& argv, const std::string& log) const {
    pid_t pid = spawn(argv, false, log);
    int status = 0;
    return pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  bool own(const std::string& path) const {
    return !as_root_ || ::chown(path.c_str(), uid_, gid_) == 0;
  }

  // The initdb'd cluster every server copies, made once (under a lock) per user and PostgreSQL version.
  std::string template_cluster(const std::string& bin) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto version = fs::path(bin).parent_path().filename().string();
    auto base = fs::temp_directory_path() / ("pchat-pg-template-" + std::to_string(::getuid()) + "-" + version);
    auto done = base / "PG_VERSION";
    if (fs::exists(done, ec))
      return base.string();
    std::string lock_path = base.string() + ".lock";
    int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
      why_not_ = "cannot lock " + lock_path;
      return {};
    }
    std::string result;
    if (fs::exists(done, ec)) {
      result = base.string();
    } else {
      fs::remove_all(base, ec);
      auto building = base.string() + ".new";
      fs::remove_all(building, ec);
      fs::create_directories(building, ec);
      ::chmod(building.c_str(), 0700);
      if (!own(building)) {
        why_not_ = "cannot give " + building + " to the postgres user";
      } else if (!run({bin + "/initdb", "-D", building, "-U", "postgres", "--auth=trust", "--no-sync",
                       "--encoding=UTF8", "--locale=C"},
                      dir_ + "/initdb.log")) {
        why_not_ = "initdb failed (see " + dir_ + "/initdb.log)";
      } else {
        fs::rename(building, base, ec);
        if (ec)
          why_not_ = "cannot rename the template cluster: " + ec.message();
        else
          result = base.string();
      }
    }
    ::close(lock);
    return result;
  }

  void start() {
    namespace fs = std::filesystem;
    auto bin = bin_dir();
    if (bin.empty()) {
      why_not_ = "no PostgreSQL server in /usr/lib/postgresql (install postgresql-15)";
      return;
    }
    as_root_ = ::geteuid() == 0;
    if (as_root_) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        why_not_ = "running as root and there is no postgres user to run PostgreSQL as";
        return;
      }
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
    std::string tmpl = (fs::temp_directory_path() / "pchat-pg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      why_not_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    if (!own(dir_)) {
      why_not_ = "cannot give " + dir_ + " to the postgres user";
      return;
    }
    auto cluster = template_cluster(bin);
    if (cluster.empty())
      return;
    auto data = dir_ + "/data";
    if (!run({"/bin/cp", "-a", cluster, data}, dir_ + "/copy.log")) {
      why_not_ = "cannot copy the template cluster " + cluster;
      return;
    }
    own(data);
    pid_ = spawn({bin + "/postgres", "-D", data, "-k", dir_, "-p", std::to_string(port), "-c", "listen_addresses=",
                  "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=300", "-c",
                  "shared_buffers=32MB"},
                 true, dir_ + "/server.log");
    // Ready when it accepts a connection (a few hundred milliseconds).
    for (int i = 0; i < 1000 && pid_ > 0; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        why_not_ = "postgres exited at start (see " + dir_ + "/server.log)";
        return;
      }
      if (PQping(conninfo("postgres").c_str()) == PQPING_OK)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    why_not_ = "postgres did not accept connections within 10 s (see " + dir_ + "/server.log)";
  }

  std::mutex mutex_;
  std::string why_not_;
  std::string dir_;
  pid_t pid_ = -1;
  bool as_root_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int databases_ = 0;
};

} // namespace pchat::test
