#pragma once
// The browser's chat sessions (docs/web.md "Chat in the browser"). A signed-in browser tab opens a *tab*: the hub
// numbers it a dialog, and the web ingress (web/web_ingress.hpp) spawns the same session actor a SIP dialog gets,
// so rooms, rules, compliance and notices treat a browser as any other member. The hub is what sits between
// that session and HTTP:
//
//   HTTP worker --command document--> web ingress --info--> session --> rooms, directory
//   session/rooms --send/fanout--> web ingress --> hub: rpl:* wakes the worker waiting on its envid (posts are sent
//   with ack="true", so they are answered too: docs/protocol.md "Acknowledged posts"); grpchat and
//   ntc:* become events, kept in the tab's replay list and pushed to its event stream (web/stream_writer.hpp)
//
// Events are numbered per tab (the SSE id). A reconnecting stream names the last one it got (Last-Event-ID) and
// gets every later event the tab still keeps, so nothing is lost or repeated; when the tab no longer keeps them
// (or the tab is gone), it gets a "reset" event (or a 404) and the page rejoins its rooms with catch-up from the
// last sequence number it has of each room (cmd:catchup, the same path a reconnecting SIP client takes).
//
// Threading: HTTP workers call open/find/command/post/attach/close; the web ingress actor calls deliver/fanout/
// ended; the hub's own thread closes tabs whose stream has been gone for `grace`. One mutex guards the tab maps,
// one per tab its events and waiters; the ingress never waits on anything but those short locks.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <unordered_map>
#include <vector>

#include "actors/protocol.hpp"
#include "codec/xccos.hpp"

namespace pchat::web {

class outlet;

struct chat_limits {
  std::size_t tabs_per_user = 16;                   // open tabs (each with at most one stream) per user
  std::size_t requests_per_user = 4;                // chat requests waiting for their session, per user
  std::size_t requests = 6;                         // the same in all (the web's threads less two)
  std::size_t max_tabs = 20000;                     // open tabs in all
  std::size_t replay = 512;                         // events a tab keeps for a reconnecting stream
  std::size_t stream_queue = 1u << 20;              // bytes a stream may fall behind before it is dropped
  std::chrono::milliseconds grace{60000};           // a tab without a stream this long is closed
  std::chrono::milliseconds reply_timeout{30000};   // how long a request waits for its session's answer
};

// One browser tab's session.
struct chat_tab {
  std::string id;      // random, in the tab's URLs
  std::string user;    // normalised sip: URI
  std::string sign_in; // the web sign-in that opened it (signing out closes it)
  dialog_id dialog = 0;

  // Below: under mtx.
  std::mutex mtx;
  std::condition_variable answered;
  bool closed = false;
  std::uint64_t next_event = 1;
  struct kept_event {
    std::uint64_t id;
    std::shared_ptr<const std::string> frame; // "data: {...}\n\n", shared by every tab the event went to
  };
  std::deque<kept_event> kept;      // the newest `replay` events
  std::shared_ptr<outlet> stream;   // the open event stream, if any
  std::chrono::steady_clock::time_point quiet_since; // since when it has had no stream
  std::map<std::string, std::optional<xccos::item>> replies; // envid of a waiting command -> its rpl once here
};

class chat_hub {
public:
  explicit chat_hub(chat_limits limits);
  ~chat_hub();
  chat_hub(const chat_hub&) = delete;
  chat_hub& operator=(const chat_hub&) = delete;

  // Starts the sweeper; `still_signed_in(sign_in, in_use)` says whether a tab's web sign-in is still valid, and
  // with `in_use` (the tab has an open stream) counts as a use of it (docs/web.md "Chat in the browser").
  void start(ingress_actor ingress, std::function<bool(const std::string&, bool)> still_signed_in);
  // Closes every tab (their sessions end, their streams close) and stops the sweeper. Idempotent.
  void stop();

  // --- HTTP workers ---
  // A new tab for `user`: busy when the user or the server has its limit of tabs open.
  caf::expected<std::shared_ptr<chat_tab>> open(const std::string& user, const std::string& sign_in);
  // The tab `id` if it is open and `user`'s; null otherwise (someone else's tab does not exist for you).
  std::shared_ptr<chat_tab> find(const std::string& id, const std::string& user);
  void close(const std::shared_ptr<chat_tab>& tab, const char* why);
  void close_sign_in(const std::string& sign_in);
  // Sends cmd:`name` with `data` to the tab's session and waits for its rpl (any code: check item.code).
  caf::expected<xccos::item> command(chat_tab& tab, std::string_view name, std::string_view data);
  // Posts `text` to `room` and waits for the session's acknowledgement: its sequence number; a refusal comes back
  // as the rpl:grpchat item in `refused`.
  caf::expected<std::uint64_t> post(chat_tab& tab, const std::string& room, const std::string& text,
                                    std::optional<xccos::item>& refused);
  // Makes `out` the tab's event stream (a previous one is closed): first every kept event after `last_event`
  // (nullopt: every kept event), or a reset event when some of those are no longer kept or would be more than
  // half the stream's limit. False when the tab was closed meanwhile.
  bool attach(chat_tab& tab, std::shared_ptr<outlet> out, std::optional<std::uint64_t> last_event);
  std::size_t tab_count() const;

  // --- the web ingress actor ---
  void deliver(dialog_id dialog, const std::string& body);
  void fanout(const std::vector<dialog_id>& dialogs, const std::string& body);
  void ended(dialog_id dialog); // the server ended the dialog (bye)

private:
  void add_event(chat_tab& tab, const std::shared_ptr<const std::string>& frame); // tab.mtx held
  void sweep();
  std::shared_ptr<chat_tab> by_dialog(dialog_id d) const;
  bool wait(chat_tab& tab, std::unique_lock<std::mutex>& lock, const std::function<bool()>& done);
  // Sends the document `document(envid)` to the tab's session and waits for the rpl naming that envid.
  caf::expected<xccos::item> exchange(chat_tab& tab, const std::function<std::string(const std::string&)>& document);
  // A command's envelope id and the ingress to send it to, holding one of the user's waiting requests until it is
  // destroyed; busy past limits_.requests_per_user or limits_.requests, page_not_found once the hub is stopping.
  struct envelope {
    chat_hub* hub = nullptr;
    std::string user;
    std::string id;
    ingress_actor ingress;
    envelope(chat_hub* h, std::string u, std::string i, ingress_actor a)
      : hub(h), user(std::move(u)), id(std::move(i)), ingress(std::move(a)) {}
    envelope(envelope&& other) noexcept
      : hub(std::exchange(other.hub, nullptr)), user(std::move(other.user)), id(std::move(other.id)),
        ingress(std::move(other.ingress)) {}
    envelope(const envelope&) = delete;
    envelope& operator=(const envelope&) = delete;
    envelope& operator=(envelope&&) = delete;
    ~envelope();
  };
  caf::expected<envelope> next_envelope(const std::string& user);
  // Why a tab's request cannot be answered: it was closed, or the hub stopped (tab.mtx held).
  static caf::error gone(const chat_tab& tab);

  chat_limits limits_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, std::shared_ptr<chat_tab>> tabs_;
  std::unordered_map<dialog_id, std::shared_ptr<chat_tab>> dialogs_;
  std::unordered_map<std::string, std::size_t> per_user_;
  std::unordered_map<std::string, std::size_t> waiting_; // requests waiting for their session, per user
  std::size_t waiting_total_ = 0;
  dialog_id next_dialog_ = 1;
  std::uint64_t next_envid_ = 1;
  ingress_actor ingress_;
  std::function<bool(const std::string&, bool)> still_signed_in_;

  std::mutex sweep_mtx_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
};

} // namespace pchat::web
