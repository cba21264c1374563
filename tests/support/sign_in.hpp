#pragma once
// A chat_client signed in to a test pchatd (anonymous on loopback), failing the test if it cannot.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "support/pchatd_process.hpp"
#include "client/chat_client.hpp"

namespace pchat::test {

inline std::unique_ptr<client::chat_client> sign_in(const pchatd_process& server, const std::string& user) {
  client::chat_config cfg;
  cfg.user = user;
  cfg.port = server.port();
  cfg.timeout = client::duration{10000};
  auto c = std::make_unique<client::chat_client>(cfg);
  auto e = c->sign_in();
  INFO(user << ": " << e.message);
  REQUIRE(e.ok());
  return c;
}

} // namespace pchat::test
