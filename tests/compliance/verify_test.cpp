// verify_dir over real adapter output: clean output passes; a changed, removed or reordered Message, a removed
// file and a truncated archive are caught and located.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "base/hex.hpp"
#include "compliance/verify.hpp"
#include "compliance/xml_adapter.hpp"
#include "support.hpp"

using namespace pchat::compliance;
using namespace pchat::test;
namespace fs = std::filesystem;

namespace {

void spit(const fs::path& p, const std::string& text) {
  std::ofstream{p, std::ios::binary | std::ios::trunc} << text;
}

// [begin, end) of the line-aligned <Message> element with this id.
std::pair<std::size_t, std::size_t> message_at(const std::string& text, std::uint64_t id) {
  auto at = text.find(" id=\"" + std::to_string(id) + "\" pc:hash=");
  REQUIRE(at != std::string::npos);
  auto begin = text.rfind('\n', text.rfind("<Message ", at)) + 1;
  auto end = text.find("</Message>\n", at) + std::string{"</Message>\n"}.size();
  return {begin, end};
}

// Archive of 3 batches (ids 1-4, 5-8, 9-10) in two rooms; one file per batch, or per room and batch.
struct archive {
  temp_dir tmp;
  fs::path out = tmp.path / "out";
  chain_point end;

  explicit archive(bool per_room = false) {
    auto q = open_queue(tmp.str("queue"));
    auto events = chats(10, "m", 2);
    REQUIRE(q->enqueue(events).ok());
    xml_adapter xml{{out.string(), per_room, true, true}};
    for (batch b; q->take(4, b).ok() && !b.empty();) {
      REQUIRE(xml.write(b).ok());
      REQUIRE(q->done(b.id).ok());
    }
    end = q->counts().archived;
  }

  fs::path file(std::uint64_t batch, std::size_t part = 1) const { return out / output_file_name(batch, part); }

  verify_report verify(bool with_end = true) const {
    verify_options o;
    if (with_end)
      o.expect_end = end;
    return verify_dir(out.string(), o);
  }
};

bool reports(const verify_report& r, const std::string& file, std::uint64_t id, const std::string& what) {
  for (const auto& p : r.problems)
    if (p.file == file && p.message_id == id && p.what.find(what) != std::string::npos)
      return true;
  return false;
}

} // namespace

TEST_CASE("verify: untouched output passes, one file per batch and one per room") {
  for (bool per_room : {false, true}) {
    archive a{per_room};
    auto r = a.verify();
    INFO(to_string(r));
    CHECK(r.ok());
    CHECK(r.files == (per_room ? 6u : 3u));
    CHECK(r.messages == 10);
    CHECK(r.end.id == 10);
    CHECK(to_string(r).rfind("ok: ", 0) == 0);
  }
}

TEST_CASE("verify: (a) changed content is caught at its file and Message") {
  archive a;
  auto text = slurp(a.file(2));
  auto at = text.find("content=\"m7\"", message_at(text, 8).first); // the Message, not a FirstMessage
  REQUIRE(at != std::string::npos);
  text.replace(at, 12, "content=\"m7 (edited)\"");
  spit(a.file(2), text);
  auto r = a.verify();
  INFO(to_string(r));
  CHECK(reports(r, output_file_name(2, 1), 8, "changed"));
  CHECK(r.problems.size() == 1);
}

TEST_CASE("verify: a changed sender, time or type is caught too, a recomputed hash is caught at the next Message") {
  archive a;
  auto text = slurp(a.file(1));
  auto [b, e] = message_at(text, 2);
  auto msg = text.substr(b, e - b);
  auto edited = msg;
  edited.replace(edited.find("alice@example.com\" />"), 5, "mallo");
  text.replace(b, e - b, edited);
  spit(a.file(1), text);
  auto r = a.verify();
  INFO(to_string(r));
  CHECK(reports(r, output_file_name(1, 1), 2, "changed"));

  // Forge message 2's hash to match the edit: the chain breaks at message 3 instead.
  event forged;
  forged.id = 2;
  forged.kind = event_kind::chat;
  forged.content = "m1";
  forged.room_uri = "ma-chan://example.com/room1";
  forged.user_uri = "mallo@example.com";
  forged.ticks = sample_ticks + 10'000;
  auto q = open_queue(a.tmp.str("queue2"));
  std::vector<event> first = chats(1, "m", 2);
  REQUIRE(q->enqueue(first).ok());
  auto forged_hash = pchat::hex::encode(chain_hash(first[0].hash, forged));
  auto hash_at = text.find("pc:hash=\"", text.find(" id=\"2\" pc:hash=")) + 9;
  text.replace(hash_at, 64, forged_hash);
  spit(a.file(1), text);
  r = a.verify();
  INFO(to_string(r));
  CHECK_FALSE(reports(r, output_file_name(1, 1), 2, "changed"));
  CHECK(reports(r, output_file_name(1, 1), 3, "changed")); // the chain runs in id order, across Conversations
}

TEST_CASE("verify: (b) a removed Message is caught where the gap is") {
  archive a;
  auto text = slurp(a.file(2));
  auto [b, e] = message_at(text, 7); // not the first of its Conversation
  text.erase(b, e - b);
  spit(a.file(2), text);
  auto r = a.verify();
  INFO(to_string(r));
  CHECK(reports(r, output_file_name(2, 1), 8, "Messages 7 are missing"));
}

TEST_CASE("verify: (c) two swapped Messages are caught as reordered") {
  archive a;
  auto text = slurp(a.file(2));
  // Conversation of room0 in batch 2 holds ids 5 and 7 (batch 2 = ids 5-8, alternate rooms).
  auto m5 = message_at(text, 5);
  auto m7 = message_at(text, 7);
  REQUIRE(m5.second <= m7.first);
  auto s5 = text.substr(m5.first, m5.second - m5.first);
  auto s7 = text.substr(m7.first, m7.second - m7.first);
  text.replace(m7.first, s7.size(), s5);
  text.replace(m5.first, s5.size(), s7);
  spit(a.file(2), text);
  auto r = a.verify();
  INFO(to_string(r));
  CHECK(reports(r, output_file_name(2, 1), 5, "reordered"));
}

TEST_CASE("verify: (d) a removed file is named, and so is the gap it leaves") {
  for (bool per_room : {false, true}) {
    archive a{per_room};
    fs::remove(a.file(2, per_room ? 2 : 1));
    auto r = a.verify();
    INFO(to_string(r));
    if (per_room) {
      CHECK(reports(r, output_file_name(2, 2), 0, "missing: part 2"));
    } else {
      CHECK(reports(r, output_file_name(2, 1), 0, "missing: no file of batch 2"));
      CHECK(reports(r, output_file_name(3, 1), 9, "Messages 5..8 are missing"));
    }
  }
}

TEST_CASE("verify: files removed at the end are caught against the queue's archived end") {
  archive a;
  fs::remove(a.file(3));
  CHECK(a.verify(false).ok()); // a chain cut at its end is still a valid chain...
  auto r = a.verify(true);     // ...but not the one the compliance store says it archived
  INFO(to_string(r));
  CHECK(reports(r, "", 8, "archived up to 10"));
  // Output whose first files were moved away verifies from its first file's pc:prev.
  archive b;
  fs::remove(b.file(1));
  CHECK_FALSE(b.verify().ok());
  verify_options partial;
  partial.from_genesis = false;
  partial.expect_end = b.end;
  CHECK(verify_dir(b.out.string(), partial).ok());
}

TEST_CASE("verify: FirstMessage, time encodings, renamed and unparsable files") {
  archive a;
  auto text = slurp(a.file(1));
  auto first = text.find("<FirstMessage type=\"CHAT\" content=\"m0\"");
  REQUIRE(first != std::string::npos);
  text.replace(text.find("m0", first), 2, "m9");
  auto since = text.find("since1970=\"", text.find(" id=\"3\" pc:hash=")) + 11;
  text[since + 5] = text[since + 5] == '0' ? '1' : '0';
  spit(a.file(1), text);
  fs::rename(a.file(3), a.out / output_file_name(4, 1));
  spit(a.out / output_file_name(5, 1), "<Conversations>");
  auto r = a.verify();
  INFO(to_string(r));
  CHECK(reports(r, output_file_name(1, 1), 1, "FirstMessage differs"));
  CHECK(reports(r, output_file_name(1, 1), 3, "since1970/string disagree"));
  CHECK(reports(r, output_file_name(4, 1), 0, "renamed"));
  CHECK(reports(r, output_file_name(5, 1), 0, "does not parse"));
}
