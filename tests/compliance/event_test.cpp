// The event record (round trip, strict decoding), XML-safe text, the chain link and the three time encodings.
#include <catch2/catch.hpp>

#include "compliance/event.hpp"
#include "compliance/xml_adapter.hpp"
#include "support.hpp"

using namespace pchat::compliance;
using pchat::test::make_event;
using pchat::test::sample_ticks;

TEST_CASE("event: record round trip for every kind, truncated, extended and unknown records are refused") {
  for (auto kind : {event_kind::join, event_kind::part, event_kind::chat, event_kind::backchat, event_kind::search,
                    event_kind::fileupload, event_kind::filedownload, event_kind::clear, event_kind::remove}) {
    auto e = make_event(kind, "lobby", "alice", std::string("text\0with nul", 13));
    e.id = 42;
    e.room_logged = kind != event_kind::part;
    e.hash = *pchat::sha256_of("x");
    auto rec = encode(e);
    REQUIRE(decode(rec) == e);
    CHECK(kind_from_string(to_string(kind)) == kind);
    for (std::size_t n = 0; n < rec.size(); ++n)
      CHECK_FALSE(decode(std::string_view{rec}.substr(0, n)));
    CHECK_FALSE(decode(rec + "x"));
  }
  auto rec = encode(make_event(event_kind::chat, "r", "u"));
  auto bad_kind = rec;
  bad_kind[1] = 10;
  CHECK_FALSE(decode(bad_kind));
  bad_kind[1] = 0;
  CHECK_FALSE(decode(bad_kind));
  auto bad_version = rec;
  bad_version[0] = 2;
  CHECK_FALSE(decode(bad_version));
  CHECK_FALSE(kind_from_string("chat"));
}

TEST_CASE("event: text XML cannot carry becomes U+FFFD, valid UTF-8, tab, LF and CR stay") {
  auto e = make_event(event_kind::chat, "r", "u", "ok \t\n\r \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  auto kept = e.content;
  make_xml_safe(e);
  CHECK(e.content == kept);
  e.content = "a\x01"
              "b\xff"
              "c\xc3"
              "d\xed\xa0\x80"
              "e\xef\xbf\xbe"
              "f\xc0\xaf"
              "g\xf8\x88\x80\x80\x80";
  make_xml_safe(e);
  const std::string r = "\xef\xbf\xbd";
  CHECK(e.content ==
        "a" + r + "b" + r + "c" + r + "d" + r + r + r + "e" + r + r + r + "f" + r + r + "g" + r + r + r + r + r);
}

TEST_CASE("event: the chain link covers id, type, content, room, sender and time, not the details") {
  auto e = make_event(event_kind::chat, "lobby", "alice", "hello");
  e.id = 7;
  digest prev = *pchat::sha256_of("prev");
  auto h = chain_hash(prev, e);
  CHECK(chain_hash(prev, e) == h);
  CHECK(chain_hash(digest{}, e) != h);
  auto changed = [&](auto mutate) {
    auto x = e;
    mutate(x);
    return chain_hash(prev, x) != h;
  };
  CHECK(changed([](event& x) { x.id = 8; }));
  CHECK(changed([](event& x) { x.kind = event_kind::backchat; }));
  CHECK(changed([](event& x) { x.content = "hellp"; }));
  CHECK(changed([](event& x) { x.room_uri += "x"; }));
  CHECK(changed([](event& x) { x.user_uri = "sip:mallory@example.com"; }));
  CHECK(changed([](event& x) { x.ticks += 1; }));
  CHECK_FALSE(changed([](event& x) { x.display_name = "Someone"; }));
  CHECK_FALSE(changed([](event& x) { x.room_name = "other"; }));
  CHECK_FALSE(changed([](event& x) { x.user_uri = "alice@example.com"; })); // the XML shows the address only
  // Field boundaries are length-prefixed: moving bytes between fields changes the link.
  auto a = e;
  a.content = "ab";
  a.room_uri = "c";
  auto b = e;
  b.content = "a";
  b.room_uri = "bc";
  CHECK(chain_hash(prev, a) != chain_hash(prev, b));
}

TEST_CASE("event: the three time encodings of the example instant of docs/compliance.md (Output shape)") {
  CHECK(since1970(sample_ticks) == 1'212'610'540'953);
  CHECK(utc_string(sample_ticks) == "2008-06-04T20:15:40.9535482Z");
  CHECK(dotnet_ticks(sample_ticks) == 633'482'073'409'535'482);
  CHECK(utc_string(0) == "1970-01-01T00:00:00.0000000Z");
  CHECK(utc_string(-1) == "1969-12-31T23:59:59.9999999Z");
  CHECK(since1970(-1) == -1);
  CHECK(utc_string(951'782'400LL * 10'000'000) == "2000-02-29T00:00:00.0000000Z"); // leap day
  CHECK(utc_string(253'402'300'799LL * 10'000'000 + 9'999'999) == "9999-12-31T23:59:59.9999999Z");
}
