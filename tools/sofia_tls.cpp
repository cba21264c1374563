// The TLS settings Sofia-SIP does not let pchatd make (docs/security.md "TLS").
//
// Sofia-SIP's TLS transport creates its SSL_CTX itself, keeps it private and has no tag for ciphers or buffer
// modes: it offers "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH" (CBC suites with SHA-1 and RSA key exchange among them) to
// TLS 1.2 clients, and never sets SSL_MODE_RELEASE_BUFFERS, so OpenSSL keeps a read and a write record buffer
// (about 34 KiB) for every idle connection beside Sofia's own 16 KiB: 41 KiB per signed-in TLS client, measured
// (docs/performance.md "Memory per TLS connection"). pchatd therefore defines SSL_new: the executable's definition
// comes before libssl's for libsofia-sip-ua (the linker exports it because a shared library in the link refers to
// it), calls libssl's, and gives every new SSL of this process the web server's policy: TLS 1.2 only with ECDHE
// and AES-GCM or ChaCha20-Poly1305 (TLS 1.3 suites are OpenSSL's, all AEAD; TLS 1.0 and 1.1 are refused by
// OpenSSL 3's default security level already), the server's preference, no renegotiation, buffers released
// while idle. It is in pchatd only, never in a library, so clients and tests keep OpenSSL's behaviour.
#include <dlfcn.h>

#include <openssl/ssl.h>

extern "C" SSL* SSL_new(SSL_CTX* ctx) {
  using ssl_new_fn = SSL* (*)(SSL_CTX*);
  static const ssl_new_fn real = reinterpret_cast<ssl_new_fn>(::dlsym(RTLD_NEXT, "SSL_new"));
  if (!real)
    return nullptr;
  SSL* ssl = real(ctx);
  if (!ssl)
    return nullptr;
  SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  SSL_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (SSL_set_cipher_list(ssl, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL") != 1) {
    SSL_free(ssl); // a policy that cannot be applied must not fall back to Sofia's
    return nullptr;
  }
  return ssl;
}
