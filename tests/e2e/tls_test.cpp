// SIP over TLS end to end (docs/security.md "TLS"): a certificate from `pchatctl cert self-signed`, pchatd with a
// TLS listener beside TCP, the client library and the pchat CLI over TLS checking that certificate; old protocol
// versions refused; credentials over plain TCP refused when sip.plaintext-auth is off; bad certificate settings
// stop pchatd at start-up with a clear line.
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "client/chat_client.hpp"
#include "client/launcher.hpp"
#include "client/sip_agent.hpp"
#include "support/pchatd_process.hpp"
#include "support/temp_dir.hpp"

using namespace pchat;
using namespace pchat::client;
using pchat::test::pchatd_process;
using pchat::test::temp_dir;

namespace {

// A key and self-signed certificate made by pchatctl, as an admin trying TLS out would.
struct test_certificate {
  temp_dir dir;
  std::string crt = dir.str("pchat.crt");
  std::string key = dir.str("pchat.key");
  test_certificate() {
    std::string out;
    int rc = pchatd_process::run_capture(std::string(PCHATCTL_PATH) + " cert self-signed --out '" + dir.str() + "'",
                                         out);
    INFO(out);
    REQUIRE(rc == 0);
  }
  std::vector<std::string> args(std::uint16_t tls_port) const {
    return {"--tls.certificate=" + crt, "--tls.key=" + key, "--sip.tls-port=" + std::to_string(tls_port)};
  }
};

chat_config tls_config(std::uint16_t port, const std::string& user, const std::string& ca) {
  chat_config cfg;
  cfg.user = user;
  cfg.port = port;
  cfg.timeout = duration{10000};
  cfg.tls.enabled = true;
  cfg.tls.ca_file = ca;
  return cfg;
}

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A TLS handshake limited to [min, max] protocol versions (and, when given, TLS 1.2 ciphers): whether the server
// accepted it.
bool handshake(std::uint16_t port, int min_version, int max_version, const char* ciphers = nullptr) {
  int fd = connect_loopback(port);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0); // let the client offer what a server must refuse
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  if (ciphers)
    SSL_CTX_set_cipher_list(ctx, ciphers);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  bool ok = SSL_connect(ssl) == 1;
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return ok;
}

// One HTTP request over TLS, the server's certificate checked against `ca` for the name 127.0.0.1: the answer
// as text up to the server's close, empty when the handshake or the check failed.
std::string https_exchange(std::uint16_t port, const std::string& request, const std::string& ca) {
  int fd = connect_loopback(port);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  SSL_set_fd(ssl, fd);
  std::string answer;
  if (SSL_connect(ssl) == 1 && SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0) {
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
      answer.append(buf, static_cast<std::size_t>(n));
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return answer;
}

// The same without TLS.
std::string plain_exchange(std::uint16_t port, const std::string& request) {
  int fd = connect_loopback(port);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return answer;
}

std::string get(std::uint16_t port, const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n";
}

std::string sign_in(std::uint16_t port, const std::string& user, const std::string& password) {
  std::string body = "{\"user\":\"" + user + "\",\"password\":\"" + password + "\"}";
  return "POST /api/signin HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

} // namespace

TEST_CASE("tls: two clients chat over SIP over TLS with the self-signed certificate checked") {
  test_certificate cert;
  auto tls_port = pchatd_process::free_port();
  auto args = cert.args(tls_port);
  args.push_back("--pchat.log-level=debug"); // the dialog's connection is logged at debug
  pchatd_process server{args};
  auto lobby = server.add_room("Lobby");
  server.start();
  CHECK(server.log().find("sips:127.0.0.1:" + std::to_string(tls_port) + ";transport=tls") != std::string::npos);

  chat_client alice{tls_config(tls_port, "alice@example.com", cert.crt)};
  chat_client bob{tls_config(tls_port, "bob@example.com", cert.crt)};
  auto e = alice.sign_in();
  INFO(e.message);
  REQUIRE(e.ok());
  REQUIRE(bob.sign_in().ok());
  REQUIRE(alice.join(lobby));
  REQUIRE(bob.join(lobby));
  for (int i = 0; i < 50; ++i)
    REQUIRE(alice.post_async(lobby, "over tls " + std::to_string(i)).ok());
  for (int i = 0; i < 50; ++i) {
    auto got = bob.next_chat(duration{10000});
    REQUIRE(got);
    CHECK(got->text == "over tls " + std::to_string(i));
  }
  // The server saw the dialogs arrive over TLS (and sent the INFOs above down the same connections).
  CHECK(server.log().find("peer=tls/127.0.0.1:") != std::string::npos);

  // The pchat CLI: --tls with --ca; without the CA the self-signed certificate is refused.
  std::string out;
  int rc = pchatd_process::run_capture(std::string(PCHAT_PATH) + " --server 127.0.0.1:" + std::to_string(tls_port) +
                                         " --tls --ca '" + cert.crt + "' --user carol@example.com history Lobby 2",
                                       out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("over tls 49") != std::string::npos);
  rc = pchatd_process::run_capture(std::string(PCHAT_PATH) + " --server 127.0.0.1:" + std::to_string(tls_port) +
                                     " --tls --user carol@example.com rooms",
                                   out);
  CHECK(rc == 1);
  CHECK(out.find("certificate") != std::string::npos);
  // A certificate for another name is refused too.
  chat_config wrong_name = tls_config(tls_port, "dave@example.com", cert.crt);
  wrong_name.tls.server_name = "chat.elsewhere.test";
  chat_client dave{wrong_name};
  auto refused = dave.sign_in();
  CHECK_FALSE(refused.ok());
  CHECK(refused.message.find("certificate") != std::string::npos);
}

TEST_CASE("tls: TLS 1.0 and 1.1 and TLS 1.2 without forward-secret AEAD suites are refused and TLS 1.2 and 1.3 accepted") {
  test_certificate cert;
  auto tls_port = pchatd_process::free_port();
  pchatd_process server{cert.args(tls_port)};
  server.start();
  CHECK_FALSE(handshake(tls_port, TLS1_VERSION, TLS1_VERSION));
  CHECK_FALSE(handshake(tls_port, TLS1_1_VERSION, TLS1_1_VERSION));
  CHECK(handshake(tls_port, TLS1_2_VERSION, TLS1_2_VERSION));
  CHECK(handshake(tls_port, TLS1_3_VERSION, TLS1_3_VERSION));
  // In TLS 1.2 only forward-secret AEAD suites, as on the web port (Sofia's own list would take these).
  CHECK_FALSE(handshake(tls_port, TLS1_2_VERSION, TLS1_2_VERSION, "AES128-SHA:AES256-SHA256:ECDHE-ECDSA-AES128-SHA"));
  CHECK(handshake(tls_port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"));
  // Plain SIP on the TLS port is no handshake: the server closes the connection and stays up.
  int fd = connect_loopback(tls_port);
  std::string text = "OPTIONS sip:pchat@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
  char buf[512];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
  }
  CHECK(n == 0); // closed (an alert may come first), not the 10 s timeout
  ::close(fd);
  CHECK(server.running());
  CHECK(handshake(tls_port, TLS1_2_VERSION, TLS1_3_VERSION));
}

TEST_CASE("tls: with sip.plaintext-auth=false Digest is answered only over TLS") {
  test_certificate cert;
  auto tls_port = pchatd_process::free_port();
  auto args = cert.args(tls_port);
  args.push_back("--sip.auth=digest");
  args.push_back("--sip.plaintext-auth=false");
  pchatd_process server{args};
  REQUIRE(server.ctl("init --demo") == 0);
  REQUIRE(server.ctl("user add alice@example.com --password 'pw over tls'") == 0);
  server.start();

  chat_config plain;
  plain.user = "alice@example.com";
  plain.port = server.port();
  plain.password = "pw over tls";
  chat_client over_tcp{plain};
  auto refused = over_tcp.sign_in();
  CHECK_FALSE(refused.ok());
  CHECK(refused.message.find("403") != std::string::npos);
  CHECK(server.log().find("sign-in needs TLS") != std::string::npos);
  CHECK(server.log().find("peer=tcp/127.0.0.1:") != std::string::npos);

  auto cfg = tls_config(tls_port, "alice@example.com", cert.crt);
  cfg.password = "pw over tls";
  chat_client over_tls{cfg};
  auto e = over_tls.sign_in();
  INFO(e.message);
  CHECK(e.ok());
  cfg.password = "wrong";
  chat_client wrong{cfg};
  CHECK_FALSE(wrong.sign_in().ok());
}

TEST_CASE("tls: pchatd refuses to start on a missing or mismatched certificate and on Digest without TLS") {
  test_certificate cert;
  test_certificate other;
  temp_dir work;
  pchatd_process::init_store(work.str("data"));
  auto start = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--pchat.data-dir=" + work.str("data"),
                                     "--sip.port=" + std::to_string(pchatd_process::free_port()), "--web.enabled=false"};
    args.insert(args.end(), extra.begin(), extra.end());
    return launch_pchatd(pchat::test::tests_pchatd(), args, work.str(), work.str("pchatd.log"), std::chrono::seconds(20));
  };
  auto log = [&] {
    std::ifstream in(work.str("pchatd.log"));
    return std::string{std::istreambuf_iterator<char>(in), {}};
  };
  auto port = std::to_string(pchatd_process::free_port());

  auto r = start({"--tls.certificate=" + work.str("none.crt"), "--tls.key=" + cert.key, "--sip.tls-port=" + port});
  CHECK_FALSE(r.error.empty());
  CHECK(log().find("tls.certificate " + work.str("none.crt") + ": cannot read it") != std::string::npos);

  r = start({"--tls.certificate=" + cert.crt, "--tls.key=" + other.key, "--sip.tls-port=" + port});
  CHECK_FALSE(r.error.empty());
  CHECK(log().find("does not belong to the certificate") != std::string::npos);

  r = start({"--tls.certificate=" + cert.crt});
  CHECK_FALSE(r.error.empty());
  CHECK(log().find("tls.certificate and tls.key go together") != std::string::npos);

  r = start({"--sip.host=0.0.0.0", "--sip.auth=digest"});
  CHECK_FALSE(r.error.empty());
  CHECK(log().find("would take passwords only over TLS") != std::string::npos);

  // pchatctl's files: the key is private, the certificate readable.
  struct stat st {};
  REQUIRE(::stat(cert.key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(cert.crt.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  std::string out;
  CHECK(pchatd_process::run_capture(std::string(PCHATCTL_PATH) + " cert self-signed --out '" + cert.dir.str() + "'",
                                    out) == 1);
  CHECK(out.find("--force") != std::string::npos);
}

TEST_CASE("tls: the web server speaks HTTPS with the SIP certificate and tells a plain HTTP client to use https") {
  test_certificate cert;
  pchatd_process server{cert.args(pchatd_process::free_port())};
  server.start();
  INFO(server.web_url());
  REQUIRE(server.web_url().rfind("https://127.0.0.1:", 0) == 0);
  auto port = server.web_port();
  auto health = https_exchange(port, get(port, "/healthz"), cert.crt);
  INFO(health);
  CHECK(health.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(health.find("\r\n\r\nok") != std::string::npos);
  // TLS 1.2 and 1.3 only; in TLS 1.2 only forward-secret AEAD suites.
  CHECK_FALSE(handshake(port, TLS1_VERSION, TLS1_VERSION));
  CHECK_FALSE(handshake(port, TLS1_1_VERSION, TLS1_1_VERSION));
  CHECK(handshake(port, TLS1_2_VERSION, TLS1_2_VERSION));
  CHECK(handshake(port, TLS1_3_VERSION, TLS1_3_VERSION));
  CHECK_FALSE(handshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "AES128-SHA:AES256-SHA256"));
  CHECK(handshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"));
  // Plain HTTP to the HTTPS port: a plain answer that says what to do, and the server stays up.
  auto plain = plain_exchange(port, get(port, "/healthz"));
  INFO(plain);
  CHECK(plain.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(plain.find("https://") != std::string::npos);
  CHECK(server.running());
  // A certificate the client does not trust: no answer.
  test_certificate other;
  CHECK(https_exchange(port, get(port, "/healthz"), other.crt).empty());
}

TEST_CASE("tls: a TLS client that never sends a request is closed after web.header-timeout and the page answers") {
  test_certificate cert;
  auto args = cert.args(pchatd_process::free_port());
  args.push_back("--web.header-timeout=1");
  pchatd_process server{args};
  server.start();
  auto port = server.web_port();
  // Twelve connections that never say hello and twelve that finish the handshake and say nothing (within the cap
  // of 32 per address).
  std::vector<int> silent;
  for (int i = 0; i < 12; ++i)
    silent.push_back(connect_loopback(port));
  std::vector<std::pair<SSL_CTX*, SSL*>> quiet;
  for (int i = 0; i < 12; ++i) {
    int fd = connect_loopback(port);
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    REQUIRE(SSL_connect(ssl) == 1);
    quiet.emplace_back(ctx, ssl);
    silent.push_back(fd);
  }
  auto health = https_exchange(port, get(port, "/healthz"), cert.crt);
  CHECK(health.rfind("HTTP/1.1 200", 0) == 0);
  // Each is closed by the server after about a second (recv sees the end, not its 10 s timeout).
  auto start = std::chrono::steady_clock::now();
  for (int fd : silent) {
    char buf[256];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    CHECK(n == 0);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  for (auto& [ctx, ssl] : quiet) {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  for (int fd : silent)
    ::close(fd);
  CHECK(server.running());
}

TEST_CASE("tls: with sip.plaintext-auth=false the page takes passwords only over HTTPS and its cookie is Secure") {
  test_certificate cert;
  auto make = [&](bool https) {
    auto args = cert.args(pchatd_process::free_port());
    args.push_back("--sip.auth=digest");
    args.push_back("--sip.plaintext-auth=false");
    args.push_back(std::string("--web.tls=") + (https ? "true" : "false"));
    auto server = std::make_unique<pchatd_process>(args);
    REQUIRE(server->ctl("init --demo") == 0);
    REQUIRE(server->ctl("user add alice@example.com --password wonderland") == 0);
    server->start();
    return server;
  };
  auto plain_server = make(false);
  auto plain_port = plain_server->web_port();
  auto refused = plain_exchange(plain_port, sign_in(plain_port, "alice@example.com", "wonderland"));
  INFO(refused);
  CHECK(refused.rfind("HTTP/1.1 403", 0) == 0);
  CHECK(refused.find("needs HTTPS") != std::string::npos);
  CHECK(refused.find("Set-Cookie") == std::string::npos);

  auto https_server = make(true);
  auto port = https_server->web_port();
  auto signed_in = https_exchange(port, sign_in(port, "alice@example.com", "wonderland"), cert.crt);
  INFO(signed_in);
  CHECK(signed_in.rfind("HTTP/1.1 200", 0) == 0);
  auto cookie = signed_in.find("Set-Cookie: ");
  REQUIRE(cookie != std::string::npos);
  auto line = signed_in.substr(cookie, signed_in.find("\r\n", cookie) - cookie);
  CHECK(line.find("; Secure") != std::string::npos);
  CHECK(line.find("HttpOnly") != std::string::npos);
}

TEST_CASE("tls: a browser's chat event stream over HTTPS carries large posts whole and in order") {
  test_certificate cert;
  pchatd_process server{cert.args(pchatd_process::free_port())};
  const auto lobby = server.add_room("Lobby");
  server.start();
  const auto port = server.web_port();
  REQUIRE(server.web_url().rfind("https://", 0) == 0);

  // Sign in, open a tab and join over HTTPS, as the page does.
  auto signed_in = https_exchange(port, sign_in(port, "alice@example.com", ""), cert.crt);
  INFO(signed_in);
  REQUIRE(signed_in.rfind("HTTP/1.1 200", 0) == 0);
  auto cookie_at = signed_in.find("pchat_session=");
  REQUIRE(cookie_at != std::string::npos);
  const auto cookie = signed_in.substr(cookie_at, signed_in.find(';', cookie_at) - cookie_at);
  auto csrf_at = signed_in.find("\"csrf\":\"");
  REQUIRE(csrf_at != std::string::npos);
  const auto csrf = signed_in.substr(csrf_at + 8, signed_in.find('"', csrf_at + 8) - csrf_at - 8);
  auto post_json = [&](const std::string& path, const std::string& body) {
    return https_exchange(port,
                          "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                            "\r\nContent-Type: application/json\r\nCookie: " + cookie + "\r\nX-CSRF-Token: " + csrf +
                            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                          cert.crt);
  };
  auto opened = post_json("/api/chat/tabs", "{}");
  INFO(opened);
  auto tab_at = opened.find("\"tab\":\"");
  REQUIRE(tab_at != std::string::npos);
  const auto tab = opened.substr(tab_at + 7, 32);
  REQUIRE(post_json("/api/chat/tabs/" + tab + "/join", "{\"room\":\"" + lobby + "\"}").rfind("HTTP/1.1 200", 0) == 0);

  // The stream, over one TLS connection that stays open.
  int fd = connect_loopback(port);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, cert.crt.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  SSL_set_fd(ssl, fd);
  REQUIRE(SSL_connect(ssl) == 1);
  std::string req = "GET /api/chat/tabs/" + tab + "/events HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nCookie: " + cookie + "\r\n\r\n";
  REQUIRE(SSL_write(ssl, req.data(), static_cast<int>(req.size())) > 0);

  // Posts of 7,000 bytes each (many TLS records per event), from a SIP client.
  chat_config cfg;
  cfg.user = "bob@example.com";
  cfg.port = server.port();
  chat_client bob{cfg};
  REQUIRE(bob.sign_in().ok());
  REQUIRE(bob.join(lobby));
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) {
    texts.push_back("post " + std::to_string(i) + " " + std::string(7000, static_cast<char>('a' + i % 26)));
    REQUIRE(bob.post_async(lobby, texts.back()).ok());
  }
  std::string got;
  char buf[16384];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  // Until the last post's text has arrived whole (its first bytes alone may end one read).
  while (got.find(texts.back() + "\"") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  ERR_clear_error();
  REQUIRE(got.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(got.find("Content-Type: text/event-stream") != std::string::npos);
  std::size_t at = 0;
  for (const auto& text : texts) { // every post, whole, in order
    auto found = got.find("\"text\":\"" + text + "\"", at);
    INFO(text.substr(0, 8));
    REQUIRE(found != std::string::npos);
    at = found;
  }
}
