// The room-management page in a real browser (headless Chromium through chromedriver) against a real pchatd:
// a creator signs in with her SIP password, creates a closed room, adds a member and changes a setting; the
// member, signed in over SIP the whole time, is refused before, invited live and let in after. The screenshot of
// the room page is written to $PCHAT_SCREENSHOT_DIR as web-manage-room.png when that is set (nowhere otherwise);
// docs/web-manage-room.png is one such run.
#include <fstream>

#include "support/pchatd_process.hpp"
#include "client/chat_client.hpp"
#include "web/webdriver.hpp"

using namespace pchat;
using namespace pchat::client;
using pchat::test::pchatd_process;
using pchat::test::webdriver;

namespace {

std::unique_ptr<chat_client> sign_in_with(const pchatd_process& server, const std::string& user,
                                          const std::string& password) {
  chat_config cfg;
  cfg.user = user;
  cfg.port = server.port();
  cfg.password = password;
  auto c = std::make_unique<chat_client>(cfg);
  auto e = c->sign_in();
  INFO(user << ": " << e.message);
  REQUIRE(e.ok());
  return c;
}

std::optional<xccos::item> next_notice(chat_client& c, const std::string& id, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto e = c.next_event(duration{200});
    if (e && e->item.id == id)
      return e->item;
  }
  return std::nullopt;
}

} // namespace

TEST_CASE("browser: a creator signs in, creates a room and adds a member, who sees it over SIP") {
  pchatd_process server{{"--sip.auth=digest"}};
  REQUIRE(server.ctl("init") == 0);
  REQUIRE(server.ctl("category add Projects --invite true --creators sip:alice@example.com "
                     "--description 'Team projects'") == 0);
  REQUIRE(server.ctl("user add alice@example.com --password 'alice secret' --name Alice") == 0);
  REQUIRE(server.ctl("user add bob@example.com --password 'bob secret' --name Bob") == 0);
  server.start();
  REQUIRE_FALSE(server.web_url().empty());
  auto bob = sign_in_with(server, "bob@example.com", "bob secret");

  webdriver browser;
  browser.navigate(server.web_url() + "/");
  browser.wait_until("the sign-in form", [&] { return browser.visible("#signin-view"); });
  CHECK(browser.visible("#signin-password")); // digest: the page asks for the password

  // A wrong password is refused with a clear message and nothing else shows.
  browser.type("#signin-user", "alice@example.com");
  browser.type("#signin-password", "not her password");
  browser.click("#signin-submit");
  browser.wait_until("the sign-in error", [&] { return browser.visible("#error"); });
  CHECK(browser.text("#error") == "Unknown user or wrong password");
  CHECK_FALSE(browser.visible("#rooms-view"));

  browser.type("#signin-password", "alice secret");
  browser.click("#signin-submit");
  // Signed in, the page is the chat; management is one link away.
  browser.wait_until("the chat view", [&] { return browser.visible("#chat-view"); });
  CHECK(browser.text("#whoami-user") == "sip:alice@example.com");
  CHECK(browser.visible("#my-rooms-empty"));
  browser.click("#nav-manage");
  browser.wait_until("the rooms view", [&] { return browser.visible("#rooms-view"); });
  CHECK(browser.visible("#rooms-empty"));
  CHECK(browser.visible("#create-form"));
  CHECK(browser.text("#create-category option") == "Projects");

  // Create a closed room.
  browser.type("#create-name", "Launch plan");
  browser.type("#create-description", "Everything about the launch");
  browser.type("#create-topic", "Ship it on Friday");
  browser.choose("#create-privacy", "closed");
  browser.click("#create-submit");
  browser.wait_until("the new room's page", [&] {
    return browser.visible("#room-view") && browser.text("#room-title") == "Launch plan";
  });
  auto uri = browser.text("#room-uri");
  REQUIRE(uri.rfind("ma-chan://example.com/", 0) == 0);
  CHECK(browser.text("#people-body").find("sip:alice@example.com") != std::string::npos); // the creator manages it

  // Bob can see the closed room but not join it yet.
  auto refused = bob->join(uri);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().status == 403);

  // An invalid change is refused with the server's message, and nothing changes.
  browser.type("#room-name", "   ");
  browser.click("#settings-submit");
  browser.wait_until("the validation error", [&] { return browser.visible("#error"); });
  CHECK(browser.text("#error").find("a room needs a name") != std::string::npos);
  browser.type("#room-name", "Launch plan");

  // Add Bob as a member: he is invited at once over SIP and may join.
  browser.type("#add-user", "bob@example.com");
  browser.click("#add-submit");
  browser.wait_until("Bob in the roles table", [&] {
    return browser.text("#people-body").find("sip:bob@example.com") != std::string::npos;
  });
  CHECK(browser.text("#status").find("invitation") != std::string::npos);
  CHECK_FALSE(browser.visible("#error"));
  auto ntc = next_notice(*bob, "ntc:inv");
  REQUIRE(ntc);
  CHECK(ntc->data()->child("inv")->attr_or("chanUri") == uri);
  auto joined = bob->join(uri);
  REQUIRE(joined);
  CHECK(joined->name == "Launch plan");
  CHECK(joined->topic == "Ship it on Friday");

  // A settings change from the page reaches the room Bob is in: the new topic shows in his search.
  browser.type("#room-topic", "Ship it on Monday");
  browser.click("#settings-submit");
  browser.wait_until("the saved settings", [&] { return browser.text("#status") == "Settings saved."; });
  auto found = bob->search("Launch");
  REQUIRE(found);
  REQUIRE(found->size() == 1);
  CHECK(found->front().topic == "Ship it on Monday");

  auto png = browser.screenshot();
  REQUIRE(png.size() > 1000);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  if (const char* dir = std::getenv("PCHAT_SCREENSHOT_DIR"))
    std::ofstream(std::string{dir} + "/web-manage-room.png", std::ios::binary) << png;

  // Back on the list, the room is there; after signing out the API refuses the browser.
  browser.click("#back");
  browser.wait_until("the room list", [&] { return browser.visible("#rooms-table"); });
  CHECK(browser.text("#rooms-body").find("Launch plan") != std::string::npos);
  browser.click("#signout");
  browser.wait_until("the sign-in form again", [&] { return browser.visible("#signin-view"); });
  auto status = browser.script("return fetch('/api/rooms').then(r => r.status);");
  CHECK(status == 401);
}
