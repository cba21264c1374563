// Room files over HTTP (docs/protocol.md "Room files"). Clients get a token over XCCOS (getfutok /
// getfdtok, docs/xccos.md §4) and use it here; the directory actor redeems it (checking the room's rules again) and
// this file moves the bytes:
//
//   PUT|POST /files/<room guid>/<name, percent-encoded>?token=T   body = the file, streamed to disk, any size up
//                                                                  to web.max-upload; 201 with the file as JSON
//   GET      /files/<room guid>/<file id>?token=T                 the file (Range: one byte range -> 206 / 416)
//
// The token may also come as "Authorization: Bearer T". Refusals are JSON like the rest of web/ (send_error):
// no token 401 token_missing, unknown/expired/used token 401 token_invalid, a token for another room or file, or
// a user who may no longer use the room 403, unknown room 404, over the size limit 413, disk trouble 503.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base/log.hpp"
#include "codec/xccos.hpp"
#include "storage/file_store.hpp"
#include "web/context.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "base/random.hpp"

namespace pchat::web {

namespace {

std::string token_of(const httplib::Request& req) {
  if (req.has_param("token"))
    return req.get_param_value("token");
  auto auth = req.get_header_value("Authorization");
  constexpr std::string_view bearer = "Bearer ";
  if (auth.size() > bearer.size() && auth.compare(0, bearer.size(), bearer) == 0)
    return auth.substr(bearer.size());
  return {};
}

// The media type as the uploader sent it, if it looks like one ("type/subtype[; params]", printable ASCII);
// anything else is stored as application/octet-stream.
std::string content_type_of(const httplib::Request& req) {
  auto type = req.get_header_value("Content-Type");
  bool plausible = !type.empty() && type.size() <= 255 && type.find('/') != std::string::npos &&
                   std::all_of(type.begin(), type.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  return plausible ? type : "application/octet-stream";
}

// attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<the name, percent-encoded> (RFC 6266): the name
// can neither break the header nor make a browser render the file in our origin.
std::string content_disposition(const std::string& name) {
  return "attachment; filename=\"" + ascii_stand_in(name) + "\"; filename*=UTF-8''" +
         percent_encode(name);
}

// Transfers in flight, at most web.threads - 2: however many slow or stalled transfers there are, two workers
// stay free for the page, /healthz and /metrics. Held by upload handlers, and by download content providers
// until the last byte is written.
class transfer_slot {
public:
  explicit transfer_slot(web_context& ctx) : ctx_(ctx) {
    auto limit = static_cast<int>(std::max<std::size_t>(1, ctx.opts.threads > 2 ? ctx.opts.threads - 2 : 1));
    taken_ = ++ctx_.transfers <= limit;
    if (!taken_)
      --ctx_.transfers;
  }
  ~transfer_slot() {
    if (taken_)
      --ctx_.transfers;
  }
  transfer_slot(const transfer_slot&) = delete;
  transfer_slot& operator=(const transfer_slot&) = delete;
  explicit operator bool() const { return taken_; }

private:
  web_context& ctx_;
  bool taken_ = false;
};

void send_busy(httplib::Response& res) {
  res.set_header("Retry-After", "5");
  send_error(res, pchat_errc::busy, "Too many file transfers at once; try again in a few seconds");
}

// The compliance record of a file: its name, and what ties it to the compliance copy (<dir>/files/<sha256>).
std::string file_description(const storage::file_record& f) {
  return f.name + " (sha256 " + f.sha256 + ", " + std::to_string(f.size) + " bytes, " + f.content_type + ", id " +
         f.id + ")";
}

compliance::event file_event(compliance::event_kind kind, const file_grant& g, const std::string& name) {
  compliance::event e;
  e.kind = kind;
  e.room_uri = g.room.uri;
  e.room_name = g.room.name;
  e.room_logged = g.room.logged;
  e.user_uri = g.user;
  e.ticks = now_ticks();
  e.content = name;
  return e;
}

void upload(web_context& ctx, const file_service& files, const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& read) {
  const std::string guid = path_param(req, "room");
  const std::string name = path_param(req, "file");
  const std::uint64_t limit = files.max_upload;
  // A refused body is not read here: the answer goes out at once and the connection closes after it, and the
  // listener's lingering close reads and drops the rest of the body meanwhile, so that a client which sends
  // before it reads still sees the answer (web/http_listener.hpp). No worker waits on a refused body, and what is
  // not read is never taken for a next request; the same goes for the rest of a body found too large on the way.
  auto token = token_of(req);
  if (token.empty())
    return send_error(res, pchat_errc::token_missing, "Ask for an upload token (getfutok) and pass it as ?token=");
  if (req.get_header_value("Content-Type").rfind("multipart/", 0) == 0)
    return send_error(res, pchat_errc::unsupported_media_type,
                      "Send the file itself as the body (PUT), not a multipart form; the token stays valid");
  // A declared length over the limit (or over the disk's free space) is refused before the token is spent.
  std::uint64_t declared = 0;
  if (req.has_header("Content-Length")) {
    auto text = req.get_header_value("Content-Length");
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
      return send_error(res, pchat_errc::bad_length, "Content-Length is not a number");
    declared = std::stoull(text);
    if (declared > limit)
      return send_error(res, pchat_errc::too_large,
                        "The file is larger than this server accepts (" + std::to_string(limit) + " bytes)");
  }
  // Leave web.min-free bytes for the history, the compliance queue and the rest of the disk's users: a full disk
  // would make posts fail.
  struct statvfs disk{};
  std::uint64_t free_bytes = ::statvfs(files.blobs->root().c_str(), &disk) == 0
                               ? static_cast<std::uint64_t>(disk.f_bavail) * disk.f_frsize
                               : UINT64_MAX;
  if (free_bytes < files.min_free + std::max<std::uint64_t>(declared, 1)) {
    log::line(log::level::warning, "web") << "upload refused: " << free_bytes << " bytes free, " << files.min_free
                                          << " kept free";
    return send_error(res, pchat_errc::insufficient_storage, "The server is short of disk space; the token stays valid");
  }
  transfer_slot slot{ctx};
  if (!slot)
    return send_busy(res);
  auto grant = ctx.ask<file_grant>(redeem_atom::value, token, true, guid, name);
  if (!grant)
    return send_error(res, grant.error());

  std::unique_ptr<storage::file_store::upload> up;
  if (auto st = files.blobs->begin(up); !st.ok()) {
    log::line(log::level::error, "web") << "upload: " << st.message;
    return send_error(res, pchat_errc::store_failed, "The server cannot store files right now; try again");
  }
  std::uint64_t total = 0;
  bool over = false;
  storage::status written;
  bool complete = read([&](const char* data, std::size_t n) {
    total += n;
    if (total > limit) {
      up->abort(); // nothing of an oversized file stays on disk
      over = true;
      return false;
    }
    written = up->write(data, n);
    return written.ok();
  });
  if (over)
    return send_error(res, pchat_errc::too_large,
                      "The file is larger than this server accepts (" + std::to_string(limit) + " bytes)");
  if (!written.ok()) {
    log::line(log::level::error, "web") << "upload: " << written.message;
    return send_error(res, pchat_errc::store_failed, "The server could not store the file; try again");
  }
  if (!complete)
    return send_error(res, pchat_errc::incomplete_body, "The upload ended before its body did");

  storage::file_record f;
  f.room_id = grant->room.id;
  f.id = random_guid();
  f.name = grant->name;
  f.content_type = content_type_of(req);
  f.size = total;
  f.uploader = grant->user;
  f.ticks = now_ticks();
  if (auto st = up->commit(f.sha256); !st.ok()) {
    log::line(log::level::error, "web") << "upload: " << st.message;
    return send_error(res, pchat_errc::store_failed, "The server could not store the file; try again");
  }
  // Compliance keeps its own copy before the event is archived; without it the upload is refused, as posts are
  // when they cannot be archived.
  if (ctx.opts.compliance && !files.compliance_copies.empty()) {
    if (auto st = files.blobs->copy_to(f.sha256, files.compliance_copies); !st.ok()) {
      log::line(log::level::error, "web") << "upload: compliance copy: " << st.message;
      return send_error(res, pchat_errc::store_failed, "The file could not be archived for compliance; try again");
    }
  }
  if (auto st = ctx.store->put_file(f); !st.ok()) {
    log::line(log::level::error, "web") << "upload: " << st.message;
    return send_error(res, st.code == storage::errc::not_found ? pchat_errc::room_not_found : pchat_errc::store_failed,
                      "The file could not be recorded: " + st.message);
  }
  if (ctx.opts.compliance)
    caf::anon_send(ctx.opts.compliance, record_atom::value,
                   file_event(compliance::event_kind::fileupload, *grant, file_description(f)));
  auto domain = grant->room.uri.substr(std::string_view{"ma-chan://"}.size());
  domain = domain.substr(0, domain.find('/'));
  auto link = xccos::format_file_link({domain, guid, f.id, f.name});
  log::line(log::level::info, "web") << "uploaded room=" << log::q(grant->room.name) << " user=" << log::q(f.uploader)
                                     << " file=" << log::q(f.id) << " size=" << f.size;
  send_json(res, 201,
            json{{"id", f.id}, {"name", f.name}, {"size", f.size}, {"contentType", f.content_type},
                 {"sha256", f.sha256}, {"room", grant->room.uri}, {"link", link}});
}

// One "bytes=first-last", "bytes=first-" or "bytes=-suffix" range of a `size`-byte file.
enum class range_kind { none, ok, unsatisfiable };
range_kind parse_range(const std::string& header, std::uint64_t size, std::uint64_t& first, std::uint64_t& last) {
  constexpr std::string_view unit = "bytes=";
  if (header.compare(0, unit.size(), unit) != 0 || header.find(',') != std::string::npos)
    return range_kind::none; // other units and several ranges: RFC 9110 §14.2 lets us send the whole file
  auto spec = header.substr(unit.size());
  auto dash = spec.find('-');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (dash == std::string::npos)
    return range_kind::none;
  auto a = spec.substr(0, dash);
  auto b = spec.substr(dash + 1);
  if (a.empty()) {
    if (!digits(b))
      return range_kind::none;
    std::uint64_t suffix = std::stoull(b);
    if (suffix == 0 || size == 0)
      return range_kind::unsatisfiable;
    first = size - std::min(suffix, size);
    last = size - 1;
    return range_kind::ok;
  }
  if (!digits(a) || (!b.empty() && !digits(b)))
    return range_kind::none;
  first = std::stoull(a);
  last = b.empty() ? size - 1 : std::min<std::uint64_t>(std::stoull(b), size - 1);
  if (!b.empty() && std::stoull(b) < first)
    return range_kind::none; // invalid: ignored, as RFC 9110 §14.2 says
  if (first >= size)
    return range_kind::unsatisfiable;
  return range_kind::ok;
}

void download(web_context& ctx, const file_service& files, const httplib::Request& req, httplib::Response& res) {
  // cpp-httplib 0.11 would cut every answer (error bodies included) to the request's Range itself and never
  // answers 416; ranges are handled here instead. The Request is the server's own non-const object.
  const_cast<httplib::Request&>(req).ranges.clear();
  const std::string guid = path_param(req, "room");
  const std::string id = path_param(req, "file");
  auto token = token_of(req);
  if (token.empty())
    return send_error(res, pchat_errc::token_missing, "Ask for a download token (getfdtok) and pass it as ?token=");
  auto slot = std::make_shared<transfer_slot>(ctx); // kept by the content provider until the body is sent
  if (!*slot)
    return send_busy(res);
  auto grant = ctx.ask<file_grant>(redeem_atom::value, token, false, guid, id);
  if (!grant)
    return send_error(res, grant.error());
  const auto& f = grant->file;
  auto path = files.blobs->path_of(f.sha256);
  int raw = path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st{};
  if (raw < 0 || ::fstat(raw, &st) != 0) {
    if (raw >= 0)
      ::close(raw);
    log::line(log::level::error, "web") << "download: content of file " << f.id << " missing at " << path;
    return send_error(res, pchat_errc::content_missing, "The file's content is missing on the server");
  }
  auto fd = std::shared_ptr<int>(new int(raw), [](int* p) {
    ::close(*p);
    delete p;
  });
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t first = 0;
  std::uint64_t last = size == 0 ? 0 : size - 1;
  auto kind = req.has_header("Range") ? parse_range(req.get_header_value("Range"), size, first, last)
                                      : range_kind::none;
  if (kind == range_kind::unsatisfiable) {
    res.set_header("Content-Range", "bytes */" + std::to_string(size));
    return send_error(res, pchat_errc::range_not_satisfiable,
                      "The file has " + std::to_string(size) + " bytes; the range asked for is outside it");
  }
  // Every GET that sends content is a download on record (a Range request too); HEAD sends none.
  if (ctx.opts.compliance && req.method != "HEAD")
    caf::anon_send(ctx.opts.compliance, record_atom::value,
                   file_event(compliance::event_kind::filedownload, *grant, file_description(f)));
  res.set_header("Content-Disposition", content_disposition(f.name));
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("Cache-Control", "private, no-store");
  res.set_header("ETag", "\"" + f.sha256 + "\"");
  // Whatever the uploader said the type is, it never runs in our origin.
  res.headers.erase("Content-Security-Policy"); // the page's policy, if the defaults are in already
  res.set_header("Content-Security-Policy", "sandbox; default-src 'none'");
  std::uint64_t length = size == 0 ? 0 : last - first + 1;
  if (kind == range_kind::ok) {
    res.status = 206;
    res.set_header("Content-Range",
                   "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
  } else {
    res.status = 200;
  }
  if (length == 0) {
    res.set_content(std::string{}, f.content_type);
    return;
  }
  const auto base = first;
  res.set_content_provider(
    static_cast<std::size_t>(length), f.content_type,
    [fd, base, slot](std::size_t offset, std::size_t want, httplib::DataSink& sink) {
      char buf[64 * 1024];
      auto n = ::pread(*fd, buf, std::min(want, sizeof buf), static_cast<off_t>(base + offset));
      if (n <= 0)
        return false; // the file shrank or the disk failed: the connection is closed mid-body
      return sink.write(buf, static_cast<std::size_t>(n));
    });
}

} // namespace

bool streams_body(const web_context& ctx, const httplib::Request& req) {
  return ctx.opts.files && (req.method == "PUT" || req.method == "POST") && req.path == files_route;
}

void add_file_routes(httplib::Server& srv, web_context& ctx) {
  if (!ctx.opts.files)
    return;
  auto files = ctx.opts.files;
  // Names and ids are one path segment each (matched on the decoded path, so a %2F in a name makes it two
  // segments and no route: 404).
  const std::string pattern = ctx.routes.add(files_route);
  auto up = [&ctx, files](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read) {
    upload(ctx, *files, req, res, read);
  };
  srv.Put(pattern, up);
  srv.Post(pattern, up);
  srv.Get(pattern, [&ctx, files](const httplib::Request& req, httplib::Response& res) {
    download(ctx, *files, req, res);
  });
}

} // namespace pchat::web
