// codec/sip_message: parse (framing, compact forms, folding, limits, garbage), serialize, helpers.
#include "codec/sip_message.hpp"
#include "base/text.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace pchat::sip;
using namespace std::string_literals;

namespace {

// The REGISTER of docs/xccos.md §2.1, in compact forms and with a folded Supported header.
const std::string compact_register = "REGISTER sip:example.com SIP/2.0\r\n"
                                     "v: SIP/2.0/TCP 127.0.0.1:40123;branch=z9hG4bKabc;rport\r\n"
                                     "f: <sip:alice@example.com>;tag=f1;epid=e1\r\n"
                                     "t: <sip:alice@example.com>\r\n"
                                     "i: cid-1\r\n"
                                     "CSeq: 1 REGISTER\r\n"
                                     "m: <sip:127.0.0.1:40123;transport=tcp>;methods=\"INVITE, INFO\"\r\n"
                                     "k: gruu-10,\r\n"
                                     "  adhoclist\r\n"
                                     "\t msrtc-event-categories\r\n"
                                     "o: registration\r\n"
                                     "u: presence\r\n"
                                     "l: 0\r\n"
                                     "\r\n";

const std::string info_with_body = "INFO sip:alice@example.com:40123;maddr=127.0.0.1;transport=tcp SIP/2.0\r\n"
                                   "Via: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKsrv\r\n"
                                   "From: <sip:pchat@example.com>;tag=s1\r\n"
                                   "To: <sip:alice@example.com>;tag=c1\r\n"
                                   "Call-ID: cid-2\r\n"
                                   "CSeq: 7 INFO\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 12\r\n"
                                   "\r\n"
                                   "hello\r\nworld";

const std::string ok_response = "SIP/2.0 200 OK\r\n"
                                "Via: SIP/2.0/TCP 127.0.0.1:40123;branch=z9hG4bKabc;rport=40123;received=127.0.0.1\r\n"
                                "From: <sip:alice@example.com>;tag=f1\r\n"
                                "To: <sip:alice@example.com>;tag=srv\r\n"
                                "Call-ID: cid-1\r\n"
                                "CSeq: 1 REGISTER\r\n"
                                "Expires: 3600\r\n"
                                "Supported: msrtc-event-categories\r\n"
                                "Allow-Events: vnd-microsoft-provisioning-v2\r\n"
                                "Content-Length: 0\r\n"
                                "\r\n";

parse_result parse_stream(std::string_view s) {
  return parse(s);
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Headers other than Content-Length, for round-trip comparison (serialize moves Content-Length to the end).
std::vector<header> without_length(const std::vector<header>& in) {
  std::vector<header> out;
  for (auto& h : in)
    if (!pchat::iequals(h.name, "Content-Length"))
      out.push_back(h);
  return out;
}

bool same_message(const message& a, const message& b) {
  auto ha = without_length(a.headers);
  auto hb = without_length(b.headers);
  if (ha.size() != hb.size())
    return false;
  for (std::size_t i = 0; i < ha.size(); ++i)
    if (ha[i].name != hb[i].name || ha[i].value != hb[i].value)
      return false;
  return a.method == b.method && a.uri == b.uri && a.status == b.status && a.reason == b.reason && a.body == b.body;
}

} // namespace

TEST_CASE("a REGISTER with compact headers and folding parses to long names", "[sip_message]") {
  auto r = parse_stream(compact_register);
  REQUIRE(r.status == parse_status::ok);
  CHECK(r.consumed == compact_register.size());
  auto& m = r.msg;
  CHECK(m.is_request());
  CHECK(m.method == "REGISTER");
  CHECK(m.uri == "sip:example.com");
  REQUIRE(m.headers.size() == 10);
  CHECK(m.headers[0].name == "Via");
  CHECK(m.headers[1].name == "From");
  CHECK(m.headers[3].name == "Call-ID");
  CHECK(m.headers[5].name == "Contact");
  CHECK(m.headers[6].name == "Supported");
  CHECK(m.headers[7].name == "Event");
  CHECK(m.headers[8].name == "Allow-Events");
  CHECK(m.headers[9].name == "Content-Length");
  CHECK(m.get_or("Supported") == "gruu-10, adhoclist msrtc-event-categories");
  // lookups are case-insensitive and accept compact names
  CHECK(m.get_or("call-id") == "cid-1");
  CHECK(m.get_or("i") == "cid-1");
  CHECK(m.get_or("CSEQ") == "1 REGISTER");
  CHECK(m.get("Expires") == nullptr);
  CHECK(m.get_or("Expires", "none") == "none");
  CHECK(m.body.empty());
}

TEST_CASE("a response parses with status, reason and duplicate headers in order", "[sip_message]") {
  std::string text = "SIP/2.0 503 Service Unavailable\r\n"
                     "Via: SIP/2.0/TCP a;branch=z9hG4bK1\r\n"
                     "Via: SIP/2.0/TCP b;branch=z9hG4bK2\r\n"
                     "ms-diagnostics: 20000;reason=\"Chat service busy\";component=\"GroupChat\"\r\n"
                     "Content-Length: 0\r\n\r\n";
  auto r = parse_stream(text);
  REQUIRE(r.status == parse_status::ok);
  CHECK(r.msg.is_response());
  CHECK(r.msg.status == 503);
  CHECK(r.msg.reason == "Service Unavailable");
  auto vias = r.msg.get_all("via");
  REQUIRE(vias.size() == 2);
  CHECK(vias[0] == "SIP/2.0/TCP a;branch=z9hG4bK1");
  CHECK(vias[1] == "SIP/2.0/TCP b;branch=z9hG4bK2");
  CHECK(header_param(r.msg.get_or("Ms-Diagnostics"), "reason") == std::string("Chat service busy"));

  auto bare = parse_stream("SIP/2.0 180\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(bare.status == parse_status::ok);
  CHECK(bare.msg.status == 180);
  CHECK(bare.msg.reason.empty());
}

TEST_CASE("two messages in one buffer are framed by Content-Length", "[sip_message]") {
  auto buf = info_with_body + ok_response;
  auto first = parse_stream(buf);
  REQUIRE(first.status == parse_status::ok);
  CHECK(first.consumed == info_with_body.size());
  CHECK(first.msg.body == "hello\r\nworld");
  CHECK(first.msg.method == "INFO");
  auto second = parse_stream(std::string_view(buf).substr(first.consumed));
  REQUIRE(second.status == parse_status::ok);
  CHECK(second.consumed == ok_response.size());
  CHECK(second.msg.status == 200);
}

TEST_CASE("keep-alive CRLFs are skipped and counted", "[sip_message]") {
  auto alone = parse_stream("\r\n\r\n");
  CHECK(alone.status == parse_status::incomplete);
  CHECK(alone.consumed == 4);

  auto before = parse_stream("\r\n\r\n\r\n" + ok_response);
  REQUIRE(before.status == parse_status::ok);
  CHECK(before.consumed == 6 + ok_response.size());

  auto before_partial = parse_stream("\r\n\r\nSIP/2.0 200 OK\r\n");
  CHECK(before_partial.status == parse_status::incomplete);
  CHECK(before_partial.consumed == 4);

  auto empty = parse_stream("");
  CHECK(empty.status == parse_status::incomplete);
  CHECK(empty.consumed == 0);
}

TEST_CASE("every strict prefix of a message is incomplete, the whole is ok", "[sip_message]") {
  for (auto& text : {info_with_body, compact_register, ok_response}) {
    for (std::size_t n = 0; n < text.size(); ++n) {
      auto r = parse_stream(std::string_view(text).substr(0, n));
      INFO("prefix length " << n);
      REQUIRE(r.status == parse_status::incomplete);
      REQUIRE(r.consumed == 0);
    }
    auto whole = parse_stream(text);
    REQUIRE(whole.status == parse_status::ok);
    CHECK(whole.consumed == text.size());
  }
}

TEST_CASE("Content-Length is mandatory on a stream unless nothing follows", "[sip_message]") {
  std::string head = "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\r\n";
  auto no_body = parse_stream(head);
  REQUIRE(no_body.status == parse_status::ok);
  CHECK(no_body.msg.body.empty());

  auto with_body = parse_stream(head + "hi");
  CHECK(with_body.status == parse_status::error);
  CHECK(with_body.error.find("Content-Length") != std::string::npos);

  parse_options dgram;
  dgram.datagram = true;
  auto datagram = parse(head + "hi", dgram);
  REQUIRE(datagram.status == parse_status::ok);
  CHECK(datagram.msg.body == "hi");
  CHECK(datagram.consumed == head.size() + 2);

  // datagram: Content-Length cuts extra bytes; a short datagram is an error, never "incomplete"
  std::string head_cl = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\n";
  auto cut = parse(head_cl + "hi there", dgram);
  REQUIRE(cut.status == parse_status::ok);
  CHECK(cut.msg.body == "hi");
  CHECK(parse(head_cl + "h", dgram).status == parse_status::error);
  CHECK(parse("MESSAGE sip:a@b SIP/2.0\r\n", dgram).status == parse_status::error);
}

TEST_CASE("size limits give a 'too large' error, never a wait or a crash", "[sip_message]") {
  parse_options small;
  small.max_header_bytes = 256;
  small.max_body_bytes = 16;

  std::string big_body = "INFO sip:a@b SIP/2.0\r\nContent-Length: 17\r\n\r\n";
  auto body = parse(big_body, small); // refused before the body even arrives
  REQUIRE(body.status == parse_status::error);
  CHECK(starts_with(body.error, "too large"));
  CHECK(parse("INFO sip:a@b SIP/2.0\r\nContent-Length: 16\r\n\r\n0123456789abcdef", small).status == parse_status::ok);

  std::string long_header = "INFO sip:a@b SIP/2.0\r\nX-Pad: " + std::string(300, 'x') + "\r\n\r\n";
  auto complete = parse(long_header, small);
  REQUIRE(complete.status == parse_status::error);
  CHECK(starts_with(complete.error, "too large"));
  auto partial = parse(long_header.substr(0, 280), small); // no end of headers in sight, already over the limit
  REQUIRE(partial.status == parse_status::error);
  CHECK(starts_with(partial.error, "too large"));

  auto huge_length = parse("INFO sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n");
  CHECK(huge_length.status == parse_status::error);

  parse_options dgram = small;
  dgram.datagram = true;
  auto dg = parse("INFO sip:a@b SIP/2.0\r\n\r\n" + std::string(17, 'b'), dgram);
  REQUIRE(dg.status == parse_status::error);
  CHECK(starts_with(dg.error, "too large"));
}

TEST_CASE("malformed messages are errors with a reason", "[sip_message]") {
  const std::string bad[] = {
      "garbage\r\n\r\n"s,
      "INVITE sip:a@b SIP/3.0\r\n\r\n"s,
      "INVITE  sip:a@b SIP/2.0\r\n\r\n"s,
      "INV<TE sip:a@b SIP/2.0\r\n\r\n"s,
      "SIP/2.0 2000 OK\r\n\r\n"s,
      "SIP/2.0 099 Low\r\n\r\n"s,
      "SIP/2.0 abc OK\r\n\r\n"s,
      "INFO sip:a@b SIP/2.0\r\nNoColon\r\n\r\n"s,
      "INFO sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n"s,
      "INFO sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n"s,
      "INFO sip:a@b SIP/2.0\r\nContent-Length: 12x\r\n\r\n"s,
      "INFO sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab"s,
      "INFO sip:a@b SIP/2.0\nVia: x\n\n"s,
      "INFO sip:a@b SIP/2.0\r\nX: a\rb\r\n\r\n"s,
      "INFO sip:a@b SIP/2.0\r\nX: a\0b\r\n\r\n"s,
  };
  for (auto& text : bad) {
    INFO(text);
    auto r = parse_stream(text);
    CHECK(r.status == parse_status::error);
    CHECK(!r.error.empty());
  }
  // A bad start line is reported as soon as its line is complete, without waiting for the header section.
  CHECK(parse_stream("HELLO WORLD\r\nX: y").status == parse_status::error);
  // Agreeing duplicate Content-Length headers are fine.
  CHECK(parse_stream("INFO sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 1\r\n\r\na").status == parse_status::ok);
}

TEST_CASE("serialize writes long names and a computed Content-Length, parse gives the message back", "[sip_message]") {
  auto m = message::request("INFO", "sip:pchat@example.com");
  m.add("v", "SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx;rport");
  m.add("From", "<sip:alice@example.com>;tag=1");
  m.add("To", "<sip:pchat@example.com>;tag=2");
  m.add("i", "abc");
  m.add("CSeq", "2 INFO");
  m.add("Content-Length", "999"); // replaced
  m.add("c", "text/plain");
  m.body = "<xccos/>";
  auto text = serialize(m);
  CHECK(text.find("Content-Length: 8\r\n\r\n<xccos/>") != std::string::npos);
  CHECK(text.find("999") == std::string::npos);
  CHECK(text.find("\r\nCall-ID: abc\r\n") != std::string::npos);
  CHECK(text.find("\r\nContent-Type: text/plain\r\n") != std::string::npos);
  CHECK(text.find("\r\nVia: ") != std::string::npos);
  CHECK(text.rfind("INFO sip:pchat@example.com SIP/2.0\r\n", 0) == 0);

  auto r = parse_stream(text);
  REQUIRE(r.status == parse_status::ok);
  CHECK(r.consumed == text.size());
  CHECK(same_message(r.msg, m));

  auto resp = message::response(481);
  CHECK(resp.reason == "Call/Transaction Does Not Exist");
  resp.add("Call-ID", "q");
  auto rr = parse_stream(serialize(resp));
  REQUIRE(rr.status == parse_status::ok);
  CHECK(rr.msg.status == 481);
  CHECK(rr.msg.reason == "Call/Transaction Does Not Exist");
  CHECK(rr.msg.get_or("Content-Length") == "0");
}

TEST_CASE("set, add and remove keep order and handle duplicates", "[sip_message]") {
  message m;
  m.add("Supported", "a");
  m.add("X", "1");
  m.add("k", "b");
  CHECK(m.get_all("Supported") == std::vector<std::string>{"a", "b"});
  m.set("supported", "c");
  CHECK(m.get_all("Supported") == std::vector<std::string>{"c"});
  CHECK(m.headers.front().name == "Supported");
  m.set("Expires", "0");
  CHECK(m.headers.back().name == "Expires");
  CHECK(m.remove("x") == 1);
  CHECK(m.remove("x") == 0);
  CHECK(m.headers.size() == 2);
}

TEST_CASE("name-addr parsing", "[sip_message]") {
  auto a = parse_name_addr("\"Alice \\\"A\\\" Smith\" <sip:a@b;x=y>;tag=abc;flag");
  REQUIRE(a);
  CHECK(a->display == "Alice \"A\" Smith");
  CHECK(a->uri == "sip:a@b;x=y");
  REQUIRE(a->params.size() == 2);
  CHECK(*a->param("TAG") == "abc");
  CHECK(a->param("flag")->empty());
  CHECK(a->param("x") == nullptr); // a URI parameter, not a header parameter

  auto token_display = parse_name_addr("Alice <sip:alice@example.com>");
  REQUIRE(token_display);
  CHECK(token_display->display == "Alice");
  CHECK(token_display->uri == "sip:alice@example.com");

  auto spec = parse_name_addr(" sip:alice@example.com;tag=9 ");
  REQUIRE(spec);
  CHECK(spec->display.empty());
  CHECK(spec->uri == "sip:alice@example.com");
  CHECK(*spec->param("tag") == "9");

  auto contact = parse_name_addr("<sip:127.0.0.1:40123;transport=tcp>;methods=\"INVITE, INFO\";proxy=replace");
  REQUIRE(contact);
  CHECK(*contact->param("methods") == "INVITE, INFO");
  CHECK(*contact->param("proxy") == "replace");

  auto first_of_two = parse_name_addr("<sip:a@b>;q=1, <sip:c@d>");
  REQUIRE(first_of_two);
  CHECK(first_of_two->uri == "sip:a@b");
  CHECK(first_of_two->params.size() == 1);

  CHECK_FALSE(parse_name_addr(""));
  CHECK_FALSE(parse_name_addr("<>"));
  CHECK_FALSE(parse_name_addr("\"unterminated <sip:a@b>"));
  CHECK_FALSE(parse_name_addr("<sip:a@b"));
  CHECK_FALSE(parse_name_addr("\"Alice\" sip:a@b"));
}

TEST_CASE("header parameters", "[sip_message]") {
  std::string via = "SIP/2.0/TCP 127.0.0.1:40123;branch=z9hG4bKabc;rport=40123;received=10.0.0.1";
  CHECK(header_param(via, "branch") == std::string("z9hG4bKabc"));
  CHECK(header_param(via, "RPORT") == std::string("40123"));
  CHECK(header_param(via, "received") == std::string("10.0.0.1"));
  CHECK(header_param(via, "maddr") == std::nullopt);
  CHECK(header_param("SIP/2.0/TCP h;rport", "rport") == std::string());
  CHECK(header_param("SIP/2.0/tcp 127.0.0.1:55020", "branch") == std::nullopt); // sipe's branch-less Via
  CHECK(header_param("<sip:a@b;tag=no>;tag=yes", "tag") == std::string("yes"));
  CHECK(header_param("\"x;tag=no\" <sip:a@b>", "tag") == std::nullopt);
  CHECK(header_param("<sip:a@b>", "tag") == std::nullopt);
  CHECK(header_param("sip:a@b;transport=tcp", "transport") == std::string("tcp"));
  CHECK(header_param("a;x=1, b;y=2", "y") == std::nullopt);
}

TEST_CASE("user@host of a URI", "[sip_message]") {
  CHECK(uri_user_host("sip:alice@example.com") == "alice@example.com");
  CHECK(uri_user_host("<sip:Alice@Example.com:5061;transport=tcp>") == "Alice@Example.com");
  CHECK(uri_user_host("\"A\" <sips:a@b.c;maddr=1.2.3.4>;tag=x") == "a@b.c");
  CHECK(uri_user_host("sip:alice@example.com:40123;maddr=127.0.0.1;transport=tcp") == "alice@example.com");
  CHECK(uri_user_host("sip:example.com") == "example.com");
  CHECK(uri_user_host("sip:127.0.0.1:5060") == "127.0.0.1");
  CHECK(uri_user_host("example.com:5060") == "example.com");
  CHECK(uri_user_host("sip:bob@[::1]:5060") == "bob@[::1]");
  CHECK(uri_user_host("sip:pchat@example.com?subject=x") == "pchat@example.com");
  CHECK(uri_user_host("").empty());
  CHECK(uri_user_host("sip:").empty());
}

TEST_CASE("CSeq parsing", "[sip_message]") {
  auto c = parse_cseq("12 INFO");
  REQUIRE(c);
  CHECK(c->number == 12);
  CHECK(c->method == "INFO");
  auto spaced = parse_cseq("  3\tACK ");
  REQUIRE(spaced);
  CHECK(spaced->number == 3);
  CHECK(spaced->method == "ACK");
  CHECK_FALSE(parse_cseq(""));
  CHECK_FALSE(parse_cseq("INFO"));
  CHECK_FALSE(parse_cseq("12"));
  CHECK_FALSE(parse_cseq("12INFO"));
  CHECK_FALSE(parse_cseq("-1 INFO"));
  CHECK_FALSE(parse_cseq("2147483648 INFO"));
  CHECK_FALSE(parse_cseq("1 IN FO"));
  CHECK(parse_cseq("2147483647 INFO"));
}

TEST_CASE("random identifiers have the promised shape", "[sip_message]") {
  auto b = random_branch();
  CHECK(b.rfind("z9hG4bK", 0) == 0);
  CHECK(b.size() == 7 + 16);
  CHECK(random_tag().size() == 16);
  CHECK(random_call_id().size() == 32);
  CHECK(random_tag() != random_tag());
  CHECK(random_call_id() != random_call_id());
}

TEST_CASE("make_response copies Via(s), From, To, Call-ID, CSeq and adds a To tag", "[sip_message]") {
  auto r = parse_stream(info_with_body);
  REQUIRE(r.status == parse_status::ok);
  auto req = r.msg;
  req.headers.insert(req.headers.begin() + 1, header{"Via", "SIP/2.0/TCP proxy;branch=z9hG4bK2"});
  auto resp = make_response(req, 200, {}, "mytag");
  CHECK(resp.status == 200);
  CHECK(resp.reason == "OK");
  CHECK(resp.get_all("Via") == req.get_all("Via"));
  CHECK(resp.get_or("From") == req.get_or("From"));
  CHECK(resp.get_or("To") == req.get_or("To")); // already tagged
  CHECK(resp.get_or("Call-ID") == "cid-2");
  CHECK(resp.get_or("CSeq") == "7 INFO");
  CHECK(resp.body.empty());

  auto reg = parse_stream(compact_register).msg;
  auto resp2 = make_response(reg, 501, "Nope", "t9");
  CHECK(resp2.reason == "Nope");
  CHECK(resp2.get_or("To") == "<sip:alice@example.com>;tag=t9");
}

TEST_CASE("random garbage and mutations never crash the parser", "[sip_message][fuzz]") {
  std::mt19937 gen(20240611);
  auto byte = [&] { return static_cast<char>(gen() & 0xff); };
  auto check = [&](const std::string& buf, const parse_options& opts) {
    auto r = parse(buf, opts);
    REQUIRE(r.consumed <= buf.size());
    if (r.status == parse_status::ok) {
      REQUIRE(r.consumed > 0);
      REQUIRE(r.msg.body.size() <= opts.max_body_bytes);
      // Whatever parsed must survive a round trip.
      auto again = parse(serialize(r.msg));
      REQUIRE(again.status == parse_status::ok);
      REQUIRE(same_message(again.msg, r.msg));
    } else if (r.status == parse_status::error) {
      REQUIRE(!r.error.empty());
    }
  };
  parse_options def;
  parse_options small;
  small.max_header_bytes = 128;
  small.max_body_bytes = 8;
  parse_options dgram;
  dgram.datagram = true;

  // 1. Pure random bytes, and random bytes from a SIP-ish alphabet (more likely to get deep into the parser).
  const std::string alphabet = "INFO SIP/2.0\r\n:;<>\"\\ \tabc=0123456789lLvi,@";
  for (int i = 0; i < 2000; ++i) {
    std::string buf(gen() % 300, '\0');
    for (auto& c : buf)
      c = (i % 2 == 0) ? byte() : alphabet[gen() % alphabet.size()];
    check(buf, def);
    check(buf, small);
    check(buf, dgram);
    (void)parse_name_addr(buf);
    (void)header_param(buf, "tag");
    (void)uri_user_host(buf);
    (void)parse_cseq(buf);
  }

  // 2. Mutations of valid messages: replace, insert or delete a few bytes.
  const std::string seeds[] = {compact_register, info_with_body, ok_response, info_with_body + ok_response};
  for (int i = 0; i < 4000; ++i) {
    auto buf = seeds[gen() % 4];
    int edits = 1 + static_cast<int>(gen() % 4);
    for (int e = 0; e < edits && !buf.empty(); ++e) {
      auto pos = gen() % buf.size();
      switch (gen() % 3) {
      case 0:
        buf[pos] = (gen() % 2) ? byte() : alphabet[gen() % alphabet.size()];
        break;
      case 1:
        buf.insert(buf.begin() + static_cast<std::ptrdiff_t>(pos), byte());
        break;
      default:
        buf.erase(pos, 1);
        break;
      }
    }
    check(buf, def);
    check(buf, small);
    check(buf, dgram);
  }

  // 3. Truncations at every offset (stream: incomplete or ok; datagram: anything, no crash).
  for (auto& seed : seeds) {
    for (std::size_t n = 0; n <= seed.size(); ++n) {
      auto buf = seed.substr(0, n);
      check(buf, def);
      check(buf, dgram);
      REQUIRE(parse(buf).status != parse_status::error);
    }
  }
}

TEST_CASE("normalize_aor gives the address of record users are known by") {
  using pchat::sip::normalize_aor;
  CHECK(normalize_aor("sip:alice@example.com") == "sip:alice@example.com");
  CHECK(normalize_aor("\"Alice\" <sip:Alice@Example.COM;transport=tcp>;tag=x") == "sip:alice@example.com");
  CHECK(normalize_aor("sips:bob@example.com?subject=x") == "sip:bob@example.com");
  CHECK(normalize_aor("carol@example.com") == "sip:carol@example.com");
  CHECK(normalize_aor("sip:example.com").empty());
  CHECK(normalize_aor("sip:@example.com").empty());
  CHECK(normalize_aor("sip:alice@").empty());
  CHECK(normalize_aor("tel:+1555@example.com").empty());
  CHECK(normalize_aor("").empty());
  CHECK(pchat::ascii_lower("MiXeD-Ünï") == "mixed-Ünï");
}
