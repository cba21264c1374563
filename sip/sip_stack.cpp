#include "sip/sip_stack.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>

#include "base/log.hpp"
#include "codec/digest.hpp"
#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "codec/xccos_build.hpp"
#include "storage/store.hpp"
#include "base/text.hpp"

namespace pchat::sip {

namespace {

using clock_type = std::chrono::steady_clock;

// One channel dialog, owned by the SIP thread. Bound to its nua handle as the handle's magic.
struct dialog {
  dialog_id id = 0;
  nua_handle_t* nh = nullptr;
  std::string user;
  std::string call_id;
  std::string peer; // "tcp/127.0.0.1:40123", where its requests go
  clock_type::time_point last_seen;
  bool closed = false; // reported closed to the ingress; waiting for nua to finish
  std::int64_t infos_pending = 0; // our INFOs on this dialog that have no final response yet
};

struct outbound {
  enum class kind { info, bye, shutdown, peer_closed } what = kind::info;
  std::vector<dialog_id> dialogs;
  std::string body; // INFO body, or the peer ("tcp/ip:port") for peer_closed
  std::int64_t accepted_ns = 0;
};

// A SUBSCRIBE usage we answered. nua sends a bodiless "terminated" NOTIFY when such a handle is destroyed, so
// handles are kept until the client unsubscribes (nua answers that itself) or they are very old.
struct subscription {
  nua_handle_t* nh = nullptr;
  clock_type::time_point created;
};

std::string payload_of(const sip_t* sip) {
  if (!sip || !sip->sip_payload || !sip->sip_payload->pl_data)
    return {};
  return {sip->sip_payload->pl_data, sip->sip_payload->pl_len};
}

const char* call_id_of(const sip_t* sip) {
  return sip && sip->sip_call_id && sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "-";
}

std::string from_uri(const sip_t* sip) {
  if (!sip || !sip->sip_from)
    return {};
  char buf[512];
  url_e(buf, sizeof buf, sip->sip_from->a_url);
  buf[sizeof buf - 1] = '\0';
  return buf;
}

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count();
}

// --- noticing closed client connections --------------------------------------------------------------------
// nua reports no event when a client's TCP connection closes; tport only logs "tport_close(0x..): tcp/ip:port/sip"
// at log level 5. We redirect tport's log to a hook that turns those lines into peer_closed work for the SIP
// thread. nta's log says when a TCP client sent bytes that are not SIP, after which Sofia neither answers nor
// closes that connection; we close it. This is the one place that depends on Sofia's log text; if the symbols
// are missing the server still works, and notices dead clients when an INFO to them fails or they expire.
// (tport_log must be found with dlsym: an extern declaration would bind to a copy in our executable.)

std::mutex watcher_mtx;
std::vector<void*> watchers; // impl* of running servers (one per process in pchatd; several in tests)
su_log_t* tport_log_ptr = nullptr;
su_log_t* nta_log_ptr = nullptr;

} // namespace

const char* to_string(auth_mode m) {
  switch (m) {
    case auth_mode::anonymous: return "anonymous";
    case auth_mode::known: return "known";
    case auth_mode::digest: return "digest";
  }
  return "?";
}

std::optional<auth_mode> parse_auth_mode(std::string_view text, const std::string& host) {
  if (text == "digest")
    return auth_mode::digest;
  if (text == "anonymous")
    return auth_mode::anonymous;
  if (text == "known")
    return auth_mode::known;
  if (text != "auto")
    return std::nullopt;
  // auto: only a listener nobody else can reach may trust the From header.
  return is_loopback_host(host) ? auth_mode::anonymous : auth_mode::digest;
}

struct sip_stack::impl {
  sip_options opts;
  std::shared_ptr<load_gauge> load;
  std::shared_ptr<metrics> live;
  std::shared_ptr<const storage::store> users; // accounts and policy; read on the SIP thread, point reads only
  sip_counters counters;
  ingress_actor ingress;

  std::thread thread;
  std::atomic<bool> running{false};
  int efd = -1;
  std::mutex out_mtx;
  std::deque<outbound> out_queue;

  // SIP thread only.
  su_root_t* root = nullptr;
  nua_t* nua = nullptr;
  su_wait_t wait{};
  su_timer_t* sweep_timer = nullptr;
  std::unordered_map<dialog_id, std::unique_ptr<dialog>> dialogs;
  std::unordered_multimap<std::string, dialog_id> by_peer; // "tcp/ip:port" -> dialogs on that connection
  std::unordered_map<nua_handle_t*, subscription> subscriptions;
  dialog_id next_dialog = 1;
  std::unique_ptr<digest::nonce_keeper> nonces; // Digest nonces and the nonce counts used with them
  bool shutting_down = false;
  bool shutdown_complete = false;
  su_timer_t* shutdown_timer = nullptr;

  void post(outbound o) {
    if (o.what == outbound::kind::info)
      counters.outbound_pending.fetch_add(static_cast<std::int64_t>(o.dialogs.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> guard{out_mtx};
      out_queue.push_back(std::move(o));
    }
    std::uint64_t one = 1;
    ssize_t rc = ::write(efd, &one, sizeof one);
    (void) rc;
  }

  // Runs on nua's stack thread. "tport_close(0x55d...): tcp/127.0.0.1:44704/sip" -> peer "tcp/127.0.0.1:44704".
  // Both Sofia logs come here once redirected; `stream` says which. Lines we act on are turned into work for
  // the servers; every line is also passed on to our log (tport's level-5 chatter only at debug).
  static void sofia_log_hook(void* stream, char const* fmt, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    std::string_view line{buf};
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.remove_suffix(1);
    bool is_tport = stream == &tport_log_ptr;
    log::line(is_tport ? log::level::debug : log::level::info, "sofia") << line;
    if (is_tport && line.rfind("tport_close(", 0) == 0) {
      // "tport_close(0x55d...): tcp/127.0.0.1:44704/sip" -> "tcp/127.0.0.1:44704"
      auto start = line.find("): ");
      if (start == std::string_view::npos)
        return;
      auto name = line.substr(start + 3);
      auto end = name.rfind('/');
      if (end == std::string_view::npos)
        return;
      std::string peer{name.substr(0, end)};
      if (peer.rfind("tcp/", 0) != 0)
        return; // UDP "connections" are not clients going away
      std::lock_guard<std::mutex> guard{watcher_mtx};
      for (void* w : watchers)
        static_cast<impl*>(w)->post({outbound::kind::peer_closed, {}, peer});
    } else if (!is_tport && line.find("received garbage from tcp/") != std::string_view::npos) {
      // Bytes that are not SIP leave Sofia's stream parser stuck: it answers nothing more on that connection
      // and never closes it. Close it for Sofia; tport then reports the close and the peer's dialogs end.
      auto peer = line.substr(line.find("from tcp/") + 9);
      shutdown_connection_from(std::string{peer.substr(0, peer.find_first_of(" ;/"))});
    }
  }

  // Shuts down our TCP socket whose peer is "host:port" (nua gives no handle on its connections). Rare: only
  // after a client sent garbage.
  static void shutdown_connection_from(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos)
      return;
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[')
      host = host.substr(1, host.size() - 2);
    auto port = static_cast<std::uint16_t>(std::atoi(host_port.c_str() + colon + 1));
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
      int fd = std::atoi(entry.path().filename().c_str());
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int type = 0;
      socklen_t tlen = sizeof type;
      if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM
          || ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0)
        continue;
      char text[INET6_ADDRSTRLEN] = "";
      std::uint16_t p = 0;
      if (peer.ss_family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(&peer);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        p = ntohs(in->sin_port);
      } else if (peer.ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&peer);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        p = ntohs(in6->sin6_port);
      }
      if (p == port && host == text) {
        log::line(log::level::info, "sip") << "closing tcp/" << host_port << ": it sent bytes that are not SIP";
        ::shutdown(fd, SHUT_RDWR);
      }
    }
  }

  static void watch_connection_closes(impl* self) {
    std::lock_guard<std::mutex> guard{watcher_mtx};
    watchers.push_back(self);
    if (tport_log_ptr)
      return;
    void* lib = dlopen("libsofia-sip-ua.so.0", RTLD_NOW | RTLD_NOLOAD);
    tport_log_ptr = lib ? reinterpret_cast<su_log_t*>(dlsym(lib, "tport_log")) : nullptr;
    nta_log_ptr = lib ? reinterpret_cast<su_log_t*>(dlsym(lib, "nta_log")) : nullptr;
    if (!tport_log_ptr || !nta_log_ptr) {
      log::line(log::level::warning, "sip") << "cannot watch Sofia's logs: closed connections are noticed late";
      return;
    }
    su_log_redirect(tport_log_ptr, &impl::sofia_log_hook, &tport_log_ptr);
    su_log_set_level(tport_log_ptr, 5);
    su_log_redirect(nta_log_ptr, &impl::sofia_log_hook, &nta_log_ptr);
  }

  void stop_watching_connection_closes() {
    std::lock_guard<std::mutex> guard{watcher_mtx};
    watchers.erase(std::remove(watchers.begin(), watchers.end(), this), watchers.end());
  }

  // --- the SIP thread -------------------------------------------------------------------------------------

  void run(std::promise<std::string>& started) {
    su_init();
    root = su_root_create(this);
    if (!root) {
      started.set_value("su_root_create failed");
      su_deinit();
      return;
    }
    std::string url = "sip:" + opts.host + ":" + std::to_string(opts.port);
    if (opts.tcp && !opts.udp)
      url += ";transport=tcp";
    else if (opts.udp && !opts.tcp)
      url += ";transport=udp";
    // nua's stack runs on this thread too. By default it gets a thread of its own, and every nua_info() and
    // every event crosses between the two through a socketpair: two syscalls and wake-ups per INFO, which is
    // most of the cost of a fan-out (docs/performance.md).
    su_root_threading(root, 0);
    watch_connection_closes(this);
    // Connections idle for this long are closed by tport. Clients refresh their dialog with UPDATE every
    // Session-Expires and send CRLF keep-alives every ms-keep-alive timeout, so twice the session time is safe.
    unsigned idle_ms = (opts.session_expires * 2 + 60) * 1000u;
    // A message that has not arrived completely within this time closes its connection (tport): a client that
    // sends a fragment, or bytes the parser cannot frame, and then goes silent does not hold it open.
    unsigned incomplete_ms = 5000;
    nua = nua_create(root, &impl::on_event, this, NUTAG_URL(url.c_str()), TPTAG_IDLE(idle_ms),
                     TPTAG_TIMEOUT(incomplete_ms), TAG_END());
    if (!nua) {
      started.set_value("cannot listen on " + url + " (address in use or not local)");
      su_root_destroy(root);
      su_deinit();
      return;
    }
    // Allow goes in as SIPTAG_ALLOW_STR, not NUTAG_ALLOW: with NUTAG_ALLOW, Sofia 1.12's msg_params_join read
    // uninitialised memory and pchatd crashed at start-up now and then (tests/e2e/demo_start_test.cpp makes it
    // every time), and the header also carried nua's defaults (PRACK, MESSAGE, REFER), which pchatd does not serve.
    nua_set_params(nua, NUTAG_MEDIA_ENABLE(0), NUTAG_AUTOANSWER(0), NUTAG_AUTOACK(1),
                   SIPTAG_ALLOW_STR("INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER, SUBSCRIBE, NOTIFY, UPDATE, SERVICE"),
                   NUTAG_APPL_METHOD("REGISTER"), NUTAG_APPL_METHOD("SUBSCRIBE"), NUTAG_APPL_METHOD("INFO"),
                   NUTAG_APPL_METHOD("SERVICE"), NUTAG_ALLOW_EVENTS("vnd-microsoft-provisioning-v2"),
                   SIPTAG_USER_AGENT_STR("pchatd/0.1"), TAG_END());
    su_wait_create(&wait, efd, SU_WAIT_IN);
    su_root_register(root, &wait, &impl::on_wakeup, reinterpret_cast<su_wakeup_arg_t*>(this), 0);
    sweep_timer = su_timer_create(su_root_task(root), 0);
    su_timer_set_interval(sweep_timer, &impl::on_sweep, reinterpret_cast<su_timer_arg_t*>(this), 30'000);
    log::line(log::level::info, "sip") << "listening on " << url << " auth=" << to_string(opts.auth)
                                       << (opts.auth == auth_mode::digest ? " realm=" + opts.domain : std::string{});
    started.set_value({});
    su_root_run(root);
    su_timer_destroy(sweep_timer);
    if (shutdown_timer)
      su_timer_destroy(shutdown_timer);
    su_root_unregister(root, &wait, &impl::on_wakeup, reinterpret_cast<su_wakeup_arg_t*>(this));
    stop_watching_connection_closes();
    // nua_destroy aborts the process if nua_shutdown has not completed; when clients never answered our BYEs
    // in time we leave nua to the process exit instead.
    if (shutdown_complete)
      nua_destroy(nua);
    nua = nullptr;
    su_root_destroy(root);
    root = nullptr;
    su_deinit();
  }

  static int on_wakeup(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* arg) {
    auto* self = reinterpret_cast<impl*>(arg);
    std::uint64_t v;
    ssize_t rc = ::read(self->efd, &v, sizeof v);
    (void) rc;
    std::deque<outbound> batch;
    {
      std::lock_guard<std::mutex> guard{self->out_mtx};
      batch.swap(self->out_queue);
    }
    for (auto& o : batch)
      self->deliver(o);
    return 0;
  }

  static void on_sweep(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<impl*>(arg);
    // A dialog silent for longer than its Session-Expires (plus the RFC 4028 grace) is gone: the client
    // would have refreshed it with UPDATE.
    auto limit = std::chrono::seconds(self->opts.session_expires + 32);
    auto now = clock_type::now();
    std::vector<dialog*> stale;
    for (auto& [id, d] : self->dialogs)
      if (!d->closed && now - d->last_seen > limit)
        stale.push_back(d.get());
    for (auto* d : stale) {
      log::line(log::level::info, "sip") << "session expired user=" << d->user << " call-id=" << d->call_id;
      nua_bye(d->nh, TAG_END());
      self->close(*d, "session expired");
    }
    self->nonces->sweep(monotonic_ms());
    auto sub_limit = std::chrono::seconds(2 * self->opts.register_expires + 60);
    for (auto i = self->subscriptions.begin(); i != self->subscriptions.end();) {
      if (now - i->second.created > sub_limit) {
        nua_handle_destroy(i->second.nh);
        i = self->subscriptions.erase(i);
      } else {
        ++i;
      }
    }
  }

  void deliver(outbound& o) {
    switch (o.what) {
      case outbound::kind::info:
        for (auto id : o.dialogs) {
          auto i = dialogs.find(id);
          if (i == dialogs.end() || i->second->closed) {
            counters.outbound_pending.fetch_sub(1, std::memory_order_relaxed);
            continue;
          }
          nua_info(i->second->nh, SIPTAG_CONTENT_TYPE_STR("text/plain"), SIPTAG_PAYLOAD_STR(o.body.c_str()),
                   TAG_END());
          ++i->second->infos_pending;
          counters.infos_out.fetch_add(1, std::memory_order_relaxed);
        }
        if (o.accepted_ns > 0)
          live->fanout.record_us(static_cast<std::uint64_t>(std::max<std::int64_t>(0, monotonic_ns() - o.accepted_ns)
                                                            / 1000));
        break;
      case outbound::kind::bye:
        for (auto id : o.dialogs) {
          auto i = dialogs.find(id);
          if (i == dialogs.end() || i->second->closed)
            continue;
          nua_bye(i->second->nh, TAG_END());
          close(*i->second, "ended by the server");
        }
        break;
      case outbound::kind::peer_closed: {
        // The client's connection is gone: its dialogs are too (nothing could reach it any more).
        auto range = by_peer.equal_range(o.body);
        std::vector<dialog*> gone;
        for (auto i = range.first; i != range.second; ++i) {
          auto d = dialogs.find(i->second);
          if (d != dialogs.end())
            gone.push_back(d->second.get());
        }
        for (auto* d : gone) {
          log::line(log::level::info, "sip") << "connection closed user=" << d->user << " call-id=" << d->call_id;
          forget(*d);
        }
        break;
      }
      case outbound::kind::shutdown:
        if (!shutting_down) {
          shutting_down = true;
          for (auto& [id, d] : dialogs)
            if (!d->closed) {
              nua_bye(d->nh, TAG_END());
              close(*d, "server shutting down");
            }
          for (auto& [nh, sub] : subscriptions)
            nua_handle_destroy(nh);
          subscriptions.clear();
          nua_shutdown(nua);
          // Clients that never answer the BYE would hold shutdown for Timer F (32 s); 3 s is plenty on a LAN.
          shutdown_timer = su_timer_create(su_root_task(root), 0);
          su_timer_set_interval(shutdown_timer, &impl::on_shutdown_timeout, reinterpret_cast<su_timer_arg_t*>(this),
                                3000);
        }
        break;
    }
  }

  static void on_shutdown_timeout(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<impl*>(arg);
    log::line(log::level::warning, "sip") << "shutdown: clients did not answer in time; stopping anyway";
    su_root_break(self->root);
  }

  // Reports the dialog closed to the actors (once); the handle lives on until nua says terminated.
  void close(dialog& d, const char* why) {
    if (d.closed)
      return;
    d.closed = true;
    live->sessions.fetch_sub(1, std::memory_order_relaxed);
    log::line(log::level::debug, "sip") << "dialog closed user=" << d.user << " call-id=" << d.call_id
                                        << " reason=" << why;
    caf::anon_send(ingress, closed_atom::value, d.id);
  }

  void forget(dialog& d) {
    close(d, "terminated");
    counters.outbound_pending.fetch_sub(d.infos_pending, std::memory_order_relaxed); // no answers will come
    d.infos_pending = 0;
    auto range = by_peer.equal_range(d.peer);
    for (auto i = range.first; i != range.second; ++i)
      if (i->second == d.id) {
        by_peer.erase(i);
        break;
      }
    nua_handle_bind(d.nh, nullptr);
    nua_handle_destroy(d.nh);
    dialogs.erase(d.id);
  }

  // Where this request came from ("tcp/ip:port"), so that requests we send on its dialog go down the very
  // connection it arrived on: clients never listen (docs/xccos.md §2), and their Contact may not be reachable.
  std::string peer_of_current_request() {
    msg_t* m = nua_current_request(nua);
    su_addrinfo_t* ai = m ? msg_addrinfo(m) : nullptr;
    if (!ai || !ai->ai_addr)
      return {};
    auto* su = reinterpret_cast<su_sockaddr_t*>(ai->ai_addr);
    char host[INET6_ADDRSTRLEN] = "";
    if (su->su_family == AF_INET6)
      inet_ntop(AF_INET6, &su->su_sin6.sin6_addr, host, sizeof host);
    else
      inet_ntop(AF_INET, &su->su_sin.sin_addr, host, sizeof host);
    const char* transport = ai->ai_protocol == IPPROTO_TCP ? "tcp" : "udp";
    std::string h = su->su_family == AF_INET6 ? "[" + std::string{host} + "]" : std::string{host};
    return std::string{transport} + "/" + h + ":" + std::to_string(ntohs(su->su_port));
  }

  static void on_event(nua_event_t ev, int status, char const* phrase, nua_t*, nua_magic_t* magic,
                       nua_handle_t* nh, nua_hmagic_t* hmagic, sip_t const* sip, tagi_t tags[]) {
    auto* self = reinterpret_cast<impl*>(magic);
    auto* d = reinterpret_cast<dialog*>(hmagic);
    switch (ev) {
      case nua_i_register: return self->on_register(nh, sip);
      case nua_i_subscribe: return self->on_subscribe(nh, status, sip);
      case nua_i_invite: return self->on_invite(nh, d, sip);
      case nua_i_info: return self->on_info(nh, d, sip);
      case nua_i_method: { // SERVICE (presence publication): accepted and ignored
        std::string user;
        if (!d && !self->admit(nh, sip, user))
          return;
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(self->nua), TAG_END());
        if (!d)
          nua_handle_destroy(nh);
        return;
      }
      case nua_i_update:
      case nua_i_ack:
      case nua_i_bye:
        if (d)
          d->last_seen = clock_type::now();
        return;
      case nua_r_info:
        if (d && status >= 200 && d->infos_pending > 0) {
          --d->infos_pending;
          self->counters.outbound_pending.fetch_sub(1, std::memory_order_relaxed);
        }
        if (d && status >= 300) {
          // 481/487: the client no longer has this dialog (docs/xccos.md §6 vector 15); 408/5xx: it is unreachable.
          self->counters.infos_failed.fetch_add(1, std::memory_order_relaxed);
          log::line(log::level::info, "sip") << "INFO to user=" << d->user << " call-id=" << d->call_id
                                             << " failed " << status << " " << (phrase ? phrase : "");
          if (status != 481 && status != 487 && status != 408 && status < 500)
            return; // a client refusing one document keeps its dialog
          self->close(*d, "INFO failed");
          nua_bye(nh, TAG_END());
        }
        return;
      case nua_i_state: {
        int cs = nua_callstate_init;
        tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
        if (cs == nua_callstate_terminated && d)
          self->forget(*d);
        return;
      }
      case nua_r_shutdown:
        if (status >= 200) {
          self->shutdown_complete = true;
          su_root_break(self->root);
        }
        return;
      case nua_i_error:
        log::line(log::level::warning, "sip") << "nua error " << status << " " << (phrase ? phrase : "");
        return;
      default:
        return;
    }
  }

  // --- authentication and policy ---------------------------------------------------------------------------

  // Answers `status` to an out-of-dialog request and drops its handle.
  void refuse(nua_handle_t* nh, int status, const char* phrase, const char* retry_after = nullptr) {
    nua_respond(nh, status, phrase, NUTAG_WITH_THIS(nua), TAG_IF(retry_after, SIPTAG_RETRY_AFTER_STR(retry_after)),
                TAG_END());
    nua_handle_destroy(nh);
  }

  // 401 with a fresh nonce, SHA-256 preferred, MD5 for older clients (RFC 8760 §2.4: most preferred first).
  void challenge(nua_handle_t* nh, bool stale) {
    counters.auth_challenges.fetch_add(1, std::memory_order_relaxed);
    digest::challenge c;
    c.realm = opts.domain;
    c.nonce = nonces->issue(monotonic_ms());
    c.stale = stale;
    c.alg = digest::algorithm::sha256;
    auto sha = digest::format(c);
    c.alg = digest::algorithm::md5;
    auto md5 = digest::format(c);
    nua_respond(nh, SIP_401_UNAUTHORIZED, NUTAG_WITH_THIS(nua), SIPTAG_WWW_AUTHENTICATE_STR(sha.c_str()),
                SIPTAG_WWW_AUTHENTICATE_STR(md5.c_str()), TAG_END());
    nua_handle_destroy(nh);
  }

  // Decides an out-of-dialog request before anything else looks at it (docs/protocol.md "Authentication"):
  // true when it may go on, with `user` the normalised From URI it proved (digest), named (known) or claimed
  // (anonymous); otherwise it has been answered and its handle destroyed. Unknown users and wrong passwords get
  // the same 403, and nothing about the user (no provisioning document, no dialog) leaves before this says yes.
  bool admit(nua_handle_t* nh, const sip_t* sip, std::string& user) {
    user = from_uri(sip).empty() ? std::string{} : sip::normalize_aor(from_uri(sip));
    const char* call_id = call_id_of(sip);
    if (user.empty()) {
      refuse(nh, 400, "Bad From URI");
      return false;
    }
    auto refused = [&](int status, const char* phrase, const char* why) {
      counters.auth_refused.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::info, "sip") << "auth refused user=" << user << " call-id=" << call_id << ": " << why;
      refuse(nh, status, phrase);
      return false;
    };
    storage::user_record account;
    auto found = users ? users->find_user(user, account) : storage::status{storage::errc::not_found, "no store"};
    if (!found.ok() && found.code != storage::errc::not_found) {
      log::line(log::level::error, "sip") << "cannot read the account of user=" << user << " call-id=" << call_id
                                          << ": " << found.message;
      refuse(nh, SIP_503_SERVICE_UNAVAILABLE, "5");
      return false;
    }
    bool enabled = found.ok() && !account.disabled;
    if (opts.auth == auth_mode::anonymous)
      return !found.ok() || enabled ? true : refused(SIP_403_FORBIDDEN, "disabled account");
    if (opts.auth == auth_mode::known)
      return enabled ? true : refused(SIP_403_FORBIDDEN, found.ok() ? "disabled account" : "no account");

    // Digest (RFC 3261 §22.4, RFC 7616 §3.4): credentials for our realm, or a challenge.
    std::optional<digest::credentials> cred;
    for (auto* a = sip->sip_authorization; a && !cred; a = a->au_next) {
      std::string text = a->au_scheme ? a->au_scheme : "";
      for (auto p = a->au_params; p && *p; ++p)
        text += std::string{p == a->au_params ? " " : ", "} + *p;
      auto parsed = digest::parse_credentials(text);
      if (!parsed && iequals(a->au_scheme ? a->au_scheme : "", "Digest"))
        return refused(400, "Malformed Authorization", "malformed Digest credentials");
      if (parsed && parsed->realm == opts.domain)
        cred = std::move(parsed);
    }
    if (!cred) {
      log::line(log::level::debug, "sip") << "auth challenge user=" << user << " call-id=" << call_id;
      challenge(nh, false);
      return false;
    }
    char uri[1024] = "";
    url_e(uri, sizeof uri, sip->sip_request->rq_url);
    uri[sizeof uri - 1] = '\0';
    if (!iequals(cred->qop, "auth"))
      return refused(400, "Digest qop=auth required", "no qop=auth");
    if (!iequals(cred->uri, uri))
      return refused(400, "Digest uri does not match the Request-URI", "digest uri is not the Request-URI");
    // The HA1s were made over "user@host:realm:password"; a missing account is checked against a dummy so that it
    // costs what a wrong password costs.
    bool usable = enabled && account.realm == opts.domain && cred->username == digest::username_of(user);
    if (enabled && account.realm != opts.domain)
      log::line(log::level::warning, "sip") << "the password of user=" << user << " was set for realm "
                                            << account.realm << ", not " << opts.domain
                                            << ": set it again with pchatctl user passwd";
    std::string ha1 = !usable ? std::string(cred->alg == digest::algorithm::md5 ? 32 : 64, '0')
                      : cred->alg == digest::algorithm::md5 ? account.ha1_md5 : account.ha1_sha256;
    auto expected = digest::response(cred->alg, ha1, cred->nonce, digest::nc_text(cred->nc), cred->cnonce,
                                     sip->sip_request->rq_method_name, cred->uri);
    if (!digest::equal(expected, cred->response) || !usable)
      return refused(SIP_403_FORBIDDEN, !found.ok() ? "no account" : !enabled ? "disabled account"
                                        : usable ? "wrong password" : "username or realm does not match");
    switch (nonces->use(cred->nonce, cred->nc, monotonic_ms())) {
      case digest::nonce_keeper::verdict::ok:
        return true;
      case digest::nonce_keeper::verdict::stale:
        log::line(log::level::debug, "sip") << "auth stale nonce user=" << user << " call-id=" << call_id;
        challenge(nh, true);
        return false;
      case digest::nonce_keeper::verdict::replay:
        // A replayed (or reordered) request: never executed; a client that meant it starts over with a new nonce.
        log::line(log::level::info, "sip") << "auth nonce count reused user=" << user << " call-id=" << call_id;
        challenge(nh, true);
        return false;
      case digest::nonce_keeper::verdict::full:
        log::line(log::level::warning, "sip") << "auth: " << nonces->tracked() << " nonces in use, refusing user="
                                              << user << " call-id=" << call_id << " for now";
        refuse(nh, SIP_503_SERVICE_UNAVAILABLE, "5");
        return false;
    }
    return false;
  }

  // EnablePersistentChat for `user`: the most specific stored policy, else pchat.persistent-chat; nullopt when
  // the store could not be read.
  std::optional<bool> persistent_chat_for(const std::string& user, const char* call_id) {
    std::optional<storage::policy_setting> p;
    if (users) {
      if (auto st = users->persistent_chat_policy(user, p); !st.ok()) {
        log::line(log::level::error, "sip") << "cannot read the policy of user=" << user << " call-id=" << call_id
                                            << ": " << st.message;
        return std::nullopt;
      }
    }
    return p ? p->persistent_chat : opts.persistent_chat_enabled;
  }

  void on_register(nua_handle_t* nh, const sip_t* sip) {
    counters.registers.fetch_add(1, std::memory_order_relaxed);
    std::string user;
    if (!admit(nh, sip, user))
      return;
    // sipe needs Expires > 0, Supported: msrtc-event-categories on a line of its own and Allow-Events with no
    // blanks (docs/xccos.md §2.1). Expires: 0 (sign-out) is answered with 0.
    std::uint32_t expires = opts.register_expires;
    if (sip && sip->sip_expires && sip->sip_expires->ex_delta < expires)
      expires = static_cast<std::uint32_t>(sip->sip_expires->ex_delta);
    std::string exp = std::to_string(expires);
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_IF(sip && sip->sip_contact, SIPTAG_CONTACT(sip->sip_contact)),
                SIPTAG_EXPIRES_STR(exp.c_str()), SIPTAG_SUPPORTED_STR("msrtc-event-categories"),
                SIPTAG_ALLOW_EVENTS_STR("vnd-microsoft-provisioning-v2"),
                SIPTAG_HEADER_STR("ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"), TAG_END());
    nua_handle_destroy(nh);
  }

  void on_subscribe(nua_handle_t* nh, int status, const sip_t* sip) {
    if (status >= 200) {
      // nua answered an in-dialog refresh or the sign-out un-SUBSCRIBE itself (a plain 200); the usage is over.
      if (sip && sip->sip_expires && sip->sip_expires->ex_delta == 0 && subscriptions.erase(nh) > 0)
        nua_handle_destroy(nh);
      return;
    }
    counters.subscribes.fetch_add(1, std::memory_order_relaxed);
    std::string user;
    if (!admit(nh, sip, user))
      return;
    const char* event = sip && sip->sip_event ? sip->sip_event->o_type : "";
    if (!event || std::string_view{event} != "vnd-microsoft-provisioning-v2") {
      nua_respond(nh, SIP_489_BAD_EVENT, NUTAG_WITH_THIS(nua), SIPTAG_ALLOW_EVENTS_STR("vnd-microsoft-provisioning-v2"),
                  TAG_END());
      nua_handle_destroy(nh);
      return;
    }
    bool unsubscribe = sip->sip_expires && sip->sip_expires->ex_delta == 0 && !sip->sip_payload
                       && sip->sip_to && sip->sip_to->a_tag;
    if (unsubscribe) {
      // An un-SUBSCRIBE for a usage we no longer hold: a plain 200 (a body here would make sipe run
      // provisioning again, docs/pidgin-sipe.md §2).
      nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), SIPTAG_EXPIRES_STR("0"), TAG_END());
      nua_handle_destroy(nh);
      return;
    }
    auto enabled = persistent_chat_for(user, call_id_of(sip));
    if (!enabled) {
      refuse(nh, SIP_503_SERVICE_UNAVAILABLE, "5");
      return;
    }
    // The provisioning document piggy-backed on the 200: Event and ms-piggyback-cseq are both required for
    // sipe to read it (docs/xccos.md §2.1); EnablePersistentChat as the user's policy says.
    auto doc = xccos::provisioning_document(*enabled, opts.service_uri, opts.web_manager_uri);
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), SIPTAG_EVENT_STR("vnd-microsoft-provisioning-v2"),
                SIPTAG_EXPIRES_STR("0"), SIPTAG_HEADER_STR("ms-piggyback-cseq: 1"),
                SIPTAG_CONTENT_TYPE_STR("application/vnd-microsoft-roaming-provisioning-v2+xml"),
                SIPTAG_PAYLOAD_STR(doc.c_str()), TAG_END());
    subscriptions.emplace(nh, subscription{nh, clock_type::now()});
  }

  void on_invite(nua_handle_t* nh, dialog* existing, const sip_t* sip) {
    counters.invites.fetch_add(1, std::memory_order_relaxed);
    std::string user;
    if (existing) {
      // A re-INVITE (session refresh) rides its dialog: from the dialog's own connection only, and it changes
      // nothing but the dialog's liveness (a second dialog on the same handle would let a stranger who knows the
      // Call-ID and tags take the session over).
      if (peer_of_current_request() != existing->peer) {
        log::line(log::level::info, "sip") << "re-INVITE refused user=" << existing->user
                                           << " call-id=" << existing->call_id << ": not from the dialog's connection";
        nua_respond(nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(nua), TAG_END());
        return;
      }
      existing->last_seen = clock_type::now();
      std::string se = std::to_string(opts.session_expires) + ";refresher=uac";
      nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), SIPTAG_SESSION_EXPIRES_STR(se.c_str()), TAG_END());
      return;
    }
    if (!admit(nh, sip, user))
      return;
    // A user whose persistent chat is off learns it from provisioning; one who INVITEs anyway is refused.
    auto enabled = persistent_chat_for(user, call_id_of(sip));
    if (!enabled || !*enabled) {
      if (enabled) {
        counters.policy_refused.fetch_add(1, std::memory_order_relaxed);
        log::line(log::level::info, "sip") << "INVITE refused user=" << user << " call-id=" << call_id_of(sip)
                                           << ": persistent chat is disabled for this user";
      }
      nua_respond(nh, enabled ? 403 : 503, enabled ? "Persistent Chat Disabled" : "Service Unavailable",
                  NUTAG_WITH_THIS(nua), TAG_IF(!enabled, SIPTAG_RETRY_AFTER_STR("5")), TAG_END());
      nua_handle_destroy(nh);
      return;
    }
    if (shutting_down) {
      nua_respond(nh, SIP_503_SERVICE_UNAVAILABLE, NUTAG_WITH_THIS(nua), SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
      nua_handle_destroy(nh);
      return;
    }
    auto d = std::make_unique<dialog>();
    d->id = next_dialog++;
    d->nh = nh;
    d->user = user;
    d->call_id = call_id_of(sip);
    d->peer = peer_of_current_request();
    d->last_seen = clock_type::now();
    nua_handle_bind(nh, reinterpret_cast<nua_hmagic_t*>(d.get()));
    std::string contact = "<sip:" + opts.host + ":" + std::to_string(opts.port);
    if (!d->peer.empty()) {
      auto slash = d->peer.find('/');
      std::string transport = d->peer.substr(0, slash);
      std::string proxy = "sip:" + d->peer.substr(slash + 1) + ";transport=" + transport;
      nua_set_hparams(nh, NUTAG_PROXY(proxy.c_str()), TAG_END());
      if (transport == "tcp")
        contact += ";transport=tcp";
    }
    contact += ">";
    std::string se = std::to_string(opts.session_expires) + ";refresher=uac";
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), SIPTAG_CONTACT_STR(contact.c_str()),
                SIPTAG_SESSION_EXPIRES_STR(se.c_str()), TAG_END());
    live->sessions.fetch_add(1, std::memory_order_relaxed);
    log::line(log::level::debug, "sip") << "dialog open user=" << d->user << " call-id=" << d->call_id
                                        << " peer=" << d->peer;
    caf::anon_send(ingress, open_atom::value, d->id, d->user, d->call_id);
    if (!d->peer.empty())
      by_peer.emplace(d->peer, d->id);
    dialogs.emplace(d->id, std::move(d));
  }

  void on_info(nua_handle_t* nh, dialog* d, const sip_t* sip) {
    counters.infos_in.fetch_add(1, std::memory_order_relaxed);
    // Early-return reject chain (docs/architecture.md "Conventions" §7): each check answers and returns.
    if (!d || d->closed) {
      live->reject(pchat_errc::sip_no_dialog);
      log::line(log::level::info, "sip") << "INFO outside a dialog call-id=" << call_id_of(sip) << ": 481";
      nua_respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(nua), TAG_END());
      if (!d)
        nua_handle_destroy(nh);
      return;
    }
    if (opts.auth == auth_mode::digest && !d->peer.empty() && peer_of_current_request() != d->peer) {
      // With Digest a dialog is as trusted as the INVITE that opened it, so its commands must come down the
      // same connection: knowing a Call-ID and tags is not enough.
      counters.auth_refused.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::info, "sip") << "INFO from another connection user=" << d->user
                                         << " call-id=" << d->call_id << ": 403";
      nua_respond(nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(nua), TAG_END());
      return;
    }
    d->last_seen = clock_type::now();
    std::size_t len = sip && sip->sip_payload ? sip->sip_payload->pl_len : 0;
    if (len > opts.max_body) {
      live->reject(pchat_errc::sip_too_large);
      log::line(log::level::info, "sip") << "INFO body of " << len << " bytes user=" << d->user
                                         << " call-id=" << d->call_id << ": 413";
      nua_respond(nh, SIP_413_REQUEST_TOO_LARGE, NUTAG_WITH_THIS(nua), TAG_END());
      return;
    }
    if (len > 0 && sip->sip_content_type && sip->sip_content_type->c_type) {
      std::string_view ct = sip->sip_content_type->c_type;
      if (ct != "text/plain" && ct != "application/xml" && ct != "text/xml") {
        live->reject(pchat_errc::sip_media_type);
        nua_respond(nh, SIP_415_UNSUPPORTED_MEDIA, NUTAG_WITH_THIS(nua), SIPTAG_ACCEPT_STR("text/plain"), TAG_END());
        return;
      }
    }
    if ((load && load->load(std::memory_order_relaxed) >= opts.max_pending)
        || counters.outbound_pending.load(std::memory_order_relaxed) >= opts.max_outbound) {
      // What a real OCS said when busy (docs/xccos.md §2.2, pidgin-sipe commit a29264ac).
      live->reject(pchat_errc::sip_overloaded);
      nua_respond(nh, SIP_503_SERVICE_UNAVAILABLE, NUTAG_WITH_THIS(nua), SIPTAG_RETRY_AFTER_STR("1"),
                  SIPTAG_HEADER_STR("Ms-diagnostics: 20000;reason=\"Chat service busy\";component=\"GroupChat\""),
                  TAG_END());
      return;
    }
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
    if (len == 0)
      return; // an empty INFO is a keep-alive
    if (load)
      load->fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(ingress, info_atom::value, d->id, payload_of(sip));
  }
};

sip_stack::sip_stack(sip_options opts, std::shared_ptr<load_gauge> load, std::shared_ptr<metrics> live,
                     std::shared_ptr<const storage::store> users)
  : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
  impl_->load = std::move(load);
  impl_->live = live ? std::move(live) : std::make_shared<metrics>();
  impl_->users = std::move(users);
  impl_->nonces = std::make_unique<digest::nonce_keeper>(std::int64_t{impl_->opts.nonce_lifetime} * 1000);
}

sip_stack::~sip_stack() { stop(); }

bool sip_stack::start(ingress_actor ingress, std::string& error) {
  auto& p = *impl_;
  p.ingress = std::move(ingress);
  p.efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p.efd < 0) {
    error = "eventfd failed";
    return false;
  }
  std::promise<std::string> started;
  auto result = started.get_future();
  p.thread = std::thread([&p, &started] { p.run(started); });
  error = result.get();
  if (!error.empty()) {
    p.thread.join();
    ::close(p.efd);
    p.efd = -1;
    return false;
  }
  p.running = true;
  return true;
}

void sip_stack::stop() {
  auto& p = *impl_;
  if (!p.running.exchange(false))
    return;
  p.post({outbound::kind::shutdown, {}, {}});
  p.thread.join();
  ::close(p.efd);
  p.efd = -1;
}

void sip_stack::send_info(std::vector<dialog_id> dialogs, std::string body, std::int64_t accepted_ns) {
  impl_->post({outbound::kind::info, std::move(dialogs), std::move(body), accepted_ns});
}

void sip_stack::end_dialog(dialog_id d) { impl_->post({outbound::kind::bye, {d}, {}}); }

const sip_counters& sip_stack::counters() const { return impl_->counters; }

const sip_options& sip_stack::options() const { return impl_->opts; }

} // namespace pchat::sip
