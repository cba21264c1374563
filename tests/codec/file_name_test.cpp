// The client's side of room file names: which names pchat may create from someone else's say-so
// (chat_client::safe_local_name) and how it prints names and messages to a terminal (chat_client::printable).
#include <catch2/catch.hpp>

#include <string>

#include "client/chat_client.hpp"

using pchat::client::chat_client;

TEST_CASE("safe_local_name: plain names only, no dotfiles, no path tricks or spoofing characters") {
  for (const char* ok : {"report.txt", "r\xc3\xa9sum\xc3\xa9.pdf", "a..b", "x.tar.gz", "Report \xe2\x80\x93 Q1.pdf"})
    CHECK(chat_client::safe_local_name(ok));
  for (const char* bad : {"", ".", "..", ".bashrc", "..hidden", "../x", "a/b", "/etc/passwd", "a\\b", "tab\tx",
                          "esc\x1b[2J", "invoice\xe2\x80\xae" "fdp.exe", "\xef\xbb\xbfx", " lead", "\xff"})
    CHECK_FALSE(chat_client::safe_local_name(bad));
}

TEST_CASE("printable escapes control characters, format characters and bytes that are not UTF-8") {
  CHECK(chat_client::printable("report.txt") == "report.txt");
  CHECK(chat_client::printable("r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5") == "r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5");
  CHECK(chat_client::printable("a\x1b[2Jb") == "a\\x1b[2Jb");
  CHECK(chat_client::printable("line\nbreak\r\x7f") == "line\\x0abreak\\x0d\\x7f");
  CHECK(chat_client::printable("invoice\xe2\x80\xae" "fdp.exe") == "invoice\\u{202E}fdp.exe");
  CHECK(chat_client::printable("c1\xc2\x9b" "31m") == "c1\\u{009B}31m");
  CHECK(chat_client::printable("bad\xff\xc0\xaf") == "bad\\xff\\xc0\\xaf");
  CHECK(chat_client::printable("cut\xe2\x80") == "cut\\xe2\\x80");
  CHECK(chat_client::printable("back\\slash") == "back\\\\slash");
}
