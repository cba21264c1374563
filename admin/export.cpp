#include "admin/export.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/text.hpp"
#include "base/version.hpp"

namespace pchat::admin {

namespace {

using json = nlohmann::json;
constexpr int export_format = 1;

result failed(const std::string& why) {
  return {1, {}, "pchatctl: " + why + "\n"};
}


std::optional<storage::room> find_room_ref(storage::store& db, const std::string& ref) {
  std::string guid = ref;
  if (auto slash = ref.rfind('/'); ref.rfind("ma-chan://", 0) == 0 && slash != std::string::npos)
    guid = ref.substr(slash + 1);
  if (auto r = db.room_by_guid(guid))
    return r;
  return db.room_by_name(ref);
}

// The fields of one line, checked: a missing or mistyped field throws json::exception with its name, which
// import turns into "FILE:LINE: ...".
template <class T>
T field(const json& j, const char* name) {
  if (!j.contains(name))
    throw std::runtime_error(std::string{"no \""} + name + "\"");
  return j.at(name).get<T>();
}

// A retention rule (docs/operations.md "Export and import"): {"days": N, "posts": N}; null or absent for a room
// that follows its category.
json keep_json(const storage::retention& k) { return {{"days", k.days}, {"posts", k.posts}}; }

std::optional<storage::retention> keep_of(const json& j) {
  if (!j.contains("keep") || j.at("keep").is_null())
    return std::nullopt;
  const auto& k = j.at("keep");
  storage::retention out;
  auto days = field<std::uint64_t>(k, "days");
  if (!k.at("days").is_number_unsigned() || days > storage::retention::max_days || !k.at("posts").is_number_unsigned())
    throw std::runtime_error("keep: days (0 to " + std::to_string(storage::retention::max_days) +
                             ") and posts must be whole numbers, 0 or more");
  out.days = static_cast<std::uint32_t>(days);
  out.posts = field<std::uint64_t>(k, "posts");
  return out;
}

// What the catalog would refuse, refused in the first pass so that "nothing imported" stays true: text that XCCOS
// documents cannot carry, a GUID that is not one, a principal or user that is empty or holds NUL.
void check_text(const std::string& what, std::initializer_list<const std::string*> fields) {
  for (const auto* f : fields)
    if (!is_xml_text(*f))
      throw std::runtime_error(what + ": a character that cannot appear in XML (a control character or invalid UTF-8)");
}

void check_guid(const std::string& what, const std::string& guid) {
  bool ok = guid.size() == 36;
  for (std::size_t i = 0; ok && i < guid.size(); ++i)
    ok = (i == 8 || i == 13 || i == 18 || i == 23) ? guid[i] == '-' : std::isxdigit(static_cast<unsigned char>(guid[i]));
  if (!ok)
    throw std::runtime_error(what + ": guid " + guid + " is not a GUID (8-4-4-4-12 hex digits)");
}

void check_principals(const std::string& what, const std::vector<std::string>& list) {
  for (const auto& p : list)
    if (p.empty() || p.find('\0') != std::string::npos || !is_xml_text(p))
      throw std::runtime_error(what + ": principal \"" + p + "\" is empty or not text");
}

// Names are unique case-insensitively, in the file as in the store.
void claim(std::set<std::string>& names, const std::string& kind, const std::string& name) {
  if (!names.insert(kind + ascii_lower(name)).second)
    throw std::runtime_error(kind + " " + name + " is named twice in the file");
}

} // namespace

result export_data(storage::store& db, const std::string& file, const export_options& opts) {
  std::vector<storage::room> rooms;
  if (opts.rooms.empty()) {
    rooms = db.rooms();
  } else {
    for (const auto& ref : opts.rooms) {
      auto r = find_room_ref(db, ref);
      if (!r)
        return failed("export: no room " + ref);
      rooms.push_back(*r);
    }
  }
  std::set<std::uint64_t> category_ids;
  for (const auto& r : rooms)
    category_ids.insert(r.category_id);

  std::ofstream file_out;
  std::ostream* out = &std::cout;
  if (file != "-") {
    // The whole history of the rooms: readable by the owner only, like the store itself.
    if (int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); fd >= 0) {
      (void)::fchmod(fd, 0600);
      ::close(fd);
    }
    file_out.open(file, std::ios::out | std::ios::trunc);
    if (!file_out)
      return failed("export: cannot write " + file);
    out = &file_out;
  }
  std::map<std::uint64_t, std::string> category_guid;
  std::size_t categories = 0, roles = 0, messages = 0;
  *out << json{{"type", "pchat-export"}, {"format", export_format}, {"pchat", pchat::version()},
               {"created", utc_iso8601(std::time(nullptr))}, {"source", db.db_version()}}
            .dump()
       << "\n";
  for (const auto& c : db.categories()) {
    category_guid[c.id] = c.guid;
    if (!opts.rooms.empty() && !category_ids.count(c.id))
      continue;
    *out << json{{"type", "category"}, {"guid", c.guid}, {"name", c.name}, {"description", c.description},
                 {"invite", c.invite}, {"logged", c.logged}, {"filepost", c.filepost}, {"allow", c.allow},
                 {"deny", c.deny}, {"creators", c.creators}, {"keep", keep_json(c.keep)}}
              .dump()
         << "\n";
    ++categories;
  }
  for (const auto& r : rooms) {
    *out << json{{"type", "room"},
                 {"guid", r.guid},
                 {"category", category_guid[r.category_id]},
                 {"name", r.name},
                 {"description", r.description},
                 {"topic", r.topic},
                 {"addin", r.addin_url},
                 {"privacy", storage::privacy_name(r.privacy_mode)},
                 {"room_type", r.type == storage::room_type::auditorium ? "auditorium" : "normal"},
                 {"invite", r.invite == storage::room_invite::off ? "false" : "inherit"},
                 {"disabled", r.disabled},
                 {"created_ticks", r.created_ticks},
                 {"keep", r.keep ? keep_json(*r.keep) : json(nullptr)}}
              .dump()
         << "\n";
    for (const auto& [user, bits] : db.room_roles(r.id)) {
      *out << json{{"type", "role"}, {"room", r.guid}, {"user", user}, {"roles", storage::role_names(bits)}}.dump() << "\n";
      ++roles;
    }
    if (!opts.history)
      continue;
    // Oldest first, a page at a time: a room's history may not fit in memory.
    for (std::uint64_t after = 0;;) {
      auto page = db.after(r.id, after, 1000);
      if (page.empty())
        break;
      for (const auto& m : page) {
        *out << json{{"type", "message"}, {"room", r.guid}, {"seq", m.seq}, {"author", m.author},
                     {"ticks", m.ticks}, {"text", m.text}}
                  .dump(-1, ' ', false, json::error_handler_t::replace)
             << "\n";
        ++messages;
      }
      after = page.back().seq;
    }
  }
  // The end line: an export without it was cut short, and import refuses it.
  *out << json{{"type", "end"}, {"categories", categories}, {"rooms", rooms.size()}, {"roles", roles},
               {"messages", messages}}
            .dump()
       << "\n";
  out->flush();
  if (!*out)
    return failed("export: writing " + file + " failed");
  std::ostringstream summary;
  summary << "exported " << categories << " categories, " << rooms.size() << " rooms, " << roles << " roles, "
          << messages << " messages" << (file == "-" ? "" : " to " + file) << "\n";
  // With the export on stdout the summary goes to stderr, so the output stays a clean file.
  return file == "-" ? result{0, {}, summary.str()} : result{0, summary.str(), {}};
}

result import_data(storage::store& db, const std::string& file) {
  // The file is read twice — checked whole, then written — so that history never has to fit in memory. Standard
  // input and anything else that cannot be read twice (a pipe, `<(zcat export.jsonl.gz)`, a FIFO) is spooled to a
  // private temporary file first.
  std::string path = file;
  struct spool_t {
    std::string path;
    ~spool_t() {
      if (!path.empty())
        std::remove(path.c_str());
    }
  } spool;
  const std::string shown = file == "-" ? std::string{"stdin"} : file;
  struct stat file_stat {};
  if (file != "-" && ::stat(file.c_str(), &file_stat) != 0)
    return failed("import: cannot read " + file + ": " + std::strerror(errno));
  if (file == "-" || !S_ISREG(file_stat.st_mode)) {
    std::error_code ec;
    auto tmp = std::filesystem::temp_directory_path(ec);
    std::string tmpl = ((ec ? std::filesystem::path{"/tmp"} : tmp) / "pchat-import-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0)
      return failed("import: cannot spool " + shown + " to a temporary file: " + std::strerror(errno));
    ::close(fd);
    spool.path = path = tmpl;
    std::ifstream source;
    if (file != "-") {
      source.open(file, std::ios::binary);
      if (!source)
        return failed("import: cannot read " + file);
    }
    std::istream& from = file == "-" ? std::cin : source;
    std::ofstream copy(path, std::ios::binary | std::ios::trunc);
    if (from.peek() != std::char_traits<char>::eof())
      copy << from.rdbuf();
    copy.flush();
    if (!copy || from.bad())
      return failed("import: cannot spool " + shown + " to " + path);
  }
  std::ifstream file_in(path);
  if (!file_in)
    return failed("import: cannot read " + file);
  std::istream* in = &file_in;
  // Pass 1: read and check every line; nothing is written unless the whole file is sound.
  std::vector<storage::category> categories;
  std::vector<std::pair<storage::room, std::string>> rooms; // with its category's GUID
  std::vector<std::tuple<std::string, std::string, std::uint8_t>> roles;
  // Per room GUID: its last message's seq and time (the messages themselves are read again in pass 2).
  std::map<std::string, std::pair<std::uint64_t, std::int64_t>> last;
  std::size_t message_count = 0;
  // GUID (lower case: GUIDs compare case-insensitively, as room_by_guid does) -> index
  std::map<std::string, std::size_t> category_at, room_at;
  std::set<std::string> names;
  bool header = false, end = false;
  std::string line;
  int n = 0;
  try {
    while (std::getline(*in, line)) {
      ++n;
      if (line.empty())
        continue;
      if (end)
        throw std::runtime_error("a line after the end line");
      auto j = json::parse(line);
      auto type = field<std::string>(j, "type");
      if (!header) {
        if (type != "pchat-export")
          throw std::runtime_error("not a pchat export (the first line must be its header)");
        if (field<int>(j, "format") != export_format)
          throw std::runtime_error("export format " + j.at("format").dump() + " (this pchatctl reads format " +
                                   std::to_string(export_format) + ")");
        header = true;
      } else if (type == "category") {
        storage::category c;
        c.guid = field<std::string>(j, "guid");
        c.name = field<std::string>(j, "name");
        c.description = field<std::string>(j, "description");
        c.invite = field<bool>(j, "invite");
        c.logged = field<bool>(j, "logged");
        c.filepost = field<bool>(j, "filepost");
        c.allow = field<std::vector<std::string>>(j, "allow");
        c.deny = field<std::vector<std::string>>(j, "deny");
        c.creators = field<std::vector<std::string>>(j, "creators");
        c.keep = keep_of(j).value_or(storage::retention{});
        if (c.name.empty())
          throw std::runtime_error("a category without a name");
        check_text("category " + c.name, {&c.name, &c.description});
        check_guid("category " + c.name, c.guid);
        for (const auto* list : {&c.allow, &c.deny, &c.creators})
          check_principals("category " + c.name, *list);
        if (category_at.count(ascii_lower(c.guid)))
          throw std::runtime_error("category " + c.name + ": empty or repeated guid");
        claim(names, "category", c.name);
        for (const auto& existing : db.categories())
          if (ascii_lower(existing.guid) == ascii_lower(c.guid))
            throw std::runtime_error("category " + c.name + ": its guid is already in this store");
        if (db.category_by_name(c.name))
          throw std::runtime_error("category " + c.name + " exists already in this store");
        category_at[ascii_lower(c.guid)] = categories.size();
        categories.push_back(std::move(c));
      } else if (type == "room") {
        storage::room r;
        r.guid = field<std::string>(j, "guid");
        auto category = ascii_lower(field<std::string>(j, "category"));
        r.name = field<std::string>(j, "name");
        r.description = field<std::string>(j, "description");
        r.topic = field<std::string>(j, "topic");
        r.addin_url = field<std::string>(j, "addin");
        auto privacy = field<std::string>(j, "privacy");
        auto mode = storage::privacy_from(privacy);
        if (!mode)
          throw std::runtime_error("room " + r.name + ": privacy " + privacy);
        r.privacy_mode = *mode;
        auto kind = field<std::string>(j, "room_type");
        if (kind != "normal" && kind != "auditorium")
          throw std::runtime_error("room " + r.name + ": room_type " + kind);
        r.type = kind == "auditorium" ? storage::room_type::auditorium : storage::room_type::normal;
        auto invite = field<std::string>(j, "invite");
        if (invite != "inherit" && invite != "false")
          throw std::runtime_error("room " + r.name + ": invite " + invite);
        r.invite = invite == "false" ? storage::room_invite::off : storage::room_invite::inherit;
        r.disabled = field<bool>(j, "disabled");
        if (!j.contains("created_ticks") || !j.at("created_ticks").is_number_integer())
          throw std::runtime_error("room " + r.name + ": created_ticks must be a whole number");
        r.created_ticks = field<std::int64_t>(j, "created_ticks");
        r.keep = keep_of(j);
        if (r.name.empty())
          throw std::runtime_error("a room without a name");
        check_text("room " + r.name, {&r.name, &r.description, &r.topic, &r.addin_url});
        check_guid("room " + r.name, r.guid);
        if (room_at.count(ascii_lower(r.guid)))
          throw std::runtime_error("room " + r.name + ": empty or repeated guid");
        claim(names, "room", r.name);
        if (db.room_by_guid(r.guid) || db.room_by_name(r.name))
          throw std::runtime_error("room " + r.name + " exists already in this store");
        bool known = category_at.count(category) > 0;
        if (!known)
          for (const auto& c : db.categories())
            known = known || ascii_lower(c.guid) == category;
        if (!known)
          throw std::runtime_error("room " + r.name + ": its category " + category + " is neither in the file nor "
                                                                                      "in the store");
        room_at[ascii_lower(r.guid)] = rooms.size();
        rooms.emplace_back(std::move(r), category);
      } else if (type == "role") {
        auto room = ascii_lower(field<std::string>(j, "room"));
        if (!room_at.count(room))
          throw std::runtime_error("a role in room " + room + ", which the file has not named");
        std::uint8_t bits = 0;
        for (const auto& name : field<std::vector<std::string>>(j, "roles")) {
          auto bit = storage::role_bit(name);
          if (!bit)
            throw std::runtime_error("unknown role " + name);
          bits |= *bit;
        }
        auto user = field<std::string>(j, "user");
        if (user.rfind("sip:", 0) != 0 || user.find('\0') != std::string::npos || !is_xml_text(user))
          throw std::runtime_error("role user " + user + ": not a sip: URI");
        roles.emplace_back(room, std::move(user), bits);
      } else if (type == "message") {
        auto room = ascii_lower(field<std::string>(j, "room"));
        if (!room_at.count(room))
          throw std::runtime_error("a message in room " + room + ", which the file has not named");
        storage::message m;
        // A negative number would read as a huge unsigned one: the JSON type is checked first.
        if (!j.contains("seq") || !j.at("seq").is_number_unsigned() || j.at("seq").get<std::uint64_t>() >= (1ull << 63))
          throw std::runtime_error("room " + room + ": a message's seq must be a whole number from 1 to 2^63-1");
        m.seq = field<std::uint64_t>(j, "seq");
        m.author = field<std::string>(j, "author");
        if (!j.contains("ticks") || !j.at("ticks").is_number_integer())
          throw std::runtime_error("room " + room + ": message " + std::to_string(m.seq) +
                                   ": ticks must be a whole number");
        m.ticks = field<std::int64_t>(j, "ticks");
        m.text = field<std::string>(j, "text");
        auto seen = last.find(room);
        if (m.seq == 0 || (seen != last.end() && m.seq <= seen->second.first))
          throw std::runtime_error("room " + room + ": message seq " + std::to_string(m.seq) + " out of order");
        // History deletion by time relies on times that never go back as seqs rise.
        if (m.ticks < 0 || (seen != last.end() && m.ticks < seen->second.second))
          throw std::runtime_error("room " + room + ": message " + std::to_string(m.seq) +
                                   " is dated before the message it follows");
        if (m.author.empty() || m.author.find('\0') != std::string::npos)
          throw std::runtime_error("room " + room + ": message " + std::to_string(m.seq) + " has no author");
        last[room] = {m.seq, m.ticks};
        ++message_count;
      } else if (type == "end") {
        if (field<std::size_t>(j, "categories") != categories.size() || field<std::size_t>(j, "rooms") != rooms.size() ||
            field<std::size_t>(j, "roles") != roles.size() || field<std::size_t>(j, "messages") != message_count)
          throw std::runtime_error("the end line's counts differ from the lines read");
        end = true;
      } else {
        throw std::runtime_error("unknown line type " + type);
      }
    }
    if (!header)
      throw std::runtime_error("empty: not a pchat export");
    if (!end)
      throw std::runtime_error("no end line: the export was cut short");
  } catch (const std::exception& e) {
    return failed("import: " + shown + ":" + std::to_string(n) + ": " +
                  e.what() + "; nothing imported");
  }

  // Pass 2: write.
  std::map<std::string, std::uint64_t> category_id, room_id;
  for (const auto& c : db.categories())
    category_id[ascii_lower(c.guid)] = c.id;
  for (auto& c : categories) {
    if (auto st = db.create_category(c); !st.ok())
      return failed("import: category " + c.name + ": " + st.message + " (partly imported)");
    category_id[ascii_lower(c.guid)] = c.id;
  }
  std::size_t messages = 0;
  for (auto& [r, category] : rooms) {
    r.category_id = category_id.at(category);
    if (auto st = db.create_room(r); !st.ok())
      return failed("import: room " + r.name + ": " + st.message + " (partly imported)");
    room_id[ascii_lower(r.guid)] = r.id;
  }
  for (const auto& [room, user, bits] : roles)
    if (auto st = db.set_roles(room_id.at(room), user, bits); !st.ok())
      return failed("import: role of " + user + ": " + st.message + " (partly imported)");
  // History, streamed from the file again: 1,000 posts per synced commit.
  std::ifstream again(path);
  storage::write_set w;
  auto flush = [&]() -> bool {
    if (w.messages.empty())
      return true;
    if (!db.commit(w, true).ok())
      return false;
    messages += w.messages.size();
    w.clear();
    return true;
  };
  std::string line2;
  try {
    while (message_count > 0 && std::getline(again, line2)) {
      auto j = json::parse(line2, nullptr, false);
      if (j.is_discarded() || j.value("type", std::string{}) != "message")
        continue;
      storage::message m;
      m.room_id = room_id.at(ascii_lower(j.at("room").get<std::string>()));
      m.seq = j.at("seq").get<std::uint64_t>();
      m.author = j.at("author").get<std::string>();
      m.ticks = j.at("ticks").get<std::int64_t>();
      m.text = j.at("text").get<std::string>();
      w.messages.push_back(std::move(m));
      if (w.messages.size() == 1000 && !flush())
        return failed("import: history: a synced write failed after " + std::to_string(messages) +
                      " messages (partly imported)");
    }
  } catch (const std::exception& e) { // only if the file changed between the passes
    return failed("import: history: " + std::string{e.what()} +
                  " (partly imported; the file changed while it was read?)");
  }
  if (!flush() || messages != message_count)
    return failed("import: history: " + std::to_string(messages) + " of " + std::to_string(message_count) +
                  " messages written (partly imported; the file changed while it was read?)");
  std::ostringstream out;
  out << "imported " << categories.size() << " categories, " << rooms.size() << " rooms, " << roles.size() << " roles, "
      << messages << " messages\n";
  return {0, out.str(), {}};
}

} // namespace pchat::admin
