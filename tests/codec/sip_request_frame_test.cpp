// codec/sip_request_frame: what the fan-out writer puts on the wire must be what a SIP parser reads back — every
// request parsed with codec/sip_message's stream parser (the framing a TCP peer applies), and size() exactly the
// bytes write() produces, since the transport sizes its buffer with it.
#include "codec/sip_request_frame.hpp"
#include "codec/sip_message.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

using namespace pchat::sip;

namespace {

dialog_frame_fields fields() {
  dialog_frame_fields f;
  f.target = "sip:alice@127.0.0.1:40123;transport=tcp;ms-opaque=d3470f2e1d";
  f.transport = "TCP";
  f.sent_by = "127.0.0.1:5061";
  f.from = "<sip:pchat@example.com>;tag=srv7f3a";
  f.to = "\"Alice Ä\" <sip:alice@example.com>;tag=cli91c2;epid=01010101";
  f.call_id = "4f2a9c01b7e84d55a0c3@127.0.0.1";
  f.branch_prefix = "d1a2b3";
  return f;
}

// XML, CR/LF (a blank line and a line that looks like a status line inside the body), non-ASCII UTF-8.
const std::string xml_body = "<sendmsg xmlns=\"urn:parlano:xml:ns:xccos\" chanUri=\"ma-chan://example.com/1\">\r\n"
                             "<msg>grüße — 日本語 ✓</msg>\r\n"
                             "\r\n"
                             "SIP/2.0 200 OK\r\n"
                             "\n\r</sendmsg>";
const std::string xml_type = "application/cccp+xml";

const std::string branch_cookie = "z9hG4bK";

parse_result parse_one(const std::string& wire) {
  auto r = parse(wire); // stream mode: Content-Length frames the body
  INFO(r.error);
  REQUIRE(r.status == parse_status::ok);
  CHECK(r.consumed == wire.size());
  return r;
}

std::string branch_of(const message& m) {
  auto vias = m.get_all("Via");
  REQUIRE(vias.size() == 1);
  auto b = header_param(vias[0], "branch");
  REQUIRE(b);
  return *b;
}

// What every request of the frame carries, whatever the method and body.
void check_dialog_headers(const message& m, const dialog_frame_fields& f) {
  CHECK(m.is_request());
  CHECK(m.uri == f.target);
  CHECK(m.get_or("From") == f.from);
  CHECK(m.get_or("To") == f.to);
  CHECK(header_param(m.get_or("From"), "tag") == std::string("srv7f3a"));
  CHECK(header_param(m.get_or("To"), "tag") == std::string("cli91c2"));
  CHECK(m.get_or("Call-ID") == f.call_id);
  CHECK(m.get_or("Max-Forwards") == "70");
  REQUIRE(m.get_all("CSeq").size() == 1);
  REQUIRE(m.get_all("Content-Length").size() == 1);
}

} // namespace

TEST_CASE("request_frame: an INFO with a body parses back with every dialog header and the body intact",
          "[sip_request_frame]") {
  auto f = fields();
  request_frame frame(f);
  CHECK(frame.call_id() == f.call_id);
  auto wire = frame.build("INFO", 42, xml_type, xml_body);
  auto m = parse_one(wire).msg;
  check_dialog_headers(m, f);
  CHECK(m.method == "INFO");
  auto vias = m.get_all("Via");
  REQUIRE(vias.size() == 1);
  CHECK(vias[0].rfind("SIP/2.0/TCP 127.0.0.1:5061;", 0) == 0);
  CHECK(branch_of(m).rfind(branch_cookie + f.branch_prefix, 0) == 0);
  auto cs = parse_cseq(m.get_or("CSeq"));
  REQUIRE(cs);
  CHECK(cs->number == 42);
  CHECK(cs->method == "INFO");
  CHECK(m.get_all("Content-Type") == std::vector<std::string>{xml_type});
  CHECK(m.get_or("Content-Length") == std::to_string(xml_body.size()));
  CHECK(m.body == xml_body); // byte for byte, CR/LF and UTF-8 included
}

TEST_CASE("request_frame: a BYE without a body has no Content-Type and Content-Length 0", "[sip_request_frame]") {
  auto f = fields();
  request_frame frame(f);
  auto wire = frame.build("BYE", 43, "", "");
  auto m = parse_one(wire).msg;
  check_dialog_headers(m, f);
  CHECK(m.method == "BYE");
  CHECK(branch_of(m).rfind(branch_cookie + f.branch_prefix, 0) == 0);
  auto cs = parse_cseq(m.get_or("CSeq"));
  REQUIRE(cs);
  CHECK(cs->number == 43);
  CHECK(cs->method == "BYE");
  CHECK_FALSE(m.has("Content-Type"));
  CHECK(m.get_or("Content-Length") == "0");
  CHECK(m.body.empty());
  CHECK(wire.size() >= 4);
  CHECK(wire.compare(wire.size() - 4, 4, "\r\n\r\n") == 0); // nothing after the blank line
}

TEST_CASE("request_frame: a body without a content type is sent as text/plain", "[sip_request_frame]") {
  request_frame frame(fields());
  auto m = parse_one(frame.build("INFO", 5, "", "plain")).msg;
  CHECK(m.get_or("Content-Type") == "text/plain");
  CHECK(m.get_or("Content-Length") == "5");
  CHECK(m.body == "plain");
}

TEST_CASE("request_frame: the Via branch is unique per CSeq and the same for the same CSeq", "[sip_request_frame]") {
  auto f = fields();
  request_frame frame(f);
  std::set<std::string> branches;
  for (std::uint32_t cseq : {1u, 2u, 9u, 10u, 15u, 16u, 255u, 256u, 65535u, 2147483647u})
    CHECK(branches.insert(branch_of(parse_one(frame.build("INFO", cseq, xml_type, xml_body)).msg)).second);
  // The branch depends on the CSeq only, not on the method or body: a response is matched by its CSeq.
  CHECK(branch_of(parse_one(frame.build("BYE", 9, "", "")).msg)
        == branch_of(parse_one(frame.build("INFO", 9, xml_type, xml_body)).msg));
  // Another dialog (another prefix) never shares a branch with this one.
  auto g = f;
  g.branch_prefix = "e4f5";
  request_frame other(g);
  CHECK(branches.count(branch_of(parse_one(other.build("INFO", 1, xml_type, xml_body)).msg)) == 0);
}

TEST_CASE("request_frame: with_via=false leaves out the Via and nothing else", "[sip_request_frame]") {
  auto f = fields();
  request_frame frame(f);
  for (const auto& body : {std::string{}, xml_body}) {
    auto type = body.empty() ? std::string{} : xml_type;
    auto without = parse_one(frame.build("INFO", 7, type, body, false)).msg;
    auto with = parse_one(frame.build("INFO", 7, type, body, true)).msg;
    CHECK_FALSE(without.has("Via"));
    check_dialog_headers(without, f);
    CHECK(without.method == "INFO");
    CHECK(without.get_or("CSeq") == "7 INFO");
    CHECK(without.body == body);
    with.remove("Via");
    REQUIRE(with.headers.size() == without.headers.size());
    for (std::size_t i = 0; i < with.headers.size(); ++i) {
      CHECK(with.headers[i].name == without.headers[i].name);
      CHECK(with.headers[i].value == without.headers[i].value);
    }
  }
}

TEST_CASE("request_frame: size() is exactly what write() writes, for short and long numbers and bodies",
          "[sip_request_frame]") {
  request_frame frame(fields());
  const char guard = '\x5a';
  for (std::uint32_t cseq : {1u, 9u, 10u, 15u, 16u, 4294967295u}) {
    for (std::size_t body_size : {0u, 9u, 10u, 100000u}) {
      // Not all one byte, so a body copied from the wrong place would show.
      std::string body(body_size, '\0');
      for (std::size_t i = 0; i < body_size; ++i)
        body[i] = static_cast<char>('a' + i % 26);
      for (bool with_via : {true, false}) {
        for (const std::string type : {"", "application/cccp+xml"}) {
          INFO("cseq " << cseq << ", body " << body_size << ", via " << with_via << ", type '" << type << "'");
          auto n = frame.size("INFO", cseq, type, body, with_via);
          // Guard bytes after the promised size: write() must not touch them.
          std::vector<char> out(n + 64, guard);
          auto written = frame.write(out.data(), "INFO", cseq, type, body, with_via);
          CHECK(written == n);
          bool guard_intact = true;
          for (std::size_t i = n; i < out.size(); ++i)
            guard_intact = guard_intact && out[i] == guard;
          CHECK(guard_intact);
          auto built = frame.build("INFO", cseq, type, body, with_via);
          CHECK(built.size() == n);
          CHECK(built == std::string(out.data(), written));
          CHECK(built.find("CSeq: " + std::to_string(cseq) + " INFO\r\n") != std::string::npos);
          CHECK(built.find("Content-Length: " + std::to_string(body_size) + "\r\n") != std::string::npos);
          // Every CSeq a dialog may use (below 2^31, RFC 3261 §8.1.1.5) parses back whole.
          if (cseq < 2147483648u) {
            auto m = parse_one(built).msg;
            CHECK(m.body == body);
            CHECK(m.get_or("CSeq") == std::to_string(cseq) + " INFO");
          }
        }
      }
    }
  }
}

TEST_CASE("request_frame: requests with increasing CSeq parse with increasing CSeq", "[sip_request_frame]") {
  request_frame frame(fields());
  std::uint32_t last = 0;
  std::set<std::string> branches;
  for (std::uint32_t cseq = 1; cseq <= 300; cseq += 7) {
    bool bye = cseq % 2 == 0;
    auto m = parse_one(bye ? frame.build("BYE", cseq, "", "") : frame.build("INFO", cseq, xml_type, xml_body)).msg;
    auto cs = parse_cseq(m.get_or("CSeq"));
    REQUIRE(cs);
    CHECK(cs->number > last);
    CHECK(cs->number == cseq);
    CHECK(cs->method == (bye ? "BYE" : "INFO"));
    CHECK(branches.insert(branch_of(m)).second);
    last = cs->number;
  }
}

TEST_CASE("request_frame: two requests in one buffer parse as two messages", "[sip_request_frame]") {
  auto f = fields();
  request_frame frame(f);
  auto info = frame.build("INFO", 11, xml_type, xml_body);
  auto bye = frame.build("BYE", 12, "", "");
  for (const auto& [first, second] : {std::pair{info, bye}, std::pair{bye, info}, std::pair{info, info}}) {
    std::string stream = first + second;
    auto a = parse(stream);
    REQUIRE(a.status == parse_status::ok);
    CHECK(a.consumed == first.size());
    auto b = parse(std::string_view(stream).substr(a.consumed));
    REQUIRE(b.status == parse_status::ok);
    CHECK(b.consumed == second.size());
    CHECK(a.msg.get_or("CSeq") == (first == bye ? "12 BYE" : "11 INFO"));
    CHECK(b.msg.get_or("CSeq") == (second == bye ? "12 BYE" : "11 INFO"));
    CHECK(a.msg.body == (first == bye ? "" : xml_body));
    CHECK(b.msg.body == (second == bye ? "" : xml_body));
  }
  // Cut anywhere inside the second request, the first still parses whole and the rest is incomplete.
  std::string stream = info + bye;
  for (std::size_t cut = info.size() + 1; cut < stream.size(); cut += 13) {
    auto a = parse(std::string_view(stream).substr(0, cut));
    REQUIRE(a.status == parse_status::ok);
    CHECK(a.consumed == info.size());
    CHECK(parse(std::string_view(stream).substr(a.consumed, cut - a.consumed)).status == parse_status::incomplete);
  }
}
