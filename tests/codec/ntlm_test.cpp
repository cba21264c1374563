// The server side of NTLM for SIP (codec/ntlm.hpp, docs/security.md "NTLM") against published vectors: the NT
// hash of [MS-NLMP] §4.2's "Password", and a real Office Communicator 2007 R2 / OCS 2007 R2 sign-in as
// pidgin-sipe's own tests replay it (the AUTHENTICATE message, the keys it leads to, the client's REGISTER
// signature and the server's rspauth on the 200 OK), and MS-SIPAE signature strings of two 180 responses.
#include <catch2/catch.hpp>

#include "base/hex.hpp"
#include "codec/ntlm.hpp"
#include "codec/sip_message.hpp"

using namespace pchat;
using namespace pchat::sip;

namespace {

std::string bytes(std::string_view hex_text) {
  auto b = hex::decode(hex_text);
  REQUIRE(b);
  return *b;
}

std::string upper_hex(std::string_view b) {
  std::string h = hex::encode(b);
  for (auto& c : h)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return h;
}

// The AUTHENTICATE message Communicator sent OCS (and pidgin-sipe regenerates byte for byte in its tests).
const char* ocs_authenticate =
  "4E544C4D53535000030000001800180072000000C600C6008A0000000A000A00480000000800080052000000180018005A000000100010"
  "0050010000558298620502CE0E0000000F43004F0053004D004F00550073006500720043004F0053004D004F002D004F00430053002D00"
  "52003200A1E92EFE4E078BF7C5C0049ACC6166C2D6AE875CB0FDAA418DC0C800AE76ECA606D2B9FBEBD04731010100000000000059519A"
  "1727B9CA01D6AE875CB0FDAA410000000002000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D00"
  "520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D0072"
  "0032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00630061006C000000"
  "00000000000031CB739E1CA80A498591E8AE797115E4";
const char* ocs_server_challenge = "DD1BAAF4E7E218D1";

} // namespace

TEST_CASE("ntlm: the NT hash is MD4 of the UTF-16LE password") {
  std::string why;
  REQUIRE(ntlm::available(why));
  CHECK(upper_hex(ntlm::nt_hash("Password")) == "A4F49C406510BDCAB6824EE7C30FD852");
  CHECK(ntlm::nt_hash("\xff").empty()); // not UTF-8
}

TEST_CASE("ntlm: a real Communicator AUTHENTICATE is accepted with the right password and gives the session keys") {
  std::string error;
  auto a = ntlm::parse_authenticate(bytes(ocs_authenticate), error);
  INFO(error);
  REQUIRE(a);
  CHECK(a->flags == 0x62988255u);
  CHECK(a->user == "User");
  CHECK(a->domain == "COSMO");
  CHECK(a->workstation == "COSMO-OCS-R2");

  auto keys = ntlm::accept(*a, ntlm::nt_hash("Pa$$word"), bytes(ocs_server_challenge), error);
  INFO(error);
  REQUIRE(keys);
  CHECK(upper_hex(keys->client_sign) == "EA5E87C195AE65338F7C023E7600690D");
  CHECK(upper_hex(keys->server_sign) == "0151FE94DBA8C83F3C6A6E5444AE54B4");
  CHECK(upper_hex(keys->client_seal) == "83013A189002D3ABAD49C4C8F605ECC8");
  CHECK(upper_hex(keys->server_seal) == "2A2E34E8D420C039E8F31CB9E8E0CD88");

  // The client's signed REGISTER (auth version 4, cnum 1) verifies with the client keys...
  const std::string register_text =
    "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3>"
    "<REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>";
  CHECK(ntlm::verify_signature_hex(keys->client_sign, keys->client_seal, register_text,
                                   "0100000029618e9651b65a7764000000"));
  CHECK_FALSE(ntlm::verify_signature_hex(keys->client_sign, keys->client_seal, register_text + "x",
                                         "0100000029618e9651b65a7764000000"));
  // ...and the server's 200 OK carries the rspauth OCS sent.
  const std::string ok_text =
    "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3>"
    "<REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200>"
    "<200>";
  CHECK(ntlm::signature_hex(keys->server_sign, keys->server_seal, ok_text) == "01000000E615438A917661BE64000000");

  // The wrong password, a changed challenge or a cut message are refused.
  CHECK_FALSE(ntlm::accept(*a, ntlm::nt_hash("Pa$$word!"), bytes(ocs_server_challenge), error));
  CHECK(error == "wrong password");
  CHECK_FALSE(ntlm::accept(*a, ntlm::nt_hash("Pa$$word"), bytes("0000000000000000"), error));
  auto cut = bytes(ocs_authenticate);
  cut.resize(cut.size() - 20);
  CHECK_FALSE(ntlm::parse_authenticate(cut, error));
  CHECK(error == "a field lies outside the message");
}

TEST_CASE("ntlm: an AUTHENTICATE without signing or key exchange is refused") {
  std::string error;
  auto a = ntlm::parse_authenticate(bytes(ocs_authenticate), error);
  REQUIRE(a);
  a->flags &= ~ntlm::negotiate_key_exch;
  CHECK_FALSE(ntlm::accept(*a, ntlm::nt_hash("Pa$$word"), bytes(ocs_server_challenge), error));
  CHECK(error.find("key exchange") != std::string::npos);
}

TEST_CASE("ntlm: malformed AUTHENTICATE messages give errors") {
  std::string error;
  CHECK_FALSE(ntlm::parse_authenticate("", error));
  CHECK_FALSE(ntlm::parse_authenticate(std::string(64, '\0'), error));
  auto m = bytes(ocs_authenticate);
  m[8] = 2; // a CHALLENGE's type
  CHECK_FALSE(ntlm::parse_authenticate(m, error));
  m = bytes(ocs_authenticate);
  m[36 + 5] = static_cast<char>(0x7f); // the user name's offset far past the end
  CHECK_FALSE(ntlm::parse_authenticate(m, error));
  m = bytes(ocs_authenticate);
  m[36] = 7; // an odd UTF-16 length
  CHECK_FALSE(ntlm::parse_authenticate(m, error));
}

TEST_CASE("ntlm: the CHALLENGE carries the flags pidgin-sipe requires and the target info") {
  ntlm::challenge_names names{"EXAMPLE", "SRV1", "example.com", "srv1.example.com"};
  auto c = ntlm::build_challenge(bytes("0123456789abcdef"), names, 0x01d9000000000000ull, 0xE2998255u);
  // Byte for byte the CHALLENGE pidgin-sipe was run against and accepted.
  CHECK(ntlm::base64_encode(c) ==
        "TlRMTVNTUAACAAAADgAOADgAAABVgpniASNFZ4mrze8AAAAAAAAAAGwAbABGAAAABgGxHQAAAA9FAFgAQQBNAFAATABFAAIADgBFAFgAQQBN"
        "AFAATABFAAEACABTAFIAVgAxAAQAFgBlAHgAYQBtAHAAbABlAC4AYwBvAG0AAwAgAHMAcgB2ADEALgBlAHgAYQBtAHAAbABlAC4AYwBvAG0A"
        "BwAIAAAAAAAAANkBAAAAAA==");
  auto ours = ntlm::build_challenge(bytes("0123456789abcdef"), names, 0);
  std::uint32_t flags = static_cast<std::uint8_t>(ours[20]) | static_cast<std::uint8_t>(ours[21]) << 8 |
                        static_cast<std::uint8_t>(ours[22]) << 16 |
                        static_cast<std::uint32_t>(static_cast<std::uint8_t>(ours[23])) << 24;
  CHECK(flags == ntlm::challenge_flags);
  CHECK((flags & 0x40988251u) == 0x40988251u); // UNICODE NTLM ALWAYS_SIGN ESS TARGET_INFO SIGN DATAGRAM IDENTIFY KEY_EXCH
}

TEST_CASE("ntlm: base64 round trips and refuses what is not base64") {
  for (std::string s : {std::string{}, std::string{"a"}, std::string{"ab"}, std::string{"abc"}, std::string("\0\xff\x10", 3)})
    CHECK(ntlm::base64_decode(ntlm::base64_encode(s)) == s);
  CHECK_FALSE(ntlm::base64_decode("abc"));
  CHECK_FALSE(ntlm::base64_decode("ab=c"));
  CHECK_FALSE(ntlm::base64_decode("key=")); // "y" leaves non-zero bits after the last byte: not canonical
  CHECK(ntlm::base64_decode("keQ=") == std::string("\x91\xe4"));
  CHECK_FALSE(ntlm::base64_decode("a*bc"));
  CHECK_FALSE(ntlm::base64_decode("===="));
}

TEST_CASE("ntlm: the MS-SIPAE signature string of a response") {
  auto parsed = sip::parse(
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/tls 192.168.44.10:50230\r\n"
    "FROM: \"Sender\"<sip:sender@company.com>;tag=2420628112;epid=54392f1bbf01\r\n"
    "TO: \"recipient\"<sip:recipient@company.com>;tag=7aee15546a;epid=3102EB8BD1\r\n"
    "CSEQ: 1 INVITE\r\n"
    "CALL-ID: 41CEg82ECa0AC8i3DD7mE673t9CF4b19DAxF780x\r\n"
    "CONTENT-LENGTH: 0\r\n"
    "P-ASSERTED-IDENTITY: \"recipient\"<SIP:recipient@company.com>\r\n\r\n");
  REQUIRE(parsed.status == sip::parse_status::ok);
  auto f = ntlm::fields_of(parsed.msg);
  f.protocol = "NTLM";
  f.rand = "1B6D47A1";
  f.num = "11";
  f.realm = "SIP Communications Service";
  f.target_name = "LOC-COMPANYT-FE03.COMPANY.COM";
  CHECK(ntlm::signature_text(f) ==
        "<NTLM><1B6D47A1><11><SIP Communications Service><LOC-COMPANYT-FE03.COMPANY.COM>"
        "<41CEg82ECa0AC8i3DD7mE673t9CF4b19DAxF780x><1><INVITE><sip:sender@company.com><2420628112>"
        "<sip:recipient@company.com><7aee15546a><SIP:recipient@company.com><><><180>");

  // Addresses without <...>, a tel: identity.
  parsed = sip::parse("INFO sip:a@b SIP/2.0\r\n"
                      "From: sip:sender@company.com;tag=1;epid=2\r\n"
                      "To: sip:recipient@company.com\r\n"
                      "CSeq: 7 INFO\r\n"
                      "Call-ID: c\r\n"
                      "P-Asserted-Identity: tel:+14085264000\r\n"
                      "Expires: 30\r\n"
                      "Content-Length: 0\r\n\r\n");
  REQUIRE(parsed.status == sip::parse_status::ok);
  f = ntlm::fields_of(parsed.msg);
  f.protocol = "NTLM";
  CHECK(ntlm::signature_text(f) ==
        "<NTLM><><><><><c><7><INFO><sip:sender@company.com><1><sip:recipient@company.com><><><tel:+14085264000><30>");
  CHECK(ntlm::signature_text(f, 2) == "<NTLM><><><><><c><7><INFO><sip:sender@company.com><1><><30>");
}

TEST_CASE("ntlm: a session's signer gives the same signatures as the one-off functions and checks them") {
  const std::string sign_key = "0123456789abcdef", seal_key = "fedcba9876543210";
  ntlm::signer signer{sign_key, seal_key};
  for (std::string text : {std::string{}, std::string{"<NTLM><1><2><SIP Communications Service><x>"},
                           std::string(500, 'z')}) {
    auto sig = signer.signature_hex(text);
    CHECK(sig == ntlm::signature_hex(sign_key, seal_key, text));
    CHECK(signer.verify_hex(text, sig));
    CHECK(ntlm::verify_signature_hex(sign_key, seal_key, text, sig));
    auto lower = sig;
    for (auto& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(signer.verify_hex(text, lower));
    CHECK_FALSE(signer.verify_hex(text + "!", sig));
    CHECK_FALSE(signer.verify_hex(text, sig.substr(0, 30)));
  }
  ntlm::signer none; // never given keys: signs nothing and accepts nothing
  CHECK(none.signature_hex("x").empty());
  CHECK_FALSE(none.verify_hex("x", std::string(32, '0')));
}
