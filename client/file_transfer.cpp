// Room files for chat_client (docs/protocol.md "Room files"): file tokens over XCCOS, the bytes over HTTP with
// cpp-httplib's client, streamed from and to disk.
#include "client/chat_client.hpp"

#include "base/fd.hpp"
#include "base/file_name.hpp"
#include "base/random.hpp"
#include "base/text.hpp"
#include "codec/xccos_commands.hpp"

#include <fcntl.h>
#include <stdio.h> // renameat2, RENAME_NOREPLACE (glibc, _GNU_SOURCE)
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace pchat::client {

namespace {

// "http://host:port/files/g/n" -> ("http://host:port", "/files/g/n"); false unless scheme://host is there.
bool split_url(const std::string& url, std::string& origin, std::string& path) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos || scheme == 0)
    return false;
  auto slash = url.find('/', scheme + 3);
  origin = url.substr(0, slash);
  path = slash == std::string::npos ? "/" : url.substr(slash);
  return origin.size() > scheme + 3;
}

std::string with_token(const std::string& path, const std::string& token) {
  return path + (path.find('?') == std::string::npos ? "?token=" : "&token=") + percent_encode(token);
}

// The server's JSON error ({"error", "message"}) as an error with the HTTP status.
error http_refusal(int status, const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  std::string message = j.is_object() ? j.value("message", std::string{}) : std::string{};
  std::string code = j.is_object() ? j.value("error", std::string{}) : std::string{};
  return fail(errc::rejected,
              "HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code) +
                (message.empty() ? "" : ": " + message),
              status);
}

std::string guess_type(const std::string& name) {
  static const std::pair<const char*, const char*> types[] = {
    {".txt", "text/plain"},        {".pdf", "application/pdf"}, {".png", "image/png"},
    {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},     {".gif", "image/gif"},
    {".json", "application/json"}, {".zip", "application/zip"}, {".html", "text/html"},
    {".csv", "text/csv"},          {".xml", "application/xml"}, {".gz", "application/gzip"}};
  auto dot = name.rfind('.');
  if (dot != std::string::npos) {
    auto ext = ascii_lower(name.substr(dot));
    for (const auto& [e, t] : types)
      if (ext == e)
        return t;
  }
  return "application/octet-stream";
}

std::unique_ptr<httplib::Client> http_client(const std::string& origin, duration timeout) {
  auto cli = std::make_unique<httplib::Client>(origin);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  cli->set_connection_timeout(static_cast<time_t>(std::max<long long>(1, secs)), 0);
  cli->set_read_timeout(static_cast<time_t>(std::max<long long>(1, secs)), 0);
  cli->set_write_timeout(static_cast<time_t>(std::max<long long>(1, secs)), 0);
  cli->set_tcp_nodelay(true);
  return cli;
}

} // namespace

result<chat_client::file_token> chat_client::get_file_token(const std::string& room_uri, bool upload,
                                                          const std::string& file_url) {
  // docs/xccos.md §4: <ftdb channelUri fileUrl/> -> rpl:getftok <token token serveruri/>
  auto r = command(upload ? "getfutok" : "getfdtok", xccos::file_token_query(room_uri, file_url));
  if (!r)
    return r.err();
  if (r->code != 200)
    return fail(errc::rejected, r->id + ": " + std::to_string(r->code) + " " + r->token, r->code);
  const auto* t = r->data() ? r->data()->child("token") : nullptr;
  if (!t || t->attr_or("token").empty() || t->attr_or("serveruri").empty())
    return fail(errc::protocol_error, "rpl:getftok without <token token serveruri/>");
  return file_token{t->attr_or("token"), t->attr_or("serveruri")};
}

result<chat_client::uploaded_file> chat_client::upload_file(const std::string& room_uri, const std::string& path,
                                                            std::string name, std::string content_type) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in)
    return fail(errc::bad_input, "cannot read " + path + (ec ? ": " + ec.message() : std::string{}));
  if (name.empty())
    name = std::filesystem::path{path}.filename().string();
  if (content_type.empty())
    content_type = guess_type(name);
  auto tok = get_file_token(room_uri, true, name);
  if (!tok)
    return tok.err();
  std::string origin;
  std::string target;
  if (!split_url(tok->server_uri, origin, target))
    return fail(errc::protocol_error, "serveruri is not a URL: " + tok->server_uri);
  auto cli = http_client(origin, config_.timeout);
  std::vector<char> buf(64 * 1024);
  bool read_failed = false;
  auto res = cli->Put(
    with_token(target, tok->token).c_str(), httplib::Headers{}, static_cast<std::size_t>(size),
    [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      in.seekg(static_cast<std::streamoff>(offset));
      in.read(buf.data(), static_cast<std::streamsize>(std::min(length, buf.size())));
      auto n = in.gcount();
      if (n <= 0) {
        read_failed = true;
        return false;
      }
      return sink.write(buf.data(), static_cast<std::size_t>(n));
    },
    content_type);
  if (read_failed)
    return fail(errc::io_error, "reading " + path + " failed");
  if (!res)
    return fail(errc::io_error, "HTTP PUT " + origin + target + ": " + httplib::to_string(res.error()));
  if (res->status != 201 && res->status != 200)
    return http_refusal(res->status, res->body);
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("link"))
    return fail(errc::protocol_error, "the upload answer is not the file's JSON");
  uploaded_file out;
  out.id = j.value("id", std::string{});
  out.name = j.value("name", std::string{});
  out.link = j.value("link", std::string{});
  out.content_type = j.value("contentType", std::string{});
  out.sha256 = j.value("sha256", std::string{});
  out.size = j.value("size", std::uint64_t{0});
  return out;
}

namespace {

// The name in `attachment; filename="<stand-in>"; filename*=UTF-8''<name, percent-encoded>`. cpp-httplib 0.11
// (Debian bookworm) decodes %XX in every header value it receives, later versions do not; of the value as it came
// and its decoded form, the one whose stand-in is the filename="..." one is the name (with a '%' in the value the
// two differ in length, so at most one can match). "" when neither does.
std::string name_from_disposition(const std::string& header) {
  const std::string plain = "filename=\"";
  const std::string star = "\"; filename*=UTF-8''";
  auto q = header.find(plain);
  if (q == std::string::npos)
    return {};
  auto qend = header.find('"', q + plain.size()); // the stand-in holds no '"'
  if (qend == std::string::npos || header.compare(qend, star.size(), star) != 0)
    return {};
  auto stand_in = header.substr(q + plain.size(), qend - q - plain.size());
  auto value = header.substr(qend + star.size());
  if (ascii_stand_in(value) == stand_in)
    return value;
  auto decoded = percent_decode(value);
  if (decoded && ascii_stand_in(*decoded) == stand_in)
    return *decoded;
  return {};
}

std::string random_suffix() { return random_hex(8); }

// Gives `from` the name `to`; without `replace`, only when `to` does not exist (atomically: never a window in
// which an existing file could be replaced). 0 or the errno (EEXIST: `to` exists).
int rename_into_place(const std::string& from, const std::string& to, bool replace) {
  if (replace)
    return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
    return 0;
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
    return err;
  // A file system without RENAME_NOREPLACE: link() never replaces either.
  if (::link(from.c_str(), to.c_str()) != 0)
    return errno;
  ::unlink(from.c_str());
  return 0;
}

} // namespace

bool chat_client::safe_local_name(std::string_view name) {
  return valid_file_name(name) && name.front() != '.';
}

std::string chat_client::printable(std::string_view text) {
  std::string out;
  auto escape_byte = [&](unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  };
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f)
        escape_byte(c);
      else if (c == '\\')
        out += "\\\\";
      else
        out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    std::uint32_t cp = len ? c & (0x3fu >> (len - 1)) : 0;
    bool ok = len != 0 && c <= 0xf4 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    ok = ok && !((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                 (cp >= 0xd800 && cp <= 0xdfff));
    if (!ok) {
      escape_byte(c);
      ++i;
      continue;
    }
    if ((cp >= 0x80 && cp < 0xa0) || is_spoofing_format_char(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u{%04X}", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

result<chat_client::downloaded_file> chat_client::download_file(const std::string& room_uri, const std::string& link,
                                                                const std::string& out_path, bool replace) {
  return download(room_uri, link, out_path, {}, replace);
}

result<chat_client::downloaded_file> chat_client::download_file_into(const std::string& room_uri,
                                                                     const std::string& link, const std::string& dir,
                                                                     bool replace) {
  return download(room_uri, link, {}, dir.empty() ? std::string{"."} : dir, replace);
}

// One of out_path (a path the caller chose) or dir (a directory; the name comes from the server).
result<chat_client::downloaded_file> chat_client::download(const std::string& room_uri, const std::string& link,
                                                           const std::string& out_path, const std::string& dir,
                                                           bool replace) {
  namespace fs = std::filesystem;
  const bool named_by_server = out_path.empty();
  std::error_code ec;
  if (!named_by_server && !replace && fs::symlink_status(out_path, ec).type() != fs::file_type::not_found)
    return fail(errc::bad_input, out_path + " exists; not replaced");
  auto tok = get_file_token(room_uri, false, link);
  if (!tok)
    return tok.err();
  std::string origin;
  std::string target;
  if (!split_url(tok->server_uri, origin, target))
    return fail(errc::protocol_error, "serveruri is not a URL: " + tok->server_uri);
  // A fresh temporary beside the destination (same file system, so the rename is atomic), never one that exists.
  const fs::path where = named_by_server ? fs::path{dir} : fs::path{out_path}.parent_path();
  const std::string stem = named_by_server ? std::string{"pchat-download"} : fs::path{out_path}.filename().string();
  std::string part;
  int fd = -1;
  for (int tries = 0; tries < 5 && fd < 0; ++tries) {
    part = (where / ("." + stem + "." + random_suffix() + ".part")).string();
    fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0)
    return fail(errc::bad_input, "cannot create " + part + ": " + std::strerror(errno));
  struct remove_part {
    const std::string& path;
    int& fd;
    bool keep = false;
    ~remove_part() {
      if (fd >= 0)
        ::close(fd);
      if (!keep)
        ::unlink(path.c_str());
    }
  } cleanup{part, fd};

  auto cli = http_client(origin, config_.timeout);
  int status = 0;
  std::string error_body;
  downloaded_file got;
  got.path = out_path;
  error refused; // set when the answer's headers already settle that the file cannot be kept
  bool write_failed = false;
  auto res = cli->Get(
    with_token(target, tok->token).c_str(),
    [&](const httplib::Response& r) {
      status = r.status;
      got.content_type = r.get_header_value("Content-Type");
      if (status != 200)
        return true;
      got.name = name_from_disposition(r.get_header_value("Content-Disposition"));
      if (!named_by_server)
        return true;
      std::string name = got.name;
      if (name.empty()) {
        auto l = xccos::parse_file_link(link);
        name = l ? l->name : std::string{};
      }
      if (!safe_local_name(name)) {
        refused = fail(errc::bad_input, "the file's name \"" + name + "\" is no safe local name; give a path");
        return false;
      }
      got.path = (where / name).string();
      if (!replace && fs::symlink_status(got.path, ec).type() != fs::file_type::not_found) {
        refused = fail(errc::bad_input, got.path + " exists; not replaced");
        return false;
      }
      return true;
    },
    [&](const char* data, std::size_t n) {
      if (status != 200) {
        error_body.append(data, std::min<std::size_t>(n, 65536 - std::min<std::size_t>(error_body.size(), 65536)));
        return true;
      }
      if (!write_all(fd, data, n)) {
        write_failed = true;
        return false;
      }
      got.size += n;
      return true;
    });
  if (!refused.ok())
    return refused;
  if (write_failed)
    return fail(errc::io_error, "writing " + part + " failed");
  if (!res)
    return fail(errc::io_error, "HTTP GET " + origin + target + ": " + httplib::to_string(res.error()));
  if (status != 200)
    return http_refusal(status, error_body);
  if (::close(fd) != 0) {
    fd = -1;
    return fail(errc::io_error, "writing " + part + " failed");
  }
  fd = -1;
  if (int err = rename_into_place(part, got.path, replace); err != 0) {
    if (err == EEXIST)
      return fail(errc::bad_input, got.path + " exists; not replaced");
    return fail(errc::io_error, "renaming " + part + " to " + got.path + ": " + std::strerror(err));
  }
  cleanup.keep = true;
  return got;
}

} // namespace pchat::client
