#include "web/web_server.hpp"

#include <algorithm>
#include <thread>

#include "actors/log.hpp"
#include "sip/digest.hpp"
#include "sip/sip_message.hpp"
#include "web/assets.hpp"
#include "web/context.hpp"

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
constexpr unsigned max_failures = 5;
constexpr std::chrono::seconds failure_window{60};
} // namespace

void sign_ins::expire(clock::time_point now) {
  for (auto i = entries_.begin(); i != entries_.end();)
    i = i->second.expires <= now ? entries_.erase(i) : std::next(i);
  for (auto i = failures_.begin(); i != failures_.end();)
    i = now - i->second.since > failure_window ? failures_.erase(i) : std::next(i);
}

std::string sign_ins::create(const std::string& user) {
  auto token = sip::digest::random_hex(32);
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = clock::now();
  if (entries_.size() >= max_sign_ins)
    expire(now);
  if (entries_.size() >= max_sign_ins) // still full: the oldest goes (a full map of live sign-ins is an attack)
    entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    }));
  entries_[token] = {user, now + ttl_};
  return token;
}

std::optional<std::string> sign_ins::find(const std::string& token) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(token);
  if (i == entries_.end())
    return std::nullopt;
  auto now = clock::now();
  if (i->second.expires <= now) {
    entries_.erase(i);
    return std::nullopt;
  }
  i->second.expires = now + ttl_;
  return i->second.user;
}

void sign_ins::remove(const std::string& token) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase(token);
}

bool sign_ins::throttled(const std::string& user) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = failures_.find(user);
  if (i == failures_.end())
    return false;
  if (clock::now() - i->second.since > failure_window) {
    failures_.erase(i);
    return false;
  }
  return i->second.count >= max_failures;
}

void sign_ins::failed(const std::string& user) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = clock::now();
  if (failures_.size() >= max_sign_ins)
    expire(now);
  auto& f = failures_[user];
  if (f.count == 0 || now - f.since > failure_window)
    f = {0, now};
  ++f.count;
}

void sign_ins::succeeded(const std::string& user) {
  std::lock_guard<std::mutex> guard{mtx_};
  failures_.erase(user);
}

// --- JSON helpers -----------------------------------------------------------------------------------------------

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, json{{"error", code}, {"message", message}});
}

void send_error(httplib::Response& res, const caf::error& err) {
  std::string detail;
  if (!err.context().empty() && err.context().match_elements<std::string>())
    detail = err.context().get_as<std::string>(0);
  if (err.category() != pchat_error_category) {
    send_error(res, err == caf::sec::request_timeout ? 503 : 500, "server_error",
               "The server could not answer in time; try again.");
    return;
  }
  auto code = static_cast<pchat_errc>(err.code());
  auto with = [&](const std::string& text) { return detail.empty() ? text : text + ": " + detail; };
  switch (code) {
    case pchat_errc::room_not_found:
      return send_error(res, 404, "room_not_found", with("No such room (or you may not see it)"));
    case pchat_errc::category_not_found:
      return send_error(res, 404, "category_not_found", with("No such category"));
    case pchat_errc::forbidden:
      return send_error(res, 403, "forbidden", with("You may not do that"));
    case pchat_errc::not_joined:
      return send_error(res, 403, "not_joined", with("You are not in that room"));
    case pchat_errc::invalid_argument:
      return send_error(res, 400, "invalid_argument", with("Invalid value"));
    case pchat_errc::already_exists:
      return send_error(res, 409, "name_taken", with("That name is taken"));
    case pchat_errc::too_large:
      return send_error(res, 413, "too_large", with("Too large"));
    case pchat_errc::store_failed:
      return send_error(res, 503, "store_unavailable", with("The server could not store the change; try again"));
    case pchat_errc::file_not_found:
      return send_error(res, 404, "file_not_found", with("No such file in that room"));
    case pchat_errc::token_invalid:
      return send_error(res, 401, "token_invalid", with("The file token is not valid; ask for a new one"));
  }
  send_error(res, 500, "server_error", with("Server error"));
}

std::optional<json> json_body(const httplib::Request& req, httplib::Response& res) {
  // Only JSON bodies: a cross-site form cannot send application/json without a CORS preflight we never allow,
  // which (with the SameSite=Strict cookie) keeps other sites from changing rooms in a signed-in user's name.
  auto type = req.get_header_value("Content-Type");
  if (type.rfind("application/json", 0) != 0) {
    send_error(res, 415, "unsupported_media_type", "Send the request as application/json");
    return std::nullopt;
  }
  auto body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    send_error(res, 400, "malformed_json", "The request body is not a JSON object");
    return std::nullopt;
  }
  return body;
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

std::optional<std::string> require_user(const httplib::Request& req, httplib::Response& res, web_context& ctx) {
  auto token = cookie_of(req);
  if (!token.empty())
    if (auto user = ctx.sessions.find(token))
      return user;
  send_error(res, 401, "not_signed_in", "Sign in first");
  return std::nullopt;
}

// --- the server -------------------------------------------------------------------------------------------------

struct web_server::impl {
  impl(caf::actor_system& sys, directory_actor dir, std::shared_ptr<storage::store> db, web_options o)
    : ctx{sys, std::move(dir), std::move(db), o, {}, sign_ins{o.session_ttl}} {}

  web_context ctx;
  httplib::Server srv;
  std::thread listener;
  std::uint16_t bound = 0;
  bool running = false;
};

namespace {

// Same answer for an unknown user, a wrong password and a disabled account (as SIP's 403).
bool check_password(web_context& ctx, const std::string& aor, const std::string& password) {
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
  srv.Post("/api/signin", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = json_body(req, res);
    if (!body)
      return;
    auto user = sip::normalize_aor(body->value("user", std::string{}));
    auto password = body->value("password", std::string{});
    if (user.empty())
      return send_error(res, 400, "invalid_argument", "Enter your SIP address, like alice@example.com");
    if (ctx.sessions.throttled(user))
      return send_error(res, 429, "too_many_attempts", "Too many failed sign-ins; wait a minute and try again");
    bool ok = ctx.opts.sign_in == sign_in_mode::anonymous ? true : check_password(ctx, user, password);
    if (!ok) {
      ctx.sessions.failed(user);
      log::line(log::level::info, "web") << "sign-in refused user=" << user << " from=" << req.remote_addr;
      return send_error(res, 403, "sign_in_failed",
                        ctx.opts.sign_in == sign_in_mode::password ? "Unknown user or wrong password"
                                                                   : "Unknown or disabled user");
    }
    ctx.sessions.succeeded(user);
    auto token = ctx.sessions.create(user);
    res.set_header("Set-Cookie", std::string{cookie_name} + "=" + token +
                                   "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                   std::to_string(ctx.opts.session_ttl.count()));
    log::line(log::level::info, "web") << "signed in user=" << user << " from=" << req.remote_addr;
    send_json(res, 200, json{{"user", user}});
  });
  srv.Post("/api/signout", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto token = cookie_of(req);
    if (!token.empty())
      ctx.sessions.remove(token);
    res.set_header("Set-Cookie", std::string{cookie_name} + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    send_json(res, 200, json::object());
  });
  srv.Get("/api/me", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto token = cookie_of(req);
    auto user = token.empty() ? std::nullopt : ctx.sessions.find(token);
    send_json(res, 200, json{{"user", user ? json(*user) : json(nullptr)},
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
    srv.Get(a.path, serve);
    if (std::string{a.path} == "/index.html")
      srv.Get("/", serve);
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
  auto threads = std::max<std::size_t>(1, ctx.opts.threads);
  srv.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  srv.set_tcp_nodelay(true); // without it keep-alive requests wait on delayed ACKs (build-notes §6: 38 req/s)
  srv.set_keep_alive_max_count(100);
  srv.set_read_timeout(30, 0);
  srv.set_write_timeout(30, 0);
  srv.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"},
                           {"Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "frame-ancestors 'none'; form-action 'self'"}});
  srv.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::line(log::level::error, "web") << req.method << " " << req.path << ": " << what;
    send_error(res, 500, "server_error", "Server error");
  });
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty() && res.status == 404)
      send_error(res, 404, "not_found", "No such page");
  });

  srv.Get("/healthz", [&ctx](const httplib::Request&, httplib::Response& res) {
    // Healthy when the directory actor answers (the actor system runs and the catalog is loaded).
    auto perm = ctx.ask<std::vector<category_view>>(perm_atom::value, std::string{"sip:healthz@invalid"});
    if (perm) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("directory not answering\n", "text/plain");
    }
  });
  srv.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    res.set_content(ctx.opts.metrics_text ? ctx.opts.metrics_text() : std::string{},
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  add_sign_in_routes(srv, ctx);
  add_manage_routes(srv, ctx);
  add_file_routes(srv, ctx);
  add_static_routes(srv, ctx);

  int port = ctx.opts.port == 0 ? srv.bind_to_any_port(ctx.opts.host) : (srv.bind_to_port(ctx.opts.host, ctx.opts.port) ? ctx.opts.port : -1);
  if (port <= 0) {
    error = "cannot listen for HTTP on " + ctx.opts.host + ":" + std::to_string(ctx.opts.port);
    return false;
  }
  p.bound = static_cast<std::uint16_t>(port);
  ctx.public_url = ctx.opts.public_url.empty() ? "http://" + ctx.opts.host + ":" + std::to_string(port)
                                               : ctx.opts.public_url;
  while (!ctx.public_url.empty() && ctx.public_url.back() == '/')
    ctx.public_url.pop_back();
  if (ctx.opts.files) // file tokens name URLs on this server (rpl:getftok serveruri)
    ctx.opts.files->set_url(ctx.public_url);
  p.listener = std::thread([&srv] { srv.listen_after_bind(); });
  p.running = true;
  return true;
}

void web_server::stop() {
  auto& p = *impl_;
  if (!p.running)
    return;
  p.srv.stop();
  if (p.listener.joinable())
    p.listener.join();
  p.running = false;
}

std::uint16_t web_server::port() const { return impl_->bound; }
std::string web_server::public_url() const { return impl_->ctx.public_url; }

} // namespace pchat::web
