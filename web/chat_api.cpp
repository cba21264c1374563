// The chat API (docs/web.md "Chat API"): a signed-in browser opens a tab (a session actor, web/chat_hub.hpp), reads
// its events as a Server-Sent Events stream, and sends commands that its session answers as it answers a SIP
// client's. Every route checks the sign-in and that the tab is the caller's; another user's tab answers 404 as an
// unknown one does.
#include <charconv>
#include <limits>

#include "base/log.hpp"
#include "codec/xccos_commands.hpp"
#include "web/chat_hub.hpp"
#include "web/chat_json.hpp"
#include "web/context.hpp"
#include "web/http_listener.hpp"
#include "web/stream_writer.hpp"

namespace pchat::web {

namespace {

// The rpl's refusal as an HTTP answer: its XCCOS code and token, through the error table.
void send_refusal(httplib::Response& res, const xccos::item& reply) {
  auto code = from_xccos(reply.code, reply.token);
  send_error(res, code, describe(code).http_message);
}

// Runs cmd:`name` on the tab's session; the rpl's data when it answered 200, else nullopt after answering.
std::optional<xccos::node> run(web_context& ctx, chat_tab& tab, httplib::Response& res, std::string_view name,
                               std::string_view data) {
  auto reply = ctx.chat->command(tab, name, data);
  if (!reply) {
    send_error(res, reply.error());
    return std::nullopt;
  }
  if (reply->code != xccos::code::ok) {
    send_refusal(res, *reply);
    return std::nullopt;
  }
  const auto* d = reply->data();
  return d ? *d : xccos::node{};
}

// A whole-number query parameter: `fallback` when absent; nullopt (after answering 400) when not a number up to max.
std::optional<std::uint64_t> number_param(const httplib::Request& req, httplib::Response& res, const char* name,
                                          std::uint64_t fallback, std::uint64_t max) {
  if (!req.has_param(name))
    return fallback;
  auto text = req.get_param_value(name);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max) {
    send_error(res, pchat_errc::invalid_argument,
               std::string{name} + " must be a whole number from 0 to " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> room_param(const httplib::Request& req, httplib::Response& res) {
  auto room = chat_room_of(req.get_param_value("room"));
  if (auto* error = std::get_if<request_error>(&room)) {
    send_error(res, error->code, error->message);
    return std::nullopt;
  }
  return std::get<std::string>(room);
}

// The request's body as T (web/requests.hpp), or nullopt after answering 4xx.
template <class T, class Parse>
std::optional<T> body_as(const httplib::Request& req, httplib::Response& res, Parse parse) {
  auto body = json_body(req, res);
  if (!body)
    return std::nullopt;
  auto parsed = parse(*body);
  if (auto* error = std::get_if<request_error>(&parsed)) {
    send_error(res, error->code, error->message);
    return std::nullopt;
  }
  return std::move(std::get<T>(parsed));
}

constexpr const char* tab_route = "/api/chat/tabs/:tab";

} // namespace

void add_chat_routes(httplib::Server& srv, web_context& ctx) {
  if (!ctx.chat)
    return;
  // A route of one tab: the caller must be signed in and own the tab.
  using tab_handler = std::function<void(const httplib::Request&, httplib::Response&, chat_tab&)>;
  auto on_tab = [&ctx](tab_handler handler) {
    return [&ctx, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      auto who = require_sign_in(req, res, ctx);
      if (!who)
        return;
      auto tab = ctx.chat->find(path_param(req, "tab"), who->user);
      if (!tab)
        return send_error(res, pchat_errc::page_not_found, "No such chat tab (it was closed); open a new one");
      handler(req, res, *tab);
    };
  };
  auto route = [&ctx](const std::string& tail) { return ctx.routes.add(std::string{tab_route} + tail); };

  srv.Post(exact("/api/chat/tabs"), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto who = require_sign_in(req, res, ctx);
    if (!who || !json_body(req, res))
      return;
    auto tab = ctx.chat->open(who->user, who->token);
    if (!tab) {
      res.set_header("Retry-After", "10");
      return send_error(res, tab.error());
    }
    send_json(res, 201, json{{"tab", (*tab)->id}, {"user", who->user}});
  });
  srv.Delete(route(""), [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto who = require_sign_in(req, res, ctx);
    if (!who)
      return;
    if (auto tab = ctx.chat->find(path_param(req, "tab"), who->user))
      ctx.chat->close(tab, "closed by the page");
    send_json(res, 200, json::object());
  });

  // The tab's events as Server-Sent Events. The answer's head is written here; the connection then goes to the
  // stream writer (web/stream_writer.hpp), which writes the events as the hub pushes them.
  srv.Get(route("/events"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    if (req.method != "GET") // cpp-httplib routes HEAD here too: it must not replace the tab's stream
      return send_error(res, pchat_errc::invalid_argument, "The event stream is read with GET");
    std::optional<std::uint64_t> last;
    if (req.has_header("Last-Event-ID") || req.has_param("after")) {
      auto text = req.has_header("Last-Event-ID") ? req.get_header_value("Last-Event-ID") : req.get_param_value("after");
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
        return send_error(res, pchat_errc::invalid_argument, "Last-Event-ID must be an event number");
      last = v;
    }
    auto* conn = serving_connection();
    if (!conn)
      return send_error(res, pchat_errc::server_error);
    auto out = std::make_shared<outlet>(ctx.chat_limit.stream_queue);
    if (!ctx.chat->attach(tab, out, last))
      return send_error(res, pchat_errc::page_not_found, "No such chat tab (it was closed); open a new one");
    conn->stream = std::move(out);
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no"); // a proxy in front must not hold events back
    // No length and no chunks: the body is the stream, until either side closes (HTTP/1.1 with Connection: close).
    res.set_content_provider("text/event-stream", [](std::size_t, httplib::DataSink& sink) {
      sink.done();
      return true;
    });
  }));

  srv.Post(route("/join"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto r = body_as<chat_join_request>(req, res, chat_join_request_of);
    if (!r)
      return;
    auto joined = run(ctx, tab, res, "join", xccos::chanib_uri(r->room));
    if (!joined)
      return;
    auto out = joined_of(*joined);
    // The posts the page does not have: after its last seq (catch-up), or the newest `history`.
    json history = {{"messages", json::array()}, {"more", false}};
    if (r->after) {
      auto data = run(ctx, tab, res, "catchup", xccos::catchup_list({{r->room, *r->after}}));
      if (!data)
        return;
      if (const auto* chanib = data->child("chanib"))
        history = history_of(*chanib);
    } else if (r->history > 0) {
      auto data = run(ctx, tab, res, "bccontext", xccos::bccontext_last(r->room, r->history));
      if (!data)
        return;
      if (const auto* chanib = data->child("chanib"))
        history = history_of(*chanib);
    }
    out["messages"] = std::move(history["messages"]);
    out["more"] = history["more"];
    // Who is online: rpl:join lists everyone only below the participant update limit; the roster says how many.
    auto roster = run(ctx, tab, res, "roster", xccos::roster_query(r->room, 0, 200));
    if (!roster)
      return;
    auto people = roster_of(*roster);
    out["online"] = people["total"];
    if (people["participants"].size() > out["participants"].size())
      out["participants"] = std::move(people["participants"]);
    send_json(res, 200, out);
  }));
  srv.Post(route("/part"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto r = body_as<chat_room_request>(req, res, [](const json& b) { return chat_room_request_of(b, false); });
    if (r && run(ctx, tab, res, "part", xccos::chanib_uri(r->room)))
      send_json(res, 200, json::object());
  }));
  srv.Post(route("/follow"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto r = body_as<chat_room_request>(req, res, [](const json& b) { return chat_room_request_of(b, true); });
    if (!r)
      return;
    auto data = run(ctx, tab, res, r->on ? "follow" : "unfollow", xccos::chanib_uri(r->room));
    if (!data)
      return;
    if (data->child("fib")) // the room is unknown or hidden from the user
      return send_error(res, pchat_errc::room_not_found);
    send_json(res, 200, json{{"room", r->room}, {"followed", r->on}});
  }));
  srv.Post(route("/post"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto r = body_as<chat_post_request>(req, res, chat_post_request_of);
    if (!r)
      return;
    std::optional<xccos::item> refused;
    auto seq = ctx.chat->post(tab, r->room, r->text, refused);
    if (!seq)
      return send_error(res, seq.error());
    if (refused)
      return send_refusal(res, *refused);
    send_json(res, 200, json{{"room", r->room}, {"seq", *seq}});
  }));
  srv.Get(route("/rooms"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto q = req.get_param_value("q");
    if (q.size() > 256)
      return send_error(res, pchat_errc::invalid_argument, "q is at most 256 bytes");
    auto data = run(ctx, tab, res, "chansrch", xccos::chansrch_query(q));
    if (!data)
      return;
    send_json(res, 200, json{{"rooms", each(*data, "chanib", room_of)}});
  }));
  srv.Get(route("/assoc"), on_tab([&ctx](const httplib::Request&, httplib::Response& res, chat_tab& tab) {
    if (auto data = run(ctx, tab, res, "getassoc", ""))
      send_json(res, 200, assoc_of(*data));
  }));
  srv.Get(route("/history"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto room = room_param(req, res);
    auto n = room ? number_param(req, res, "n", 50, 1000) : std::nullopt;
    // Scrolling back: the n posts below `before` (0: the newest n).
    auto before = n ? number_param(req, res, "before", 0, std::numeric_limits<std::int64_t>::max()) : std::nullopt;
    if (!before)
      return;
    auto data = run(ctx, tab, res, "bccontext",
                    xccos::bccontext_last(*room, static_cast<std::uint32_t>(*n), *before));
    if (!data)
      return;
    const auto* chanib = data->child("chanib");
    send_json(res, 200, chanib ? history_of(*chanib) : json{{"room", *room}, {"messages", json::array()}});
  }));
  srv.Get(route("/invitations"), on_tab([&ctx](const httplib::Request&, httplib::Response& res, chat_tab& tab) {
    auto data = run(ctx, tab, res, "getinv", xccos::invitations_query(ctx.opts.domain));
    if (data)
      send_json(res, 200, json{{"invitations", each(*data, "inv", invitation_of)}});
  }));
  // History search (docs/protocol.md "History search"): every word of `text`, in one room or every readable one.
  srv.Get(route("/search"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto text = req.get_param_value("text");
    if (text.empty() || text.size() > 1024)
      return send_error(res, pchat_errc::invalid_argument, "text: 1 to 1024 bytes of words to look for");
    std::string data = xccos::histsrch_query(text);
    if (req.has_param("room")) {
      auto room = room_param(req, res);
      if (!room)
        return;
      data += xccos::chanib_uri(*room);
    }
    if (auto found = run(ctx, tab, res, "histsrch", data))
      send_json(res, 200, json{{"messages", each(*found, "msg", message_of)}});
  }));
  // A room file token (docs/protocol.md "Room files"): {"room", "upload": true, "name"} for one upload of that
  // name, {"room", "upload": false, "link": "ma-filelink://…"} for downloads. The page then moves the bytes with it.
  srv.Post(route("/file-token"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto r = body_as<chat_file_request>(req, res, chat_file_request_of);
    if (!r)
      return;
    auto data = run(ctx, tab, res, r->upload ? "getfutok" : "getfdtok", xccos::file_token_query(r->room, r->file));
    if (!data)
      return;
    const auto* t = data->child("token");
    if (!t)
      return send_error(res, pchat_errc::server_error);
    send_json(res, 200, json{{"token", t->attr_or("token")}, {"url", t->attr_or("serveruri")}});
  }));
  srv.Get(route("/roster"), on_tab([&ctx](const httplib::Request& req, httplib::Response& res, chat_tab& tab) {
    auto room = room_param(req, res);
    auto start = room ? number_param(req, res, "start", 0, 1u << 30) : std::nullopt;
    auto count = start ? number_param(req, res, "count", 200, 5000) : std::nullopt;
    if (!count)
      return;
    if (auto data = run(ctx, tab, res, "roster",
                        xccos::roster_query(*room, static_cast<std::uint32_t>(*start), static_cast<std::uint32_t>(*count))))
      send_json(res, 200, roster_of(*data));
  }));
}

} // namespace pchat::web
