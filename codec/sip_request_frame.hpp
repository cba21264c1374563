#pragma once
// The fan-out fast path's request writer (docs/architecture.md "The SIP edge"): every request the server sends
// inside a dialog (INFO with a document, BYE) is the dialog's constant headers — Request-URI, From with our tag,
// To with the client's tag, Call-ID, Via sent-by — around three things that change per request: the CSeq
// number, the Via branch and the body. The constant part is written once when the dialog opens; each request
// is then sized and written straight into a caller's buffer (the transport's message buffer), with no parsing
// and no allocation here.
//
// Output follows RFC 3261 §8.1.1 and §20: request line, Via (optional: a transaction layer that adds its own
// Via is told to leave it out), Max-Forwards, From, To, Call-ID, CSeq, Content-Type when there is a body,
// Content-Length, blank line, body. The branch is "z9hG4bK" + the dialog's branch prefix + "." + the CSeq
// number in hex, unique per request of the dialog (RFC 3261 §8.1.1.7), which also lets a response be matched
// to its request by its CSeq alone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pchat::sip {

struct dialog_frame_fields {
  std::string target;        // Request-URI: the client's Contact from its INVITE
  std::string transport;     // "TCP" or "UDP", for the Via
  std::string sent_by;       // our "host:port", for the Via
  std::string from;          // From value: the INVITE's To with our tag, e.g. "<sip:pchat@example.com>;tag=ab12"
  std::string to;            // To value: the INVITE's From with the client's tag
  std::string call_id;
  std::string branch_prefix; // unique per dialog among the server's dialogs (token characters only)
};

class request_frame {
public:
  request_frame() = default;
  explicit request_frame(const dialog_frame_fields& f);

  // Bytes write() will produce for this request.
  std::size_t size(std::string_view method, std::uint32_t cseq, std::string_view content_type,
                   std::string_view body, bool with_via = true, std::string_view extra = {}) const;
  // Writes the request into `out`, which holds at least size(...) bytes; returns the bytes written. An empty
  // `content_type` with an empty body leaves Content-Type out. `extra` is written as it is after CSeq: whole
  // header lines, each ending in CRLF (the per-request Authentication-Info of an NTLM session).
  std::size_t write(char* out, std::string_view method, std::uint32_t cseq, std::string_view content_type,
                    std::string_view body, bool with_via = true, std::string_view extra = {}) const;
  // The same into a string (tests, and the rare requests that go through the transaction layer).
  std::string build(std::string_view method, std::uint32_t cseq, std::string_view content_type,
                    std::string_view body, bool with_via = true, std::string_view extra = {}) const;

  const std::string& call_id() const { return call_id_; }

private:
  std::string request_tail_; // " <target> SIP/2.0\r\n"
  std::string via_head_;     // "Via: SIP/2.0/TCP host:port;branch=z9hG4bK<prefix>."
  std::string fixed_;        // "Max-Forwards: 70\r\nFrom: ...\r\nTo: ...\r\nCall-ID: ...\r\n"
  std::string call_id_;
};

} // namespace pchat::sip
