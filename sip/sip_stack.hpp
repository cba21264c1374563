#pragma once
// The SIP server: Sofia-SIP's transaction (nta) and transport (tport) layers on a thread of their own
// (docs/architecture.md "The SIP edge").
//
// Why nta and tport, not nua: a chat server answers a handful of request kinds and sends one kind (INFO) very
// often. nua is a user agent: it made a full client transaction and a message home per delivered INFO and hid
// the connections. Here pchat owns the few dialogs it needs (INVITE/200/ACK, in-dialog INFO, UPDATE, BYE;
// REGISTER and the provisioning SUBSCRIBE are answered without a dialog), nta does the server transactions
// (retransmissions, ACK matching, 400s for unparsable requests), and tport tells us about each client
// connection: its close or error through tport_pend() after TPTAG_SDWN_ERROR, and tport_shutdown() closes it.
//
// Threading: every Sofia call happens on the SIP thread. Actors never see Sofia objects: the SIP thread reports
// to the ingress actor with caf::anon_send (dialog id + strings), and actors hand documents back through
// send_info()/end_dialog(), which push onto a mutex-guarded outbox and wake the SIP thread through an eventfd
// registered in its su_root.
//
// What it answers (docs/xccos.md §2, §7.2; docs/protocol.md "SIP"):
//   REGISTER -> 200 (Expires, Supported: msrtc-event-categories, Allow-Events: vnd-microsoft-provisioning-v2)
//   SUBSCRIBE vnd-microsoft-provisioning-v2 -> 200 with the provisioning document piggy-backed; others -> 489
//   INVITE -> 200 (To-tag, Contact, Session-Expires) and a session actor; ACK; UPDATE -> 200; BYE ends it
//   INFO in a dialog -> 200 at once, the body goes to the dialog's session; the result comes back as an INFO
//   INFO outside a dialog -> 481; body over max_body -> 413; unsupported Content-Type -> 415;
//   more than max_pending commands queued in the actors, or more than max_outbound INFOs to clients queued or
//   unanswered -> 503 with Retry-After and Ms-diagnostics (docs/architecture.md: every queue between threads is bounded)
//   SERVICE, OPTIONS -> 200; other methods -> 405 with Allow
//   ahead of all these (RFC 3261 §8.2.2), for the methods above: a Request-URI that is no sip:/sips: URI -> 416;
//   a Require option tag other than "timer" -> 420 with Unsupported. An INVITE without a From tag (RFC 2543
//   syntax) -> 400: a chat dialog is keyed by both tags
// Authentication (sip_options::auth; docs/protocol.md "Authentication"): every out-of-dialog request (REGISTER,
// SUBSCRIBE, INVITE, SERVICE) passes admit() before anything but the 416/420 checks happens — with digest, 401 with
// SHA-256 and MD5 challenges until its Authorization proves the user's password (RFC 3261 §22, RFC 7616 qop=auth), 403
// for an unknown user or a wrong password alike. Requests inside a dialog ride the dialog that an authenticated INVITE
// opened: they are matched by Call-ID and both tags, and with digest an INFO must also come from the INVITE's
// connection. The persistent chat policy of the user (storage::store::persistent_chat_policy, else
// persistent_chat_enabled) decides EnablePersistentChat in the provisioning document, and an INVITE from a user without
// it gets 403.
// Requests to a client (INFO, BYE) go down the connection its INVITE came in on: clients do not listen.
// Over TCP an INFO takes the fast path: the dialog's constant headers are written once, each INFO is written
// around the shared body straight into one transport message, and its 200 is matched by Call-ID and CSeq; over
// UDP INFOs are nta client transactions (retransmitted per RFC 3261 §17.1.2).
// A dialog ends when the client BYEs, when an INFO to it fails (481/487/408/5xx, or no answer within
// request_timeout_ms), when its connection closes, or when it has been silent longer than its Session-Expires.
// A connection whose unanswered INFOs pass max_connection_pending or max_connection_bytes is a client that
// stopped reading: it is closed, its dialogs end, and nobody else waits for it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/protocol.hpp"

namespace pchat::storage {
class store;
}

namespace pchat::sip {

// How clients prove who they are (config sip.auth).
enum class auth_mode {
  anonymous, // the From URI is taken at its word (loopback, tests, pidgin-sipe)
  known,     // no password, but the From URI must name an enabled account: an allow-list of users
  digest,    // SIP Digest against the accounts in the store
  ntlm,      // NTLM on connections (pidgin-sipe, signed messages; docs/security.md "NTLM") and Digest, both
             // against the accounts in the store
};
// Whether `m` checks passwords (digest, ntlm).
inline bool takes_passwords(auth_mode m) { return m == auth_mode::digest || m == auth_mode::ntlm; }
const char* to_string(auth_mode m);
// "digest", "ntlm", "anonymous", "known" or "auto" (digest unless `host`, the listen address, is a loopback address).
std::optional<auth_mode> parse_auth_mode(std::string_view text, const std::string& host);

struct sip_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5060;
  bool udp = true;
  bool tcp = true;
  std::string domain = "example.com";
  std::string service_uri = "sip:pchat@example.com";
  bool persistent_chat_enabled = true; // EnablePersistentChat where no policy is stored (pchat.persistent-chat)
  // The room-management page (web.public-url), as PersistentChatWebManagerUriInt/Ext; empty: not provisioned.
  std::string web_manager_uri;
  auth_mode auth = auth_mode::anonymous;
  std::uint32_t nonce_lifetime = 300;  // seconds a Digest nonce stays fresh; 0 makes every nonce stale (tests)
  std::uint32_t register_expires = 3600;
  std::uint32_t session_expires = 1800;
  std::size_t max_body = 65536;         // INFO bodies above this are refused with 413
  std::int64_t max_pending = 10000;     // commands queued in sessions above this: 503
  std::int64_t max_outbound = 20000;    // INFOs to clients queued or awaiting their 200 above this: 503
  // One client connection's unanswered requests (count, and bytes of them): past either it stopped reading and
  // is disconnected (sip.max-connection-pending, sip.max-connection-bytes).
  std::int64_t max_connection_pending = 1000;
  std::int64_t max_connection_bytes = 8 * 1024 * 1024;
  // An INFO or BYE without a final response after this long ends its dialog (RFC 3261 Timer F, 64*T1).
  std::uint32_t request_timeout_ms = 32000;
  // SIP over TLS on its own port (0: none), with the certificate chain and key already checked (base/tls.hpp);
  // tls_dir is a private directory Sofia's tport reads them from (written at start).
  std::uint16_t tls_port = 0;
  std::string tls_certificate_pem;
  std::string tls_key_pem;
  std::string tls_dir;
  // NTLM's realm and target name ([MS-SIPAE] §2.2.1): the realm Microsoft's servers use, and this server's name.
  std::string ntlm_realm = "SIP Communications Service";
  std::string ntlm_target = "example.com";
  // Whether credentials (Digest) may be sent over UDP or TCP; when false only TLS sign-ins are admitted
  // (sip.plaintext-auth; docs/security.md).
  bool plaintext_auth = true;
  // Client connections (TCP, TLS) that sent a valid request, per client address: past it new ones get 503 and
  // are closed (sip.max-connections-per-address). A connection without a chat dialog for sign_in_timeout_ms
  // (it never opened one, or its last one ended) is closed (sip.sign-in-timeout).
  int max_connections_per_address = 256;
  std::uint32_t sign_in_timeout_ms = 30000;
  // A TCP connection that has not sent one valid request closes after this much silence (a port scanner, a
  // client speaking TLS or garbage to the plain port).
  std::uint32_t first_request_timeout_ms = 5000;
};

struct sip_counters {
  std::atomic<std::uint64_t> registers{0};
  std::atomic<std::uint64_t> subscribes{0};
  std::atomic<std::uint64_t> invites{0};
  std::atomic<std::uint64_t> infos_in{0};
  std::atomic<std::uint64_t> infos_out{0};
  std::atomic<std::uint64_t> infos_failed{0};
  std::atomic<std::int64_t> outbound_pending{0}; // INFOs to clients queued or awaiting their 200
  std::atomic<std::uint64_t> auth_challenges{0};  // 401s sent (a Digest sign-in normally costs one)
  std::atomic<std::uint64_t> auth_refused{0};     // 403s and 400s for credentials, unknown or disabled users
  std::atomic<std::uint64_t> policy_refused{0};   // INVITEs from users whose persistent chat is disabled
  std::atomic<std::int64_t> connections{0};       // client TCP connections that sent a valid request, open now
  std::atomic<std::uint64_t> connections_closed{0};   // ... that closed (either side)
  std::atomic<std::uint64_t> slow_disconnects{0};     // connections closed because the client stopped reading
  std::atomic<std::uint64_t> request_timeouts{0};     // requests to clients with no answer in request_timeout_ms
  std::atomic<std::uint64_t> address_refusals{0};     // connections refused: their address had too many
  std::atomic<std::uint64_t> sign_in_timeouts{0};     // connections closed: no chat dialog within sign_in_timeout_ms
  std::atomic<std::uint64_t> sign_ins_throttled{0};   // credentials not checked: too many failures for user or address
  std::atomic<std::uint64_t> accept_pauses{0};        // times the listeners stopped accepting: descriptors short
  std::atomic<std::int64_t> accept_paused{0};         // 1 while they are stopped
  std::atomic<std::int64_t> open_descriptors{0};      // descriptors open in the process, at the last check
};

class sip_stack {
public:
  // `live` receives the fan-out latencies, the session gauge and SIP-level rejections (a private one if null).
  // `users` holds the accounts and the persistent chat policy; the SIP thread reads it per request (point reads).
  // Without it there are no accounts (only anonymous mode works) and persistent_chat_enabled applies to all.
  sip_stack(sip_options opts, std::shared_ptr<load_gauge> load, std::shared_ptr<metrics> live = nullptr,
            std::shared_ptr<const storage::store> users = nullptr);
  ~sip_stack();
  sip_stack(const sip_stack&) = delete;
  sip_stack& operator=(const sip_stack&) = delete;

  // Binds the listeners and starts the SIP thread. Reports to `ingress` from then on. Returns false with a
  // reason (port in use, bad address) when nothing could be bound.
  bool start(ingress_actor ingress, std::string& error);

  // Ends every dialog (BYE), closes the transports and joins the SIP thread. Idempotent.
  void stop();

  // Thread-safe. The same INFO body to every dialog in `dialogs`; unknown dialogs are skipped. A fan-out passes
  // the monotonic_ns() its post was accepted at: once the last INFO is handed to the transport the latency is
  // recorded.
  void send_info(std::vector<dialog_id> dialogs, std::string body, std::int64_t accepted_ns = 0);
  // Thread-safe. Sends BYE on the dialog and reports it closed.
  void end_dialog(dialog_id d);

  const sip_counters& counters() const;
  const sip_options& options() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace pchat::sip
