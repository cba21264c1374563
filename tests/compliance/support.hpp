#pragma once
// Helpers of the compliance tests: events, decorators that make the real adapter and queue fail on demand,
// and a reader of the XML output (tinyxml2) that lists every Message with its file.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <tinyxml2.h>

#include "compliance/adapter.hpp"
#include "compliance/queue.hpp"
#include "support/temp_dir.hpp"

namespace pchat::test {

// A whole file's bytes.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// 2008-06-04T20:15:40.9535482Z, the instant of the example in docs/compliance.md "Output shape", in Unix 100-ns ticks.
inline constexpr std::int64_t sample_ticks = 12'126'105'409'535'482;

inline compliance::event make_event(compliance::event_kind kind, const std::string& room, const std::string& user,
                                    const std::string& content = {}, std::int64_t ticks = sample_ticks) {
  compliance::event e;
  e.kind = kind;
  e.room_uri = "ma-chan://example.com/" + room;
  e.room_name = room + " room";
  e.user_uri = "sip:" + user + "@example.com";
  e.display_name = user == "bob" ? "" : "User " + user;
  e.ticks = ticks;
  e.content = content;
  return e;
}

inline std::vector<compliance::event> chats(std::size_t n, const std::string& prefix = "m", std::size_t rooms = 1) {
  std::vector<compliance::event> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(make_event(compliance::event_kind::chat, "room" + std::to_string(i % rooms), "alice",
                             prefix + std::to_string(i), sample_ticks + static_cast<std::int64_t>(i) * 10'000)); // ms
  return out;
}

inline std::unique_ptr<compliance::queue> open_queue(const std::string& dir) {
  std::unique_ptr<compliance::queue> q;
  auto st = compliance::queue::open(dir, q);
  INFO(st.message);
  REQUIRE(st.ok());
  return q;
}

// The real adapter, failing its next `failures` calls (without touching the output) while counting calls.
class failing_adapter final : public compliance::adapter {
public:
  explicit failing_adapter(std::shared_ptr<compliance::adapter> real, int failures = 0)
      : real_(std::move(real)), failures_(failures) {}
  compliance::status write(const compliance::batch& b) override {
    ++calls;
    batch_ids.push_back(b.id);
    if (failures_ > 0) {
      --failures_;
      return {compliance::errc::io_error, "injected adapter failure"};
    }
    return real_->write(b);
  }
  void fail_next(int n) { failures_ = n; }
  int calls = 0;
  std::vector<std::uint64_t> batch_ids;

private:
  std::shared_ptr<compliance::adapter> real_;
  int failures_;
};

// The real queue; enqueue fails while `down` is set, and every enqueue call is counted (group commits).
class failing_queue final : public compliance::queue {
public:
  explicit failing_queue(std::unique_ptr<compliance::queue> real) : real_(std::move(real)) {}
  compliance::status enqueue(std::vector<compliance::event>& events) override {
    ++enqueues;
    if (down)
      return {compliance::errc::io_error, "injected: disk full"};
    return real_->enqueue(events);
  }
  compliance::status take(std::size_t max, compliance::batch& out) override { return real_->take(max, out); }
  compliance::status done(std::uint64_t id) override { return real_->done(id); }
  compliance::queue_counts counts() const override { return real_->counts(); }
  compliance::status checkpoint(const std::string& dir) override { return real_->checkpoint(dir); }
  bool down = false;
  int enqueues = 0;

private:
  std::unique_ptr<compliance::queue> real_;
};

// One Message of the output, as a reader of the XML sees it.
struct archived {
  std::string file;
  std::string room;
  std::string type;
  std::string content;
  std::uint64_t id = 0;
  std::string user_name;
  std::string sender_uri;
  std::string since1970;
  std::string utc;
  std::string dotnet;
};

inline std::vector<std::string> output_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  if (std::filesystem::exists(dir))
    for (const auto& f : std::filesystem::directory_iterator(dir))
      out.push_back(f.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<archived> read_output(const std::filesystem::path& dir) {
  std::vector<archived> out;
  for (const auto& name : output_files(dir)) {
    tinyxml2::XMLDocument doc;
    INFO(name);
    REQUIRE(doc.LoadFile((dir / name).string().c_str()) == tinyxml2::XML_SUCCESS);
    for (auto* c = doc.RootElement()->FirstChildElement("Conversation"); c; c = c->NextSiblingElement("Conversation"))
      for (auto* m = c->FirstChildElement("Messages")->FirstChildElement("Message"); m;
           m = m->NextSiblingElement("Message")) {
        archived a;
        a.file = name;
        a.room = c->FirstChildElement("Channel")->Attribute("uri");
        a.type = m->Attribute("type");
        a.content = m->Attribute("content");
        a.id = std::stoull(m->Attribute("id"));
        a.user_name = m->FirstChildElement("Sender")->Attribute("UserName");
        a.sender_uri = m->FirstChildElement("Sender")->Attribute("uri");
        a.since1970 = m->FirstChildElement("DateTimeUTC")->Attribute("since1970");
        a.utc = m->FirstChildElement("DateTimeUTC")->Attribute("string");
        a.dotnet = m->FirstChildElement("DateTimeUTC")->Attribute("long");
        out.push_back(std::move(a));
      }
  }
  return out;
}

} // namespace pchat::test
