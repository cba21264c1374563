// codec/digest: RFC 7616 / RFC 2617 vectors, header round trips and malformed input, and the nonce keeper with an
// injected clock (expiry, forgery, nc replay, the tracking bound).
#include "codec/digest.hpp"
#include "base/random.hpp"

#include <regex>
#include <set>
#include <catch2/catch.hpp>

using namespace pchat::sip;
using digest::algorithm;

TEST_CASE("digest: RFC 7616 §3.9.1 responses for MD5 and SHA-256") {
  const char* nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  const char* cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  auto md5 = digest::ha1(algorithm::md5, "Mufasa", "http-auth@example.org", "Circle of Life");
  auto sha = digest::ha1(algorithm::sha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  CHECK(md5.size() == 32);
  CHECK(sha.size() == 64);
  CHECK(digest::response(algorithm::md5, md5, nonce, "00000001", cnonce, "GET", "/dir/index.html") ==
        "8ca523f5e9506fed4657c9700eebdbec");
  CHECK(digest::response(algorithm::sha256, sha, nonce, "00000001", cnonce, "GET", "/dir/index.html") ==
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

TEST_CASE("digest: RFC 2617 §3.5 response (what pidgin-sipe's own test checks)") {
  auto ha1 = digest::ha1(algorithm::md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  CHECK(digest::response(algorithm::md5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "GET",
                         "/dir/index.html") == "6629fae49393a05397450978507c4ef1");
}

TEST_CASE("digest: a challenge round-trips and keeps sipe's realm=\"/nonce=\" shape") {
  digest::challenge c;
  c.alg = algorithm::sha256;
  c.realm = "example.com";
  c.nonce = "0123abcd";
  c.stale = true;
  c.opaque = "o\"q";
  auto text = digest::format(c);
  CHECK(text.rfind("Digest realm=\"example.com\", nonce=\"0123abcd\"", 0) == 0);
  auto back = digest::parse_challenge(text);
  REQUIRE(back);
  CHECK(back->alg == algorithm::sha256);
  CHECK(back->realm == "example.com");
  CHECK(back->nonce == "0123abcd");
  CHECK(back->opaque == "o\"q");
  CHECK(back->stale);
  CHECK(back->qop_auth);

  auto plain = digest::parse_challenge("digest  nonce=abc,realm=\"r\" ,qop=\"auth-int, auth\"");
  REQUIRE(plain);
  CHECK(plain->alg == algorithm::md5); // no algorithm parameter means MD5
  CHECK_FALSE(plain->stale);
  CHECK(plain->qop_auth);
  auto no_qop = digest::parse_challenge("Digest realm=\"r\", nonce=\"n\"");
  REQUIRE(no_qop);
  CHECK_FALSE(no_qop->qop_auth);
}

TEST_CASE("digest: credentials round-trip, including the nonce count") {
  digest::credentials c;
  c.alg = algorithm::md5;
  c.username = "alice@example.com";
  c.realm = "example.com";
  c.nonce = "n1";
  c.uri = "sip:example.com";
  c.response = "00ff";
  c.cnonce = "c1";
  c.qop = "auth";
  c.nc = 0x1a;
  auto text = digest::format(c);
  CHECK(text.find("nc=0000001a") != std::string::npos);
  auto back = digest::parse_credentials(text);
  REQUIRE(back);
  CHECK(back->username == c.username);
  CHECK(back->uri == c.uri);
  CHECK(back->nc == 0x1a);
  CHECK(back->cnonce == "c1");
  CHECK(back->qop == "auth");
  CHECK(back->alg == algorithm::md5);

  // What pidgin-sipe 1.25 sends on a 407 (sip-sec-digest.c): qop and nc unquoted, uri="(null)".
  auto sipe = digest::parse_credentials("Digest username=\"alice@example.com\", realm=\"example.com\", nonce=\"x\", "
                                        "uri=\"(null)\", qop=auth, nc=00000001, cnonce=\"1a2b3c4d\", response=\"ab\"");
  REQUIRE(sipe);
  CHECK(sipe->uri == "(null)");
  CHECK(sipe->nc == 1);
}

TEST_CASE("digest: malformed challenges and credentials are refused") {
  CHECK_FALSE(digest::parse_challenge("Basic realm=\"r\""));
  CHECK_FALSE(digest::parse_challenge("Digest realm=\"r\""));            // no nonce
  CHECK_FALSE(digest::parse_challenge("Digest realm=\"r, nonce=\"n\"")); // unbalanced quote
  CHECK_FALSE(digest::parse_challenge("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess"));
  CHECK_FALSE(digest::parse_challenge("Digest realm"));
  CHECK_FALSE(digest::parse_challenge(""));
  const std::string ok = "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"ab\"";
  CHECK(digest::parse_credentials(ok));
  CHECK_FALSE(digest::parse_credentials(ok + ", qop=auth"));                     // qop without nc/cnonce
  CHECK_FALSE(digest::parse_credentials(ok + ", qop=auth, nc=1, cnonce=\"c\"")); // nc not 8 digits
  CHECK_FALSE(digest::parse_credentials(ok + ", qop=auth, nc=0000000g, cnonce=\"c\""));
  CHECK_FALSE(digest::parse_credentials(ok + ", algorithm=SHA-512"));
  CHECK_FALSE(digest::parse_credentials("Digest realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\""));
  // Every truncation of a valid header is refused or parses without crashing (nothing reads past the end).
  auto full = ok + ", qop=auth, nc=00000001, cnonce=\"c\"";
  for (std::size_t n = 0; n < full.size(); ++n)
    (void)digest::parse_credentials(full.substr(0, n));
}

TEST_CASE("digest: nonces are accepted once per count, expire as stale, and cannot be forged") {
  digest::nonce_keeper keeper{1000, "secret"};
  using v = digest::nonce_keeper::verdict;
  auto n = keeper.issue(5000);
  CHECK(n.size() == 64);
  CHECK(n.find('=') == std::string::npos); // sipe splits parameters on '='
  CHECK(keeper.check(n, 5000) == v::ok);
  CHECK(keeper.use(n, 1, 5001) == v::ok);
  CHECK(keeper.use(n, 1, 5002) == v::replay);
  CHECK(keeper.use(n, 3, 5003) == v::ok);
  CHECK(keeper.use(n, 2, 5004) == v::replay);
  CHECK(keeper.use(n, 0, 5004) == v::replay);
  CHECK(keeper.check(n, 5999) == v::ok);
  CHECK(keeper.check(n, 6000) == v::stale);
  CHECK(keeper.use(n, 4, 6000) == v::stale);

  auto forged = n;
  forged[3] = forged[3] == 'f' ? 'e' : 'f'; // another issue time under the same MAC
  CHECK(keeper.check(forged, 5000) == v::stale);
  CHECK(keeper.check("not-a-nonce", 5000) == v::stale);
  digest::nonce_keeper other{1000, "another secret"};
  CHECK(other.check(n, 5000) == v::stale); // a restarted pchatd does not know the old nonces

  CHECK(keeper.use(keeper.issue(5000), 0, 5000) == v::replay); // counts start at 1
  digest::nonce_keeper instant{0, "s"};
  CHECK(instant.check(instant.issue(7), 7) == v::stale);
}

TEST_CASE("digest: the nonce count table is bounded and swept, never silently forgetting a live nonce") {
  digest::nonce_keeper keeper{1000, "secret", 2};
  using v = digest::nonce_keeper::verdict;
  auto a = keeper.issue(0);
  auto b = keeper.issue(0);
  auto c = keeper.issue(500);
  CHECK(keeper.use(a, 1, 10) == v::ok);
  CHECK(keeper.use(b, 1, 10) == v::ok);
  CHECK(keeper.use(c, 1, 600) == v::full); // a and b are still live: their counts must not be forgotten
  CHECK(keeper.use(a, 1, 600) == v::replay);
  CHECK(keeper.use(c, 1, 1000) == v::ok); // a and b expired at 1000 and were swept to make room
  CHECK(keeper.tracked() == 1);
  keeper.sweep(1500);
  CHECK(keeper.tracked() == 0);
}

TEST_CASE("random_guid: version-4 GUIDs from the CSPRNG, never repeated") {
  static const std::regex v4{"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto g = pchat::random_guid();
    REQUIRE(std::regex_match(g, v4));
    seen.insert(g);
  }
  CHECK(seen.size() == 1000);
}
