// base/: hex, text and random ids — the one implementation of each, at their boundaries.
#include <catch2/catch.hpp>

#include <set>
#include <sstream>
#include <string>

#include "base/attempts.hpp"
#include "base/hex.hpp"
#include "base/log.hpp"
#include "base/random.hpp"
#include "base/text.hpp"

using namespace pchat;

TEST_CASE("hex: lower-case out, either case in, odd length and non-digits refused") {
  CHECK(hex::encode(std::string("\x00\x7f\x80\xff", 4)) == "007f80ff");
  CHECK(hex::decode("007F80ff") == std::string("\x00\x7f\x80\xff", 4));
  CHECK(hex::decode("") == std::string{});
  CHECK_FALSE(hex::decode("abc"));
  CHECK_FALSE(hex::decode("0g"));
  CHECK(hex::fixed(0x1a, 4) == "001a");
  CHECK(hex::fixed(0x123456789abcdef0ull, 16) == "123456789abcdef0");
}

TEST_CASE("text: ASCII case folding leaves other bytes alone") {
  CHECK(ascii_lower("Sip:Alice@Example.COM") == "sip:alice@example.com");
  CHECK(ascii_lower("\xc3\x84") == "\xc3\x84");
  CHECK(iequals("Content-Length", "content-LENGTH"));
  CHECK_FALSE(iequals("a", "ab"));
}

TEST_CASE("text: XML escaping keeps markup, CR, LF and TAB exact") {
  std::string t;
  append_xml_text(t, "a<b>&c\r\n\t\"");
  CHECK(t == "a&lt;b&gt;&amp;c&#13;\n\t\"");
  std::string a;
  append_xml_attr(a, "a<b>&c\r\n\t\"");
  CHECK(a == "a&lt;b&gt;&amp;c&#13;&#10;&#9;&quot;");
  std::string e;
  append_xml_attribute(e, "uri", "x\"y");
  CHECK(e == " uri=\"x&quot;y\"");
  CHECK(is_xml_text("plain\r\n\ttext \xc3\xbc"));
  CHECK_FALSE(is_xml_text(std::string("nul\0", 4)));
}

TEST_CASE("text: XML escaping turns what XML cannot carry into U+FFFD and keeps the rest") {
  std::string out;
  append_xml_attr(out, std::string("rpl:\xf0\x9f\x98", 7)); // a cut 4-byte sequence, as a fuzzer sent it
  CHECK(out == "rpl:\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(is_xml_text(out));
  out.clear();
  static const char mixed[] = "a\x1a" "b\x00" "c\xc0\xaf" "d \xe2\x9c\x93 \xf0\x9f\x98\x80";
  append_xml_text(out, std::string(mixed, sizeof mixed - 1));
  CHECK(out == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d \xe2\x9c\x93 \xf0\x9f\x98\x80");
  out.clear();
  append_xml_text(out, "\xef\xbf\xbe"); // U+FFFE is not an XML character
  CHECK(out == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("text: percent-encoding round trips every byte and refuses broken escapes") {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all.push_back(static_cast<char>(c));
  auto enc = percent_encode(all);
  CHECK(enc.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%") == std::string::npos);
  CHECK(percent_decode(enc) == all);
  CHECK(percent_encode("a b/ü") == "a%20b%2F%C3%BC");
  CHECK(percent_decode("%c3%BC") == std::string("\xc3\xbc"));
  CHECK_FALSE(percent_decode("%2"));
  CHECK_FALSE(percent_decode("%zz"));
  CHECK_FALSE(percent_decode("abc%"));
  CHECK(ascii_stand_in("r\xc3\xa9sum\xc3\xa9 \"50%\".pdf") == "r__sum__ _50__.pdf");
}

TEST_CASE("random: GUIDs are version 4, lower case and never repeat, and hex has the asked length") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto g = random_guid();
    REQUIRE(g.size() == 36);
    CHECK(g[14] == '4');
    CHECK(std::string("89ab").find(g[19]) != std::string::npos);
    CHECK(g == ascii_lower(g));
    CHECK(seen.insert(g).second);
  }
  CHECK(random_hex(16).size() == 32);
  CHECK(random_bytes(0).empty());
  CHECK(random_hex(8) != random_hex(8));
}

TEST_CASE("attempts: a key is refused after its limit until the window passes, a success forgets it, keys are bounded") {
  using namespace std::chrono_literals;
  pchat::attempt_limiter limits{60s, 3};
  auto t0 = pchat::attempt_limiter::clock::time_point{} + 1000s;
  for (unsigned i = 1; i <= 2; ++i) {
    CHECK(limits.allowed("user a", 2, t0));
    CHECK(limits.failed("user a", t0) == i);
  }
  CHECK_FALSE(limits.allowed("user a", 2, t0 + 59s));
  CHECK(limits.allowed("user a", 3, t0 + 59s)); // each caller names its own limit
  CHECK(limits.allowed("user a", 2, t0 + 61s)); // the window has passed
  limits.failed("user b", t0);
  limits.failed("user b", t0);
  limits.succeeded("user b");
  CHECK(limits.allowed("user b", 1, t0));
  // Three keys at most: a new one pushes out the one with fewest failures (the oldest of those), never grows the
  // table, and never the key being guessed at.
  limits.failed("user c", t0);
  limits.failed("user c", t0);
  limits.failed("k1", t0);
  limits.failed("k2", t0 + 1s);
  limits.failed("k3", t0 + 2s);
  limits.failed("k4", t0 + 3s);
  CHECK(limits.allowed("k1", 1, t0 + 3s));
  CHECK_FALSE(limits.allowed("k4", 1, t0 + 3s));
  CHECK_FALSE(limits.allowed("user c", 2, t0 + 3s)); // the key with most failures stays whatever comes after it
  // admit: check and count in one step, nothing counted once refused.
  pchat::attempt_limiter web{60s, 100};
  CHECK(web.admit("addr x", 2, t0));
  CHECK(web.admit("addr x", 2, t0));
  CHECK_FALSE(web.admit("addr x", 2, t0));
  CHECK(web.failed("addr x", t0) == 3); // two admitted, then this one
  // refund: an admitted attempt that succeeded is taken back, the failures stay.
  CHECK(web.admit("addr y", 2, t0));
  web.refund("addr y");
  for (int i = 0; i < 10; ++i) { // successes alone never reach the limit
    CHECK(web.admit("addr y", 2, t0));
    web.refund("addr y");
  }
  web.failed("addr y", t0);
  web.refund("addr y");
  web.refund("addr y"); // never below zero
  CHECK(web.admit("addr y", 2, t0));
  CHECK(web.admit("addr y", 2, t0));
  CHECK_FALSE(web.admit("addr y", 2, t0));
}

TEST_CASE("attempts: client addresses count by IPv4 address and by IPv6 /64") {
  CHECK(pchat::address_key("192.0.2.7") == "192.0.2.7");
  CHECK(pchat::address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64");
  CHECK(pchat::address_key("[2001:db8:1:2::9]") == "2001:db8:1:2::/64");
  CHECK(pchat::address_key("::ffff:192.0.2.7") == "192.0.2.7");
  CHECK(pchat::address_key("unknown") == "unknown");
}

TEST_CASE("log values are logfmt: plain tokens as they are and anything else quoted and escaped") {
  auto text = [](std::string_view v) {
    std::ostringstream os;
    os << pchat::log::q(v);
    return os.str();
  };
  CHECK(text("sip:alice@example.com") == "sip:alice@example.com");
  CHECK(text("Launch plan") == "\"Launch plan\"");
  CHECK(text("") == "\"\"");
  CHECK(text("a=b") == "\"a=b\"");
  CHECK(text("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(text("two\nlines") == "\"two\\nlines\"");
  std::ostringstream null_safe;
  null_safe << pchat::log::q(static_cast<const char*>(nullptr));
  CHECK(null_safe.str() == "\"\"");
}

TEST_CASE("a log line in JSON keeps the message and turns every key=value into a member") {
  auto j = pchat::log::to_json("2026-12-05T10:00:00.000Z", pchat::log::level::warning, "sip",
                               "sign-in failed user=\"a b=c\" address=127.0.0.1 peer=tcp/1.2.3.4:5060: wrong password");
  CHECK(j == "{\"ts\":\"2026-12-05T10:00:00.000Z\",\"level\":\"warning\",\"component\":\"sip\",\"msg\":\"sign-in "
             "failed\",\"user\":\"a b=c\",\"address\":\"127.0.0.1\",\"peer\":\"tcp/1.2.3.4:5060\",\"detail\":\"wrong "
             "password\"}");
  CHECK(pchat::log::to_json("t", pchat::log::level::info, "x", "no pairs \"here\"") ==
        "{\"ts\":\"t\",\"level\":\"info\",\"component\":\"x\",\"msg\":\"no pairs \\\"here\\\"\"}");
}
