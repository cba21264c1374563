#pragma once
// The SIP server: Sofia-SIP's nua on a thread of its own (docs/architecture.md "Threads").
//
// Why nua, not nta: clients need dialogs (tags, CSeq, route set, remote target), REGISTER, SUBSCRIBE with a
// piggy-backed NOTIFY body, session refresh with UPDATE and BYE handling; nua implements all of that and we only
// answer. nta alone would mean re-implementing most of nua (docs/dependencies.md §3).
//
// Threading: every nua_* call happens on the SIP thread. Actors never see Sofia objects: the SIP thread reports
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
//   SERVICE, OPTIONS -> 200
// Authentication (sip_options::auth; docs/protocol.md "Authentication"): every out-of-dialog request (REGISTER,
// SUBSCRIBE, INVITE, SERVICE) passes admit() before anything else happens — with digest, 401 with SHA-256 and MD5
// challenges until its Authorization proves the user's password (RFC 3261 §22, RFC 7616 qop=auth), 403 for an
// unknown user or a wrong password alike. Requests inside a dialog ride the dialog that an authenticated INVITE
// opened: nua matches them by Call-ID and tags, and an INFO must also come from the INVITE's connection.
// The persistent chat policy of the user (storage::store::persistent_chat_policy, else persistent_chat_enabled)
// decides EnablePersistentChat in the provisioning document, and an INVITE from a user without it gets 403.
// Requests to a client (INFO, BYE) go down the connection its INVITE came in on: clients do not listen.
// A dialog ends when the client BYEs, when an INFO to it fails (481/487/timeout/connection gone), or when it
// has been silent longer than its Session-Expires.
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
};
const char* to_string(auth_mode m);
// "digest", "anonymous", "known" or "auto" (digest unless `host`, the listen address, is a loopback address).
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

  // Ends every dialog (BYE), shuts nua down and joins the SIP thread. Idempotent.
  void stop();

  // Thread-safe. The same INFO body to every dialog in `dialogs`; unknown dialogs are skipped. A fan-out passes
  // the monotonic_ns() its post was accepted at: once the last INFO is handed to nua the latency is recorded.
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
