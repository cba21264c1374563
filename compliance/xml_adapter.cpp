#include "compliance/xml_adapter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/hex.hpp"
#include "base/text.hpp"
#include "storage/record_codec.hpp"

namespace pchat::compliance {

namespace {

constexpr std::int64_t ticks_per_second = 10'000'000;
constexpr std::int64_t ticks_per_day = 86'400 * ticks_per_second;
constexpr std::int64_t dotnet_epoch_offset = 621'355'968'000'000'000; // 0001-01-01 -> 1970-01-01 in ticks

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0) ? 1 : 0);
}

// Attribute values keep chat text exactly: base/text.hpp's escaping writes TAB, LF and CR as character
// references (XML 1.0 §3.3.3).
void append_attr(std::string& out, const char* name, std::string_view value) { append_xml_attribute(out, name, value); }

void append_time(std::string& out, const char* element, std::int64_t ticks, const char* indent) {
  out += indent;
  out += '<';
  out += element;
  append_attr(out, "since1970", std::to_string(since1970(ticks)));
  append_attr(out, "string", utc_string(ticks));
  append_attr(out, "long", std::to_string(dotnet_ticks(ticks)));
  out += " />\n";
}

// <Message> or <FirstMessage>: docs/compliance.md "Output shape"; only Message elements carry the chain link.
void append_message(std::string& out, const char* element, const event& e, const xml_options& opts) {
  const bool chained = std::strcmp(element, "Message") == 0;
  const char* indent = chained ? "      " : "    ";
  auto address = sender_address(e.user_uri);
  out += indent;
  out += '<';
  out += element;
  append_attr(out, "type", to_string(e.kind));
  append_attr(out, "content", e.content);
  append_attr(out, "id", std::to_string(e.id));
  if (chained)
    append_attr(out, "pc:hash", hex::encode(e.hash));
  out += ">\n";
  out += indent;
  out += "  <Sender";
  append_attr(out, "UserName", e.display_name.empty() ? address : std::string_view{e.display_name});
  append_attr(out, "id", std::to_string(sender_id(e.user_uri)));
  append_attr(out, "email", opts.add_user_details ? address : std::string_view{});
  append_attr(out, "internal", opts.add_user_details ? "true" : "");
  append_attr(out, "uri", address);
  out += " />\n";
  append_time(out, "DateTimeUTC", e.ticks, chained ? "        " : "      ");
  out += indent;
  out += "</";
  out += element;
  out += ">\n";
}

// One Conversation: a room's events of this batch, in id order.
void append_conversation(std::string& out, const std::vector<const event*>& events, const xml_options& opts) {
  const event& first = *events.front();
  out += "  <Conversation>\n    <Channel";
  append_attr(out, "uri", first.room_uri);
  append_attr(out, "name", opts.add_room_details && !first.room_name.empty() ? first.room_name : first.room_uri);
  append_attr(out, "islogged", opts.add_room_details ? (first.room_logged ? "true" : "false") : "");
  out += " />\n";
  append_message(out, "FirstMessage", first, opts);
  out += "    <Messages>\n";
  for (const auto* e : events)
    append_message(out, "Message", *e, opts);
  out += "    </Messages>\n";
  append_time(out, "StartTimeUTC", first.ticks, "    ");
  append_time(out, "EndTimeUTC", events.back()->ticks, "    ");
  out += "  </Conversation>\n";
}

status fail_errno(const std::string& what) {
  return {errc::io_error, what + ": " + std::strerror(errno)};
}

// Temporary file in the same directory, fsync, rename, fsync the directory: readers see the old file or the
// whole new one, and after the rename returns the new one survives a crash.
status write_atomically(const std::string& dir, const std::string& name, const std::string& content) {
  auto path = dir + "/" + name;
  auto tmp = dir + "/." + name + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail_errno("creating " + tmp);
  std::size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto st = fail_errno("writing " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto st = fail_errno("fsync " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  if (::close(fd) != 0)
    return fail_errno("closing " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto st = fail_errno("renaming " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fail_errno("opening " + dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  return rc == 0 ? status::success() : fail_errno("fsync " + dir);
}

} // namespace

std::int64_t since1970(std::int64_t ticks) {
  return floor_div(ticks, 10'000);
}

std::int64_t dotnet_ticks(std::int64_t ticks) {
  return ticks + dotnet_epoch_offset;
}

// Days since 1970-01-01 -> civil date: H. Hinnant, "chrono-Compatible Low-Level Date Algorithms".
std::string utc_string(std::int64_t ticks) {
  auto z = floor_div(ticks, ticks_per_day);
  auto rem = ticks - z * ticks_per_day;
  z += 719'468;
  auto era = floor_div(z, 146'097);
  auto doe = z - era * 146'097;
  auto yoe = (doe - doe / 1'460 + doe / 36'524 - doe / 146'096) / 365;
  auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  auto mp = (5 * doy + 2) / 153;
  auto day = doy - (153 * mp + 2) / 5 + 1;
  auto month = mp < 10 ? mp + 3 : mp - 9;
  auto year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  auto secs = rem / ticks_per_second;
  char buf[128]; // room for any int64 year, so the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%07lldZ", static_cast<long long>(year),
                static_cast<long long>(month), static_cast<long long>(day), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(rem % ticks_per_second));
  return buf;
}

std::uint64_t sender_id(std::string_view user_uri) {
  auto d = sha256_of(ascii_lower(sender_address(user_uri)));
  std::uint64_t id = 0;
  for (std::size_t i = 0; d && i < 6; ++i) // 0 only when libcrypto is broken (then chain_hash has stopped the run)
    id = id << 8 | (*d)[i];
  return id;
}

std::string output_file_name(std::uint64_t batch_id, std::size_t part) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "pchat-compliance-%012llu-%03zu.xml", static_cast<unsigned long long>(batch_id), part);
  return buf;
}

xml_adapter::xml_adapter(xml_options opts) : opts_(std::move(opts)) {}

status xml_adapter::write(const batch& b) {
  if (b.empty())
    return status::success();
  std::error_code ec;
  std::filesystem::create_directories(opts_.output_dir, ec);
  if (ec)
    return {errc::io_error, "cannot create " + opts_.output_dir + ": " + ec.message()};

  // Rooms in the order they first appear in the batch; each room's events in id order.
  std::vector<std::pair<std::size_t, std::vector<const event*>>> rooms; // (index of its first event, events)
  std::unordered_map<std::string_view, std::size_t> room_index;
  for (std::size_t i = 0; i < b.events.size(); ++i) {
    const auto& e = b.events[i];
    auto [r, added] = room_index.emplace(e.room_uri, rooms.size());
    if (added)
      rooms.push_back({i, {}});
    rooms[r->second].second.push_back(&e);
  }
  // Files: all rooms in one, or one room each.
  std::vector<std::vector<std::size_t>> files;
  for (std::size_t r = 0; r < rooms.size(); ++r)
    if (opts_.one_room_per_file || files.empty())
      files.push_back({r});
    else
      files.front().push_back(r);

  for (std::size_t f = 0; f < files.size(); ++f) {
    // pc:prev: the chain link before the file's lowest id, which is the first event of its first room.
    auto first = rooms[files[f].front()].first;
    const digest& prev = first == 0 ? b.prev : b.events[first - 1].hash;
    std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Conversations";
    append_attr(out, "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance");
    append_attr(out, "xmlns:xsd", "http://www.w3.org/2001/XMLSchema");
    append_attr(out, "xmlns:pc", chain_namespace);
    append_attr(out, "pc:batch", std::to_string(b.id));
    append_attr(out, "pc:part", std::to_string(f + 1));
    append_attr(out, "pc:parts", std::to_string(files.size()));
    append_attr(out, "pc:prev", hex::encode(prev));
    out += ">\n";
    for (auto r : files[f])
      append_conversation(out, rooms[r].second, opts_);
    out += "</Conversations>\n";
    if (auto st = write_atomically(opts_.output_dir, output_file_name(b.id, f + 1), out); !st.ok())
      return st;
  }
  return status::success();
}

} // namespace pchat::compliance
