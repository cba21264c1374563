// SIP Digest (codec/digest.hpp) on any bytes: the Authorization value a client sends (pchatd parses it before it
// knows who is asking), the WWW-Authenticate value the client library reads, and the nonce pchatd gets back.
// - a challenge or credentials value that parses is formatted and parses back to the same fields;
// - a nonce that is not one pchatd issued is never accepted, and checking one changes nothing.
#include <string>

#include "codec/digest.hpp"
#include "fuzz/fuzz.hpp"

using namespace pchat;
using namespace pchat::sip;

namespace {

bool is_token(std::string_view s) {
  return !s.empty() && s.find_first_of(" \t,\"=\\") == std::string_view::npos;
}

void challenges(std::string_view in) {
  auto c = digest::parse_challenge(in);
  if (!c)
    return;
  auto again = digest::parse_challenge(digest::format(*c));
  PCHAT_FUZZ_CHECK(again);
  PCHAT_FUZZ_CHECK(again->alg == c->alg && again->realm == c->realm && again->nonce == c->nonce &&
                   again->opaque == c->opaque && again->stale == c->stale && again->qop_auth == c->qop_auth);
}

void credentials(std::string_view in) {
  auto c = digest::parse_credentials(in);
  if (!c)
    return;
  // format() writes qop as a token, as RFC 7616 §3.4 has it (pchat's client sends "auth"), with nc and cnonce
  // only after a qop: a qop that is no token, or an empty qop="" with its nc and cnonce, is read (and refused by
  // pchatd, which wants qop=auth) but cannot be written back.
  if (c->qop.empty() ? c->nc != 0 || !c->cnonce.empty() : !is_token(c->qop))
    return;
  auto again = digest::parse_credentials(digest::format(*c));
  PCHAT_FUZZ_CHECK(again);
  PCHAT_FUZZ_CHECK(again->alg == c->alg && again->username == c->username && again->realm == c->realm &&
                   again->nonce == c->nonce && again->uri == c->uri && again->response == c->response &&
                   again->cnonce == c->cnonce && again->opaque == c->opaque && again->qop == c->qop &&
                   again->nc == c->nc);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::text_of(data, size);
  if (auto p = digest::parse_params(in)) {
    PCHAT_FUZZ_CHECK(!p->scheme.empty());
    for (const auto& [name, value] : p->params)
      PCHAT_FUZZ_CHECK(!name.empty());
  }
  challenges(in);
  credentials(in);
  digest::algorithm_from(in);
  digest::username_of(in);

  // The nonce of an Authorization value: pchatd checks it before anything else it trusts.
  digest::nonce_keeper keeper{60'000, "fuzz secret"};
  PCHAT_FUZZ_CHECK(keeper.check(in, 1'000'000) == digest::nonce_keeper::verdict::stale);
  PCHAT_FUZZ_CHECK(keeper.use(in, 1, 1'000'000) == digest::nonce_keeper::verdict::stale);
  PCHAT_FUZZ_CHECK(keeper.tracked() == 0);
  return 0;
}
