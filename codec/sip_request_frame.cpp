#include "codec/sip_request_frame.hpp"

#include <cstring>

namespace pchat::sip {

namespace {

// Decimal or hex digits of n into `out` (which has room for 10), most significant first; returns the count.
std::size_t put_number(char* out, std::uint64_t n, unsigned base) {
  static const char digits[] = "0123456789abcdef";
  char tmp[24];
  std::size_t len = 0;
  do {
    tmp[len++] = digits[n % base];
    n /= base;
  } while (n != 0);
  for (std::size_t i = 0; i < len; ++i)
    out[i] = tmp[len - 1 - i];
  return len;
}

std::size_t number_size(std::uint64_t n, unsigned base) {
  std::size_t len = 1;
  while (n >= base) {
    n /= base;
    ++len;
  }
  return len;
}

char* put(char* out, std::string_view s) {
  if (!s.empty()) // an empty view may have no data at all, and memcpy's pointers must be valid even for 0 bytes
    std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

constexpr std::string_view cseq_head = "CSeq: ";
constexpr std::string_view content_type_head = "Content-Type: ";
constexpr std::string_view content_length_head = "Content-Length: ";
constexpr std::string_view crlf = "\r\n";

} // namespace

request_frame::request_frame(const dialog_frame_fields& f)
  : request_tail_(" " + f.target + " SIP/2.0\r\n"),
    via_head_("Via: SIP/2.0/" + f.transport + " " + f.sent_by + ";branch=z9hG4bK" + f.branch_prefix + "."),
    fixed_("Max-Forwards: 70\r\nFrom: " + f.from + "\r\nTo: " + f.to + "\r\nCall-ID: " + f.call_id + "\r\n"),
    call_id_(f.call_id) {}

std::size_t request_frame::size(std::string_view method, std::uint32_t cseq, std::string_view content_type,
                                std::string_view body, bool with_via, std::string_view extra) const {
  std::size_t n = method.size() + request_tail_.size() + fixed_.size() + extra.size();
  if (with_via)
    n += via_head_.size() + number_size(cseq, 16) + crlf.size();
  n += cseq_head.size() + number_size(cseq, 10) + 1 + method.size() + crlf.size();
  if (!content_type.empty() || !body.empty())
    n += content_type_head.size() + (content_type.empty() ? 10 : content_type.size()) + crlf.size();
  n += content_length_head.size() + number_size(body.size(), 10) + 2 * crlf.size() + body.size();
  return n;
}

std::size_t request_frame::write(char* out, std::string_view method, std::uint32_t cseq,
                                 std::string_view content_type, std::string_view body, bool with_via,
                                 std::string_view extra) const {
  char* p = out;
  p = put(p, method);
  p = put(p, request_tail_);
  if (with_via) {
    p = put(p, via_head_);
    p += put_number(p, cseq, 16);
    p = put(p, crlf);
  }
  p = put(p, fixed_);
  p = put(p, cseq_head);
  p += put_number(p, cseq, 10);
  *p++ = ' ';
  p = put(p, method);
  p = put(p, crlf);
  p = put(p, extra);
  if (!content_type.empty() || !body.empty()) {
    p = put(p, content_type_head);
    p = put(p, content_type.empty() ? std::string_view{"text/plain"} : content_type);
    p = put(p, crlf);
  }
  p = put(p, content_length_head);
  p += put_number(p, body.size(), 10);
  p = put(p, crlf);
  p = put(p, crlf);
  p = put(p, body);
  return static_cast<std::size_t>(p - out);
}

std::string request_frame::build(std::string_view method, std::uint32_t cseq, std::string_view content_type,
                                 std::string_view body, bool with_via, std::string_view extra) const {
  std::string out(size(method, cseq, content_type, body, with_via, extra), '\0');
  out.resize(write(out.data(), method, cseq, content_type, body, with_via, extra));
  return out;
}

} // namespace pchat::sip
