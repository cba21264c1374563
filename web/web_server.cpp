#include "web/web_server.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "base/metrics.hpp"
#include "codec/digest.hpp"
#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "web/assets.hpp"
#include "web/context.hpp"
#include "web/http_listener.hpp"
#include "web/web_ingress.hpp"
#include "web/tls_transport.hpp"
#include "web/requests.hpp"
#include "base/text.hpp"
#include "base/random.hpp"

namespace pchat::web {

const char* to_string(sign_in_mode m) {
  switch (m) {
    case sign_in_mode::password: return "password";
    case sign_in_mode::known: return "known";
    case sign_in_mode::anonymous: return "anonymous";
  }
  return "unknown";
}

// --- sign-ins ---------------------------------------------------------------------------------------------------

namespace {
constexpr std::size_t max_sign_ins = 100000;
} // namespace

void sign_ins::expire(clock::time_point now) {
  for (auto i = entries_.begin(); i != entries_.end();)
    i = i->second.expires <= now || i->second.ends <= now ? entries_.erase(i) : std::next(i);
}

std::string sign_ins::create(const std::string& user) {
  auto token = random_hex(32);
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = clock::now();
  if (entries_.size() >= max_sign_ins)
    expire(now);
  if (entries_.size() >= max_sign_ins) // still full: the oldest goes (a full map of live sign-ins is an attack)
    entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    }));
  entries_[token] = {user, random_hex(16), now + ttl_, now + std::max<std::chrono::seconds>(ttl_, max_lifetime)};
  return token;
}

std::optional<sign_ins::found> sign_ins::find(const std::string& token) { return look_up(token, true); }

std::optional<sign_ins::found> sign_ins::peek(const std::string& token) { return look_up(token, false); }

std::optional<sign_ins::found> sign_ins::look_up(const std::string& token, bool use) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(token);
  if (i == entries_.end())
    return std::nullopt;
  auto now = clock::now();
  if (i->second.expires <= now || i->second.ends <= now) {
    entries_.erase(i);
    return std::nullopt;
  }
  if (use)
    i->second.expires = now + ttl_;
  return found{i->second.user, i->second.csrf};
}

void sign_ins::remove(const std::string& token) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase(token);
}

bool sign_ins::admit(const std::string& key, unsigned limit) { return attempts_.admit(key, limit); }

void sign_ins::succeeded(const std::string& key) { attempts_.succeeded(key); }

void sign_ins::refund(const std::string& key) { attempts_.refund(key); }

// --- JSON helpers -----------------------------------------------------------------------------------------------

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  // Stored text is not always valid UTF-8 (pchatctl takes any bytes); replace such bytes rather than throw.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, pchat_errc code, const std::string& message) {
  const auto& d = describe(code);
  send_json(res, d.http_status, json{{"error", d.http_error}, {"message", message.empty() ? d.http_message : message}});
}

void send_error(httplib::Response& res, const caf::error& err) {
  if (err.category() != pchat_error_category) {
    send_error(res, err == caf::sec::request_timeout ? pchat_errc::timed_out : pchat_errc::server_error);
    return;
  }
  std::string detail;
  if (!err.context().empty() && err.context().match_elements<std::string>())
    detail = err.context().get_as<std::string>(0);
  auto code = static_cast<pchat_errc>(err.code());
  const char* text = describe(code).http_message;
  send_error(res, code, detail.empty() ? text : std::string{text} + ": " + detail);
}

std::optional<json> json_body(const httplib::Request& req, httplib::Response& res) {
  auto body = json_object(req.get_header_value("Content-Type"), req.body);
  if (auto* error = std::get_if<request_error>(&body)) {
    send_error(res, error->code, error->message);
    return std::nullopt;
  }
  return std::move(std::get<json>(body));
}

namespace {

constexpr const char* cookie_name = "pchat_session";

std::string cookie_of(const httplib::Request& req) {
  auto cookies = req.get_header_value("Cookie");
  std::string_view rest{cookies};
  while (!rest.empty()) {
    auto semi = rest.find(';');
    auto part = sip::trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == cookie_name)
      return std::string{part.substr(eq + 1)};
  }
  return {};
}

} // namespace

namespace {

// The account behind a sign-in still exists and is enabled (checked on every use, so disabling or removing an
// account ends its web sign-ins too). Anonymous mode has no accounts to check.
bool account_usable(web_context& ctx, const std::string& aor) {
  if (ctx.opts.sign_in == sign_in_mode::anonymous)
    return true;
  storage::user_record account;
  return ctx.store->find_user(aor, account).ok() && !account.disabled;
}

std::optional<sign_ins::found> signed_in(const httplib::Request& req, web_context& ctx) {
  auto token = cookie_of(req);
  if (token.empty())
    return std::nullopt;
  auto found = ctx.sessions.find(token);
  if (found && !account_usable(ctx, found->user)) {
    ctx.sessions.remove(token);
    return std::nullopt;
  }
  return found;
}

bool changes_something(const httplib::Request& req) { return req.method != "GET" && req.method != "HEAD"; }

} // namespace

std::optional<std::string> require_user(const httplib::Request& req, httplib::Response& res, web_context& ctx) {
  if (auto who = require_sign_in(req, res, ctx))
    return std::move(who->user);
  return std::nullopt;
}

std::optional<sign_in_of_request> require_sign_in(const httplib::Request& req, httplib::Response& res,
                                                  web_context& ctx) {
  auto found = signed_in(req, ctx);
  if (!found) {
    send_error(res, pchat_errc::not_signed_in, "Sign in first");
    return std::nullopt;
  }
  if (changes_something(req) && !sip::digest::equal(req.get_header_value("X-CSRF-Token"), found->csrf)) {
    log::line(log::level::info, "web") << req.method << " " << request_path(req) << " refused user="
                                       << log::q(found->user) << " from=" << log::q(req.remote_addr)
                                       << ": no or a wrong X-CSRF-Token";
    send_error(res, pchat_errc::forbidden, "Missing or wrong X-CSRF-Token: reload the page");
    return std::nullopt;
  }
  return sign_in_of_request{std::move(found->user), cookie_of(req)};
}

// --- routes -----------------------------------------------------------------------------------------------------

namespace {

// "/a/b/c" -> {"", "a", "b", "c"}: by hand, so that no regular expression ever sees a client's path.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  for (;;) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      return out;
    path.remove_prefix(slash + 1);
  }
}

} // namespace

std::string exact(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (std::string_view{"\\^$.|?*+()[]{}"}.find(c) != std::string_view::npos)
      out += '\\';
    out += c;
  }
  return out;
}

std::string route_table::add(const std::string& pattern) {
  if (std::find(patterns_.begin(), patterns_.end(), pattern) == patterns_.end())
    patterns_.push_back(pattern);
  return exact(pattern);
}

void route_table::rewrite(httplib::Request& req) const {
  if (req.path.empty() || req.path.front() != '/')
    return;
  auto have = segments(req.path);
  for (const auto& pattern : patterns_) {
    auto want = segments(pattern);
    if (want.size() != have.size())
      continue;
    bool fits = true;
    for (std::size_t i = 0; i < want.size() && fits; ++i)
      fits = want[i].rfind(':', 0) == 0 ? !have[i].empty() : want[i] == have[i];
    if (!fits)
      continue;
    // Straight into the headers: Request::set_header drops values with CR or LF, which a decoded path may hold.
    for (std::size_t i = 0; i < want.size(); ++i)
      if (want[i].rfind(':', 0) == 0)
        req.headers.emplace(std::string{want[i]}, std::string{have[i]});
    req.headers.emplace(":path", req.path);
    req.path = pattern;
    return;
  }
}

std::string path_param(const httplib::Request& req, const char* name) {
  return req.get_header_value(std::string{":"} + name);
}

std::string request_path(const httplib::Request& req) {
  return req.has_header(":path") ? req.get_header_value(":path") : req.path;
}

// --- the server -------------------------------------------------------------------------------------------------

struct web_server::impl {
  impl(caf::actor_system& sys, directory_actor dir, std::shared_ptr<storage::store> db, web_options o)
    : ctx{sys, std::move(dir), std::move(db), o, {}, sign_ins{o.session_ttl}} {
    ctx.chat_limit = o.chat_limit;
    // Waiting chat requests hold workers: two stay free for sign-in, the page, streams and /healthz.
    ctx.chat_limit.requests = std::max<std::size_t>(1, o.threads > 2 ? o.threads - 2 : 1);
    if (o.chat)
      ctx.chat = std::make_shared<chat_hub>(ctx.chat_limit);
  }

  web_context ctx;
  http_server srv;
  std::unique_ptr<http_listener> listener;
  std::uint16_t bound = 0;
  std::vector<std::string> hosts; // Host header values /api accepts (empty: any, for wildcard listeners)
};

namespace {

// Same answer for an unknown user, a wrong password and a disabled account (as SIP's 403).
bool check_password(web_context& ctx, const std::string& aor, const std::string& password) {
  if (ctx.opts.sign_in == sign_in_mode::anonymous)
    return true;
  storage::user_record account;
  auto st = ctx.store->find_user(aor, account);
  if (!st.ok() || account.disabled)
    return false;
  if (ctx.opts.sign_in != sign_in_mode::password)
    return true;
  using sip::digest::algorithm;
  auto ha1 = sip::digest::ha1(algorithm::sha256, sip::digest::username_of(aor), account.realm, password);
  return !account.ha1_sha256.empty() && sip::digest::equal(ha1, account.ha1_sha256);
}

void add_sign_in_routes(httplib::Server& srv, web_context& ctx) {
  srv.Post(exact("/api/signin"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = json_body(req, res);
    if (!body)
      return;
    auto request = sign_in_request_of(*body);
    if (auto* error = std::get_if<request_error>(&request))
      return send_error(res, error->code, error->message);
    const auto& [user, password] = std::get<sign_in_request>(request);
    // A password crosses the network only encrypted, unless the admin allows it or the client is on this host.
    if (ctx.opts.sign_in == sign_in_mode::password && !ctx.https &&
        (ctx.opts.plaintext == plaintext_passwords::refused ||
         (ctx.opts.plaintext == plaintext_passwords::loopback && !sip::is_loopback_host(req.remote_addr)))) {
      log::line(log::level::info, "web") << "sign-in refused user=" << log::q(user) << " from=" << log::q(req.remote_addr)
                                         << ": a password over plain HTTP";
      return send_error(res, pchat_errc::forbidden, "Sign-in needs HTTPS: set tls.certificate and tls.key");
    }
    // Failures count: five per user and twenty per client address a minute, so neither one account nor many
    // accounts from one place can be guessed at speed. Each attempt is counted when it starts (parallel guesses
    // cannot slip past) and given back when it succeeds, so many people behind one address can sign in.
    if (!ctx.sessions.admit("user " + user, 5) || !ctx.sessions.admit("addr " + address_key(req.remote_addr), 20))
      return send_error(res, pchat_errc::too_many_attempts, "Too many failed sign-ins; wait a minute and try again");
    if (!check_password(ctx, user, password)) {
      log::line(log::level::info, "web") << "sign-in refused user=" << log::q(user) << " from=" << log::q(req.remote_addr);
      return send_error(res, pchat_errc::sign_in_failed,
                        ctx.opts.sign_in == sign_in_mode::password ? "Unknown user or wrong password"
                                                                   : "Unknown or disabled user");
    }
    ctx.sessions.succeeded("user " + user);
    ctx.sessions.refund("addr " + address_key(req.remote_addr));
    auto token = ctx.sessions.create(user);
    // A session cookie (no Max-Age): the server forgets the sign-in after web.session-ttl without use.
    bool https = ctx.https || ctx.public_url.rfind("https://", 0) == 0; // served so, or by a TLS proxy
    res.set_header("Set-Cookie", std::string{cookie_name} + "=" + token + "; Path=/; HttpOnly; SameSite=Strict" +
                                   (https ? "; Secure" : ""));
    log::line(log::level::info, "web") << "signed in user=" << log::q(user) << " from=" << log::q(req.remote_addr);
    send_json(res, 200, json{{"user", user}, {"csrf", ctx.sessions.find(token)->csrf}});
  });
  srv.Post(exact("/api/signout"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!json_body(req, res)) // JSON only, like every change: no cross-site form can sign anyone out
      return;
    auto token = cookie_of(req);
    if (signed_in(req, ctx) && !require_sign_in(req, res, ctx)) // a live sign-in ends only with its CSRF token
      return;
    if (!token.empty()) {
      ctx.sessions.remove(token);
      if (ctx.chat)
        ctx.chat->close_sign_in(token);
    }
    res.set_header("Set-Cookie", std::string{cookie_name} + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    send_json(res, 200, json::object());
  });
  srv.Get(exact("/api/me"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto found = signed_in(req, ctx);
    send_json(res, 200, json{{"user", found ? json(found->user) : json(nullptr)},
                             {"csrf", found ? json(found->csrf) : json(nullptr)},
                             {"signIn", to_string(ctx.opts.sign_in)}, {"domain", ctx.opts.domain}});
  });
}

void add_static_routes(httplib::Server& srv, web_context& ctx) {
  if (!ctx.opts.static_dir.empty()) {
    if (!srv.set_mount_point("/", ctx.opts.static_dir))
      log::line(log::level::warning, "web") << "web.static-dir " << ctx.opts.static_dir
                                            << " is not a directory; serving the built-in page";
    else
      return;
  }
  for (std::size_t i = 0; i < asset_count; ++i) {
    const asset& a = assets[i];
    auto serve = [&a](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.content_type);
    };
    srv.Get(exact(a.path), serve);
    if (std::string{a.path} == "/index.html")
      srv.Get(exact("/"), serve);
  }
}

} // namespace

web_server::web_server(caf::actor_system& sys, directory_actor directory, std::shared_ptr<storage::store> store,
                       web_options opts)
  : impl_(std::make_unique<impl>(sys, std::move(directory), std::move(store), std::move(opts))) {}

web_server::~web_server() { stop(); }

bool web_server::start(std::string& error) {
  auto& p = *impl_;
  auto& ctx = p.ctx;
  auto& srv = p.srv;
  // Connections, timeouts and threads are the listener's (web/http_listener.hpp); each connection carries one
  // request ("Connection: close"): a request refused before its body was read (too large, chunked, wrong host)
  // can then never leave that body behind to be parsed as a next request (no request smuggling behind a proxy
  // that reuses connections), and no idle keep-alive connection holds anything but a descriptor.
  srv.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"},
                           {"Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"}});
  srv.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::line(log::level::error, "web") << req.method << " " << request_path(req) << " from=" << log::q(req.remote_addr)
                                        << ": " << what;
    send_error(res, pchat_errc::server_error, "Server error");
  });
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty() && res.status == 404)
      send_error(res, pchat_errc::page_not_found, "No such page");
  });

  // Before any body is read. Bodies outside the upload routes are small JSON documents with a Content-Length:
  // anything else is refused here, so no request can make pchatd hold a big body in memory. /api answers only
  // to the names this server is reached by (a DNS-rebinding page in a local browser cannot sign in here).
  srv.set_pre_routing_handler([&p](const httplib::Request& req, httplib::Response& res) {
    using handled = httplib::Server::HandlerResponse;
    if (req.path.rfind("/api/", 0) == 0 && !p.hosts.empty()) {
      auto host = ascii_lower(req.get_header_value("Host"));
      if (std::find(p.hosts.begin(), p.hosts.end(), host) == p.hosts.end()) {
        send_error(res, pchat_errc::wrong_host, "This server does not answer to that host name");
        return handled::Handled;
      }
    }
    if (streams_body(p.ctx, req))
      return handled::Unhandled;
    // Only JSON bodies are read here, as they are: cpp-httplib would parse a multipart body with a backtracking
    // regex and inflate a compressed one without a limit.
    if (req.get_header_value("Content-Type").rfind("multipart/", 0) == 0 || req.has_header("Content-Encoding")) {
      send_error(res, pchat_errc::unsupported_media_type, "Send the body as plain application/json");
      return handled::Handled;
    }
    if (req.has_header("Transfer-Encoding")) {
      send_error(res, pchat_errc::length_required, "Send a Content-Length (no chunked bodies here)");
      return handled::Handled;
    }
    auto length = req.get_header_value("Content-Length");
    bool has_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (has_body && length.empty()) {
      send_error(res, pchat_errc::length_required, "Send a Content-Length");
      return handled::Handled;
    }
    bool digits = std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || length.size() > 9 || (!length.empty() && std::stoul(length) > max_json_body)) {
      send_error(res, pchat_errc::too_large, "Request bodies here are at most 64 KiB");
      return handled::Handled;
    }
    return handled::Unhandled;
  });
  // Expect: 100-continue only where a body is streamed (uploads); everywhere else the listener has read the body
  // with the head, or the request is refused before its body is read.
  srv.set_expect_100_continue_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (streams_body(ctx, req))
      return 100;
    send_error(res, pchat_errc::expectation_failed, "Send the request without Expect: 100-continue");
    return 0; // neither 100 nor 417: cpp-httplib then sends `res` as the final answer
  });
  srv.Get(exact("/healthz"), [&ctx](const httplib::Request&, httplib::Response& res) {
    // Healthy when the directory actor answers (the actor system runs and the catalog is loaded).
    auto perm = ctx.ask_within<std::vector<category_view>>(std::chrono::seconds(2), perm_atom::value,
                                                           std::string{"sip:healthz@invalid"});
    if (perm) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("directory not answering\n", "text/plain");
    }
  });
  srv.Get(exact("/metrics"), [this, &p](const httplib::Request&, httplib::Response& res) {
    res.set_content((p.ctx.opts.metrics_text ? p.ctx.opts.metrics_text() : std::string{}) + metrics_text(),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  add_sign_in_routes(srv, ctx);
  add_manage_routes(srv, ctx);
  add_file_routes(srv, ctx);
  add_chat_routes(srv, ctx);
  add_static_routes(srv, ctx);

  listener_options lo;
  if (!ctx.opts.tls_certificate_pem.empty()) {
    auto tls = tls_context::make(ctx.opts.tls_certificate_pem, ctx.opts.tls_key_pem, error);
    if (!tls)
      return false;
    lo.tls = std::move(tls);
    ctx.https = true;
  }
  lo.host = ctx.opts.host;
  lo.port = ctx.opts.port;
  lo.threads = std::max<std::size_t>(1, ctx.opts.threads);
  lo.header_timeout = ctx.opts.header_timeout;
  lo.max_per_address = std::max<std::size_t>(1, ctx.opts.max_connections_per_address);
  lo.max_awaited_body = max_json_body;
  p.listener = std::make_unique<http_listener>(lo, [&p](conn_stream& strm, connection&) {
    p.srv.serve(strm, [&p, &strm](httplib::Request& req) {
      p.ctx.routes.rewrite(req);
      if (streams_body(p.ctx, req)) // an upload's body may take long: each read has its own timeout instead
        strm.lift_deadline();
    });
  });
  if (!p.listener->bind(error)) {
    p.listener.reset();
    return false;
  }
  int port = p.listener->port();
  p.bound = static_cast<std::uint16_t>(port);
  ctx.public_url = ctx.opts.public_url.empty() ? (ctx.https ? "https://" : "http://") + ctx.opts.host + ":" + std::to_string(port)
                                               : ctx.opts.public_url;
  while (!ctx.public_url.empty() && ctx.public_url.back() == '/')
    ctx.public_url.pop_back();
  // /api answers to the listen address (unless it is a wildcard), loopback names, and web.public-url's host.
  auto authority = [](const std::string& host, int port_no) {
    auto h = host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
    return ascii_lower(h) + ":" + std::to_string(port_no);
  };
  const auto& h = ctx.opts.host;
  if (h != "0.0.0.0" && h != "::" && h != "[::]" && !h.empty()) {
    p.hosts = {authority(h, port), authority("localhost", port), authority("127.0.0.1", port),
               authority("::1", port)};
    if (auto scheme = ctx.public_url.find("://"); scheme != std::string::npos) {
      auto rest = ctx.public_url.substr(scheme + 3);
      auto auth = ascii_lower(rest.substr(0, rest.find('/')));
      p.hosts.push_back(auth);
      if (auth.find(':') == std::string::npos || auth.back() == ']') // no port: also with the scheme's default
        p.hosts.push_back(auth + (ctx.public_url.rfind("https", 0) == 0 ? ":443" : ":80"));
    }
  }
  if (ctx.opts.files) // file tokens name URLs on this server (rpl:getftok serveruri)
    ctx.opts.files->set_url(ctx.public_url);
  if (ctx.chat) {
    ctx.chat->start(ctx.sys.spawn(web_ingress, ctx.chat, ctx.directory, *ctx.opts.chat),
                    [&ctx](const std::string& token, bool in_use) {
                      // An open event stream is a use of the sign-in; a tab without one does not keep it alive.
                      auto found = in_use ? ctx.sessions.find(token) : ctx.sessions.peek(token);
                      return found && account_usable(ctx, found->user);
                    });
  }
  // Serving starts only now that the host names and the public URL are known.
  p.srv.set_listening_socket(p.listener->listening_socket());
  if (!p.listener->start(error)) {
    p.listener.reset();
    return false;
  }
  return true;
}

void web_server::stop() {
  auto& p = *impl_;
  if (p.ctx.chat) // every tab's session ends (its rooms see it part) and its stream closes
    p.ctx.chat->stop();
  p.srv.set_listening_socket(-1); // downloads in flight stop at their next piece
  if (p.listener)
    p.listener->stop();
}

std::uint16_t web_server::port() const { return impl_->bound; }
std::string web_server::public_url() const { return impl_->ctx.public_url; }
std::string web_server::metrics_text() const {
  std::string out = impl_->listener ? impl_->listener->metrics_text() : std::string{};
  if (impl_->ctx.chat) {
    prometheus_text chat;
    chat.gauge("pchat_web_chat_tabs", "Browser chat tabs open (each a session).",
               static_cast<double>(impl_->ctx.chat->tab_count()));
    out += chat.take();
  }
  return out;
}

} // namespace pchat::web
