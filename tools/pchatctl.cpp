// pchatctl: administration of a pchat data directory (offline: stop pchatd for changes; listing works while
// pchatd runs, reading a snapshot). Enough to set up rooms until room management arrives over the protocol.
//
//   pchatctl [--data DIR] [--domain example.com] COMMAND
//     init [--demo]                               create the store; --demo adds a category and two rooms
//     category add NAME [--description D] [--invite] [--no-log] [--no-files]
//     category list
//     room add NAME --category CAT [--description D] [--topic T] [--privacy open|closed|secret]
//                                  [--type normal|auditorium]
//     room list
//     room show ROOM
//     member add ROOM USER [--role member|manager|presenter]...   (roles add up; default member)
//     member remove ROOM USER
//     member list ROOM
//     history ROOM [N]
//     stats                                       the running pchatd's live counters and fan-out latency
// DIR defaults to ./var/data. Exit status: 0 ok, 1 failed, 2 usage, 3 data directory in use by pchatd.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sip/sip_message.hpp"
#include "storage/store.hpp"

using namespace pchat::storage;

namespace {

int usage() {
  std::cerr << "usage: pchatctl [--data DIR] [--domain D] init [--demo] | category add NAME [--description D] "
               "[--invite] [--no-log] [--no-files] | category list | room add NAME --category CAT [--description D] "
               "[--topic T] [--privacy open|closed|secret] [--type normal|auditorium] | room list | room show ROOM | "
               "member add ROOM USER [--role member|manager|presenter]... | member remove ROOM USER | member list "
               "ROOM | history ROOM [N] | stats\n";
  return 2;
}

struct args_t {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> opts;
  bool has(const std::string& k) const { return opts.count(k) > 0; }
  std::string get(const std::string& k, const std::string& fallback = {}) const {
    auto i = opts.find(k);
    return i == opts.end() ? fallback : i->second;
  }
};

const char* privacy_name(privacy p) {
  switch (p) {
    case privacy::open: return "open";
    case privacy::closed: return "closed";
    case privacy::secret: return "secret";
  }
  return "?";
}

std::string roles_text(std::uint8_t bits) {
  std::string out;
  if (bits & role::member)
    out += "member ";
  if (bits & role::manager)
    out += "manager ";
  if (bits & role::presenter)
    out += "presenter ";
  if (!out.empty())
    out.pop_back();
  return out;
}

int check(const status& st, const std::string& what) {
  if (st.ok())
    return 0;
  std::cerr << "pchatctl: " << what << ": " << to_string(st.code) << (st.message.empty() ? "" : ": ") << st.message
            << "\n";
  return st.code == errc::busy ? 3 : 1;
}

std::optional<room> find_room(store& db, const std::string& name) {
  if (auto r = db.room_by_name(name))
    return r;
  auto slash = name.rfind('/');
  return db.room_by_guid(slash == std::string::npos ? name : name.substr(slash + 1));
}

} // namespace

int main(int argc, char** argv) {
  std::string data = "./var/data";
  std::string domain = "example.com";
  args_t a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-h" || s == "--help")
      return usage();
    if (s.rfind("--", 0) == 0) {
      bool flag = s == "--demo" || s == "--invite" || s == "--no-log" || s == "--no-files";
      std::string v = flag || i + 1 >= argc ? "" : argv[++i];
      if (s == "--data")
        data = v;
      else if (s == "--domain")
        domain = v;
      else
        a.opts.emplace(s.substr(2), v);
    } else {
      a.positional.push_back(s);
    }
  }
  if (a.positional.empty())
    return usage();
  const auto& p = a.positional;
  if (p[0] == "stats") {
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
  const std::string cmd = p[0] + (p.size() > 1 && p[0] != "init" && p[0] != "history" ? " " + p[1] : "");
  bool writes = cmd == "init" || cmd == "category add" || cmd == "room add" || cmd == "member add"
                || cmd == "member remove";

  std::unique_ptr<store> db;
  open_options oo;
  oo.create_if_missing = writes; // any change may be the first; listing a missing directory is an error
  auto st = store::open(data, oo, db);
  if (!st.ok() && st.code == errc::busy && !writes) {
    oo.read_only = true; // pchatd holds the lock: read a snapshot instead
    st = store::open(data, oo, db);
  }
  if (st.code == errc::busy) {
    std::cerr << "pchatctl: " << data << " is in use (is pchatd running?): stop it to change the data\n";
    return 3;
  }
  if (int rc = check(st, "open " + data))
    return rc;

  if (cmd == "init") {
    if (a.has("demo") && db->categories().empty()) {
      category c;
      c.name = "General";
      c.description = "Rooms for everyone";
      if (int rc = check(db->create_category(c), "category General"))
        return rc;
      for (auto [name, desc] : {std::pair{"Lobby", "Say hello"}, std::pair{"Dev", "Developers"}}) {
        room r;
        r.name = name;
        r.description = desc;
        r.category_id = c.id;
        if (int rc = check(db->create_room(r), std::string{"room "} + name))
          return rc;
      }
    }
    std::cout << "data directory " << data << " ready: " << db->categories().size() << " categories, "
              << db->rooms().size() << " rooms\n";
    return 0;
  }
  if (cmd == "category add" && p.size() == 3) {
    category c;
    c.name = p[2];
    c.description = a.get("description");
    c.invite = a.has("invite");
    c.logged = !a.has("no-log");
    c.filepost = !a.has("no-files");
    if (int rc = check(db->create_category(c), "category add"))
      return rc;
    std::cout << c.name << "\tma-cat://" << domain << "/" << c.guid << "\n";
    return 0;
  }
  if (cmd == "category list") {
    for (const auto& c : db->categories())
      std::cout << c.name << "\tma-cat://" << domain << "/" << c.guid << "\t" << c.description << "\n";
    return 0;
  }
  if (cmd == "room add" && p.size() == 3) {
    auto cat = db->category_by_name(a.get("category", "General"));
    if (!cat) {
      std::cerr << "pchatctl: no category " << a.get("category", "General") << " (create it with category add)\n";
      return 1;
    }
    room r;
    r.name = p[2];
    r.category_id = cat->id;
    r.description = a.get("description");
    r.topic = a.get("topic");
    auto pv = a.get("privacy", "open");
    if (pv == "open")
      r.privacy_mode = privacy::open;
    else if (pv == "closed")
      r.privacy_mode = privacy::closed;
    else if (pv == "secret")
      r.privacy_mode = privacy::secret;
    else
      return usage();
    auto t = a.get("type", "normal");
    if (t == "normal")
      r.type = room_type::normal;
    else if (t == "auditorium")
      r.type = room_type::auditorium;
    else
      return usage();
    if (int rc = check(db->create_room(r), "room add"))
      return rc;
    std::cout << r.name << "\tma-chan://" << domain << "/" << r.guid << "\n";
    return 0;
  }
  if (cmd == "room list") {
    for (const auto& r : db->rooms())
      std::cout << r.name << "\tma-chan://" << domain << "/" << r.guid << "\t" << privacy_name(r.privacy_mode)
                << (r.type == room_type::auditorium ? " auditorium" : "") << (r.disabled ? " disabled" : "")
                << "\t" << r.description << "\n";
    return 0;
  }
  if ((cmd == "room show" || cmd == "member list") && p.size() == 3) {
    auto r = find_room(*db, p[2]);
    if (!r) {
      std::cerr << "pchatctl: no room " << p[2] << "\n";
      return 1;
    }
    if (cmd == "room show") {
      auto c = db->category_by_id(r->category_id);
      std::cout << "name        " << r->name << "\nuri         ma-chan://" << domain << "/" << r->guid
                << "\ncategory    " << (c ? c->name : "?") << "\ndescription " << r->description << "\ntopic       "
                << r->topic << "\nprivacy     " << privacy_name(r->privacy_mode) << "\ntype        "
                << (r->type == room_type::auditorium ? "auditorium" : "normal") << "\nposts       "
                << db->last_seq(r->id) << "\n";
    }
    for (const auto& [user, bits] : db->room_roles(r->id))
      std::cout << user << "\t" << roles_text(bits) << "\n";
    return 0;
  }
  if ((cmd == "member add" || cmd == "member remove") && p.size() == 4) {
    auto r = find_room(*db, p[2]);
    if (!r) {
      std::cerr << "pchatctl: no room " << p[2] << "\n";
      return 1;
    }
    auto user = pchat::sip::normalize_aor(p[3]);
    if (user.empty()) {
      std::cerr << "pchatctl: " << p[3] << " is not a user (alice@example.com)\n";
      return 2;
    }
    std::uint8_t bits = 0;
    if (cmd == "member add") {
      bits = db->roles_of(r->id, user);
      auto range = a.opts.equal_range("role");
      if (range.first == range.second)
        bits |= role::member;
      for (auto i = range.first; i != range.second; ++i) {
        if (i->second == "member")
          bits |= role::member;
        else if (i->second == "manager")
          bits |= role::manager;
        else if (i->second == "presenter")
          bits |= role::presenter;
        else
          return usage();
      }
    }
    if (int rc = check(db->set_roles(r->id, user, bits), cmd))
      return rc;
    std::cout << user << "\t" << (bits ? roles_text(bits) : "removed") << "\t" << r->name << "\n";
    return 0;
  }
  if (p[0] == "history" && p.size() >= 2) {
    auto r = find_room(*db, p[1]);
    if (!r) {
      std::cerr << "pchatctl: no room " << p[1] << "\n";
      return 1;
    }
    std::size_t n = p.size() > 2 ? std::strtoul(p[2].c_str(), nullptr, 10) : 30;
    for (const auto& m : db->last(r->id, n))
      std::cout << "#" << m.seq << " " << m.author << ": " << m.text << "\n";
    return 0;
  }
  return usage();
}
