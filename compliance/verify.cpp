#include "compliance/verify.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <tinyxml2.h>

#include "base/hex.hpp"
#include "compliance/xml_adapter.hpp"

namespace pchat::compliance {

namespace {

namespace fs = std::filesystem;
using tinyxml2::XMLElement;

constexpr std::string_view file_prefix = "pchat-compliance-";
constexpr std::string_view file_suffix = ".xml";

// One Message as read: enough to recompute its chain link.
struct entry {
  event e;
  digest stated{};
  std::string file;
};

struct file_info {
  std::uint64_t batch = 0;
  std::size_t part = 0;
  std::size_t parts = 0;
  digest prev{};
  std::uint64_t lowest_id = 0; // 0: no messages
};

const char* attr(const XMLElement* x, const char* name) {
  const char* v = x ? x->Attribute(name) : nullptr;
  return v ? v : "";
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

class verifier {
public:
  verifier(const std::string& dir, const verify_options& opts) : dir_(dir), opts_(opts) {}

  verify_report run() {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it{dir_, ec}, end; !ec && it != end; it.increment(ec)) {
      auto name = it->path().filename().string();
      if (it->is_regular_file(ec) && name.size() > file_prefix.size() + file_suffix.size() &&
          name.compare(0, file_prefix.size(), file_prefix) == 0 &&
          name.compare(name.size() - file_suffix.size(), file_suffix.size(), file_suffix) == 0)
        names.push_back(std::move(name));
    }
    if (ec)
      problem(dir_, 0, "cannot read the directory: " + ec.message());
    std::sort(names.begin(), names.end());
    for (const auto& n : names)
      read_file(n);
    report_.files = names.size();
    check_files();
    check_chain();
    return std::move(report_);
  }

private:
  void problem(std::string file, std::uint64_t id, std::string what) {
    report_.problems.push_back({std::move(file), id, std::move(what)});
  }

  void read_file(const std::string& name) {
    tinyxml2::XMLDocument doc;
    if (doc.LoadFile((dir_ + "/" + name).c_str()) != tinyxml2::XML_SUCCESS) {
      problem(name, 0, std::string{"does not parse: "} + doc.ErrorStr());
      return;
    }
    const XMLElement* root = doc.RootElement();
    file_info info;
    auto prev = hex::decode_array<32>(attr(root, "pc:prev"));
    if (!root || std::string_view{root->Name()} != "Conversations" ||
        std::string_view{attr(root, "xmlns:pc")} != chain_namespace ||
        !parse_number(attr(root, "pc:batch"), info.batch) || !parse_number(attr(root, "pc:part"), info.part) ||
        !parse_number(attr(root, "pc:parts"), info.parts) || !prev || info.part < 1 || info.part > info.parts) {
      problem(name, 0, "not a pchat compliance file (root Conversations with pc:batch, pc:part, pc:parts, pc:prev)");
      return;
    }
    info.prev = *prev;
    if (name != output_file_name(info.batch, info.part))
      problem(name, 0, "renamed: its content is " + output_file_name(info.batch, info.part));
    for (auto* conv = root->FirstChildElement("Conversation"); conv; conv = conv->NextSiblingElement("Conversation"))
      read_conversation(name, conv, info);
    if (!files_.emplace(std::make_pair(info.batch, info.part), info).second)
      problem(name, 0, "a second file for batch " + std::to_string(info.batch) + " part " + std::to_string(info.part));
  }

  void read_conversation(const std::string& name, const XMLElement* conv, file_info& info) {
    std::string room = attr(conv->FirstChildElement("Channel"), "uri");
    const XMLElement* messages = conv->FirstChildElement("Messages");
    const XMLElement* first_msg = messages ? messages->FirstChildElement("Message") : nullptr;
    if (!same_message(conv->FirstChildElement("FirstMessage"), first_msg))
      problem(name, first_msg ? std::strtoull(attr(first_msg, "id"), nullptr, 10) : 0,
              "FirstMessage differs from the first Message");
    std::uint64_t last_id = 0;
    for (auto* m = first_msg; m; m = m->NextSiblingElement("Message")) {
      entry x;
      x.file = name;
      x.e.room_uri = room;
      if (!read_message(name, m, x))
        continue;
      if (last_id != 0 && x.e.id <= last_id)
        problem(name, x.e.id, "comes after Message " + std::to_string(last_id) + ": Messages reordered");
      last_id = x.e.id;
      if (info.lowest_id == 0 || x.e.id < info.lowest_id)
        info.lowest_id = x.e.id;
      entries_.push_back(std::move(x));
    }
  }

  bool read_message(const std::string& name, const XMLElement* m, entry& x) {
    const XMLElement* sender = m->FirstChildElement("Sender");
    const XMLElement* time = m->FirstChildElement("DateTimeUTC");
    auto kind = kind_from_string(attr(m, "type"));
    auto hash = hex::decode_array<32>(attr(m, "pc:hash"));
    std::int64_t dotnet = 0;
    if (!parse_number(attr(m, "id"), x.e.id) || !kind || !hash || !sender || !time ||
        !parse_number(attr(time, "long"), dotnet)) {
      problem(name, std::strtoull(attr(m, "id"), nullptr, 10),
              "malformed Message (type, id, pc:hash, Sender, DateTimeUTC long)");
      return false;
    }
    x.e.kind = *kind;
    x.e.content = attr(m, "content");
    x.e.user_uri = attr(sender, "uri");
    x.e.ticks = dotnet - dotnet_ticks(0);
    x.stated = *hash;
    if (std::string_view{attr(time, "since1970")} != std::to_string(since1970(x.e.ticks)) ||
        std::string_view{attr(time, "string")} != utc_string(x.e.ticks))
      problem(name, x.e.id, "DateTimeUTC since1970/string disagree with long");
    return true;
  }

  // FirstMessage is a copy of the first Message (docs/compliance.md "Output shape"), without the chain attribute.
  static bool same_message(const XMLElement* a, const XMLElement* b) {
    if (!a || !b)
      return a == b;
    for (const char* n : {"type", "content", "id"})
      if (std::string_view{attr(a, n)} != attr(b, n))
        return false;
    for (const char* child : {"Sender", "DateTimeUTC"}) {
      const XMLElement* ca = a->FirstChildElement(child);
      const XMLElement* cb = b->FirstChildElement(child);
      if (!ca || !cb)
        return ca == cb;
      for (auto* at = ca->FirstAttribute(); at; at = at->Next())
        if (std::string_view{at->Value()} != attr(cb, at->Name()))
          return false;
      for (auto* at = cb->FirstAttribute(); at; at = at->Next())
        if (!ca->Attribute(at->Name()))
          return false;
    }
    return true;
  }

  // Every part of every batch, and every batch between the first and the last, is there.
  void check_files() {
    std::map<std::uint64_t, std::size_t> parts; // batch -> parts it should have
    for (const auto& [key, info] : files_)
      parts.emplace(key.first, info.parts);
    if (parts.empty())
      return;
    std::uint64_t expected = opts_.from_genesis ? 1 : parts.begin()->first;
    for (const auto& [batch, n] : parts) {
      for (; expected < batch; ++expected)
        problem(output_file_name(expected, 1), 0, "missing: no file of batch " + std::to_string(expected));
      for (std::size_t p = 1; p <= n; ++p)
        if (!files_.count({batch, p}))
          problem(output_file_name(batch, p), 0,
                  "missing: part " + std::to_string(p) + " of the " + std::to_string(n) + " of batch " +
                      std::to_string(batch));
      expected = batch + 1;
    }
  }

  // Ids contiguous and every pc:hash the link of the one before.
  void check_chain() {
    std::sort(entries_.begin(), entries_.end(), [](const entry& a, const entry& b) { return a.e.id < b.e.id; });
    report_.messages = entries_.size();
    if (entries_.empty()) {
      check_end();
      return;
    }
    std::uint64_t expected = 1;
    digest prev{};
    if (!opts_.from_genesis) {
      expected = entries_.front().e.id;
      for (const auto& [key, info] : files_)
        if (info.lowest_id == expected)
          prev = info.prev;
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const auto& x = entries_[i];
      if (i > 0 && x.e.id == entries_[i - 1].e.id) {
        problem(x.file, x.e.id, "appears twice (also in " + entries_[i - 1].file + ")");
        continue;
      }
      if (x.e.id > expected)
        problem(x.file, x.e.id,
                "Messages " + range(expected, x.e.id - 1) + " are missing before this one (removed Message or file)");
      else if (chain_hash(prev, x.e) != x.stated)
        problem(x.file, x.e.id, "changed: pc:hash does not match its type, content, sender, time and room");
      // Resynchronise on what the file states, so one change is reported once, where it is.
      prev = x.stated;
      expected = x.e.id + 1;
    }
    report_.end = {entries_.back().e.id, entries_.back().stated};
    check_end();
  }

  void check_end() {
    if (!opts_.expect_end)
      return;
    const auto& want = *opts_.expect_end;
    if (report_.end.id != want.id || report_.end.hash != want.hash)
      problem("", report_.end.id,
              "the archive ends at Message " + std::to_string(report_.end.id) +
                  " but the compliance store archived up "
                  "to " +
                  std::to_string(want.id) + " (" + hex::encode(want.hash) +
                  "): files at the end are missing or the "
                  "chain was rewritten");
  }

  static std::string range(std::uint64_t a, std::uint64_t b) {
    return a == b ? std::to_string(a) : std::to_string(a) + ".." + std::to_string(b);
  }

  std::string dir_;
  verify_options opts_;
  verify_report report_;
  std::map<std::pair<std::uint64_t, std::size_t>, file_info> files_;
  std::vector<entry> entries_;
};

} // namespace

verify_report verify_dir(const std::string& dir, const verify_options& opts) {
  return verifier{dir, opts}.run();
}

std::string to_string(const verify_report& r) {
  std::ostringstream out;
  if (r.ok()) {
    out << "ok: " << r.files << " files, " << r.messages << " messages, chain end " << r.end.id << " "
        << hex::encode(r.end.hash) << "\n";
    return out.str();
  }
  for (const auto& p : r.problems) {
    out << (p.file.empty() ? "archive" : p.file);
    if (p.message_id != 0)
      out << " message " << p.message_id;
    out << ": " << p.what << "\n";
  }
  out << "FAILED: " << r.problems.size() << " problems in " << r.files << " files, " << r.messages << " messages\n";
  return out.str();
}

} // namespace pchat::compliance
