// The SIP text codec (codec/sip_message.hpp) on any bytes, as a TCP stream and as one datagram:
// - the stream parser frames the buffer message by message as a connection would, and never calls a strict
//   prefix of a message it accepts anything but incomplete;
// - every message it accepts is serialized and parsed back to the same message (Content-Length aside, which
//   serialize computes), and a response made to an accepted request parses too;
// - the header helpers (name-addr, parameters, CSeq, user@host, AOR) take every header value;
// - the server's in-dialog writer (codec/sip_request_frame.hpp), given a dialog made of an accepted request's
//   From, To, Call-ID and Contact, writes exactly the bytes it sized, and they parse back to those values.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "codec/sip_message.hpp"
#include "codec/sip_request_frame.hpp"
#include "fuzz/fuzz.hpp"

using namespace pchat;
using namespace pchat::sip;

namespace {

// For reading back what the codec wrote: serialize may make the header section longer than the input's.
parse_options unlimited() {
  parse_options o;
  o.max_header_bytes = std::numeric_limits<std::size_t>::max();
  o.max_body_bytes = std::numeric_limits<std::size_t>::max();
  return o;
}

bool is_content_length(const header& h) {
  return iequals(h.name, "Content-Length");
}

// The same message, Content-Length headers aside.
bool same(const message& a, const message& b) {
  if (a.method != b.method || a.uri != b.uri || a.status != b.status || a.reason != b.reason || a.body != b.body)
    return false;
  auto ia = a.headers.begin();
  auto ib = b.headers.begin();
  for (;;) {
    ia = std::find_if_not(ia, a.headers.end(), is_content_length);
    ib = std::find_if_not(ib, b.headers.end(), is_content_length);
    if (ia == a.headers.end() || ib == b.headers.end())
      return ia == a.headers.end() && ib == b.headers.end();
    if (ia->name != ib->name || ia->value != ib->value)
      return false;
    ++ia;
    ++ib;
  }
}

void helpers(const message& m) {
  for (const auto& h : m.headers) {
    if (auto na = parse_name_addr(h.value)) {
      PCHAT_FUZZ_CHECK(!na->uri.empty());
      na->param("tag");
    }
    header_param(h.value, "tag");
    header_param(h.value, "branch");
    uri_user_host(h.value);
    normalize_aor(h.value);
    if (auto c = parse_cseq(h.value))
      PCHAT_FUZZ_CHECK(c->number < (1u << 31) && !c->method.empty());
  }
  if (m.is_request()) {
    uri_user_host(m.uri);
    normalize_aor(m.uri);
  }
}

// Writes `m` and reads it back (long header names, ": " after each: the header section may grow).
void round_trip(const message& m) {
  auto text = serialize(m);
  auto again = parse(text, unlimited());
  PCHAT_FUZZ_CHECK(again.status == parse_status::ok);
  PCHAT_FUZZ_CHECK(again.consumed == text.size());
  PCHAT_FUZZ_CHECK(same(m, again.msg));
  PCHAT_FUZZ_CHECK(again.msg.get_or("Content-Length") == std::to_string(m.body.size()));
  if (m.is_request()) {
    auto response = parse(serialize(make_response(m, 481, {}, "totag")), unlimited());
    PCHAT_FUZZ_CHECK(response.status == parse_status::ok && response.msg.status == 481);
  }
}

// The INFO and BYE pchatd writes into a dialog that `m` (an INVITE, say) opened: our From is its To with our tag,
// our To its From, the Request-URI its Contact's URI.
void dialog_requests(const message& m) {
  const auto* from = m.get("From");
  const auto* to = m.get("To");
  const auto* call_id = m.get("Call-ID");
  if (!from || !to || !call_id)
    return;
  std::string target = m.uri;
  if (const auto* contact = m.get("Contact"))
    if (auto na = parse_name_addr(*contact))
      target = na->uri;
  if (target.empty() || target.find_first_of(" \t") != std::string::npos)
    return; // Sofia hands over no such URI; a Request-URI cannot hold white space
  dialog_frame_fields fields{target, "TCP", "127.0.0.1:5061", *to + ";tag=srv1", *from, *call_id, "b1"};
  request_frame frame{fields};
  struct request {
    std::string_view method;
    std::uint32_t cseq;
    std::string_view type;
    std::string_view body;
    bool via;
  };
  for (const request& r : {request{"INFO", 2, "application/ms-chatsrv+xml", m.body, true},
                           request{"INFO", 0x7fffffff, "", m.body, false}, request{"BYE", 3, "", "", true}}) {
    std::vector<char> buf(frame.size(r.method, r.cseq, r.type, r.body, r.via));
    PCHAT_FUZZ_CHECK(frame.write(buf.data(), r.method, r.cseq, r.type, r.body, r.via) == buf.size());
    auto back = parse({buf.data(), buf.size()}, unlimited());
    PCHAT_FUZZ_CHECK(back.status == parse_status::ok && back.consumed == buf.size());
    const auto& sent = back.msg;
    PCHAT_FUZZ_CHECK(sent.method == r.method && sent.uri == target && sent.body == r.body);
    PCHAT_FUZZ_CHECK(sent.get_or("From") == fields.from && sent.get_or("To") == fields.to &&
                     sent.get_or("Call-ID") == fields.call_id);
    auto cseq = parse_cseq(sent.get_or("CSeq"));
    PCHAT_FUZZ_CHECK(cseq && cseq->number == r.cseq && cseq->method == r.method);
    PCHAT_FUZZ_CHECK(sent.has("Via") == r.via);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::text_of(data, size);
  parse_options limits;
  limits.max_header_bytes = 8 * 1024; // small limits, so that inputs of fuzzing size reach them
  limits.max_body_bytes = 4 * 1024;

  // A stream: message after message, as sip_agent reads a connection.
  std::string_view rest = in;
  for (int n = 0; n < 64 && !rest.empty(); ++n) {
    auto r = parse(rest, limits);
    PCHAT_FUZZ_CHECK(r.consumed <= rest.size());
    if (r.status == parse_status::error) {
      PCHAT_FUZZ_CHECK(!r.error.empty());
      break;
    }
    if (r.status == parse_status::incomplete)
      break;
    PCHAT_FUZZ_CHECK(r.consumed > 0);
    PCHAT_FUZZ_CHECK(r.msg.is_request() ? !r.msg.method.empty() : r.msg.status >= 100 && r.msg.status <= 699);
    PCHAT_FUZZ_CHECK(r.msg.body.size() <= limits.max_body_bytes);
    // A connection that has only part of this message must wait for the rest (the leading keep-alive CRLFs
    // alone are already complete).
    for (std::size_t cut : {r.consumed - 1, r.consumed / 2 + 1, std::size_t{1}})
      if (cut < r.consumed && cut > 0 && rest.substr(0, cut).find_first_not_of("\r\n") != std::string_view::npos)
        PCHAT_FUZZ_CHECK(parse(rest.substr(0, cut), limits).status == parse_status::incomplete);
    helpers(r.msg);
    round_trip(r.msg);
    if (r.msg.is_request())
      dialog_requests(r.msg);
    rest.remove_prefix(r.consumed);
  }

  // One datagram: the whole buffer is one message.
  limits.datagram = true;
  auto d = parse(in, limits);
  PCHAT_FUZZ_CHECK(d.status != parse_status::incomplete);
  if (d.status == parse_status::ok) {
    PCHAT_FUZZ_CHECK(d.consumed == in.size());
    helpers(d.msg);
    round_trip(d.msg);
  }
  return 0;
}
