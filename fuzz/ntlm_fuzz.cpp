// NTLM for SIP (codec/ntlm.hpp) on any bytes: what a client sends before it has proved anything.
// - the first byte picks the input: an AUTHENTICATE message (binary, as decoded from gssapi-data), the base64
//   text of an Authorization parameter, or a SIP message whose signature string pchatd would compute;
// - an AUTHENTICATE that parses has every field inside the message, and checking it against a fixed NT hash and
//   challenge either refuses it or gives four 16-byte keys;
// - base64 that decodes encodes back to the same text, and any bytes round-trip through base64;
// - the signature string of any parsed message is signed and verifies, and a changed signature does not.
#include <string>

#include "codec/ntlm.hpp"
#include "codec/sip_message.hpp"
#include "fuzz/fuzz.hpp"

using namespace pchat;
using namespace pchat::sip;

namespace {

const std::string nt_hash(16, '\x42');
const std::string server_challenge = "\x01\x23\x45\x67\x89\xab\xcd\xef";
const std::string sign_key(16, '\x11');
const std::string seal_key(16, '\x22');

void authenticate(std::string_view in) {
  std::string error;
  auto a = ntlm::parse_authenticate(in, error);
  if (!a) {
    PCHAT_FUZZ_CHECK(!error.empty());
    return;
  }
  PCHAT_FUZZ_CHECK(a->nt_response.size() <= in.size() && a->lm_response.size() <= in.size());
  PCHAT_FUZZ_CHECK(a->encrypted_session_key.size() <= in.size());
  auto keys = ntlm::accept(*a, nt_hash, server_challenge, error);
  if (!keys) {
    PCHAT_FUZZ_CHECK(!error.empty());
    return;
  }
  PCHAT_FUZZ_CHECK(keys->client_sign.size() == 16 && keys->server_sign.size() == 16);
  PCHAT_FUZZ_CHECK(keys->client_seal.size() == 16 && keys->server_seal.size() == 16);
}

void base64(std::string_view in) {
  if (auto bytes = ntlm::base64_decode(in))
    PCHAT_FUZZ_CHECK(ntlm::base64_encode(*bytes) == in);
  auto again = ntlm::base64_decode(ntlm::base64_encode(in));
  PCHAT_FUZZ_CHECK(again && *again == in);
}

void signed_message(std::string_view in) {
  auto r = sip::parse(in);
  if (r.status != parse_status::ok)
    return;
  auto fields = ntlm::fields_of(r.msg);
  fields.rand = "0a1b2c3d";
  fields.num = "7";
  fields.realm = "SIP Communications Service";
  fields.target_name = "example.com";
  for (int version : {2, 3, 4}) {
    auto text = ntlm::signature_text(fields, version);
    auto hex = ntlm::signature_hex(sign_key, seal_key, text);
    PCHAT_FUZZ_CHECK(hex.size() == 32);
    PCHAT_FUZZ_CHECK(ntlm::verify_signature_hex(sign_key, seal_key, text, hex));
    hex[8] = hex[8] == '0' ? '1' : '0'; // inside the sealed checksum
    PCHAT_FUZZ_CHECK(!ntlm::verify_signature_hex(sign_key, seal_key, text, hex));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const auto in = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: authenticate(in); break;
    case 1: base64(in); break;
    default: signed_message(in); break;
  }
  return 0;
}
