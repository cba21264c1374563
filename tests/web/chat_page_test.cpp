// Chat in a real browser (headless Chromium through chromedriver) against a real pchatd: two browsers and a SIP
// client in one room exchange posts every way; a browser sees the SIP member join and part; a browser's stream is
// cut and resumed and shows exactly the posts it missed, once; markup in posts shows as text; an outsider's browser
// neither finds nor opens a secret room. The screenshot of the room view is written to $PCHAT_SCREENSHOT_DIR as
// web-chat-room.png when that is set; docs/web-chat-room.png is one such run.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/pchatd_process.hpp"
#include "support/sign_in.hpp"
#include "web/webdriver.hpp"

using namespace std::chrono_literals;
using pchat::test::pchatd_process;
using pchat::test::webdriver;

namespace {

// Signs `user` in on the page (anonymous on loopback: no password) and waits for the chat.
void sign_in_page(webdriver& b, const pchatd_process& server, const std::string& user) {
  b.navigate(server.web_url() + "/");
  b.wait_until("the sign-in form", [&] { return b.visible("#signin-view"); });
  b.type("#signin-user", user);
  b.click("#signin-submit");
  b.wait_until("the chat view", [&] { return b.visible("#chat-view"); });
}

// Finds `name` with the room search and opens it.
void open_room(webdriver& b, const std::string& name) {
  b.type("#find-text", name);
  b.click("#find-submit");
  b.wait_until("the room in the results", [&] { return b.text("#find-results").find(name) != std::string::npos; });
  b.click("#find-results a");
  b.wait_until("the room view", [&] { return b.visible("#chat-room") && b.text("#chat-room-name") == name; });
}

// How many messages of the open room read exactly `text`.
int count_text(webdriver& b, const std::string& text) {
  return b.script("return [...document.querySelectorAll('#chat-messages .text')]"
                  ".filter(e => e.textContent === arguments[0]).length;",
                  {text})
    .get<int>();
}

bool shows(webdriver& b, const std::string& text) { return count_text(b, text) > 0; }

} // namespace

TEST_CASE("browser chat: two browsers and a SIP client talk in one room, and a cut stream resumes exactly") {
  pchatd_process server;
  const auto lobby = server.add_room("Lobby", "--topic 'Say hello'");
  const auto hideout = server.add_room("Hideout", "--privacy secret");
  server.start();

  webdriver alice, carol;
  sign_in_page(alice, server, "alice@example.com");
  sign_in_page(carol, server, "carol@example.com");
  CHECK(alice.visible("#my-rooms-empty"));
  open_room(alice, "Lobby");
  CHECK(alice.text("#chat-room-topic") == "Say hello");
  open_room(carol, "Lobby");
  alice.wait_until("carol among those online", [&] { return alice.text("#chat-members").find("carol") != std::string::npos; });

  // The SIP member joins: both browsers list him.
  auto bob = pchat::test::sign_in(server, "bob@example.com");
  REQUIRE(bob->join(lobby));
  alice.wait_until("bob joined", [&] { return alice.text("#chat-members").find("bob@example.com") != std::string::npos; });
  CHECK(alice.text("#chat-online") == "(3)");

  // SIP -> browsers.
  REQUIRE(bob->post(lobby, "hello browsers"));
  alice.wait_until("bob's post at alice", [&] { return shows(alice, "hello browsers"); });
  carol.wait_until("bob's post at carol", [&] { return shows(carol, "hello browsers"); });

  // Browser -> SIP and the other browser: Enter sends.
  alice.type("#chat-text", "hi from alice\xEE\x80\x87"); // WebDriver's Enter key (U+E007)
  auto line = bob->next_chat(10000ms);
  while (line && line->text != "hi from alice")
    line = bob->next_chat(10000ms);
  REQUIRE(line);
  CHECK(line->author == "sip:alice@example.com");
  carol.wait_until("alice's post at carol", [&] { return shows(carol, "hi from alice"); });
  alice.wait_until("alice's own post", [&] { return shows(alice, "hi from alice"); });
  CHECK(alice.text("#chat-text").empty());

  // The Send button, and markup shows as text.
  const std::string markup = "<b>bold?</b> <img src=x onerror=alert(1)> & done";
  carol.type("#chat-text", markup);
  carol.click("#chat-send");
  alice.wait_until("carol's markup at alice", [&] { return shows(alice, markup); });
  CHECK(alice.script("return document.querySelectorAll('#chat-messages b, #chat-messages img').length;") == 0);
  line = bob->next_chat(10000ms);
  while (line && line->text != markup)
    line = bob->next_chat(10000ms);
  REQUIRE(line);

  // Alice's stream is cut (the browser goes offline); what Bob posts meanwhile shows once she is back, once each.
  alice.script("window.dispatchEvent(new Event('offline'));");
  for (int i = 1; i <= 3; ++i)
    REQUIRE(bob->post(lobby, "while away " + std::to_string(i)));
  carol.wait_until("the posts at carol", [&] { return shows(carol, "while away 3"); });
  std::this_thread::sleep_for(500ms);
  CHECK_FALSE(shows(alice, "while away 1")); // the stream really was cut
  alice.script("window.dispatchEvent(new Event('online'));");
  alice.wait_until("the missed posts", [&] { return shows(alice, "while away 3"); });
  REQUIRE(bob->post(lobby, "after the cut"));
  alice.wait_until("a live post after the cut", [&] { return shows(alice, "after the cut"); });
  for (int i = 1; i <= 3; ++i)
    CHECK(count_text(alice, "while away " + std::to_string(i)) == 1);
  CHECK(count_text(alice, "hello browsers") == 1);
  auto order = alice.script("return [...document.querySelectorAll('#chat-messages li')].map(li => +li.dataset.seq);");
  REQUIRE(order.is_array());
  for (std::size_t i = 1; i < order.size(); ++i)
    CHECK(order[i - 1].get<int>() < order[i].get<int>());

  // Bob leaves: the browsers see it.
  REQUIRE(bob->part(lobby).ok());
  alice.wait_until("bob parted", [&] { return alice.text("#chat-members").find("bob@example.com") == std::string::npos; });

  auto png = alice.screenshot();
  REQUIRE(png.size() > 1000);
  if (const char* dir = std::getenv("PCHAT_SCREENSHOT_DIR"))
    std::ofstream(std::string{dir} + "/web-chat-room.png", std::ios::binary) << png;

  // Carol is no member of the secret room: her search does not find it and its address does not open it.
  carol.type("#find-text", "Hideout");
  carol.click("#find-submit");
  carol.wait_until("the search's answer", [&] { return carol.text("#status") == "No room matches."; });
  CHECK(carol.text("#find-results").empty());
  const auto guid = hideout.substr(hideout.rfind('/') + 1);
  carol.navigate(server.web_url() + "/#/room/" + guid);
  carol.wait_until("the refusal", [&] { return carol.visible("#error"); });
  CHECK(carol.text("#error") == "No such room (or you may not see it)");
  CHECK(carol.text("#chat-messages").empty());
}

TEST_CASE("browser chat: a tab the server closed is replaced and caught up by sequence number, and files are shared") {
  // web.chat-grace=1: a tab without its stream for a second is closed, as after a laptop slept for a minute.
  pchatd_process server{{"--web.chat-grace=1"}};
  const auto dev = server.add_room("Dev");
  server.start();
  auto bob = pchat::test::sign_in(server, "bob@example.com");
  REQUIRE(bob->join(dev));

  webdriver alice;
  sign_in_page(alice, server, "alice@example.com");
  open_room(alice, "Dev");
  REQUIRE(bob->post(dev, "before the sleep"));
  alice.wait_until("the first post", [&] { return shows(alice, "before the sleep"); });

  alice.script("window.dispatchEvent(new Event('offline'));");
  std::this_thread::sleep_for(3s); // the server closes the tab: its session leaves the room
  for (int i = 1; i <= 3; ++i)
    REQUIRE(bob->post(dev, "while asleep " + std::to_string(i)));
  alice.script("window.dispatchEvent(new Event('online'));"); // the old tab answers 404: a new tab catches up
  alice.wait_until("the posts missed while asleep", [&] { return shows(alice, "while asleep 3"); });
  REQUIRE(bob->post(dev, "awake"));
  alice.wait_until("live posts again", [&] { return shows(alice, "awake"); });
  for (int i = 1; i <= 3; ++i)
    CHECK(count_text(alice, "while asleep " + std::to_string(i)) == 1);
  CHECK(count_text(alice, "before the sleep") == 1);

  // A file from the page: the link is posted and shows as a download button, at Bob's too.
  auto file = std::filesystem::temp_directory_path() / ("pchat notes " + std::to_string(::getpid()) + ".txt");
  std::ofstream(file) << "meeting notes\n";
  alice.type("#chat-file", file.string());
  alice.click("#chat-upload");
  alice.wait_until("the shared file's button", [&] {
    return alice.text("#chat-messages").find("\xE2\xA4\x93 " + file.filename().string()) != std::string::npos;
  });
  auto line = bob->next_chat(10000ms);
  while (line && line->text.rfind("ma-filelink://", 0) != 0)
    line = bob->next_chat(10000ms);
  REQUIRE(line);
  auto into = std::filesystem::temp_directory_path() / ("pchat-download-" + std::to_string(::getpid()));
  std::filesystem::create_directories(into);
  auto saved = bob->download_file_into(dev, line->text, into.string(), true);
  INFO(saved.err().message);
  REQUIRE(saved);
  CHECK(std::filesystem::path(saved->path).filename() == file.filename()); // the name the page uploaded
  std::ifstream back(saved->path);
  std::string content((std::istreambuf_iterator<char>(back)), std::istreambuf_iterator<char>());
  CHECK(content == "meeting notes\n");
  std::filesystem::remove(file);
  std::filesystem::remove_all(into);
}
