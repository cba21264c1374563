// Room files for chat_client (docs/protocol.md "Room files"): file tokens over XCCOS, the bytes over HTTP with
// cpp-httplib's client, streamed from and to disk.
#include "tools/client/chat_client.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace pchat::client {

namespace {

error fail(errc code, std::string message, int status = 0) {
  error e;
  e.code = code;
  e.status = status;
  e.message = std::move(message);
  return e;
}

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
  return path + (path.find('?') == std::string::npos ? "?token=" : "&token=") + xccos::percent_encode(token);
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
    auto ext = sip::ascii_lower(name.substr(dot));
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
  std::string uri_esc;
  std::string url_esc;
  xccos::append_escaped_attr(uri_esc, room_uri);
  xccos::append_escaped_attr(url_esc, file_url);
  // xccos.md §4: <ftdb channelUri fileUrl/> -> rpl:getftok <token token serveruri/>
  auto r = command(upload ? "getfutok" : "getfdtok",
                   "<ftdb channelUri=\"" + uri_esc + "\" fileUrl=\"" + url_esc + "\"/>");
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

result<chat_client::downloaded_file> chat_client::download_file(const std::string& room_uri, const std::string& link,
                                                                const std::string& out_path) {
  auto tok = get_file_token(room_uri, false, link);
  if (!tok)
    return tok.err();
  std::string origin;
  std::string target;
  if (!split_url(tok->server_uri, origin, target))
    return fail(errc::protocol_error, "serveruri is not a URL: " + tok->server_uri);
  const std::string part = out_path + ".part";
  std::ofstream out(part, std::ios::binary | std::ios::trunc);
  if (!out)
    return fail(errc::bad_input, "cannot write " + part);
  auto cli = http_client(origin, config_.timeout);
  int status = 0;
  std::string error_body;
  downloaded_file got;
  auto res = cli->Get(
    with_token(target, tok->token).c_str(),
    [&](const httplib::Response& r) {
      status = r.status;
      got.content_type = r.get_header_value("Content-Type");
      return true;
    },
    [&](const char* data, std::size_t n) {
      if (status != 200) {
        error_body.append(data, std::min<std::size_t>(n, 65536 - std::min<std::size_t>(error_body.size(), 65536)));
        return true;
      }
      out.write(data, static_cast<std::streamsize>(n));
      got.size += n;
      return static_cast<bool>(out);
    });
  out.close();
  std::error_code ec;
  if (!res || status != 200 || !out) {
    std::filesystem::remove(part, ec);
    if (!res)
      return fail(errc::io_error, "HTTP GET " + origin + target + ": " + httplib::to_string(res.error()));
    if (status != 200)
      return http_refusal(status, error_body);
    return fail(errc::io_error, "writing " + part + " failed");
  }
  std::filesystem::rename(part, out_path, ec);
  if (ec) {
    std::filesystem::remove(part, ec);
    return fail(errc::io_error, "renaming " + part + " to " + out_path + ": " + ec.message());
  }
  return got;
}

} // namespace pchat::client
