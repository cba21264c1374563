// The request-head check the listener runs before cpp-httplib sees a request (web/http_head.hpp), on its own.
#include <catch2/catch.hpp>

#include "web/http_head.hpp"

using pchat::pchat_errc;
using pchat::web::examine_head;
using state = pchat::web::head_verdict::state;

TEST_CASE("head check: incomplete until the empty line and complete with what the body needs") {
  CHECK(examine_head("GET / HT").is == state::incomplete);
  CHECK(examine_head("GET / HTTP/1.1\r\nHost: x\r\n").is == state::incomplete);
  auto v = examine_head("POST /api/signin HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n{}");
  REQUIRE(v.is == state::complete);
  CHECK(v.info.size == std::string{"POST /api/signin HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n"}.size());
  CHECK(v.info.content_length == 2u);
  CHECK_FALSE(v.info.expect_continue);
  auto expect = examine_head("PUT /f HTTP/1.1\r\nContent-Length: 9\r\nExpect: 100-Continue\r\n\r\n");
  REQUIRE(expect.is == state::complete);
  CHECK(expect.info.expect_continue);
  auto chunked = examine_head("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  REQUIRE(chunked.is == state::complete);
  CHECK(chunked.info.transfer_encoding);
  CHECK_FALSE(chunked.info.content_length);
  CHECK(examine_head("GET / HTTP/1.0\r\n\r\n").is == state::complete);
}

TEST_CASE("head check: a long request-target is 414 before it ends and a large head is 431") {
  pchat::web::head_limits limits;
  auto early = examine_head("GET /" + std::string(limits.max_target + 100, 'a'), limits);
  CHECK(early.is == state::refused);
  CHECK(early.error == pchat_errc::uri_too_long);
  auto ended = examine_head("GET /" + std::string(limits.max_target, 'a') + " HTTP/1.1\r\n", limits);
  CHECK(ended.error == pchat_errc::uri_too_long);
  CHECK(examine_head("GET /" + std::string(limits.max_target - 1, 'a') + " HTTP/1.1\r\n\r\n", limits).is ==
        state::complete);
  auto big = examine_head("GET / HTTP/1.1\r\nX: " + std::string(limits.max_head, 'x'), limits);
  CHECK(big.error == pchat_errc::header_too_large);
  std::string many = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= limits.max_fields; ++i)
    many += "X: 1\r\n";
  CHECK(examine_head(many + "\r\n", limits).error == pchat_errc::header_too_large);
  CHECK(examine_head("GET / HTTP/1.1\r\nRange: bytes=" + std::string(200, '1') + "-\r\n\r\n", limits).error ==
        pchat_errc::range_not_satisfiable);
}

TEST_CASE("head check: what could be read two ways is refused") {
  auto refused = [](const std::string& head) {
    auto v = examine_head(head);
    INFO(head);
    CHECK(v.is == state::refused);
    return v.error;
  };
  CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == pchat_errc::bad_length);
  CHECK(examine_head("POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx").is == state::complete);
  CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n") == pchat_errc::bad_length);
  CHECK(refused("POST / HTTP/1.1\r\nContent-Length: %31\r\n\r\n") == pchat_errc::bad_length);
  CHECK(refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == pchat_errc::bad_length);
  CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\r\nX: 1\r\n continued\r\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\r\nX: 1\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\n\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET  / HTTP/1.1\r\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/2.0\r\n\r\n") == pchat_errc::bad_request);
  CHECK(refused("GET / HTTP/1.1\r\n: empty name\r\n\r\n") == pchat_errc::bad_request);
}

TEST_CASE("head check: refusals are complete JSON answers that close the connection") {
  auto text = pchat::web::refusal_response(pchat_errc::uri_too_long, "too long");
  CHECK(text.rfind("HTTP/1.1 414 URI Too Long\r\n", 0) == 0);
  CHECK(text.find("Connection: close\r\n") != std::string::npos);
  auto body = text.substr(text.find("\r\n\r\n") + 4);
  CHECK(body == R"({"error":"uri_too_long","message":"too long"})");
  CHECK(text.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
}
