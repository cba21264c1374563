// Room files in storage: the content store on disk (by SHA-256, streamed, deduplicated) and the file metadata in
// the store's "files" column family, against a real file system and a real RocksDB in temporary directories.
#include "storage/file_store.hpp"

#include "storage/record_codec.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

using namespace pchat::storage;
using pchat::test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string put(const file_store& blobs, const std::string& content, std::size_t chunk = 7) {
  std::unique_ptr<file_store::upload> up;
  REQUIRE(blobs.begin(up).ok());
  for (std::size_t at = 0; at < content.size(); at += chunk)
    REQUIRE(up->write(content.data() + at, std::min(chunk, content.size() - at)).ok());
  CHECK(up->size() == content.size());
  std::string hash;
  auto st = up->commit(hash);
  INFO(st.message);
  REQUIRE(st.ok());
  return hash;
}

// Every byte value, with a position-dependent twist so that shifted or truncated content never matches.
std::string binary(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<char>((i + i / 251) & 0xff);
  return out;
}

std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir))
    ++n;
  return n;
}

std::set<std::string> names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.insert(e.path().filename().string());
  return out;
}

} // namespace

TEST_CASE("file_store keeps content under its SHA-256 and stores identical content once") {
  temp_dir tmp;
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());

  // FIPS 180-2 example: SHA-256("abc"), written in chunks of 1 byte.
  auto abc = put(*blobs, "abc", 1);
  CHECK(abc == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(blobs->path_of(abc) == tmp.str("files") + "/ba/" + abc);
  CHECK(slurp(blobs->path_of(abc)) == "abc");
  CHECK(blobs->contains(abc));

  std::string binary;
  for (int round = 0; round < 300; ++round)
    for (int b = 0; b < 256; ++b)
      binary.push_back(static_cast<char>(b));
  auto h1 = put(*blobs, binary, 4096);
  auto h2 = put(*blobs, binary, 1000);
  CHECK(h1 == h2);
  CHECK(slurp(blobs->path_of(h1)) == binary);
  // The second upload of the same content left no second file: the fan-out directory holds exactly the blobs
  // stored under its prefix.
  std::set<std::string> expected{h1};
  if (abc.substr(0, 2) == h1.substr(0, 2))
    expected.insert(abc);
  CHECK(names(fs::path{tmp.str("files")} / h1.substr(0, 2)) == expected);
  CHECK(entries(tmp.str("files/tmp")) == 0); // the duplicate's temporary file is gone

  auto empty = put(*blobs, "");
  CHECK(empty == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(fs::file_size(blobs->path_of(empty)) == 0);
}

TEST_CASE("file_store removes the temporary file of an upload that is aborted or never committed") {
  temp_dir tmp;
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  {
    std::unique_ptr<file_store::upload> up;
    REQUIRE(blobs->begin(up).ok());
    REQUIRE(up->write("partial", 7).ok());
    CHECK(entries(tmp.str("files/tmp")) == 1);
  }
  CHECK(entries(tmp.str("files/tmp")) == 0);
  std::unique_ptr<file_store::upload> up;
  REQUIRE(blobs->begin(up).ok());
  REQUIRE(up->write("partial", 7).ok());
  up->abort();
  CHECK(entries(tmp.str("files/tmp")) == 0);
  std::string hash;
  CHECK_FALSE(up->commit(hash).ok());
  CHECK_FALSE(up->write("x", 1).ok());

  // A temporary left by a crash is removed when the store is opened again.
  std::ofstream(tmp.str("files/tmp/stale.part")) << "left over";
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  CHECK(entries(tmp.str("files/tmp")) == 0);
}

TEST_CASE("file_store copies a blob to another directory (the compliance copy)") {
  temp_dir tmp;
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  auto h = put(*blobs, "keep me");
  REQUIRE(blobs->copy_to(h, tmp.str("compliance/files")).ok());
  CHECK(slurp(tmp.str("compliance/files/" + h)) == "keep me");
  CHECK(blobs->copy_to(h, tmp.str("compliance/files")).ok()); // again: already there
  CHECK(blobs->copy_to(std::string(64, '0'), tmp.str("compliance/files")).code == errc::not_found);
  CHECK(blobs->copy_to("../../etc/passwd", tmp.str("compliance/files")).code == errc::not_found);
  CHECK(blobs->path_of("../../etc/passwd").empty());
  CHECK(blobs->path_of(std::string(64, 'A')).empty()); // upper case is not a name the store makes
}

TEST_CASE("file_store's compliance copy: concurrent copies of the same new content all succeed, complete") {
  temp_dir tmp;
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  const auto content = binary(3 * 1024 * 1024 + 17);
  auto h = put(*blobs, content, 1 << 20);
  // copy_mode::copy: what a compliance directory on another file system gets (the old fixed "<sha>.part" name
  // let one thread truncate the temporary another was fsyncing and renaming).
  for (auto mode : {file_store::copy_mode::copy, file_store::copy_mode::link_or_copy}) {
    for (int round = 0; round < 3; ++round) {
      const auto dest = tmp.str("compliance" + std::to_string(round) + (mode == file_store::copy_mode::copy ? "c" : "l"));
      constexpr int threads = 6;
      std::vector<status> results(threads, status{errc::io_error, "not run"});
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] { results[static_cast<std::size_t>(t)] = blobs->copy_to(h, dest, mode); });
      for (auto& w : workers)
        w.join();
      for (const auto& r : results) {
        INFO(r.message);
        CHECK(r.ok());
      }
      CHECK(slurp(dest + "/" + h) == content);
      CHECK(names(dest) == std::set<std::string>{h}); // no temporaries left behind
      struct stat blob{};
      struct stat copy{};
      REQUIRE(::stat(blobs->path_of(h).c_str(), &blob) == 0);
      REQUIRE(::stat((dest + "/" + h).c_str(), &copy) == 0);
      if (mode == file_store::copy_mode::copy)
        CHECK(blob.st_ino != copy.st_ino); // a real copy, not a link
      else
        CHECK(blob.st_ino == copy.st_ino); // same file system: a hard link
    }
  }
}

TEST_CASE("file_store's compliance copy replaces a truncated or damaged copy instead of trusting it") {
  temp_dir tmp;
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  const auto content = binary(200000);
  auto h = put(*blobs, content, 65536);
  const auto dest = tmp.str("compliance/files");
  fs::create_directories(dest);
  for (auto mode : {file_store::copy_mode::copy, file_store::copy_mode::link_or_copy}) {
    // What a crash between writing and fsyncing a copy could leave: a prefix.
    std::ofstream(dest + "/" + h, std::ios::binary | std::ios::trunc) << content.substr(0, 4096);
    auto st = blobs->copy_to(h, dest, mode);
    INFO(st.message);
    REQUIRE(st.ok());
    CHECK(slurp(dest + "/" + h) == content);
    // The right size but other bytes.
    auto damaged = content;
    damaged[100000] ^= 0x5a;
    fs::remove(dest + "/" + h);
    std::ofstream(dest + "/" + h, std::ios::binary | std::ios::trunc) << damaged;
    REQUIRE(blobs->copy_to(h, dest, mode).ok());
    CHECK(slurp(dest + "/" + h) == content);
    fs::remove(dest + "/" + h);
  }
  // An intact copy is kept as it is (same inode: not copied again).
  REQUIRE(blobs->copy_to(h, dest, file_store::copy_mode::copy).ok());
  struct stat before{};
  struct stat after{};
  REQUIRE(::stat((dest + "/" + h).c_str(), &before) == 0);
  REQUIRE(blobs->copy_to(h, dest, file_store::copy_mode::copy).ok());
  REQUIRE(::stat((dest + "/" + h).c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(names(dest) == std::set<std::string>{h});
}

TEST_CASE("file_store's compliance copy removes temporaries a crash left when it first uses the directory") {
  temp_dir tmp;
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  auto h = put(*blobs, "compliance content");
  const auto dest = tmp.str("deep/er/compliance"); // parents made on the way
  fs::create_directories(dest);
  const std::string other(64, 'c');
  std::ofstream(dest + "/." + other + ".0123456789abcdef.part") << "half a cop";
  std::ofstream(dest + "/" + other + ".part") << "half"; // the fixed name of earlier versions
  std::ofstream(dest + "/" + other) << "kept";           // a finished copy
  std::ofstream(dest + "/notes.part") << "kept";         // not a name copy_to makes
  REQUIRE(blobs->copy_to(h, dest, file_store::copy_mode::copy).ok());
  CHECK(names(dest) == std::set<std::string>{h, other, "notes.part"});
  CHECK(slurp(dest + "/" + h) == "compliance content");

  // A directory that does not exist yet is created, parents included.
  REQUIRE(blobs->copy_to(h, tmp.str("new/a/b"), file_store::copy_mode::copy).ok());
  CHECK(slurp(tmp.str("new/a/b/" + h)) == "compliance content");
  // A directory removed after its first use is created again.
  fs::remove_all(tmp.str("new"));
  REQUIRE(blobs->copy_to(h, tmp.str("new/a/b")).ok());
  CHECK(slurp(tmp.str("new/a/b/" + h)) == "compliance content");
}

TEST_CASE("file_store's compliance copy to another file system (/dev/shm) is a real, complete copy") {
  struct stat shm{};
  temp_dir tmp;
  struct stat here{};
  REQUIRE(::stat(tmp.str().c_str(), &here) == 0);
  if (::stat("/dev/shm", &shm) != 0 || !S_ISDIR(shm.st_mode) || ::access("/dev/shm", W_OK) != 0 ||
      shm.st_dev == here.st_dev) {
    WARN("no writable /dev/shm on another file system than " << tmp.str() << ": the link path only");
    return;
  }
  std::string shm_dir = "/dev/shm/pchat-test-XXXXXX";
  REQUIRE(::mkdtemp(shm_dir.data()) != nullptr);
  struct cleanup {
    std::string dir;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_later{shm_dir};
  std::unique_ptr<file_store> blobs;
  REQUIRE(file_store::open(tmp.str("files"), blobs).ok());
  const auto content = binary(1 << 20);
  auto h = put(*blobs, content, 100000);
  const auto dest = shm_dir + "/compliance";
  std::vector<status> results(4, status{errc::io_error, "not run"});
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < results.size(); ++t)
    workers.emplace_back([&, t] { results[t] = blobs->copy_to(h, dest); }); // link() fails with EXDEV
  for (auto& w : workers)
    w.join();
  for (const auto& r : results) {
    INFO(r.message);
    CHECK(r.ok());
  }
  CHECK(slurp(dest + "/" + h) == content);
  CHECK(names(dest) == std::set<std::string>{h});
  std::ofstream(dest + "/" + h, std::ios::binary | std::ios::trunc) << "trunc";
  REQUIRE(blobs->copy_to(h, dest).ok());
  CHECK(slurp(dest + "/" + h) == content);
}

TEST_CASE("file_store accepts plain file names and refuses path tricks and control characters") {
  for (const char* ok : {"Report.txt", "a", "résumé 2024.pdf", "日本語.txt", "..hidden", "a..b", "x.tar.gz"})
    CHECK(file_store::valid_name(ok));
  for (std::string bad : {std::string{}, std::string{"."}, std::string{".."}, std::string{"../etc/passwd"},
                          std::string{"a/b"}, std::string{"a\\b"}, std::string{"nul\0x", 5}, std::string{"tab\tx"},
                          std::string{"line\nbreak"}, std::string{" lead"}, std::string{"trail "},
                          std::string{"\xc0\xaf"} /* overlong '/' */, std::string{"\xed\xa0\x80"} /* surrogate */,
                          std::string{"\xff"}, std::string{"\xc2\x85"} /* C1 NEL */, std::string(256, 'x')})
    CHECK_FALSE(file_store::valid_name(bad));
  CHECK(file_store::valid_name(std::string(255, 'x')));
}

TEST_CASE("file_store refuses names with bidirectional or invisible format characters (spoofed extensions)") {
  // "invoice<RLO>fdp.exe" displays as "invoiceexe.pdf".
  CHECK_FALSE(file_store::valid_name("invoice\xe2\x80\xae" "fdp.exe"));
  const char* spoofers[] = {
    "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae", // U+202A..U+202E
    "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9",                   // U+2066..U+2069
    "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d", "\xe2\x80\x8e", "\xe2\x80\x8f", // U+200B..U+200F
    "\xe2\x80\xa8", "\xe2\x80\xa9",                                                     // U+2028, U+2029
    "\xef\xbb\xbf",                                                                      // U+FEFF
    "\xd8\x9c",                                                                          // U+061C
    "\xe2\x81\xa0",                                                                      // U+2060 word joiner
  };
  for (const char* cp : spoofers) {
    INFO("code point bytes " << std::string{cp}.size());
    CHECK_FALSE(file_store::valid_name(std::string{"a"} + cp + "b.txt"));
    CHECK_FALSE(file_store::valid_name(std::string{cp} + "b.txt"));
    CHECK_FALSE(file_store::valid_name(std::string{"b.txt"} + cp));
  }
  // Their neighbours stay allowed: hyphens and dashes (U+2010, U+2013), the ellipsis (U+2026), Arabic text.
  for (const char* ok : {"a\xe2\x80\x90" "b", "a \xe2\x80\x93 b", "a\xe2\x80\xa6", "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85.txt"})
    CHECK(file_store::valid_name(ok));
  // Still refused: a truncated sequence, a lone continuation byte, a code point beyond U+10FFFF.
  for (const char* bad : {"a\xe2\x80", "\x80" "a", "\xf4\x90\x80\x80"})
    CHECK_FALSE(file_store::valid_name(bad));
}

TEST_CASE("file records round trip through the files column family, survive a reopen and go with their room") {
  temp_dir tmp;
  const auto dir = tmp.str("db");
  file_record f;
  std::uint64_t room_id = 0;
  {
    std::unique_ptr<store> db;
    REQUIRE(store::open(dir, {}, db).ok());
    category c;
    c.name = "General";
    REQUIRE(db->create_category(c).ok());
    room r;
    r.name = "Lobby";
    r.category_id = c.id;
    REQUIRE(db->create_room(r).ok());
    room_id = r.id;
    f.room_id = r.id;
    f.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    f.name = "Report \xe2\x80\x93 Q1.pdf";
    f.content_type = "application/pdf";
    f.size = 123456789012ull;
    f.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    f.uploader = "sip:alice@example.com";
    f.ticks = 17000000000000000;
    REQUIRE(db->put_file(f).ok());

    auto bad = f;
    bad.sha256 = "not hex";
    CHECK(db->put_file(bad).code == errc::invalid_argument);
    bad = f;
    bad.id.clear();
    CHECK(db->put_file(bad).code == errc::invalid_argument);
    bad = f;
    bad.room_id = 999;
    CHECK(db->put_file(bad).code == errc::not_found);
  }
  std::unique_ptr<store> db;
  REQUIRE(store::open(dir, {}, db).ok());
  auto got = db->file(room_id, "0F8FAD5B-D9CB-469F-A165-70867728950E"); // ids are case-insensitive
  REQUIRE(got);
  CHECK(got->id == f.id);
  CHECK(got->name == f.name);
  CHECK(got->content_type == f.content_type);
  CHECK(got->size == f.size);
  CHECK(got->sha256 == f.sha256);
  CHECK(got->uploader == f.uploader);
  CHECK(got->ticks == f.ticks);
  CHECK_FALSE(db->file(room_id + 1, f.id));
  CHECK_FALSE(db->file(room_id, ""));
  REQUIRE(db->files(room_id).size() == 1);

  REQUIRE(db->remove_room(room_id).ok());
  CHECK(db->files(room_id).empty());
  CHECK_FALSE(db->file(room_id, f.id));
}

TEST_CASE("file record decoding is strict") {
  file_record f;
  f.id = "x";
  f.name = "n";
  f.sha256 = std::string(64, 'a');
  f.uploader = "sip:a@b";
  auto v = codec::encode_file(f);
  REQUIRE(codec::decode_file(v, 1, "x"));
  CHECK_FALSE(codec::decode_file(v + "x", 1, "x"));
  CHECK_FALSE(codec::decode_file(v.substr(0, v.size() - 1), 1, "x"));
  auto wrong = f;
  wrong.sha256 = std::string(64, 'A');
  CHECK_FALSE(codec::decode_file(codec::encode_file(wrong), 1, "x"));
}
