// Room files end to end (docs/protocol.md "Room files"): a real pchatd on loopback, tokens over real
// SIP/XCCOS (chat_client), the bytes over real HTTP (cpp-httplib's client), content and metadata in a real file
// store and RocksDB. Every wait is on an answer (SIP reply, HTTP response, pchatd's ready line or exit), never a
// sleep.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <tinyxml2.h>

#include "codec/xccos.hpp"
#include "storage/store.hpp"
#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "client/chat_client.hpp"

using namespace pchat;
using pchat::test::pchatd_process;
using pchat::test::sign_in;
namespace fs = std::filesystem;

namespace {

// Every byte value, over and over, with a position-dependent twist so that a shifted range cannot match.
std::string binary_content(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<char>((i + i / 256) & 0xff);
  return out;
}

std::string write_temp(const pchatd_process& server, const std::string& name, const std::string& content) {
  auto path = fs::path{server.data_dir()}.parent_path() / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

httplib::Client http(const pchatd_process& server) {
  httplib::Client cli(server.web_url());
  cli.set_read_timeout(20, 0);
  cli.set_write_timeout(20, 0);
  return cli;
}

// "http://127.0.0.1:PORT/files/..." -> "/files/..."
std::string path_of(const std::string& server_uri) {
  auto at = server_uri.find("/files/");
  REQUIRE(at != std::string::npos);
  return server_uri.substr(at);
}

// The status of an answer that must have come (a transport error fails the test instead of crashing it).
int status_of(const httplib::Result& r) {
  REQUIRE(r);
  return r->status;
}

std::string error_code(const httplib::Result& r) {
  REQUIRE(r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  INFO(r->body);
  REQUIRE(j.is_object());
  return j.value("error", std::string{});
}

// Blobs in the file store (<data>/files/ab/<sha256>), the temporaries left aside.
std::set<std::string> blobs_of(const pchatd_process& server) {
  std::set<std::string> out;
  fs::path root = fs::path{server.data_dir()} / "files";
  for (const auto& d : fs::directory_iterator(root))
    if (d.is_directory() && d.path().filename() != "tmp")
      for (const auto& f : fs::directory_iterator(d.path()))
        out.insert(f.path().filename().string());
  return out;
}

std::size_t temporaries(const pchatd_process& server) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(fs::path{server.data_dir()} / "files" / "tmp"))
    ++n;
  return n;
}

} // namespace

TEST_CASE("file tokens over SIP: members get them, outsiders and filepost=false categories do not") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  auto team = server.add_room("Team", "--privacy closed");
  auto hidden = server.add_room("Hidden", "--privacy secret");
  REQUIRE(server.ctl("category add Archive --filepost false") == 0);
  std::string out;
  REQUIRE(server.ctl("room add Old --category Archive", &out) == 0);
  auto old = out.substr(out.find('\t') + 1);
  old.erase(old.find_last_not_of("\r\n") + 1);
  REQUIRE(server.ctl("member add Team sip:alice@example.com") == 0);
  server.start();

  auto alice = sign_in(server, "alice@example.com");
  auto mallory = sign_in(server, "mallory@example.com");
  auto tok = alice->get_file_token(team, true, "plan.txt");
  INFO(tok.err().message);
  REQUIRE(tok);
  CHECK(tok->token.size() == 36);
  auto guid = team.substr(team.rfind('/') + 1);
  CHECK(tok->server_uri == server.web_url() + "/files/" + guid + "/plan.txt");

  auto refused = mallory->get_file_token(team, true, "plan.txt");
  REQUIRE_FALSE(refused);
  CHECK(refused.err().status == 403);
  auto secret = mallory->get_file_token(hidden, true, "x.txt");
  REQUIRE_FALSE(secret);
  CHECK(secret.err().status == 404);
  CHECK(secret.err().message.find("CHANNEL_NOT_FOUND") != std::string::npos);
  auto nopost = alice->get_file_token(old, true, "x.txt");
  REQUIRE_FALSE(nopost);
  CHECK(nopost.err().status == 403);
  CHECK(mallory->get_file_token(lobby, true, "x.txt")); // open room: anyone in scope
  auto tricky = mallory->get_file_token(lobby, true, "../../etc/passwd");
  REQUIRE_FALSE(tricky);
  CHECK(tricky.err().status == 400);
  auto nofile = mallory->get_file_token(lobby, false, "ma-filelink://example.com/" +
                                                         lobby.substr(lobby.rfind('/') + 1) + "/nope/x.txt");
  REQUIRE_FALSE(nofile);
  CHECK(nofile.err().status == 404);
  CHECK(nofile.err().message.find("FILE_NOT_FOUND") != std::string::npos);
}

TEST_CASE("a binary file round-trips byte for byte, and Range requests get exactly their bytes or 416") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  const auto content = binary_content(3 * 1024 * 1024 + 17);
  auto src = write_temp(server, "source.bin", content);

  auto up = alice->upload_file(lobby, src, "data \xe2\x80\x93 v1.bin", "application/x-pchat-test");
  INFO(up.err().message);
  REQUIRE(up);
  CHECK(up->size == content.size());
  CHECK(up->content_type == "application/x-pchat-test");
  CHECK(up->name == "data \xe2\x80\x93 v1.bin");
  auto link = xccos::parse_file_link(up->link);
  REQUIRE(link);
  CHECK(link->chan_uri() == lobby);
  CHECK(link->name == up->name);
  CHECK(blobs_of(server) == std::set<std::string>{up->sha256});
  CHECK(temporaries(server) == 0);

  // The link travels in a grpchat; bob finds it in the history and downloads the file.
  REQUIRE(alice->join(lobby));
  REQUIRE(alice->post(lobby, up->link));
  auto h = bob->history(lobby, 5);
  REQUIRE(h);
  REQUIRE(h->size() == 1);
  CHECK(h->front().text == up->link);
  auto dst = write_temp(server, "copy.bin", "");
  auto down = bob->download_file(lobby, h->front().text, dst);
  INFO(down.err().message);
  REQUIRE(down);
  CHECK(down->size == content.size());
  CHECK(down->content_type == "application/x-pchat-test");
  CHECK(slurp(dst) == content);

  // Range requests, several with one download token.
  auto tok = bob->get_file_token(lobby, false, up->link);
  REQUIRE(tok);
  auto cli = http(server);
  auto path = path_of(tok->server_uri) + "?token=" + tok->token;
  auto whole = cli.Get(path.c_str());
  REQUIRE(whole);
  CHECK(whole->status == 200);
  CHECK(whole->body == content);
  CHECK(whole->get_header_value("Accept-Ranges") == "bytes");
  // On the wire filename* is data%20%E2%80%93%20v1.bin; cpp-httplib's client decodes %XX in header values.
  CHECK(whole->get_header_value("Content-Disposition") ==
        "attachment; filename=\"data ___ v1.bin\"; filename*=UTF-8''data \xe2\x80\x93 v1.bin");
  CHECK(whole->get_header_value("Content-Type") == "application/x-pchat-test");
  auto mid = cli.Get(path.c_str(), {{"Range", "bytes=1000000-1000999"}});
  REQUIRE(mid);
  CHECK(mid->status == 206);
  CHECK(mid->get_header_value("Content-Range") == "bytes 1000000-1000999/" + std::to_string(content.size()));
  CHECK(mid->body == content.substr(1000000, 1000));
  auto tail = cli.Get(path.c_str(), {{"Range", "bytes=-10"}});
  REQUIRE(tail);
  CHECK(tail->status == 206);
  CHECK(tail->body == content.substr(content.size() - 10));
  auto open_end = cli.Get(path.c_str(), {{"Range", "bytes=" + std::to_string(content.size() - 3) + "-"}});
  REQUIRE(open_end);
  CHECK(open_end->status == 206);
  CHECK(open_end->body == content.substr(content.size() - 3));
  auto beyond = cli.Get(path.c_str(), {{"Range", "bytes=" + std::to_string(content.size()) + "-"}});
  REQUIRE(beyond);
  CHECK(beyond->status == 416);
  CHECK(beyond->get_header_value("Content-Range") == "bytes */" + std::to_string(content.size()));
  CHECK(error_code(beyond) == "range_not_satisfiable");

  // The same content uploaded again is stored once.
  auto again = bob->upload_file(lobby, src, "copy.bin");
  REQUIRE(again);
  CHECK(again->sha256 == up->sha256);
  CHECK(again->id != up->id);
  CHECK(blobs_of(server).size() == 1);
}

TEST_CASE("uploads over web.max-upload get 413 and leave nothing behind") {
  pchatd_process server({"--web.max-upload=1048576"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto cli = http(server);
  const auto big = binary_content(1048576 + 1);

  // Declared too large: refused before the token is spent.
  auto tok = alice->get_file_token(lobby, true, "big.bin");
  REQUIRE(tok);
  auto path = path_of(tok->server_uri) + "?token=" + tok->token;
  auto declared = cli.Put(path.c_str(), big, "application/octet-stream");
  REQUIRE(declared);
  CHECK(declared->status == 413);
  CHECK(error_code(declared) == "too_large");

  // Streamed without a length (chunked): found out on the way, the partial file removed.
  auto tok2 = alice->get_file_token(lobby, true, "big.bin");
  REQUIRE(tok2);
  auto path2 = path_of(tok2->server_uri) + "?token=" + tok2->token;
  std::size_t sent = 0;
  auto chunked = cli.Put(
    path2.c_str(), httplib::Headers{},
    [&](std::size_t, httplib::DataSink& sink) {
      auto n = std::min<std::size_t>(64 * 1024, big.size() - sent);
      sink.write(big.data() + sent, n);
      sent += n;
      if (sent == big.size())
        sink.done();
      return true;
    },
    "application/octet-stream");
  REQUIRE(chunked);
  CHECK(chunked->status == 413);
  CHECK(blobs_of(server).empty());
  CHECK(temporaries(server) == 0);

  // The first token still works for a file within the limit; the second was spent on the refused upload.
  auto small = cli.Put(path.c_str(), big.substr(0, 1048576), "application/octet-stream");
  REQUIRE(small);
  CHECK(small->status == 201);
  CHECK(status_of(cli.Put(path2.c_str(), "x", "text/plain")) == 401);
  CHECK(blobs_of(server).size() == 1);
}

TEST_CASE("used, wrong-purpose and other-room tokens are refused, and rules are checked again at use") {
  pchatd_process server;
  auto lobby = server.add_room("Lobby");
  auto dev = server.add_room("Dev");
  auto team = server.add_room("Team", "--privacy closed");
  REQUIRE(server.ctl("member add Team sip:bob@example.com") == 0);
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto bob = sign_in(server, "bob@example.com");
  auto cli = http(server);
  auto src = write_temp(server, "a.txt", "in the lobby");
  auto in_lobby = alice->upload_file(lobby, src);
  REQUIRE(in_lobby);
  auto in_dev = alice->upload_file(dev, write_temp(server, "b.txt", "in dev"));
  REQUIRE(in_dev);

  // An upload token is good for one upload.
  auto tok = alice->get_file_token(lobby, true, "once.txt");
  REQUIRE(tok);
  auto up = path_of(tok->server_uri) + "?token=" + tok->token;
  CHECK(status_of(cli.Put(up.c_str(), "1", "text/plain")) == 201);
  auto twice = cli.Put(up.c_str(), "2", "text/plain");
  CHECK(status_of(twice) == 401);
  CHECK(error_code(twice) == "token_invalid");
  // ... for the name and room it was issued for.
  auto tok2 = alice->get_file_token(lobby, true, "named.txt");
  REQUIRE(tok2);
  auto renamed = cli.Put((path_of(tok2->server_uri).substr(0, path_of(tok2->server_uri).rfind('/')) +
                          "/other.txt?token=" + tok2->token).c_str(), "x", "text/plain");
  CHECK(status_of(renamed) == 403);
  // Path tricks never reach a handler: a name with a slash is no route.
  CHECK(status_of(cli.Put(("/files/" + lobby.substr(lobby.rfind('/') + 1) + "/..%2F..%2Fx?token=" + tok2->token)
                            .c_str(),
                          "x", "text/plain")) == 404);
  // No token, a made-up token.
  auto none = cli.Get(("/files/" + lobby.substr(lobby.rfind('/') + 1) + "/" + in_lobby->id).c_str());
  CHECK(status_of(none) == 401);
  CHECK(error_code(none) == "token_missing");

  // A download token for a Lobby file opens neither a Dev file nor another Lobby file, and cannot upload.
  auto dtok = alice->get_file_token(lobby, false, in_lobby->link);
  REQUIRE(dtok);
  auto dev_guid = dev.substr(dev.rfind('/') + 1);
  auto cross = cli.Get(("/files/" + dev_guid + "/" + in_dev->id + "?token=" + dtok->token).c_str());
  CHECK(status_of(cross) == 403);
  CHECK(error_code(cross) == "forbidden");
  auto as_upload = cli.Put((path_of(dtok->server_uri) + "?token=" + dtok->token).c_str(), "x", "text/plain");
  CHECK(status_of(as_upload) == 401);
  auto ok = cli.Get((path_of(dtok->server_uri) + "?token=" + dtok->token).c_str());
  CHECK(status_of(ok) == 200);
  CHECK(ok->body == "in the lobby");
  // ... nor can the Lobby link be turned into a Dev token.
  auto wrong_room = alice->get_file_token(dev, false, in_lobby->link);
  REQUIRE_FALSE(wrong_room);
  CHECK(wrong_room.err().status == 404);

  // Bob is a member of Team when he gets the token and no longer when he uses it.
  auto btok = bob->get_file_token(team, true, "late.txt");
  REQUIRE(btok);
  REQUIRE(server.ctl("member remove Team sip:bob@example.com") == 0); // through the running server's socket
  auto late = cli.Put((path_of(btok->server_uri) + "?token=" + btok->token).c_str(), "x", "text/plain");
  CHECK(status_of(late) == 403);
}

TEST_CASE("tokens expire: with web.file-token-ttl=0 none can be used") {
  pchatd_process server({"--web.file-token-ttl=0"});
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto tok = alice->get_file_token(lobby, true, "x.txt");
  REQUIRE(tok);
  auto cli = http(server);
  auto r = cli.Put((path_of(tok->server_uri) + "?token=" + tok->token).c_str(), "x", "text/plain");
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(error_code(r) == "token_invalid");
  CHECK(blobs_of(server).empty());
}

TEST_CASE("with compliance on, uploads and downloads are archived and the compliance store keeps the content") {
  pchatd_process server({"--compliance.enabled=true", "--compliance.run-interval=1"});
  auto lobby = server.add_room("Lobby");
  server.start();
  const auto content = binary_content(200000);
  std::string sha;
  {
    auto alice = sign_in(server, "alice@example.com");
    auto bob = sign_in(server, "bob@example.com");
    auto up = alice->upload_file(lobby, write_temp(server, "r.bin", content), "Report.bin");
    INFO(up.err().message);
    REQUIRE(up);
    sha = up->sha256;
    auto tok = bob->get_file_token(lobby, false, up->link);
    REQUIRE(tok);
    auto cli = http(server);
    auto path = path_of(tok->server_uri) + "?token=" + tok->token;
    // Refused and body-less requests are no download; every GET that sends content is one.
    auto outside = cli.Get(path.c_str(), {{"Range", "bytes=999999999-"}});
    REQUIRE(outside);
    CHECK(outside->status == 416);
    auto head = cli.Head(path.c_str());
    REQUIRE(head);
    CHECK(head->status == 200);
    auto whole = cli.Get(path.c_str());
    REQUIRE(whole);
    CHECK(whole->status == 200);
    auto part = cli.Get(path.c_str(), {{"Range", "bytes=0-9"}});
    REQUIRE(part);
    CHECK(part->status == 206);
  }
  REQUIRE(server.stop() == 0); // drains the compliance queue into the XML adapter
  auto copy = fs::path{server.data_dir()} / "compliance" / "files" / sha;
  REQUIRE(fs::exists(copy));
  CHECK(slurp(copy.string()) == content);

  std::vector<std::tuple<std::string, std::string, std::string>> events; // type, content, sender
  for (const auto& f : fs::directory_iterator(fs::path{server.data_dir()} / "compliance-output")) {
    if (f.path().extension() != ".xml" || f.path().filename().string().front() == '.')
      continue;
    tinyxml2::XMLDocument doc;
    REQUIRE(doc.LoadFile(f.path().c_str()) == tinyxml2::XML_SUCCESS);
    for (auto* conv = doc.RootElement()->FirstChildElement("Conversation"); conv;
         conv = conv->NextSiblingElement("Conversation"))
      for (auto* m = conv->FirstChildElement("Messages")->FirstChildElement("Message"); m;
           m = m->NextSiblingElement("Message"))
        events.emplace_back(m->Attribute("type"), m->Attribute("content"),
                            m->FirstChildElement("Sender")->Attribute("uri"));
  }
  std::size_t uploads = 0;
  std::size_t downloads = 0;
  for (const auto& [type, text, sender] : events) {
    if (type == "FILEUPLOAD") {
      ++uploads;
      // The name, and what ties the event to the compliance copy (<dir>/files/<sha256>).
      CHECK(text.rfind("Report.bin (sha256 " + sha + ", 200000 bytes, application/octet-stream, id ", 0) == 0);
      CHECK(sender == "alice@example.com");
    } else if (type == "FILEDOWNLOAD") {
      ++downloads;
      CHECK(text.rfind("Report.bin (sha256 " + sha, 0) == 0);
      CHECK(sender == "bob@example.com");
    }
  }
  CHECK(uploads == 1);
  CHECK(downloads == 2); // the whole file and the range; not the 416 nor the HEAD
}

namespace {

// A connection that sends an upload's headers and a few bytes of body, then stalls (a slow or hostile client).
struct stalled_upload {
  int fd = -1;
  stalled_upload(std::uint16_t port, const std::string& path) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string req = "PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\nabc";
    REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  }
  ~stalled_upload() { ::close(fd); }
};

} // namespace

TEST_CASE("uploads: multipart, a bad Content-Length and a short disk are refused and the token stays valid") {
  pchatd_process server({"--web.min-free-mb=1073741824"}); // a petabyte free: no disk has that
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto tok = alice->get_file_token(lobby, true, "a.txt");
  REQUIRE(tok);
  auto cli = http(server);
  auto path = path_of(tok->server_uri) + "?token=" + tok->token;
  auto multipart = cli.Put(path.c_str(), "--x\r\n\r\nhi\r\n--x--\r\n", "multipart/form-data; boundary=x");
  CHECK(error_code(multipart) == "unsupported_media_type");
  CHECK(multipart->status == 415);
  auto short_disk = cli.Put(path.c_str(), "hello", "text/plain");
  CHECK(error_code(short_disk) == "insufficient_storage");
  CHECK(short_disk->status == 507);
  CHECK(blobs_of(server).empty());
}

TEST_CASE("stalled transfers cannot take every web worker: the page and /healthz still answer") {
  pchatd_process server({"--web.threads=3"}); // one transfer at a time, two workers kept for the rest
  auto lobby = server.add_room("Lobby");
  server.start();
  auto alice = sign_in(server, "alice@example.com");
  auto first = alice->get_file_token(lobby, true, "slow.txt");
  REQUIRE(first);
  stalled_upload slow{server.web_port(), path_of(first->server_uri) + "?token=" + first->token};
  auto cli = http(server);
  // The stalled upload holds the only transfer slot (wait for it: the server takes it once it has the headers).
  int status = 0;
  std::string error;
  std::string retry_after;
  for (int i = 0; i < 100 && status != 503; ++i) {
    // Until the stalled upload's handler has the slot, uploads still go through: use a fresh token each time.
    auto next = alice->get_file_token(lobby, true, "next" + std::to_string(i) + ".txt");
    REQUIRE(next);
    auto r = cli.Put((path_of(next->server_uri) + "?token=" + next->token).c_str(), "x", "text/plain");
    REQUIRE(r);
    status = r->status;
    if (status == 503) {
      error = error_code(r);
      retry_after = r->get_header_value("Retry-After");
    }
  }
  CHECK(status == 503);
  CHECK(error == "busy");
  CHECK(retry_after == "5");
  auto health = cli.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto page = cli.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
}
