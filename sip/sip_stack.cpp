#include "sip/sip_stack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>

#include "base/attempts.hpp"
#include "base/hex.hpp"
#include "base/log.hpp"
#include "base/random.hpp"
#include "base/text.hpp"
#include "base/tls.hpp"
#include "base/version.hpp"
#include "codec/digest.hpp"
#include "codec/ntlm.hpp"
#include "codec/sip_message.hpp"
#include "codec/sip_request_frame.hpp"
#include "codec/xccos_build.hpp"
#include "storage/store.hpp"

namespace pchat::sip {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* allow_methods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER, SUBSCRIBE, UPDATE, SERVICE";
constexpr const char* provisioning_event = "vnd-microsoft-provisioning-v2";
const std::string user_agent_text = std::string{"pchatd/"} + version();
const char* const user_agent = user_agent_text.c_str();

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count();
}

const char* call_id_of(const sip_t* sip) {
  return sip && sip->sip_call_id && sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "-";
}

// A header's value as text ("<sip:a@b>;tag=x"), for the dialog's request frame.
std::string header_text(const sip_header_t* h) {
  if (!h)
    return {};
  su_home_t home[1] = {SU_HOME_INIT(home)};
  char* s = sip_header_as_string(home, h);
  std::string out = s ? s : "";
  su_home_deinit(home);
  return out;
}

std::string url_text(const url_t* u) {
  if (!u)
    return {};
  char buf[1024];
  url_e(buf, sizeof buf, u);
  buf[sizeof buf - 1] = '\0';
  return buf;
}

// "tcp/127.0.0.1:40123" for the address a message came from.
std::string peer_name(msg_t* m) {
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

// "127.0.0.1" of "tcp/127.0.0.1:40123", "::1" of "tls/[::1]:40123".
std::string address_of(const std::string& peer) {
  auto slash = peer.find('/');
  auto colon = peer.rfind(':');
  if (slash == std::string::npos || colon == std::string::npos || colon <= slash)
    return peer;
  auto host = peer.substr(slash + 1, colon - slash - 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host;
}

// Descriptors open in this process (the entries of /proc/self/fd, less the one reading it); `limit` when none
// is left to read it with; -1 if unknown.
int open_descriptors(int limit) {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d)
    return errno == EMFILE || errno == ENFILE ? limit : -1;
  int n = 0;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n - 1;
}

struct outbound {
  enum class kind { info, bye, shutdown } what = kind::info;
  std::vector<dialog_id> dialogs;
  std::string body;
  std::int64_t accepted_ns = 0;
};

struct connection;

// NTLM on one client connection ([MS-SIPAE] §3.2.5; docs/security.md "NTLM"): one security association per
// connection, as pidgin-sipe keeps one. From the AUTHENTICATE on, every request and final response the server
// sends on the connection carries Authentication-Info with a signature, and every request the client sends must
// carry a valid one.
struct ntlm_session {
  bool established = false;
  std::string server_challenge; // 8 bytes, while the CHALLENGE is outstanding
  std::string opaque;           // the association's handle, echoed by the client
  int version = 4;              // the auth version we announced (3+: the signature covers To and the identity)
  std::string user;             // the normalised aor that proved its password
  ntlm::session_keys keys;
  ntlm::signer server_signer; // signs what we send (keys.server_sign, keys.server_seal)
  ntlm::signer client_signer; // checks what the client sends
  std::string srand = random_hex(4); // our "srand" (the client does not check it; it is signed)
  std::uint64_t snum = 0;
};

// A request we sent on the fast path (TCP) and whose final response has not come yet.
struct sent_request {
  std::uint32_t cseq = 0;
  std::uint32_t bytes = 0;
  std::int64_t sent_ms = 0;
  bool bye = false;
};

// One channel dialog, owned by the SIP thread.
struct dialog {
  dialog_id id = 0;
  std::string user;
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  std::string peer;              // "tcp/127.0.0.1:40123": where its INVITE came from and its requests go
  connection* conn = nullptr;    // TCP: the client's connection; UDP: none (the listener's transport)
  std::string udp_route;         // UDP: "sip:ip:port;transport=udp"
  request_frame frame;
  ntlm::signed_fields signed_template; // From/To URL and tags and Call-ID of its requests, for NTLM signatures
  std::uint32_t next_cseq = 1;
  std::uint32_t remote_cseq = 0; // highest CSeq the client used (RFC 3261 §12.2.2)
  std::deque<sent_request> sent; // TCP fast path, in CSeq order
  std::int64_t udp_pending = 0;  // UDP INFO transactions without a final response
  int transactions = 0;          // nta client transactions on it (UDP INFOs, UDP BYE) without a final response
  clock_type::time_point last_seen;
  bool closed = false;           // reported closed to the ingress
};

// One client TCP connection that sent at least one valid request (tport's secondary transport).
struct connection {
  tport_t* tp = nullptr; // referenced while we track it
  int pend = 0;          // our tport_pend() registration: close and error reports come to on_transport_error
  std::string name;      // "tcp/ip:port"
  std::string address;   // "ip" (the per-address count's key)
  std::vector<dialog_id> dialogs;
  std::int64_t no_dialog_since_ms = 0; // when it last had no dialog (opened, or its last dialog ended)
  std::unique_ptr<ntlm_session> ntlm;  // NTLM (sip.auth=ntlm), from the first NTLM REGISTER on
  std::int64_t pending = 0;       // our requests on it without a final response
  std::int64_t pending_bytes = 0; // ... and their bytes
  std::int64_t last_request_ms = 0;
};

} // namespace

const char* to_string(auth_mode m) {
  switch (m) {
    case auth_mode::anonymous: return "anonymous";
    case auth_mode::known: return "known";
    case auth_mode::digest: return "digest";
    case auth_mode::ntlm: return "ntlm";
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
  if (text == "ntlm")
    return auth_mode::ntlm;
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
  nta_agent_t* agent = nullptr;
  nta_leg_t* default_leg = nullptr;
  su_wait_t wait{};
  su_timer_t* tick_timer = nullptr;
  su_timer_t* shutdown_timer = nullptr;
  std::unordered_map<dialog_id, std::unique_ptr<dialog>> dialogs;
  std::unordered_map<std::string, dialog*> by_call_id;
  std::unordered_map<tport_t*, std::unique_ptr<connection>> connections;
  std::unordered_map<std::string, int> per_address; // tracked connections per client address
  std::vector<std::pair<tport_t*, int>> failed_connections; // reported by tport, ended at the next wakeup
  connection* replying_on = nullptr; // the connection of the request being answered (NTLM signs the answer)
  attempt_limiter failed_sign_ins;    // wrong passwords per user and per client address (docs/security.md)
  std::unordered_map<std::string, std::int64_t> refusal_logged; // address -> when its refusal was last logged
  bool listening = false;                           // the agent and its listeners are up (and not going down)
  bool accept_paused = false;                       // stream listeners stalled: descriptors are short
  std::int64_t descriptors_checked_ms = 0;
  std::int64_t sofia_log_window_ms = 0; // Sofia's log lines: this second's count and those dropped
  int sofia_log_lines = 0;
  int sofia_log_dropped = 0;
  std::unordered_map<nta_outgoing_t*, dialog_id> outgoing; // nta client transactions (UDP INFOs, BYEs)
  dialog_id next_dialog = 1;
  std::string branch_salt = random_hex(4); // dialogs' Via branches differ from those of an earlier run
  std::string sent_by;                     // "host:port" for our Via
  std::string tls_sent_by;                 // "host:tls-port" for our Via over TLS
  std::unique_ptr<digest::nonce_keeper> nonces; // Digest nonces and the nonce counts used with them
  bool shutting_down = false;
  unsigned ticks = 0;

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

  // --- the SIP thread -------------------------------------------------------------------------------------

  void run(std::promise<std::string>& started) {
    su_init();
    su_log_redirect(nullptr, &impl::on_sofia_log, this); // every Sofia log without its own logger
    root = su_root_create(this);
    if (!root) {
      started.set_value("su_root_create failed");
      su_log_redirect(nullptr, nullptr, nullptr);
      su_deinit();
      return;
    }
    std::string url = "sip:" + opts.host + ":" + std::to_string(opts.port);
    if (opts.tcp && !opts.udp)
      url += ";transport=tcp";
    else if (opts.udp && !opts.tcp)
      url += ";transport=udp";
    sent_by = (opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host) + ":"
              + std::to_string(opts.port);
    // Connections stay open while they have dialogs (we hold them); tport closes one that never sent a valid
    // request after first_request_timeout_ms of silence, and one whose message stays incomplete for 5 s.
    unsigned incomplete_ms = 5000;
    agent = nta_agent_create(root, URL_STRING_MAKE(url.c_str()), &impl::on_message,
                             reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_UA(1), NTATAG_MERGE_482(0),
                             NTATAG_SERVER_RPORT(1), TPTAG_IDLE(opts.first_request_timeout_ms),
                             TPTAG_TIMEOUT(incomplete_ms), TPTAG_SDWN_ERROR(1), TAG_END());
    if (!agent) {
      started.set_value("cannot listen on " + url + " (address in use or not local)");
      su_root_destroy(root);
      su_log_redirect(nullptr, nullptr, nullptr);
      su_deinit();
      return;
    }
    if (opts.tls_port != 0) {
      if (auto why = listen_tls(); !why.empty()) {
        started.set_value(why);
        nta_agent_destroy(agent);
        su_root_destroy(root);
        su_log_redirect(nullptr, nullptr, nullptr);
        su_deinit();
        return;
      }
      url += " and sips:" + tls_sent_by + ";transport=tls";
    }
    default_leg = nta_leg_tcreate(agent, &impl::on_request, reinterpret_cast<nta_leg_magic_t*>(this),
                                  NTATAG_NO_DIALOG(1), TAG_END());
    su_wait_create(&wait, efd, SU_WAIT_IN);
    su_root_register(root, &wait, &impl::on_wakeup, reinterpret_cast<su_wakeup_arg_t*>(this), 0);
    // su_timer_run: every second for as long as the root runs (su_timer_set_interval would fire once).
    tick_timer = su_timer_create(su_root_task(root), 1000);
    su_timer_run(tick_timer, &impl::on_tick, reinterpret_cast<su_timer_arg_t*>(this));
    log::line(log::level::info, "sip") << "listening on " << url << " auth=" << to_string(opts.auth)
                                       << (takes_passwords(opts.auth) ? " realm=" + opts.domain : std::string{});
    listening = true;
    started.set_value({});
    su_root_run(root);
    listening = false;

    su_timer_destroy(tick_timer);
    if (shutdown_timer)
      su_timer_destroy(shutdown_timer);
    su_root_unregister(root, &wait, &impl::on_wakeup, reinterpret_cast<su_wakeup_arg_t*>(this));
    for (auto& [orq, id] : outgoing)
      nta_outgoing_destroy(orq);
    outgoing.clear();
    while (!connections.empty())
      untrack(*connections.begin()->second);
    dialogs.clear();
    by_call_id.clear();
    nta_leg_destroy(default_leg);
    nta_agent_destroy(agent);
    agent = nullptr;
    su_root_destroy(root);
    root = nullptr;
    su_log_redirect(nullptr, nullptr, nullptr);
    su_deinit();
  }

  // SIP over TLS (RFC 3261 §26.2, RFC 5630): a second listener on opts.tls_port with Sofia's TLS transport.
  // tport reads its certificate from a directory: agent.pem (key and certificate chain) and cafile.pem (the
  // chain again: we verify no client certificates, but the file must load). They are written from the checked
  // PEMs into opts.tls_dir (mode 0700/0600) at every start. TPTAG_TLS_VERSION(0) makes tport use OpenSSL's
  // version-flexible method (1 would pin TLS 1.0); OpenSSL 3's default security level refuses TLS 1.0 and 1.1
  // and weak ciphers (docs/security.md "TLS").
  std::string listen_tls() {
    std::string error;
    if (::mkdir(opts.tls_dir.c_str(), 0700) != 0 && errno != EEXIST)
      return "cannot create " + opts.tls_dir + ": " + std::strerror(errno);
    ::chmod(opts.tls_dir.c_str(), 0700);
    if (!tls::write_private_file(opts.tls_dir + "/agent.pem", opts.tls_key_pem + opts.tls_certificate_pem, 0600, error)
        || !tls::write_private_file(opts.tls_dir + "/cafile.pem", opts.tls_certificate_pem, 0600, error))
      return "cannot write the TLS files: " + error;
    tls_sent_by = (opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host) + ":"
                  + std::to_string(opts.tls_port);
    std::string url = "sips:" + tls_sent_by + ";transport=tls";
    if (nta_agent_add_tport(agent, URL_STRING_MAKE(url.c_str()), TPTAG_CERTIFICATE(opts.tls_dir.c_str()),
                            TPTAG_TLS_VERSION(0), TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_NONE),
                            TPTAG_IDLE(opts.first_request_timeout_ms), TPTAG_TIMEOUT(5000), TPTAG_SDWN_ERROR(1),
                            TAG_END()) != 0)
      return "cannot listen on " + url + " (address in use, not local, or the certificate did not load)";
    return {};
  }

  static bool is_tls(tport_t* tp) {
    const tp_name_t* name = tp ? tport_name(tp) : nullptr;
    return name && name->tpn_proto && iequals(name->tpn_proto, "tls");
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
    self->end_failed_connections();
    for (auto& o : batch)
      self->deliver(o);
    self->run_fanouts();
    return 0;
  }

  // A fan-out to many dialogs is sent a slice at a time (docs/architecture.md "The SIP edge"): between slices
  // the event loop reads requests and responses, and a document to one dialog (a command's reply, a notice)
  // does not wait behind a thousand INFOs. Order per dialog still holds: before anything else goes to a dialog,
  // catch_up() sends it every queued fan-out it has not had yet.
  struct fanout_job {
    std::string body;
    std::vector<dialog_id> ids;
    std::size_t next = 0;          // ids[next..] are still to go, except those in `early`
    std::vector<dialog_id> early;  // sent ahead of their turn by catch_up()
    std::int64_t accepted_ns = 0;
  };
  // INFOs per turn of the event loop. Smaller slices answer a command sooner during a big fan-out and deliver the
  // fan-out itself later (the responses read between slices cost as much as the sends): at 1,000 members, 16 gave
  // join p99 7.8 ms and fan-out p50 21 ms, 1,000 (no slicing) 40 ms and 15.5 ms; 128 gave 19 ms and 16.4 ms
  // (docs/performance.md "After the SIP edge rebuild").
  static constexpr std::size_t fanout_slice = 128;
  std::deque<fanout_job> fanouts;

  void deliver_one(dialog_id id, const std::string& body) {
    auto i = dialogs.find(id);
    if (i == dialogs.end() || i->second->closed || !send_info(*i->second, body))
      counters.outbound_pending.fetch_sub(1, std::memory_order_relaxed);
  }

  void catch_up(dialog_id id) {
    for (auto& job : fanouts) {
      if (std::find(job.ids.begin() + static_cast<std::ptrdiff_t>(job.next), job.ids.end(), id) == job.ids.end()
          || std::find(job.early.begin(), job.early.end(), id) != job.early.end())
        continue;
      job.early.push_back(id);
      deliver_one(id, job.body);
    }
  }

  void record_fanout(std::int64_t accepted_ns) {
    if (accepted_ns > 0)
      live->fanout.record_us(static_cast<std::uint64_t>(std::max<std::int64_t>(0, monotonic_ns() - accepted_ns) / 1000));
  }

  // One slice of the queued fan-outs; if work is left, the eventfd wakes us again after the loop's other events.
  void run_fanouts(std::size_t budget = fanout_slice) {
    while (budget > 0 && !fanouts.empty()) {
      auto& job = fanouts.front();
      while (budget > 0 && job.next < job.ids.size()) {
        dialog_id id = job.ids[job.next++];
        if (!job.early.empty() && std::find(job.early.begin(), job.early.end(), id) != job.early.end())
          continue;
        deliver_one(id, job.body);
        --budget;
      }
      if (job.next < job.ids.size())
        break;
      record_fanout(job.accepted_ns);
      fanouts.pop_front();
    }
    if (!fanouts.empty()) {
      std::uint64_t one = 1;
      ssize_t rc = ::write(efd, &one, sizeof one);
      (void) rc;
    }
  }

  void deliver(outbound& o) {
    switch (o.what) {
      case outbound::kind::info:
        if (o.dialogs.size() > 1) {
          fanouts.push_back({std::move(o.body), std::move(o.dialogs), 0, {}, o.accepted_ns});
          break;
        }
        for (auto id : o.dialogs) {
          catch_up(id);
          deliver_one(id, o.body);
        }
        record_fanout(o.accepted_ns);
        break;
      case outbound::kind::bye:
        for (auto id : o.dialogs) {
          catch_up(id);
          auto i = dialogs.find(id);
          if (i == dialogs.end() || i->second->closed)
            continue;
          end(*i->second, "ended by the server");
        }
        break;
      case outbound::kind::shutdown:
        if (!shutting_down) {
          run_fanouts(SIZE_MAX); // what was accepted before the stop still goes out
          shutting_down = true;
          std::vector<dialog*> open;
          for (auto& [id, d] : dialogs)
            if (!d->closed)
              open.push_back(d.get());
          for (auto* d : open)
            end(*d, "server shutting down");
          // Clients that never answer the BYE would hold shutdown for Timer F (32 s); 3 s is plenty on a LAN.
          shutdown_timer = su_timer_create(su_root_task(root), 0);
          su_timer_set_interval(shutdown_timer, &impl::on_shutdown_timeout, reinterpret_cast<su_timer_arg_t*>(this),
                                3000);
          maybe_finish_shutdown();
        }
        break;
    }
  }

  void maybe_finish_shutdown() {
    if (!shutting_down)
      return;
    for (auto& [id, d] : dialogs)
      if (!d->sent.empty())
        return;
    if (outgoing.empty())
      su_root_break(root);
  }

  static void on_shutdown_timeout(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<impl*>(arg);
    log::line(log::level::warning, "sip") << "shutdown: clients did not answer in time; stopping anyway";
    su_root_break(self->root);
  }

  // Once a second: requests nobody answered, dialogs whose client went silent, idle connections, old nonces.
  static void on_tick(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<impl*>(arg);
    self->tick();
  }

  void tick() {
    auto now = clock_type::now();
    std::int64_t now_ms = monotonic_ms();
    // A dialog silent for longer than its Session-Expires (plus the RFC 4028 grace) is gone: the client
    // would have refreshed it with UPDATE. One whose oldest request has no answer in time is unreachable.
    auto limit = std::chrono::seconds(opts.session_expires + 32);
    std::vector<dialog_id> expired, timed_out;
    for (auto& [id, d] : dialogs) {
      if (!d->sent.empty() && now_ms - d->sent.front().sent_ms > opts.request_timeout_ms)
        timed_out.push_back(id);
      else if (!d->closed && now - d->last_seen > limit)
        expired.push_back(id);
    }
    for (auto id : timed_out) {
      auto i = dialogs.find(id);
      if (i == dialogs.end())
        continue;
      dialog& d = *i->second;
      counters.request_timeouts.fetch_add(1, std::memory_order_relaxed);
      if (!d.closed)
        counters.infos_failed.fetch_add(1, std::memory_order_relaxed);
      log::line(d.closed ? log::level::debug : log::level::info, "sip")
          << "no answer from user=" << log::q(d.user) << " call-id=" << log::q(d.call_id) << " peer=" << log::q(d.peer) << " within "
          << opts.request_timeout_ms << " ms";
      // Over TCP a client that answers nothing on a connection that did not fail has stopped reading or hangs:
      // the connection goes, with every dialog on it (its requests would only pile up).
      if (d.conn)
        close_connection(*d.conn, "request timeout");
      else
        forget(d, "request timeout");
    }
    for (auto id : expired) {
      auto i = dialogs.find(id);
      if (i == dialogs.end() || i->second->closed)
        continue;
      log::line(log::level::info, "sip") << "session expired user=" << log::q(i->second->user)
                                         << " call-id=" << log::q(i->second->call_id) << " peer=" << log::q(i->second->peer);
      end(*i->second, "session expired");
    }
    // A connection is for a chat dialog: one that has had none for sip.sign-in-timeout (it never signed in,
    // or signed out and stayed) goes, so idle sockets cannot pile up (docs/security.md "Limits").
    std::vector<connection*> idle;
    for (auto& [tp, c] : connections)
      if (c->dialogs.empty() && now_ms - c->no_dialog_since_ms > std::int64_t{opts.sign_in_timeout_ms})
        idle.push_back(c.get());
    for (auto* c : idle) {
      counters.sign_in_timeouts.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::info, "sip") << "closing connection peer=" << log::q(c->name) << ": no chat dialog within "
                                         << opts.sign_in_timeout_ms << " ms";
      close_connection(*c, "no dialog");
    }
    guard_descriptors(now_ms);
    if (++ticks % 30 == 0)
      nonces->sweep(monotonic_ms());
    if (ticks % 60 == 0)
      refusal_logged.clear();
  }

  // --- connections ------------------------------------------------------------------------------------------

  // The connection a request came in on, tracked from its first valid request: we hold a reference and ask
  // tport to report its close or error to on_transport_error (tport_pend, with TPTAG_SDWN_ERROR set).
  connection* track(tport_t* tp, const std::string& name, bool& refused) {
    if (!tp || !tport_is_secondary(tp) || !tport_is_tcp(tp))
      return nullptr;
    auto i = connections.find(tp);
    if (i != connections.end()) {
      i->second->last_request_ms = monotonic_ms();
      return i->second.get();
    }
    if (tport_is_closed(tp) || tport_is_shutdown(tp))
      return nullptr;
    auto address = address_of(name);
    if (auto n = per_address.find(address); n != per_address.end() && n->second >= opts.max_connections_per_address) {
      counters.address_refusals.fetch_add(1, std::memory_order_relaxed);
      auto& logged = refusal_logged[address]; // once a minute per address, not once per connection
      if (logged == 0 || monotonic_ms() - logged > 60000) {
        logged = monotonic_ms();
        log::line(log::level::warning, "sip") << "too many connections from address=" << address << " (limit "
                                              << opts.max_connections_per_address
                                              << ", sip.max-connections-per-address): refusing new ones";
      }
      refused = true;
      return nullptr;
    }
    auto c = std::make_unique<connection>();
    c->tp = tport_ref(tp);
    c->name = name;
    c->address = std::move(address);
    c->last_request_ms = monotonic_ms();
    c->no_dialog_since_ms = c->last_request_ms;
    tport_set_params(tp, TPTAG_SDWN_ERROR(1), TAG_END());
    c->pend = tport_pend(tp, nullptr, &impl::on_transport_error, reinterpret_cast<tp_client_t*>(this));
    if (c->pend <= 0) {
      tport_unref(c->tp);
      return nullptr;
    }
    counters.connections.fetch_add(1, std::memory_order_relaxed);
    ++per_address[c->address];
    log::line(log::level::debug, "sip") << "connection open peer=" << log::q(name);
    return connections.emplace(tp, std::move(c)).first->second.get();
  }

  // Descriptor exhaustion (docs/security.md "Limits"). tport accepts connections itself; when accept() fails
  // with EMFILE the listening socket stays readable and the event loop would spin on it, logging each failure.
  // So before the process runs out, the stream listeners are stalled (tport_stall: the kernel's backlog holds
  // new connections) and resumed once enough descriptors are free again; the connections already open are
  // served throughout. Checked every tick, and at once whenever Sofia logs something (that is where a failing
  // accept shows up first).
  void guard_descriptors(std::int64_t now_ms) {
    descriptors_checked_ms = now_ms;
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > INT_MAX)
      return;
    auto limit = static_cast<std::int64_t>(lim.rlim_cur);
    int open = open_descriptors(static_cast<int>(limit));
    if (open < 0)
      return;
    std::int64_t reserve = std::max<std::int64_t>(32, limit / 16);
    counters.open_descriptors.store(open, std::memory_order_relaxed);
    bool pause = !accept_paused && open >= limit - reserve;
    bool resume = accept_paused && open < limit - 2 * reserve;
    if (!pause && !resume)
      return;
    for (tport_t* tp = tport_primaries(nta_agent_tports(agent)); tp; tp = tport_next(tp))
      if (tport_is_tcp(tp))
        pause ? tport_stall(tp) : tport_continue(tp);
    accept_paused = pause;
    counters.accept_paused.store(pause ? 1 : 0, std::memory_order_relaxed);
    if (pause) {
      counters.accept_pauses.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::warning, "sip") << "descriptors short: " << open << " open of " << limit
                                            << ": not accepting connections until " << limit - 2 * reserve
                                            << " (raise LimitNOFILE)";
    } else {
      log::line(log::level::info, "sip") << "descriptors free again: " << open << " open of " << limit
                                         << ": accepting connections";
    }
  }

  // Sofia's own log lines (nta, tport, su): into pchat's log, at most 20 a second (a flood is summarised), and
  // each one a prompt to check the descriptors. Not parsed: nothing here depends on their text.
  static void on_sofia_log(void* stream, const char* fmt, va_list ap) {
    auto* self = static_cast<impl*>(stream);
    std::int64_t now_ms = monotonic_ms();
    if (self->listening && now_ms - self->descriptors_checked_ms >= 5)
      self->guard_descriptors(now_ms);
    if (now_ms - self->sofia_log_window_ms >= 1000) {
      if (self->sofia_log_dropped > 0)
        log::line(log::level::warning, "sofia") << self->sofia_log_dropped << " more lines in the last second";
      self->sofia_log_window_ms = now_ms;
      self->sofia_log_lines = 0;
      self->sofia_log_dropped = 0;
    }
    if (++self->sofia_log_lines > 20) {
      ++self->sofia_log_dropped;
      return;
    }
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    std::string_view text{buf};
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
      text.remove_suffix(1);
    if (!text.empty())
      log::line(log::level::info, "sofia") << text;
  }

  // Runs on the SIP thread when tport closes the connection (the client closed it, it failed, it idled out, or
  // we shut it down).
  // tport reports a failed connection from inside whatever call found it failed: a send to that connection (a
  // fan-out INFO, a BYE, a response nta writes) whose caller still holds the dialog and the connection. So the
  // connection is only noted here and ended at the next turn of the event loop (on_wakeup), never under a caller.
  static void on_transport_error(tp_stack_t*, tp_client_t* client, tport_t* tp, msg_t*, int error) {
    auto* self = reinterpret_cast<impl*>(client);
    if (self->connections.count(tp) == 0)
      return;
    self->failed_connections.emplace_back(tp, error);
    std::uint64_t one = 1;
    ssize_t rc = ::write(self->efd, &one, sizeof one);
    (void) rc;
  }

  void end_failed_connections() {
    auto failed = std::move(failed_connections);
    failed_connections.clear();
    for (auto [tp, error] : failed) {
      auto i = connections.find(tp); // the tport is still ours (referenced) until untrack(); ended already?
      if (i != connections.end())
        connection_gone(*i->second, error == -1 || error == 0 ? "closed" : std::strerror(error));
    }
  }

  // The client's connection is gone: its dialogs are too (nothing could reach it any more).
  void connection_gone(connection& c, const char* why) {
    auto ids = c.dialogs;
    for (auto id : ids) {
      auto d = dialogs.find(id);
      if (d == dialogs.end())
        continue;
      log::line(log::level::info, "sip") << "connection closed user=" << log::q(d->second->user)
                                         << " call-id=" << log::q(d->second->call_id) << " peer=" << log::q(c.name) << ": " << why;
      forget(*d->second, "connection closed");
    }
    counters.connections_closed.fetch_add(1, std::memory_order_relaxed);
    log::line(log::level::debug, "sip") << "connection gone peer=" << log::q(c.name) << ": " << why;
    untrack(c);
  }

  void untrack(connection& c) {
    tport_t* tp = c.tp;
    tport_release(tp, c.pend, nullptr, nullptr, reinterpret_cast<tp_client_t*>(this), 0);
    counters.connections.fetch_sub(1, std::memory_order_relaxed);
    if (auto a = per_address.find(c.address); a != per_address.end() && --a->second <= 0)
      per_address.erase(a);
    connections.erase(tp); // destroys c
    // A failure tport reported for it and not yet handled must not outlive our reference (the address could be
    // reused by a new connection before the next turn of the loop).
    failed_connections.erase(std::remove_if(failed_connections.begin(), failed_connections.end(),
                                            [tp](const auto& f) { return f.first == tp; }),
                             failed_connections.end());
    tport_unref(tp);
  }

  // Closes the connection; tport reports the close to on_transport_error, which ends its dialogs.
  void close_connection(connection& c, const char* why) {
    tport_t* tp = c.tp;
    log::line(log::level::debug, "sip") << "closing connection peer=" << log::q(c.name) << ": " << why;
    tport_shutdown(tp, 2);
    // tport reports only while it has pending clients and the socket was open; make sure we forget it.
    auto i = connections.find(tp);
    if (i != connections.end())
      connection_gone(*i->second, why);
  }

  // --- requests to clients ----------------------------------------------------------------------------------

  // One INFO to one dialog. False when it could not be sent (the dialog is then ended).
  bool send_info(dialog& d, const std::string& body) {
    std::uint32_t cseq = d.next_cseq++;
    if (!d.conn)
      return send_by_transaction(d, "INFO", cseq, body, true);
    connection& c = *d.conn;
    if (c.pending >= opts.max_connection_pending || c.pending_bytes >= opts.max_connection_bytes) {
      slow_client(c);
      return false;
    }
    if (!send_direct(d, "INFO", cseq, body)) {
      log::line(log::level::info, "sip") << "cannot send to user=" << log::q(d.user) << " call-id=" << log::q(d.call_id)
                                         << " peer=" << log::q(c.name);
      close_connection(c, "send failed");
      return false;
    }
    counters.infos_out.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // The fast path (docs/architecture.md "The SIP edge"): an in-dialog request (INFO, BYE) written in one piece
  // into one transport message around the body and handed to the dialog's connection; no parsing, no
  // transaction. Its response comes to on_message; until then it counts against the connection's bounds.
  bool send_direct(dialog& d, const char* method, std::uint32_t cseq, const std::string& body) {
    connection& c = *d.conn;
    const char* content_type = body.empty() ? "" : "text/plain";
    std::string auth; // NTLM: "Authentication-Info: ...\r\n", one signature per request
    if (c.ntlm && c.ntlm->established) {
      ntlm::signed_fields f = d.signed_template;
      f.cseq = std::to_string(cseq);
      f.method = method;
      auth = "Authentication-Info: " + authentication_info(*c.ntlm, f) + "\r\n";
    }
    std::size_t n = d.frame.size(method, cseq, content_type, body, true, auth);
    msg_t* m = wire_message(d, method, cseq, content_type, body, n, auth);
    if (!m)
      return false;
    bool sent = tport_tsend(c.tp, m, tport_name(c.tp), TAG_END()) != nullptr;
    msg_destroy(m); // tport holds its own reference while the bytes wait in its queue
    if (!sent)
      return false;
    d.sent.push_back({cseq, static_cast<std::uint32_t>(n), monotonic_ms(), std::string_view{method} == "BYE"});
    c.pending += 1;
    c.pending_bytes += static_cast<std::int64_t>(n);
    return true;
  }

  // A transport message holding the request's `n` bytes as they are: the bytes are the first line's encoding,
  // so tport sends them in one piece and nothing parses or re-encodes them. One allocation for the message, one
  // for the line and its bytes.
  msg_t* wire_message(const dialog& d, const char* method, std::uint32_t cseq, const char* content_type,
                      const std::string& body, std::size_t n, std::string_view extra) {
    msg_t* m = msg_create(sip_default_mclass(), 0);
    if (!m)
      return nullptr;
    auto* rq = reinterpret_cast<sip_request_t*>(
        msg_header_alloc(msg_home(m), sip_request_class, static_cast<isize_t>(n)));
    if (!rq) {
      msg_destroy(m);
      return nullptr;
    }
    char* bytes = reinterpret_cast<char*>(rq) + sip_request_class->hc_size;
    std::size_t written = d.frame.write(bytes, method, cseq, content_type, body, true, extra);
    rq->rq_method = sip_method_code(method);
    rq->rq_method_name = method;
    rq->rq_version = "SIP/2.0";
    rq->rq_common->h_data = bytes;
    rq->rq_common->h_len = written;
    sip_t* sip = sip_object(m);
    sip->sip_request = rq;
    if (msg_serialize(m, reinterpret_cast<msg_pub_t*>(sip)) < 0) {
      msg_destroy(m);
      return nullptr;
    }
    return m;
  }

  // A client whose connection holds more unanswered requests than the bounds allow has stopped reading.
  void slow_client(connection& c) {
    counters.slow_disconnects.fetch_add(1, std::memory_order_relaxed);
    log::line(log::level::warning, "sip") << "client stopped reading peer=" << log::q(c.name) << ": " << c.pending
                                          << " requests (" << c.pending_bytes
                                          << " bytes) unanswered; closing its connection";
    close_connection(c, "stopped reading");
  }

  // A request to a UDP client through an nta client transaction (retransmitted, RFC 3261 §17.1.2): INFOs, BYE.
  bool send_by_transaction(dialog& d, const char* method, std::uint32_t cseq, const std::string& body, bool info) {
    std::string text = d.frame.build(method, cseq, body.empty() ? "" : "text/plain", body, false);
    msg_t* m = msg_make(sip_default_mclass(), 0, text.data(), static_cast<isize_t>(text.size()));
    if (!m)
      return false;
    nta_outgoing_t* orq = nta_outgoing_mcreate(agent, &impl::on_response, reinterpret_cast<nta_outgoing_magic_t*>(this),
                                               URL_STRING_MAKE(d.udp_route.c_str()), m, TAG_END());
    if (!orq) {
      msg_destroy(m);
      return false;
    }
    outgoing.emplace(orq, d.id);
    ++d.transactions;
    if (info) {
      ++d.udp_pending;
      counters.infos_out.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
  }

  // The final (or provisional) response to an nta client transaction.
  static int on_response(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, const sip_t* sip) {
    auto* self = reinterpret_cast<impl*>(magic);
    int status = nta_outgoing_status(orq);
    if (status < 200)
      return 0;
    auto o = self->outgoing.find(orq);
    dialog_id id = o == self->outgoing.end() ? 0 : o->second;
    if (o != self->outgoing.end())
      self->outgoing.erase(o);
    bool is_info = sip && sip->sip_cseq && sip->sip_cseq->cs_method == sip_method_info;
    if (!sip) // a timeout or transport error reported by nta: the method is the transaction's
      is_info = nta_outgoing_method(orq) == sip_method_info;
    nta_outgoing_destroy(orq);
    auto d = self->dialogs.find(id);
    if (d != self->dialogs.end()) {
      --d->second->transactions;
      if (is_info && d->second->udp_pending > 0) {
        --d->second->udp_pending;
        self->counters.outbound_pending.fetch_sub(1, std::memory_order_relaxed);
        self->info_answered(*d->second, status, sip && sip->sip_status ? sip->sip_status->st_phrase : "");
      }
      d = self->dialogs.find(id); // info_answered may have ended it
      if (d != self->dialogs.end() && d->second->closed && d->second->transactions == 0 && d->second->sent.empty())
        self->forget(*d->second, "ended");
    }
    self->maybe_finish_shutdown();
    return 0;
  }

  // A final response to one of our INFOs: success, or the end of the dialog.
  void info_answered(dialog& d, int status, const char* phrase) {
    if (status < 300)
      return;
    // 481/487: the client no longer has this dialog (docs/xccos.md §6 vector 15); 408/5xx: it is unreachable.
    counters.infos_failed.fetch_add(1, std::memory_order_relaxed);
    log::line(log::level::info, "sip") << "INFO to user=" << log::q(d.user) << " call-id=" << log::q(d.call_id) << " peer=" << log::q(d.peer)
                                       << " failed " << status << " " << (phrase ? phrase : "");
    if (status != 481 && status != 487 && status != 408 && status < 500)
      return; // a client refusing one document keeps its dialog
    end(d, "INFO failed");
  }

  // Messages nta did not give to a transaction: the responses to our fast-path requests, matched here by
  // Call-ID and CSeq (each request's Via branch also carries its CSeq).
  static int on_message(nta_agent_magic_t* magic, nta_agent_t*, msg_t* msg, sip_t* sip) {
    auto* self = reinterpret_cast<impl*>(magic);
    if (sip && sip->sip_status && sip->sip_call_id && sip->sip_cseq)
      self->fast_response(sip);
    msg_destroy(msg);
    return 0;
  }

  // The dialog a response belongs to: our Via branch names it ("z9hG4bK" + salt + dialog id + "." + CSeq in
  // hex, codec/sip_request_frame.hpp), which spares hashing the Call-ID; the Call-ID must still match.
  dialog* dialog_of_response(const sip_t* sip) {
    const char* branch = sip->sip_via && sip->sip_via->v_branch ? sip->sip_via->v_branch : "";
    std::string_view b{branch};
    constexpr std::string_view cookie = "z9hG4bK";
    if (b.size() > cookie.size() + branch_salt.size() && b.compare(0, cookie.size(), cookie) == 0
        && b.compare(cookie.size(), branch_salt.size(), branch_salt) == 0) {
      dialog_id id = 0;
      for (std::size_t k = cookie.size() + branch_salt.size(); k < b.size() && b[k] >= '0' && b[k] <= '9'; ++k)
        id = id * 10 + static_cast<dialog_id>(b[k] - '0');
      auto i = dialogs.find(id);
      if (i != dialogs.end() && i->second->call_id == sip->sip_call_id->i_id)
        return i->second.get();
    }
    auto i = by_call_id.find(sip->sip_call_id->i_id);
    return i == by_call_id.end() ? nullptr : i->second;
  }

  void fast_response(const sip_t* sip) {
    int status = sip->sip_status->st_status;
    if (status < 200)
      return;
    dialog* found = dialog_of_response(sip);
    if (!found)
      return;
    dialog& d = *found;
    std::uint32_t cseq = sip->sip_cseq->cs_seq;
    auto s = std::find_if(d.sent.begin(), d.sent.end(), [&](const sent_request& r) { return r.cseq == cseq; });
    if (s == d.sent.end())
      return; // a retransmitted or late response
    bool bye = s->bye;
    if (d.conn) {
      d.conn->pending -= 1;
      d.conn->pending_bytes -= s->bytes;
    }
    d.sent.erase(s);
    dialog_id id = d.id;
    if (!bye) {
      counters.outbound_pending.fetch_sub(1, std::memory_order_relaxed);
      info_answered(d, status, sip->sip_status->st_phrase); // may end the dialog
    }
    auto again = dialogs.find(id);
    if (again != dialogs.end() && again->second->closed && again->second->sent.empty()
        && again->second->transactions == 0)
      forget(*again->second, "ended");
    maybe_finish_shutdown();
  }

  // BYE on the dialog and report it closed; the dialog is forgotten when the BYE is answered (or times out).
  void end(dialog& d, const char* why) {
    if (d.closed)
      return;
    std::uint32_t cseq = d.next_cseq++;
    if (d.conn)
      send_direct(d, "BYE", cseq, {}); // unsent: the connection is going, and the dialog is forgotten below
    else
      send_by_transaction(d, "BYE", cseq, {}, false);
    close(d, why);
    if (d.sent.empty() && d.transactions == 0)
      forget(d, why);
  }

  // Reports the dialog closed to the actors (once).
  void close(dialog& d, const char* why) {
    if (d.closed)
      return;
    d.closed = true;
    live->sessions.fetch_sub(1, std::memory_order_relaxed);
    log::line(log::level::debug, "sip") << "dialog closed user=" << log::q(d.user) << " call-id=" << log::q(d.call_id)
                                        << " peer=" << log::q(d.peer) << " reason=" << log::q(why);
    caf::anon_send(ingress, closed_atom::value, d.id);
  }

  // Closes the dialog if needed and drops everything about it; unanswered requests are counted as answered.
  void forget(dialog& d, const char* why) {
    close(d, why);
    std::int64_t infos = d.udp_pending;
    for (auto& s : d.sent)
      if (!s.bye)
        ++infos;
    counters.outbound_pending.fetch_sub(infos, std::memory_order_relaxed);
    if (d.conn) {
      for (auto& s : d.sent) {
        d.conn->pending -= 1;
        d.conn->pending_bytes -= s.bytes;
      }
      auto& ids = d.conn->dialogs;
      ids.erase(std::remove(ids.begin(), ids.end(), d.id), ids.end());
      if (ids.empty())
        d.conn->no_dialog_since_ms = monotonic_ms();
    }
    for (auto o = outgoing.begin(); o != outgoing.end();) {
      if (o->second == d.id)
        o->second = 0; // its answer will find no dialog
      ++o;
    }
    auto c = by_call_id.find(d.call_id);
    if (c != by_call_id.end() && c->second == &d)
      by_call_id.erase(c);
    dialogs.erase(d.id); // destroys d
  }

  // --- requests from clients --------------------------------------------------------------------------------

  struct request_context {
    tport_t* tp = nullptr;   // referenced; released by the caller
    std::string peer;        // "tcp/ip:port", "tls/ip:port" or "udp/ip:port"
    connection* conn = nullptr;
    bool tls = false;        // it came over TLS
  };

  static int on_request(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq, const sip_t* sip) {
    auto* self = reinterpret_cast<impl*>(magic);
    request_context ctx;
    msg_t* m = nta_incoming_getrequest(irq);
    ctx.peer = peer_name(m);
    if (m)
      msg_destroy(m);
    ctx.tp = nta_incoming_transport(self->agent, irq, nullptr);
    ctx.tls = is_tls(ctx.tp);
    if (ctx.tls && ctx.peer.rfind("tcp/", 0) == 0)
      ctx.peer.replace(0, 3, "tls");
    bool refused = false;
    ctx.conn = self->track(ctx.tp, ctx.peer, refused);
    self->replying_on = ctx.conn;
    if (refused) {
      // Over sip.max-connections-per-address: answered, then the connection goes.
      self->treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("30"), TAG_END());
      tport_shutdown(ctx.tp, 2);
    } else {
      self->dispatch(irq, sip, ctx);
    }
    self->replying_on = nullptr;
    if (ctx.tp)
      tport_unref(ctx.tp);
    // The request has been answered; nta keeps the transaction for retransmissions (and an INVITE's for its
    // ACK) and frees it. Had a handler not answered, nta would send 500.
    nta_incoming_destroy(irq);
    return 0;
  }

  // The methods pchat answers itself (everything else but ACK and CANCEL gets 405).
  static bool implemented(const sip_request_t* rq) {
    switch (rq->rq_method) {
      case sip_method_register:
      case sip_method_subscribe:
      case sip_method_invite:
      case sip_method_info:
      case sip_method_options:
      case sip_method_bye:
      case sip_method_update:
        return true;
      default:
        return rq->rq_method_name && std::string_view{rq->rq_method_name} == "SERVICE";
    }
  }

  // What a UAS checks before it looks at a request it implements (RFC 3261 §8.2.2; RFC 4475 §3.3.2, §3.3.5):
  // a Request-URI that is not a SIP or SIPS URI gets 416, and a Require option tag pchat does not support
  // (it supports session timers, "timer", only) gets 420 with the tags in Unsupported. Methods pchat does not
  // implement get their 405 first (§8.2.1); ACK and CANCEL are exempt. True when the request was answered here.
  bool refused_as_unsupported(nta_incoming_t* irq, const sip_t* sip) {
    if (!implemented(sip->sip_request))
      return false;
    const url_t* target = sip->sip_request->rq_url;
    if (!target || (target->url_type != url_sip && target->url_type != url_sips)) {
      reply(irq, SIP_416_UNSUPPORTED_URI);
      return true;
    }
    std::string unsupported;
    for (auto* r = sip->sip_require; r; r = r->k_next)
      for (auto* tag = r->k_items; tag && *tag; ++tag)
        if (!iequals(*tag, "timer"))
          unsupported += (unsupported.empty() ? "" : ", ") + std::string{*tag};
    if (unsupported.empty())
      return false;
    treply(irq, SIP_420_BAD_EXTENSION, SIPTAG_UNSUPPORTED_STR(unsupported.c_str()), SIPTAG_SUPPORTED_STR("timer"),
           TAG_END());
    return true;
  }

  // Every handler answers the request itself and returns the final status it sent; ACKs are not answered.
  int dispatch(nta_incoming_t* irq, const sip_t* sip, request_context& ctx) {
    sip_method_t method = sip->sip_request->rq_method;
    if (refused_as_unsupported(irq, sip))
      return nta_incoming_status(irq);
    if (sip->sip_to && sip->sip_to->a_tag)
      return in_dialog(irq, sip, ctx);
    switch (method) {
      case sip_method_register: return on_register(irq, sip, ctx);
      case sip_method_subscribe: return on_subscribe(irq, sip, ctx);
      case sip_method_invite: return on_invite(irq, sip, ctx);
      case sip_method_info:
        counters.infos_in.fetch_add(1, std::memory_order_relaxed);
        live->reject(pchat_errc::sip_no_dialog);
        log::line(log::level::info, "sip") << "INFO outside a dialog call-id=" << log::q(call_id_of(sip))
                                           << " peer=" << log::q(ctx.peer) << ": 481";
        return reply(irq, SIP_481_NO_TRANSACTION);
      case sip_method_options:
        treply(irq, SIP_200_OK, SIPTAG_ALLOW_STR(allow_methods), SIPTAG_ACCEPT_STR("text/plain"),
                            SIPTAG_USER_AGENT_STR(user_agent), TAG_END());
        return 200;
      case sip_method_ack:
        return 200; // an ACK nobody waits for (nta matched the ACKs of our 200s already)
      case sip_method_bye:
      case sip_method_update:
      case sip_method_cancel:
        return reply(irq, SIP_481_NO_TRANSACTION);
      default:
        if (sip->sip_request->rq_method_name && std::string_view{sip->sip_request->rq_method_name} == "SERVICE")
          return on_service(irq, sip, ctx);
        treply(irq, SIP_405_METHOD_NOT_ALLOWED, SIPTAG_ALLOW_STR(allow_methods), TAG_END());
        return 405;
    }
  }

  // Every answer goes out here. On a connection with an NTLM session the response is completed first and then
  // signed over what it carries ([MS-SIPAE] §3.2.5.5): pidgin-sipe drops unsigned final responses there.
  int treply(nta_incoming_t* irq, int status, const char* phrase, tag_type_t tag, tag_value_t value, ...) {
    ta_list ta;
    ta_start(ta, tag, value);
    int rc = -1;
    ntlm_session* n = replying_on && replying_on->ntlm && replying_on->ntlm->established ? replying_on->ntlm.get()
                                                                                         : nullptr;
    if (!n) {
      rc = nta_incoming_treply(irq, status, phrase, ta_tags(ta));
    } else if (msg_t* msg = nta_msg_create(agent, 0)) {
      if (nta_incoming_complete_response(irq, msg, status, phrase, ta_tags(ta)) == 0) {
        auto fields = fields_of_msg(msg);
        if (fields && sign_into(*n, *fields, msg))
          rc = nta_incoming_mreply(irq, msg); // takes the message
        else
          msg_destroy(msg);
      } else {
        msg_destroy(msg);
      }
      if (rc < 0)
        rc = nta_incoming_treply(irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
    }
    ta_end(ta);
    return rc;
  }

  // The signed fields of a Sofia message, read back from its text with the same codec the tests check against
  // pidgin-sipe's vectors (what is signed is what goes on the wire).
  static std::optional<ntlm::signed_fields> fields_of_msg(msg_t* msg) {
    su_home_t* home = msg_home(msg);
    std::size_t len = 0;
    char* text = msg_as_string(home, msg, nullptr, 0, &len);
    if (!text)
      return std::nullopt;
    sip::parse_options po;
    po.datagram = true;
    auto parsed = sip::parse(std::string_view{text, len}, po);
    su_free(home, text);
    if (parsed.status != sip::parse_status::ok)
      return std::nullopt;
    return ntlm::fields_of(parsed.msg);
  }

  // "NTLM rspauth=..., srand=..., ..." for `fields` (protocol, rand, num, realm and target filled in here).
  std::string authentication_info(ntlm_session& n, ntlm::signed_fields& f) {
    f.protocol = "NTLM";
    f.rand = n.srand;
    f.num = std::to_string(++n.snum);
    f.realm = opts.ntlm_realm;
    f.target_name = opts.ntlm_target;
    auto rspauth = n.server_signer.signature_hex(ntlm::signature_text(f, n.version));
    return "NTLM rspauth=\"" + rspauth + "\", srand=\"" + f.rand + "\", snum=\"" + f.num + "\", opaque=\"" +
           n.opaque + "\", qop=\"auth\", targetname=\"" + opts.ntlm_target + "\", realm=\"" + opts.ntlm_realm +
           "\"";
  }

  bool sign_into(ntlm_session& n, ntlm::signed_fields f, msg_t* msg) {
    auto value = authentication_info(n, f);
    return msg_header_add_make(msg, nullptr, sip_authentication_info_class, value.c_str()) == 0;
  }

  int reply(nta_incoming_t* irq, int status, const char* phrase) {
    treply(irq, status, phrase, TAG_END());
    return status;
  }

  int in_dialog(nta_incoming_t* irq, const sip_t* sip, request_context& ctx) {
    sip_method_t method = sip->sip_request->rq_method;
    dialog* d = nullptr;
    if (auto i = by_call_id.find(call_id_of(sip)); i != by_call_id.end()) {
      dialog* c = i->second;
      const char* from_tag = sip->sip_from ? sip->sip_from->a_tag : nullptr;
      if (c->local_tag == sip->sip_to->a_tag && from_tag && c->remote_tag == from_tag)
        d = c;
    }
    if (method == sip_method_subscribe)
      return d ? reply(irq, SIP_481_NO_TRANSACTION) : on_subscribe(irq, sip, ctx);
    if (method == sip_method_ack)
      return 200;
    if (method == sip_method_info)
      counters.infos_in.fetch_add(1, std::memory_order_relaxed);
    if (!d || d->closed) {
      if (method == sip_method_info) {
        live->reject(pchat_errc::sip_no_dialog);
        log::line(log::level::info, "sip") << "INFO outside a dialog call-id=" << log::q(call_id_of(sip))
                                           << " peer=" << log::q(ctx.peer) << ": 481";
      }
      return reply(irq, SIP_481_NO_TRANSACTION);
    }
    // In an NTLM session every request of the client is signed ([MS-SIPAE] §3.2.5.2).
    if (d->conn && d->conn->ntlm && d->conn->ntlm->established) {
      const sip_authorization_t* a = ntlm_authorization(sip);
      if (!a || !signed_by_client(irq, *d->conn->ntlm, *a)) {
        counters.auth_refused.fetch_add(1, std::memory_order_relaxed);
        log::line(log::level::info, "sip") << "unsigned or badly signed request user=" << log::q(d->user)
                                           << " call-id=" << log::q(d->call_id) << " peer=" << log::q(ctx.peer) << ": 403";
        return reply(irq, SIP_403_FORBIDDEN);
      }
    }
    // RFC 3261 §12.2.2: a request with a lower CSeq than the last one is out of order.
    std::uint32_t cseq = sip->sip_cseq ? sip->sip_cseq->cs_seq : 0;
    if (cseq < d->remote_cseq)
      return reply(irq, SIP_500_INTERNAL_SERVER_ERROR);
    d->remote_cseq = cseq;
    bool same_connection = ctx.peer == d->peer;
    switch (method) {
      case sip_method_info:
        return on_info(irq, *d, sip, same_connection);
      case sip_method_invite:
        // A re-INVITE (session refresh) rides its dialog: from the dialog's own connection only, and it changes
        // nothing but the dialog's liveness (a second dialog would let a stranger who knows the Call-ID and tags
        // take the session over).
        if (!same_connection) {
          log::line(log::level::info, "sip") << "re-INVITE refused user=" << log::q(d->user) << " call-id=" << log::q(d->call_id)
                                             << " peer=" << log::q(ctx.peer) << ": not from the dialog's connection";
          return reply(irq, SIP_403_FORBIDDEN);
        }
        d->last_seen = clock_type::now();
        return answer_session(irq, sip);
      case sip_method_update:
        if (!same_connection && takes_passwords(opts.auth))
          return reply(irq, SIP_403_FORBIDDEN);
        d->last_seen = clock_type::now();
        return answer_session(irq, sip);
      case sip_method_bye:
        if (!same_connection && takes_passwords(opts.auth))
          return reply(irq, SIP_403_FORBIDDEN);
        reply(irq, SIP_200_OK);
        log::line(log::level::debug, "sip") << "BYE from user=" << log::q(d->user) << " call-id=" << log::q(d->call_id);
        forget(*d, "client BYE");
        return 200;
      case sip_method_options:
        d->last_seen = clock_type::now();
        treply(irq, SIP_200_OK, SIPTAG_ALLOW_STR(allow_methods), TAG_END());
        return 200;
      default:
        treply(irq, SIP_405_METHOD_NOT_ALLOWED, SIPTAG_ALLOW_STR(allow_methods), TAG_END());
        return 405;
    }
  }

  // 200 to an INVITE or UPDATE: Session-Expires with the client as refresher (RFC 4028 §9).
  int answer_session(nta_incoming_t* irq, const sip_t* sip, const char* contact = nullptr) {
    std::string se = std::to_string(opts.session_expires) + ";refresher=uac";
    bool timer = false;
    for (auto* s = sip->sip_supported; s && !timer; s = s->k_next)
      for (auto* item = s->k_items; item && *item && !timer; ++item)
        timer = iequals(*item, "timer");
    treply(irq, SIP_200_OK, TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
                        SIPTAG_SESSION_EXPIRES_STR(se.c_str()), TAG_IF(timer, SIPTAG_REQUIRE_STR("timer")),
                        SIPTAG_ALLOW_STR(allow_methods), SIPTAG_SUPPORTED_STR("timer"),
                        SIPTAG_USER_AGENT_STR(user_agent), TAG_END());
    return 200;
  }

  // --- authentication and policy ---------------------------------------------------------------------------

  // Sign-in throttle (docs/security.md "Limits"), as the web's: five failed sign-ins per user and twenty per client
  // address a minute; past either, credentials are not even checked until the minute has passed.
  static constexpr unsigned failures_per_user = 5;
  static constexpr unsigned failures_per_address = 20;
  bool sign_in_throttled(const std::string& user, const request_context& ctx) {
    return !failed_sign_ins.allowed("user " + user, failures_per_user) ||
           !failed_sign_ins.allowed("addr " + address_key(address_of(ctx.peer)), failures_per_address);
  }
  void sign_in_failed(const std::string& user, const request_context& ctx) {
    auto address = address_of(ctx.peer);
    auto by_user = failed_sign_ins.failed("user " + user);
    auto by_address = failed_sign_ins.failed("addr " + address_key(address));
    // The line fail2ban's filter reads (packaging/fail2ban/pchat.conf): the client's address, and the counts.
    log::line(log::level::warning, "sip") << "sign-in failed user=" << log::q(user) << " address=" << log::q(address)
                                          << " failures-for-user=" << by_user
                                          << " failures-from-address=" << by_address;
    if (by_user == failures_per_user || by_address == failures_per_address)
      log::line(log::level::warning, "sip") << "sign-ins throttled for a minute user=" << log::q(user) << " address="
                                            << address << " (" << by_user << " failures for the user, "
                                            << by_address << " from the address)";
  }

  // The NTLM credentials among a request's Authorization headers, if any.
  static const sip_authorization_t* ntlm_authorization(const sip_t* sip) {
    for (auto* a = sip->sip_authorization; a; a = a->au_next)
      if (a->au_scheme && iequals(a->au_scheme, "NTLM"))
        return a;
    return nullptr;
  }

  // A parameter of an auth header, unquoted; nullopt when absent.
  static std::optional<std::string> auth_param(const sip_authorization_t& a, std::string_view name) {
    for (auto p = a.au_params; p && *p; ++p) {
      std::string_view kv{*p};
      auto eq = kv.find('=');
      if (eq == std::string_view::npos || !iequals(trim(kv.substr(0, eq)), name))
        continue;
      auto v = trim(kv.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
        v = v.substr(1, v.size() - 2);
      return std::string{v};
    }
    return std::nullopt;
  }

  // Whether `irq`'s request carries a valid signature of `n`'s client (crand, cnum, response in its NTLM
  // Authorization over the request's digest string).
  bool signed_by_client(nta_incoming_t* irq, const ntlm_session& n, const sip_authorization_t& a) {
    auto response = auth_param(a, "response");
    if (!response)
      return false;
    msg_t* request = nta_incoming_getrequest(irq);
    auto fields = request ? fields_of_msg(request) : std::nullopt;
    if (request)
      msg_destroy(request);
    if (!fields)
      return false;
    fields->protocol = a.au_scheme;
    fields->rand = auth_param(a, "crand").value_or(std::string{});
    fields->num = auth_param(a, "cnum").value_or(std::string{});
    fields->realm = auth_param(a, "realm").value_or(std::string{});
    fields->target_name = auth_param(a, "targetname").value_or(std::string{});
    return n.client_signer.verify_hex(ntlm::signature_text(*fields, n.version), *response);
  }

  // The NTLM exchange on connection `c` ([MS-SIPAE] §3.2.5.1): an empty gssapi-data gets a CHALLENGE (401), the
  // AUTHENTICATE that answers it proves the password against the account's NT hash and opens the association,
  // and from then on requests are admitted by their signature. True when the request may go on.
  template <class Refuse>
  bool admit_ntlm(nta_incoming_t* irq, const sip_t* sip, const request_context& ctx, const sip_authorization_t& a,
                  const std::string& user, const storage::user_record* account, Refuse& refused) {
    connection& c = *ctx.conn;
    auto gss = auth_param(a, "gssapi-data");
    if (c.ntlm && c.ntlm->established && !gss) {
      if (c.ntlm->user != user)
        return refused(SIP_403_FORBIDDEN, "NTLM: From is not the user of this connection's session");
      if (!signed_by_client(irq, *c.ntlm, a))
        return refused(SIP_403_FORBIDDEN, "NTLM: bad or missing signature");
      return true;
    }
    if (!gss)
      return refused(400, "NTLM without gssapi-data", "NTLM credentials without gssapi-data");
    replying_on = nullptr; // the exchange's own answers are unsigned: there is no session yet
    if (gss->empty()) {
      auto n = std::make_unique<ntlm_session>();
      n->server_challenge = random_bytes(8);
      n->opaque = random_hex(4);
      ntlm::challenge_names names;
      names.dns_domain = opts.domain;
      names.dns_computer = opts.ntlm_target;
      names.netbios_domain = netbios_name(opts.domain);
      names.netbios_computer = netbios_name(opts.ntlm_target);
      auto now = std::chrono::system_clock::now().time_since_epoch();
      auto filetime = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()) *
                        10 + 116444736000000000ull; // 100 ns since 1601
      auto message = ntlm::build_challenge(n->server_challenge, names, filetime);
      std::string offer = "NTLM opaque=\"" + n->opaque + "\", gssapi-data=\"" + ntlm::base64_encode(message) +
                          "\", targetname=\"" + opts.ntlm_target + "\", realm=\"" + opts.ntlm_realm + "\", version=4";
      c.ntlm = std::move(n);
      counters.auth_challenges.fetch_add(1, std::memory_order_relaxed);
      treply(irq, SIP_401_UNAUTHORIZED, SIPTAG_WWW_AUTHENTICATE_STR(offer.c_str()), TAG_END());
      return false;
    }
    if (!c.ntlm || c.ntlm->established || c.ntlm->server_challenge.empty())
      return refused(SIP_403_FORBIDDEN, "NTLM: AUTHENTICATE without a CHALLENGE on this connection");
    if (sign_in_throttled(user, ctx)) {
      c.ntlm.reset();
      counters.sign_ins_throttled.fetch_add(1, std::memory_order_relaxed);
      return refused(SIP_403_FORBIDDEN, "too many failed sign-ins: throttled");
    }
    auto n = std::move(c.ntlm); // one try per CHALLENGE
    if (auth_param(a, "opaque").value_or(std::string{}) != n->opaque)
      return refused(SIP_403_FORBIDDEN, "NTLM: opaque does not match the CHALLENGE");
    auto bytes = ntlm::base64_decode(*gss);
    std::string error;
    auto message = bytes ? ntlm::parse_authenticate(*bytes, error) : std::nullopt;
    if (!message) {
      log::line(log::level::info, "sip") << "NTLM AUTHENTICATE unreadable: " << (bytes ? error : "not base64");
      return refused(400, "Malformed NTLM AUTHENTICATE", "malformed NTLM AUTHENTICATE");
    }
    auto name = digest::username_of(user); // "alice@example.com"
    auto local = name.substr(0, name.find('@'));
    if (!iequals(message->user, local) && !iequals(message->user, name))
      return refused(SIP_403_FORBIDDEN, "NTLM user name does not match From");
    if (!account || account->disabled || account->nt_hash.size() != 32) {
      if (account && !account->disabled)
        log::line(log::level::warning, "sip") << "user=" << log::q(user) << " has no NT hash (its password was set before "
                                              << "NTLM): set it again with pchatctl user passwd";
      sign_in_failed(user, ctx);
      return refused(SIP_403_FORBIDDEN, !account ? "no account" : account->disabled ? "disabled account"
                                                                                 : "no NT hash for NTLM");
    }
    auto keys = ntlm::accept(*message, hex::decode(account->nt_hash).value_or(std::string{}), n->server_challenge,
                             error);
    if (!keys) {
      sign_in_failed(user, ctx);
      return refused(SIP_403_FORBIDDEN, error == "wrong password" ? "wrong password" : "NTLM refused");
    }
    failed_sign_ins.succeeded("user " + user);
    n->keys = std::move(*keys);
    n->server_signer = ntlm::signer{n->keys.server_sign, n->keys.server_seal};
    n->client_signer = ntlm::signer{n->keys.client_sign, n->keys.client_seal};
    n->user = user;
    n->server_challenge.clear();
    n->established = true;
    // Version 4 clients sign the AUTHENTICATE's own request already.
    if (auth_param(a, "response") && !signed_by_client(irq, *n, a))
      return refused(SIP_403_FORBIDDEN, "NTLM: bad signature on the AUTHENTICATE");
    log::line(log::level::info, "sip") << "NTLM session user=" << log::q(user) << " ntlm-user=" << log::q(message->domain)
                                       << (message->domain.empty() ? "" : "\\") << message->user
                                       << " workstation=" << log::q(message->workstation) << " call-id=" << log::q(call_id_of(sip));
    c.ntlm = std::move(n);
    replying_on = &c; // this request's answer is the first signed one
    return true;
  }

  // A NetBIOS-style name: the first label, upper case, at most 15 characters.
  static std::string netbios_name(const std::string& host) {
    std::string out = host.substr(0, std::min<std::size_t>(host.find('.'), 15));
    for (auto& ch : out)
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
  }

  // 401 with a fresh nonce, SHA-256 preferred, MD5 for older clients (RFC 8760 §2.4: most preferred first).
  void challenge(nta_incoming_t* irq, bool stale, const request_context& ctx) {
    counters.auth_challenges.fetch_add(1, std::memory_order_relaxed);
    // NTLM first (pidgin-sipe takes the first NTLM header; Digest clients skip it), on connections only: its
    // security association lives on the connection.
    std::string ntlm_offer = "NTLM realm=\"" + opts.ntlm_realm + "\", targetname=\"" + opts.ntlm_target +
                             "\", version=4";
    bool offer = opts.auth == auth_mode::ntlm && ctx.conn;
    digest::challenge c;
    c.realm = opts.domain;
    c.nonce = nonces->issue(monotonic_ms());
    c.stale = stale;
    c.alg = digest::algorithm::sha256;
    auto sha = digest::format(c);
    c.alg = digest::algorithm::md5;
    auto md5 = digest::format(c);
    treply(irq, SIP_401_UNAUTHORIZED, TAG_IF(offer, SIPTAG_WWW_AUTHENTICATE_STR(ntlm_offer.c_str())),
           SIPTAG_WWW_AUTHENTICATE_STR(sha.c_str()), SIPTAG_WWW_AUTHENTICATE_STR(md5.c_str()), TAG_END());
  }

  // Decides an out-of-dialog request before anything but refused_as_unsupported() looks at it (docs/protocol.md
  // "Authentication"): true when it may go on, with `user` the normalised From URI it proved (digest), named (known) or
  // claimed (anonymous); otherwise it has been answered. Unknown users and wrong passwords get the same 403, and
  // nothing about the user (no provisioning document, no dialog) leaves before this says yes.
  bool admit(nta_incoming_t* irq, const sip_t* sip, const request_context& ctx, std::string& user) {
    std::string from = sip->sip_from ? url_text(sip->sip_from->a_url) : std::string{};
    user = from.empty() ? std::string{} : sip::normalize_aor(from);
    const char* call_id = call_id_of(sip);
    if (user.empty()) {
      reply(irq, 400, "Bad From URI");
      return false;
    }
    auto refused = [&](int status, const char* phrase, const char* why) {
      counters.auth_refused.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::info, "sip") << "auth refused user=" << log::q(user) << " call-id=" << log::q(call_id)
                                         << " peer=" << log::q(ctx.peer) << ": " << why;
      reply(irq, status, phrase);
      return false;
    };
    storage::user_record account;
    auto found = users ? users->find_user(user, account) : storage::status{storage::errc::not_found, "no store"};
    if (!found.ok() && found.code != storage::errc::not_found) {
      log::line(log::level::error, "sip") << "cannot read the account of user=" << log::q(user) << " call-id=" << log::q(call_id)
                                          << ": " << found.message;
      treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
      return false;
    }
    bool enabled = found.ok() && !account.disabled;
    if (opts.auth == auth_mode::anonymous)
      return !found.ok() || enabled ? true : refused(SIP_403_FORBIDDEN, "disabled account");
    if (opts.auth == auth_mode::known)
      return enabled ? true : refused(SIP_403_FORBIDDEN, found.ok() ? "disabled account" : "no account");

    // Credentials cross only TLS unless the admin allowed plaintext (sip.plaintext-auth; docs/security.md):
    // a Digest exchange overheard on the wire is an offline dictionary attack on the password.
    if (!ctx.tls && !opts.plaintext_auth)
      return refused(SIP_403_FORBIDDEN, "sign-in needs TLS (sip.plaintext-auth is off)");

    // NTLM (sip.auth=ntlm; [MS-SIPAE] §3.2.5, docs/security.md "NTLM"), on connections.
    if (opts.auth == auth_mode::ntlm && ctx.conn) {
      if (const sip_authorization_t* a = ntlm_authorization(sip))
        return admit_ntlm(irq, sip, ctx, *a, user, found.ok() ? &account : nullptr, refused);
      if (ctx.conn->ntlm && ctx.conn->ntlm->established) {
        // A request without NTLM credentials ends the association (the client re-authenticates every few hours by
        // sending a bare REGISTER): it is challenged like a new one.
        log::line(log::level::debug, "sip") << "ntlm session ended user=" << log::q(ctx.conn->ntlm->user)
                                            << " peer=" << log::q(ctx.peer) << ": request without NTLM credentials";
        ctx.conn->ntlm.reset();
        replying_on = nullptr; // this answer is no longer signed
      }
    }

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
      log::line(log::level::debug, "sip") << "auth challenge user=" << log::q(user) << " call-id=" << log::q(call_id);
      challenge(irq, false, ctx);
      return false;
    }
    if (sign_in_throttled(user, ctx)) {
      counters.sign_ins_throttled.fetch_add(1, std::memory_order_relaxed);
      return refused(SIP_403_FORBIDDEN, "too many failed sign-ins: throttled");
    }
    std::string uri = url_text(sip->sip_request->rq_url);
    if (!iequals(cred->qop, "auth"))
      return refused(400, "Digest qop=auth required", "no qop=auth");
    if (!iequals(cred->uri, uri))
      return refused(400, "Digest uri does not match the Request-URI", "digest uri is not the Request-URI");
    // The HA1s were made over "user@host:realm:password"; a missing account is checked against a dummy so that it
    // costs what a wrong password costs.
    bool usable = enabled && account.realm == opts.domain && cred->username == digest::username_of(user);
    if (enabled && account.realm != opts.domain)
      log::line(log::level::warning, "sip") << "the password of user=" << log::q(user) << " was set for realm "
                                            << account.realm << ", not " << opts.domain
                                            << ": set it again with pchatctl user passwd";
    std::string ha1 = !usable ? std::string(cred->alg == digest::algorithm::md5 ? 32 : 64, '0')
                      : cred->alg == digest::algorithm::md5 ? account.ha1_md5 : account.ha1_sha256;
    auto expected = digest::response(cred->alg, ha1, cred->nonce, digest::nc_text(cred->nc), cred->cnonce,
                                     sip->sip_request->rq_method_name, cred->uri);
    if (!digest::equal(expected, cred->response) || !usable) {
      sign_in_failed(user, ctx);
      return refused(SIP_403_FORBIDDEN, !found.ok() ? "no account" : !enabled ? "disabled account"
                                        : usable ? "wrong password" : "username or realm does not match");
    }
    switch (nonces->use(cred->nonce, cred->nc, monotonic_ms())) {
      case digest::nonce_keeper::verdict::ok:
        failed_sign_ins.succeeded("user " + user);
        return true;
      case digest::nonce_keeper::verdict::stale:
        log::line(log::level::debug, "sip") << "auth stale nonce user=" << log::q(user) << " call-id=" << log::q(call_id);
        challenge(irq, true, ctx);
        return false;
      case digest::nonce_keeper::verdict::replay:
        // A replayed (or reordered) request: never executed; a client that meant it starts over with a new nonce.
        log::line(log::level::info, "sip") << "auth nonce count reused user=" << log::q(user) << " call-id=" << log::q(call_id);
        challenge(irq, true, ctx);
        return false;
      case digest::nonce_keeper::verdict::full:
        log::line(log::level::warning, "sip") << "auth: " << nonces->tracked() << " nonces in use, refusing user="
                                              << log::q(user) << " call-id=" << log::q(call_id) << " for now";
        treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
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
        log::line(log::level::error, "sip") << "cannot read the policy of user=" << log::q(user) << " call-id=" << log::q(call_id)
                                            << ": " << st.message;
        return std::nullopt;
      }
    }
    return p ? p->persistent_chat : opts.persistent_chat_enabled;
  }

  int on_register(nta_incoming_t* irq, const sip_t* sip, const request_context& ctx) {
    counters.registers.fetch_add(1, std::memory_order_relaxed);
    std::string user;
    if (!admit(irq, sip, ctx, user))
      return nta_incoming_status(irq);
    // sipe needs Expires > 0, Supported: msrtc-event-categories on a line of its own and Allow-Events with no
    // blanks (docs/xccos.md §2.1). Expires: 0 (sign-out) is answered with 0.
    std::uint32_t expires = opts.register_expires;
    if (sip->sip_expires && sip->sip_expires->ex_delta < expires)
      expires = static_cast<std::uint32_t>(sip->sip_expires->ex_delta);
    std::string exp = std::to_string(expires);
    treply(irq, SIP_200_OK, TAG_IF(sip->sip_contact, SIPTAG_CONTACT(sip->sip_contact)),
                        SIPTAG_EXPIRES_STR(exp.c_str()), SIPTAG_SUPPORTED_STR("msrtc-event-categories"),
                        SIPTAG_ALLOW_EVENTS_STR(provisioning_event),
                        SIPTAG_HEADER_STR("ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"),
                        SIPTAG_USER_AGENT_STR(user_agent), TAG_END());
    return 200;
  }

  // The provisioning SUBSCRIBE is answered without keeping a subscription: the 200 carries the document and
  // Expires: 0, so there is nothing to NOTIFY later, and an un-SUBSCRIBE (Expires: 0, with our To-tag) gets a
  // plain 200.
  int on_subscribe(nta_incoming_t* irq, const sip_t* sip, const request_context& ctx) {
    counters.subscribes.fetch_add(1, std::memory_order_relaxed);
    std::string user;
    if (!admit(irq, sip, ctx, user))
      return nta_incoming_status(irq);
    const char* event = sip->sip_event ? sip->sip_event->o_type : "";
    if (!event || std::string_view{event} != provisioning_event) {
      treply(irq, SIP_489_BAD_EVENT, SIPTAG_ALLOW_EVENTS_STR(provisioning_event), TAG_END());
      return 489;
    }
    bool unsubscribe = sip->sip_expires && sip->sip_expires->ex_delta == 0 && !sip->sip_payload
                       && sip->sip_to && sip->sip_to->a_tag;
    if (!sip->sip_to->a_tag)
      nta_incoming_tag(irq, nullptr);
    if (unsubscribe) {
      // A body here would make sipe run provisioning again (docs/pidgin-sipe.md §2).
      treply(irq, SIP_200_OK, SIPTAG_EXPIRES_STR("0"), TAG_END());
      return 200;
    }
    auto enabled = persistent_chat_for(user, call_id_of(sip));
    if (!enabled) {
      treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
      return 503;
    }
    // The provisioning document piggy-backed on the 200: Event and ms-piggyback-cseq are both required for
    // sipe to read it (docs/xccos.md §2.1); EnablePersistentChat as the user's policy says.
    auto doc = xccos::provisioning_document(*enabled, opts.service_uri, opts.web_manager_uri);
    treply(irq, SIP_200_OK, SIPTAG_EVENT_STR(provisioning_event), SIPTAG_EXPIRES_STR("0"),
                        SIPTAG_HEADER_STR("ms-piggyback-cseq: 1"),
                        SIPTAG_CONTENT_TYPE_STR("application/vnd-microsoft-roaming-provisioning-v2+xml"),
                        SIPTAG_PAYLOAD_STR(doc.c_str()), TAG_END());
    return 200;
  }

  int on_service(nta_incoming_t* irq, const sip_t* sip, request_context& ctx) {
    // SERVICE (presence publication): accepted and ignored. Sofia-SIP 1.12.11's parser takes a request whose
    // method starts with 'S', is not SUBSCRIBE and is shorter than nine letters for garbage, so SERVICE never
    // gets here with Debian bookworm's library (docs/protocol.md "SIP"); a fixed parser reaches this.
    std::string user;
    if (!admit(irq, sip, ctx, user))
      return nta_incoming_status(irq);
    return reply(irq, SIP_200_OK);
  }

  int on_invite(nta_incoming_t* irq, const sip_t* sip, request_context& ctx) {
    counters.invites.fetch_add(1, std::memory_order_relaxed);
    std::string user;
    if (!admit(irq, sip, ctx, user))
      return nta_incoming_status(irq);
    // A user whose persistent chat is off learns it from provisioning; one who INVITEs anyway is refused.
    auto enabled = persistent_chat_for(user, call_id_of(sip));
    if (!enabled || !*enabled) {
      if (enabled) {
        counters.policy_refused.fetch_add(1, std::memory_order_relaxed);
        log::line(log::level::info, "sip") << "INVITE refused user=" << log::q(user) << " call-id=" << log::q(call_id_of(sip))
                                           << ": persistent chat is disabled for this user";
      }
      treply(irq, enabled ? 403 : 503, enabled ? "Persistent Chat Disabled" : "Service Unavailable",
                          TAG_IF(!enabled, SIPTAG_RETRY_AFTER_STR("5")), TAG_END());
      return enabled ? 403 : 503;
    }
    if (shutting_down) {
      treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
      return 503;
    }
    std::string call_id = call_id_of(sip);
    // A chat dialog is keyed by both tags, so an INVITE without a From tag (RFC 2543 syntax, RFC 4475 §3.4.1)
    // cannot open one: refused as such, not as a Call-ID clash.
    if (!sip->sip_from || !sip->sip_from->a_tag)
      return reply(irq, 400, "Missing From Tag");
    if (by_call_id.count(call_id) > 0)
      return reply(irq, 482, "Call-ID In Use");
    bool tcp = ctx.peer.rfind("udp/", 0) != 0; // a stream: TCP or TLS
    if (tcp && !ctx.conn)
      return reply(irq, SIP_503_SERVICE_UNAVAILABLE); // its connection is closing
    const char* tag = nta_incoming_tag(irq, nullptr);
    if (!tag)
      return reply(irq, SIP_500_INTERNAL_SERVER_ERROR);
    auto d = std::make_unique<dialog>();
    d->id = next_dialog++;
    d->user = user;
    d->call_id = call_id;
    d->local_tag = tag;
    d->remote_tag = sip->sip_from->a_tag;
    d->peer = ctx.peer;
    d->conn = tcp ? ctx.conn : nullptr;
    d->last_seen = clock_type::now();
    d->remote_cseq = sip->sip_cseq ? sip->sip_cseq->cs_seq : 0;
    std::string hostport = ctx.peer.substr(ctx.peer.find('/') + 1);
    if (!tcp)
      d->udp_route = "sip:" + hostport + ";transport=udp";
    // Requests to the client go to its Contact (the remote target, RFC 3261 §12.1.1) down its own connection.
    dialog_frame_fields f;
    f.target = sip->sip_contact ? url_text(sip->sip_contact->m_url) : url_text(sip->sip_from->a_url);
    f.transport = ctx.tls ? "TLS" : tcp ? "TCP" : "UDP";
    f.sent_by = ctx.tls ? tls_sent_by : sent_by;
    std::string our_uri = header_text(reinterpret_cast<const sip_header_t*>(sip->sip_to));
    f.from = our_uri + ";tag=" + d->local_tag;
    f.to = header_text(reinterpret_cast<const sip_header_t*>(sip->sip_from));
    f.call_id = call_id;
    f.branch_prefix = branch_salt + std::to_string(d->id); // dialog_of_response() reads it back
    d->frame = request_frame{f};
    {
      sip::message headers; // what the NTLM signature of each request covers, from the frame's own values
      headers.add("From", f.from);
      headers.add("To", f.to);
      headers.add("Call-ID", f.call_id);
      d->signed_template = ntlm::fields_of(headers);
    }
    std::string contact = ctx.tls ? "<sip:" + tls_sent_by + ";transport=tls>"
                          : "<sip:" + sent_by + (tcp ? ";transport=tcp>" : ">");
    answer_session(irq, sip, contact.c_str());
    live->sessions.fetch_add(1, std::memory_order_relaxed);
    log::line(log::level::debug, "sip") << "dialog open user=" << log::q(d->user) << " call-id=" << log::q(d->call_id)
                                        << " peer=" << log::q(d->peer);
    caf::anon_send(ingress, open_atom::value, d->id, d->user, d->call_id);
    if (d->conn)
      d->conn->dialogs.push_back(d->id);
    by_call_id.emplace(d->call_id, d.get());
    dialogs.emplace(d->id, std::move(d));
    return 200;
  }

  int on_info(nta_incoming_t* irq, dialog& d, const sip_t* sip, bool same_connection) {
    // Early-return reject chain (docs/architecture.md "Conventions" §7): each check answers and returns.
    if (takes_passwords(opts.auth) && !same_connection) {
      // With Digest a dialog is as trusted as the INVITE that opened it, so its commands must come down the
      // same connection: knowing a Call-ID and tags is not enough.
      counters.auth_refused.fetch_add(1, std::memory_order_relaxed);
      log::line(log::level::info, "sip") << "INFO from another connection user=" << log::q(d.user)
                                         << " call-id=" << log::q(d.call_id) << " peer=" << log::q(d.peer) << ": 403";
      return reply(irq, SIP_403_FORBIDDEN);
    }
    d.last_seen = clock_type::now();
    std::size_t len = sip->sip_payload ? sip->sip_payload->pl_len : 0;
    if (len > opts.max_body) {
      live->reject(pchat_errc::sip_too_large);
      log::line(log::level::info, "sip") << "INFO body of " << len << " bytes user=" << log::q(d.user)
                                         << " call-id=" << log::q(d.call_id) << " peer=" << log::q(d.peer) << ": 413";
      return reply(irq, SIP_413_REQUEST_TOO_LARGE);
    }
    if (len > 0 && sip->sip_content_type && sip->sip_content_type->c_type) {
      std::string_view ct = sip->sip_content_type->c_type;
      if (ct != "text/plain" && ct != "application/xml" && ct != "text/xml") {
        live->reject(pchat_errc::sip_media_type);
        treply(irq, SIP_415_UNSUPPORTED_MEDIA, SIPTAG_ACCEPT_STR("text/plain"), TAG_END());
        return 415;
      }
    }
    if ((load && load->load(std::memory_order_relaxed) >= opts.max_pending)
        || counters.outbound_pending.load(std::memory_order_relaxed) >= opts.max_outbound) {
      // What a real OCS said when busy (docs/xccos.md §2.2, pidgin-sipe commit a29264ac).
      live->reject(pchat_errc::sip_overloaded);
      treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("1"),
                          SIPTAG_HEADER_STR("Ms-diagnostics: 20000;reason=\"Chat service busy\";component=\"GroupChat\""),
                          TAG_END());
      return 503;
    }
    reply(irq, SIP_200_OK);
    if (len == 0)
      return 200; // an empty INFO is a keep-alive
    if (load)
      load->fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(ingress, info_atom::value, d.id, std::string{sip->sip_payload->pl_data, len});
    return 200;
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

