#pragma once
// A small blocking SIP user agent over one client-initiated TCP connection, shaped like pidgin-sipe on the wire
// (docs/xccos.md §2, docs/pidgin-sipe.md §2). Used by the pchat CLI, the end-to-end/conformance tests and
// pchat-bench (thousands of agents per process).
//
// Model:
//  * The agent never listens. Every server-originated request (INFO, NOTIFY, BYE, OPTIONS) arrives on the same
//    connection and is answered automatically by the reader thread (see "Incoming requests" below).
//  * One reader thread per connected agent, started by connect() and joined by close()/the destructor. It parses
//    the stream with sip::parse, completes waiting transactions, answers server requests and queues INFO/NOTIFY
//    bodies. No thread per transaction, no polling, no sleeps: waiters block on one condition variable.
//  * Transactions are matched by Call-ID + CSeq number + CSeq method (sipe's server does not rely on branches
//    either). Provisional (1xx) responses are skipped. There are no retransmissions (TCP) and no Route/Record-Route
//    handling: in-dialog requests go to the remote target, down the one connection.
//  * Errors are values: every call returns an `error` (code none on success) or a `result<T>`. Nothing throws
//    across this API except std::bad_alloc.
//  * SIP Digest (RFC 3261 §22.2, RFC 7616, MD5 and SHA-256, qop=auth): with a password configured, a 401/407
//    challenge to any request made here (not send_message/send_raw_*) is answered by sending the request again
//    with credentials, a new CSeq and branch (and the ACK for a challenged INVITE). The last challenge is kept
//    and used for the next out-of-dialog request with an increasing nonce count, so a sign-in costs one extra
//    round trip, not one per request; a stale=true answer is followed with the new nonce.
//
// Thread safety: the public API is meant for one application thread at a time (it is not safe to call
// connect()/close()/register_user() or to share a `dialog` between threads). The wait_* calls, connected(),
// set_info_status() and dialog_ended() may also be called from other threads. The handlers set with
// set_incoming_handler()/set_disconnect_handler() run on the reader thread; they must be installed before
// connect() and must not call close() or block for long (the reader does nothing else while they run).
#include "codec/digest.hpp"
#include "codec/sip_message.hpp"
#include "client/tls_stream.hpp"

#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace pchat::client {

using duration = std::chrono::milliseconds;
using time_point = std::chrono::steady_clock::time_point;

enum class errc {
  none = 0,
  not_connected,   // no connection (never connected, closed, or lost earlier)
  connect_failed,  // name resolution, refused, or connect timeout
  timeout,         // no final response within the timeout
  connection_lost, // the connection closed/failed while waiting
  io_error,        // a write failed
  protocol_error,  // the server sent something unparsable; the connection is closed
  rejected,        // a final non-2xx response where the operation needed 2xx (invite); see error::status
  bad_input,       // the caller passed something unusable (e.g. raw text without Call-ID/CSeq)
};
const char* to_string(errc code);

struct error {
  errc code = errc::none;
  int status = 0;      // errc::rejected: the SIP status
  std::string message; // human-readable detail
  bool ok() const { return code == errc::none; }
};
// An error with `code`, the SIP or XCCOS `status` (0: none) and a message.
inline error fail(errc code, std::string message, int status = 0) {
  error e;
  e.code = code;
  e.status = status;
  e.message = std::move(message);
  return e;
}

// Either a value or an error. Accessing value() of a failed result is a precondition violation (asserted).
template <class T>
class result {
public:
  result(T value) : value_(std::move(value)) {}
  result(error err) : error_(std::move(err)) {}
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(value_);
    return *value_;
  }
  const T& value() const& {
    assert(value_);
    return *value_;
  }
  T&& value() && {
    assert(value_);
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const error& err() const { return error_; }

private:
  std::optional<T> value_;
  error error_;
};

struct agent_config {
  std::string aor;                             // "sip:alice@example.com" (no display name)
  std::string user_agent = "pchat-client/0.1"; // User-Agent header value
  duration connect_timeout{5000};
  duration request_timeout{10000}; // used when a call passes duration::zero()
  sip::parse_options limits{};     // for the incoming stream (datagram is ignored)
  std::string password;            // answers Digest challenges when set; the username is the aor without sip:
  tls_options tls;                 // SIP over TLS (RFC 3261 §26.2): Via TLS, Contact transport=tls
};

// An INVITE dialog as seen by the client (RFC 3261 §12.1.2). Owned by the caller; in-dialog calls bump
// local_cseq, so pass the same object to every call.
struct dialog {
  std::string call_id;
  std::string local_tag;     // our From tag
  std::string remote_tag;    // the To tag of the 200
  std::string remote_target; // the 200's Contact URI, or the INVITE target when it had none
  std::string peer_uri;      // the URI the INVITE went to (To URI of every request)
  std::uint32_t local_cseq = 1;
  sip::message response; // the 200 OK itself (Session-Expires, Server, SDP, ...)
};

// A server request handed to the application (INFO or NOTIFY that was answered 200).
struct incoming {
  std::string method; // "INFO" or "NOTIFY"
  std::string call_id;
  std::string content_type;
  std::string body;
  sip::message request; // the whole request
  time_point received;  // steady_clock time the bytes were read, before parsing and answering
};

class sip_agent {
public:
  explicit sip_agent(agent_config config);
  ~sip_agent(); // close()
  sip_agent(const sip_agent&) = delete;
  sip_agent& operator=(const sip_agent&) = delete;

  // --- connection ---------------------------------------------------------------------------------------------
  // Connects over TCP (host name or IPv4/IPv6 literal) within config.connect_timeout and starts the reader
  // thread. Fails with connect_failed, or bad_input when already connected. May be called again after the
  // connection ended; queues, pending transactions and BYE marks of the old connection are dropped.
  error connect(const std::string& host, std::uint16_t port);
  // Shuts the socket down, wakes every waiter (they get connection_lost/not_connected), joins the reader thread.
  // Idempotent. Must not be called from a handler (reader thread).
  void close();
  bool connected() const;
  // Why the connection ended (empty while connected or before connect()).
  std::string disconnect_reason() const;
  std::string local_ip() const { return local_ip_; }
  std::uint16_t local_port() const { return local_port_; }
  const std::string& aor() const { return config_.aor; }
  // <sip:alice@example.com:LOCALPORT;maddr=LOCALIP;transport=tcp>, as pidgin-sipe sends it.
  std::string contact() const;

  // --- requests (each blocks until the final response, the timeout, or connection loss) ------------------------
  // duration::zero() means config.request_timeout.

  // REGISTER to `registrar` ("sip:example.com") for config.aor with Expires: `expires`. One Call-ID and an
  // increasing CSeq across calls (as sipe). Returns the final response whatever its status.
  result<sip::message> register_user(const std::string& registrar, int expires, duration timeout = duration::zero());

  // Out-of-dialog SUBSCRIBE to `target` with Event and Accept. A non-empty body is sent with the Content-Type from
  // `extra` or, when `extra` has none, with `accept`. Returns the final response (which may piggy-back the
  // document). NOTIFYs that follow are answered 200 and queued for wait_notify().
  result<sip::message> subscribe(const std::string& target, const std::string& event, const std::string& accept,
                                 const std::string& body = {}, const std::vector<sip::header>& extra = {},
                                 duration timeout = duration::zero());

  // INVITE `target` with pidgin-sipe's SDP (m=message 5060 sip null) and Supported: ms-sender. On 2xx sends the
  // ACK and returns the dialog; on a non-2xx final response sends the ACK for it too and returns errc::rejected
  // with the status; a 2xx without To tag is a protocol_error (the dialog could not be addressed).
  result<dialog> invite(const std::string& target, const std::vector<sip::header>& extra = {},
                        duration timeout = duration::zero());

  // In-dialog requests (request-URI = remote_target, next local CSeq). Any final status is a success here:
  // 200, 481, 503, 413... come back in the response for the caller to check.
  result<sip::message> info(dialog& d, const std::string& body, const std::string& content_type = "text/plain",
                            duration timeout = duration::zero());
  result<sip::message> update(dialog& d, duration timeout = duration::zero());
  result<sip::message> bye(dialog& d, duration timeout = duration::zero());
  result<sip::message> request(dialog& d, const std::string& method, const std::string& body = {},
                               const std::string& content_type = {}, const std::vector<sip::header>& extra = {},
                               duration timeout = duration::zero());
  // Out-of-dialog request with a fresh Call-ID (SERVICE, OPTIONS, MESSAGE...).
  result<sip::message> request(const std::string& method, const std::string& target, const std::string& body = {},
                               const std::string& content_type = {}, const std::vector<sip::header>& extra = {},
                               duration timeout = duration::zero());

  // Escape hatches for tests. send_message() sends `m` as built (Content-Length recomputed) and waits for the
  // response matching its Call-ID/CSeq; bad_input when it has neither. send_raw_request() writes `text` byte for
  // byte and, when a Call-ID and CSeq can be dug out of it, waits for the matching response (bad_input
  // otherwise, after sending). send_raw_bytes() only writes.
  result<sip::message> send_message(const sip::message& m, duration timeout = duration::zero());
  result<sip::message> send_raw_request(std::string_view text, duration timeout = duration::zero());
  error send_raw_bytes(std::string_view bytes);

  // --- incoming requests -------------------------------------------------------------------------------------
  // Answered on the reader thread: INFO -> 200 (or the status set below; only 2xx ones are delivered),
  // NOTIFY -> 200 (delivered), BYE -> 200 (the Call-ID is marked ended), OPTIONS -> 200, ACK -> nothing,
  // anything else -> 501. Responses copy Via(s), From, To, Call-ID and CSeq, adding a To tag when missing.

  // Next delivered INFO / NOTIFY, waiting until `timeout`; nullopt on timeout, or at once when the queue is empty
  // and the connection is gone. Items received before the loss are still returned.
  std::optional<incoming> wait_info(duration timeout);
  std::optional<incoming> wait_notify(duration timeout);
  // Responses that matched no waiting transaction (late ones, or answers to send_raw_bytes), oldest first.
  std::optional<sip::message> wait_stray_response(duration timeout);

  // Makes the agent answer INFO with `status` instead of 200 (e.g. 487 to play a client that dropped the dialog,
  // as sipe does for an unknown Call-ID); status 0 leaves INFOs unanswered (a client that hangs). An empty
  // call_id applies to every INFO without a per-Call-ID setting; status 200 removes the setting.
  void set_info_status(int status, const std::string& call_id = {});

  // Stops (true) or resumes (false) reading the connection, to play a client that stopped reading: what is
  // already read is still handled, then the reader waits without calling recv() and the kernel's buffers fill.
  void pause_reading(bool paused);

  // True once the server sent BYE for this Call-ID (marks are kept until the next connect()). The mark is set
  // before the BYE's 200 is written; INFO/NOTIFY are queued just after their 200 is written.
  bool dialog_ended(const std::string& call_id) const;
  // Blocks until dialog_ended(call_id), the timeout or connection loss; returns dialog_ended(call_id).
  bool wait_dialog_ended(const std::string& call_id, duration timeout);

  // Callback alternative to the queues (for pchat-bench). Called on the reader thread for every delivered
  // INFO/NOTIFY, after the 200 was written; `incoming::received` was stamped before that. While set, the queues
  // stay empty. Install before connect().
  void set_incoming_handler(std::function<void(incoming&&)> handler);
  // Called once on the reader thread when the connection ends for any reason other than close().
  void set_disconnect_handler(std::function<void(const error&)> handler);

private:
  struct pending {
    std::optional<sip::message> final;
  };

  sip::message new_request(const std::string& method, const std::string& uri, const std::string& to,
                           const std::string& from_tag, const std::string& call_id, std::uint32_t cseq) const;
  // send_message() that answers Digest challenges (see the model above); `cseq` is the counter the request's
  // CSeq came from and is bumped for every resend; `m` is left as it was sent last.
  result<sip::message> send_authenticated(sip::message& m, std::uint32_t& cseq, duration timeout);
  // Adds credentials for the cached challenge to an out-of-dialog request (no To tag); no-op without either.
  void authorize(sip::message& m);
  // The ACK for a non-2xx final response to `invite`: its Via (same branch) and CSeq number, the response's To
  // (RFC 3261 §17.1.1.3).
  void ack_failure(const sip::message& invite, const sip::message& response);
  result<sip::message> transact_text(const std::string& key, std::string_view text, duration timeout);
  error write(std::string_view bytes);
  void reader_loop();
  void on_message(sip::message&& m, time_point received);
  void on_request(sip::message&& m, time_point received);
  void lose_connection(errc code, std::string why);
  time_point deadline(duration timeout) const;
  std::string via() const;

  agent_config config_;
  std::string user_host_; // "alice@example.com"
  std::string local_ip_;
  std::uint16_t local_port_ = 0;
  std::string register_call_id_;
  std::string register_tag_;
  std::uint32_t register_cseq_ = 0;
  // The Digest challenge being answered, whether it came in a 407, and the last nonce count used with it
  // (application thread only).
  std::optional<sip::digest::challenge> challenge_;
  bool proxy_challenge_ = false;
  std::uint32_t nc_ = 0;

  int fd_ = -1;
  std::unique_ptr<tls_stream> tls_; // set while connected over TLS
  std::thread reader_;
  std::mutex write_mtx_;

  mutable std::mutex mtx_; // guards everything below
  std::condition_variable cv_;
  bool connected_ = false;
  bool closing_ = false;
  std::string disconnect_reason_;
  errc disconnect_code_ = errc::none;
  std::map<std::string, pending> pending_; // "Call-ID\nCSeq-number METHOD"
  std::deque<incoming> infos_;
  std::deque<incoming> notifies_;
  std::deque<sip::message> strays_;
  std::set<std::string> ended_;
  std::map<std::string, int> info_status_; // "" = default for all Call-IDs
  bool reading_paused_ = false;

  std::function<void(incoming&&)> incoming_handler_;
  std::function<void(const error&)> disconnect_handler_;
};

} // namespace pchat::client
