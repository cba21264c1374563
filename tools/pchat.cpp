// pchat: a command-line Persistent Chat client speaking real SIP/XCCOS (client/chat_client.hpp).
//
//   pchat --user alice@example.com [--server 127.0.0.1:5060] [--password P] COMMAND ...
//     (--password, else the environment variable PCHAT_PASSWORD, answers pchatd's SIP Digest challenges)
//     rooms [TEXT]          list the rooms you can see (names/descriptions containing TEXT)
//     join ROOM             join ROOM (you then follow it), show who is there and the last 30 messages
//     post ROOM TEXT...     post TEXT to ROOM; returns once the server has fanned it back to you
//     history ROOM [N]      the last N (default 30) messages, oldest first
//     tail ROOM             join ROOM and print every message as it arrives, until Ctrl-C
//     follow ROOM           follow ROOM (signin rejoins followed rooms); joining also follows
//     unfollow ROOM         stop following ROOM
//     signin                the full sign-in: server info, associations, rejoin followed rooms, their history,
//                           invitations
//     search WORDS...       posts containing every word, newest first, in every room you may read (histsrch)
//     info                  server information (getserverinfo)
//     upload ROOM FILE [NAME]   upload FILE (as NAME) to ROOM over HTTP and post its ma-filelink link there
//     download ROOM LINK [OUT]  save the file a ma-filelink link names; default OUT: the file's name as the server
//                               sends it, in the current directory, refused when it is no plain name or starts
//                               with '.'. An existing file is never replaced unless --force is given.
// ROOM is a room name, GUID or ma-chan:// URI. Exit status: 0 ok, 1 refused/failed, 2 usage.
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/version.hpp"
#include "client/chat_client.hpp"
#include "codec/xccos_commands.hpp"

using namespace pchat::client;

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) { stop_requested = 1; }

// The commands, for --help (stdout) and after a usage mistake (stderr).
const char* const commands_help =
  "Commands (ROOM is a room name, GUID or ma-chan:// URI):\n"
  "  rooms [TEXT]              the rooms you can see (names/descriptions containing TEXT)\n"
  "  join ROOM                 join ROOM (you then follow it), who is there and the last 30 messages\n"
  "  post ROOM TEXT...         post TEXT; returns once the server has fanned it back to you\n"
  "  history ROOM [N]          the last N (default 30) messages, oldest first\n"
  "  tail ROOM                 join ROOM and print every message as it arrives, until Ctrl-C\n"
  "  follow ROOM | unfollow ROOM\n"
  "  signin                    the full sign-in: server info, associations, rejoin followed rooms, history,\n"
  "                            invitations\n"
  "  search WORDS...           posts containing every word, newest first, in every room you may read\n"
  "  info                      server information (getserverinfo)\n"
  "  upload ROOM FILE [NAME]   upload FILE (as NAME) over HTTP and post its ma-filelink link\n"
  "  download [--force] ROOM LINK [OUT]\n"
  "                            save the file a ma-filelink link names (default: the server's file name, in the\n"
  "                            current directory; an existing file is replaced only with --force)\n"
  "The password may also come from the environment variable PCHAT_PASSWORD.\n"
  "Exit status: 0 ok, 1 refused or failed, 2 usage.\n";

int usage() {
  std::cerr << "usage: pchat --user alice@example.com [options] COMMAND ... (pchat --help)\n" << commands_help;
  return 2;
}

int failed(const std::string& what, const error& e) {
  // Messages may carry names and text from the server or other users: control characters go out escaped.
  std::cerr << "pchat: " << chat_client::printable(what) << ": " << chat_client::printable(e.message) << "\n";
  return 1;
}

void print_line(const chat_line& l) {
  std::cout << "[" << l.ts << "] " << l.author << ": " << l.text << "\n";
}

// <inv inviteId chanUri name inviter ts/> (rpl:getinv, ntc:inv)
void print_invitation(const pchat::xccos::node& inv) {
  auto inviter = inv.attr_or("inviter");
  std::cout << "invited to " << inv.attr_or("name") << " (" << inv.attr_or("chanUri") << ")"
            << (inviter.empty() ? "" : " by " + inviter) << "\n";
}

} // namespace

int main(int argc, char** argv) {
  chat_config cfg;
  bool force = false; // download: replace an existing file
  std::string server;
  unsigned timeout = 0;
  std::string command;
  // CLI11 (docs/operations.md "Command-line programs"): typed options with checks, help on stdout.
  CLI::App app{"pchat: a command-line Persistent Chat client speaking SIP and XCCOS", "pchat"};
  app.set_version_flag("--version", std::string{"pchat "} + pchat::version());
  app.add_option("--user", cfg.user, "who you are: alice@example.com")->required();
  app.add_option("--server", server, "pchatd's SIP address, HOST[:PORT] (127.0.0.1:5060; port 5061 with --tls)");
  app.add_option("--password", cfg.password, "answers Digest/NTLM challenges (or PCHAT_PASSWORD)");
  app.add_option("--timeout", timeout, "seconds to wait for each answer")->check(CLI::Range(1u, 3600u));
  app.add_flag("--tls", cfg.tls.enabled, "SIP over TLS, checking the certificate against the system's CAs");
  app.add_option("--ca", cfg.tls.ca_file, "with --tls: trust this CA file instead (e.g. pchatctl cert's)")
    ->check(CLI::ExistingFile);
  bool insecure = false;
  app.add_flag("--insecure", insecure, "with --tls: do not check the certificate (tests only)");
  app.add_option("--server-name", cfg.tls.server_name, "with --tls: the name the certificate must carry");
  app.add_flag("--force", force, "download: replace an existing file");
  app.add_option("command", command, "what to do (below); its arguments follow it")->required();
  app.prefix_command(); // everything after COMMAND is its own: post text may start with '-'
  app.footer(commands_help);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e); // stdout, 0
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "pchat: " << e.what() << " (pchat --help)\n";
    return 2;
  }
  if (insecure)
    cfg.tls.verify = false;
  if (timeout > 0)
    cfg.timeout = duration{static_cast<std::int64_t>(timeout) * 1000};
  bool port_given = false;
  if (!server.empty()) {
    auto colon = server.rfind(':');
    cfg.host = server.substr(0, colon);
    if (colon != std::string::npos) {
      unsigned port = 0;
      auto text = server.substr(colon + 1);
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || port == 0 || port > 65535) {
        std::cerr << "pchat: --server " << server << ": expected HOST or HOST:PORT with a port 1..65535\n";
        return 2;
      }
      cfg.port = static_cast<std::uint16_t>(port);
      port_given = true;
    }
    if (cfg.host.empty()) {
      std::cerr << "pchat: --server " << server << ": no host\n";
      return 2;
    }
  }
  std::vector<std::string> args{command};
  for (auto& rest : app.remaining())
    if (rest == "--force" && command == "download")
      force = true;
    else
      args.push_back(std::move(rest));
  if (cfg.tls.enabled && !port_given)
    cfg.port = 5061;
  if (const char* env = std::getenv("PCHAT_PASSWORD"); env && cfg.password.empty())
    cfg.password = env;

  chat_client client{cfg};
  if (auto e = client.sign_in(); !e.ok())
    return failed("sign-in", e);
  struct sign_out_at_exit {
    chat_client& c;
    ~sign_out_at_exit() { c.sign_out(); }
  } guard{client};

  auto room_arg = [&](std::string& uri) -> int {
    if (args.size() < 2)
      return usage();
    auto r = client.resolve_room(args[1]);
    if (!r)
      return failed("room " + args[1], r.err());
    uri = r.value();
    return 0;
  };

  if (command == "info") {
    auto s = client.get_server_info();
    if (!s)
      return failed("getserverinfo", s.err());
    std::cout << "server time   " << s->server_time << "\nroot          " << s->root_uri << "\ndb version    "
              << s->db_version << "\nsearch limit  " << s->search_limit << "\nmessage limit " << s->message_size_limit
              << "\nstory limit   " << s->story_size_limit << "\npool          " << client.pool_uri() << "\n";
    return 0;
  }
  if (command == "rooms") {
    auto rooms = client.search(args.size() > 1 ? args[1] : "");
    if (!rooms)
      return failed("chansrch", rooms.err());
    for (const auto& r : rooms.value())
      std::cout << r.name << "\t" << r.user_count << " online\t" << r.visibility << "\t" << r.uri << "\t"
                << r.description << "\n";
    return 0;
  }
  if (command == "join" || command == "tail") {
    std::string uri;
    if (int rc = room_arg(uri))
      return rc;
    auto j = client.join(uri);
    if (!j)
      return failed("join " + args[1], j.err());
    std::cout << "joined " << j->name << (j->topic.empty() ? "" : " (" + j->topic + ")") << "; here: ";
    for (size_t i = 0; i < j->participants.size(); ++i)
      std::cout << (i ? ", " : "") << j->participants[i];
    std::cout << "\n";
    auto h = client.history(uri, 30);
    if (!h)
      return failed("history", h.err());
    for (const auto& l : h.value())
      print_line(l);
    if (command == "join")
      return 0;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout.flush();
    while (!stop_requested && client.agent().connected()) {
      auto ev = client.next_event(duration{500});
      if (!ev)
        continue;
      const auto& it = ev->item;
      if (it.kind == pchat::xccos::item_kind::grpchat)
        print_line(chat_client::to_chat_line(it.element));
      else if (it.id == "ntc:join" && it.data() && it.data()->child("uib"))
        std::cout << "* " << it.data()->child("uib")->attr_or("uri") << " joined\n";
      else if (it.id == "ntc:part" && it.data() && it.data()->child("chanib") && it.data()->child("chanib")->child("uib"))
        std::cout << "* " << it.data()->child("chanib")->child("uib")->attr_or("uri") << " left\n";
      else if (it.id == "ntc:inv" && it.data() && it.data()->child("inv"))
        print_invitation(*it.data()->child("inv"));
      else if (it.id == "ntc:newcontent" && it.data() && it.data()->child("chanib"))
        std::cout << "* new posts in " << it.data()->child("chanib")->attr_or("name") << "\n";
      std::cout.flush();
    }
    if (!client.agent().connected()) {
      std::cerr << "pchat: connection lost: " << client.agent().disconnect_reason() << "\n";
      return 1;
    }
    return 0;
  }
  if (command == "post") {
    std::string uri;
    if (int rc = room_arg(uri))
      return rc;
    if (args.size() < 3)
      return usage();
    std::string text = args[2];
    for (size_t i = 3; i < args.size(); ++i)
      text += " " + args[i];
    if (auto j = client.join(uri); !j)
      return failed("join " + args[1], j.err());
    auto p = client.post(uri, text);
    if (!p)
      return failed("post", p.err());
    std::cout << "posted #" << p->seq << " at " << p->ts << "\n";
    return 0;
  }
  if (command == "follow" || command == "unfollow") {
    std::string uri;
    if (int rc = room_arg(uri))
      return rc;
    if (auto e = client.follow(uri, command == "follow"); !e.ok())
      return failed(command + " " + args[1], e);
    std::cout << (command == "follow" ? "following " : "no longer following ") << args[1] << "\n";
    return 0;
  }
  if (command == "history") {
    std::string uri;
    if (int rc = room_arg(uri))
      return rc;
    std::uint32_t n = 30;
    if (args.size() > 2) {
      const auto& text = args[2];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        std::cerr << "pchat: history ROOM [N]: " << text << " is not a number\n";
        return 2;
      }
    }
    auto h = client.history(uri, n);
    if (!h)
      return failed("history", h.err());
    for (const auto& l : h.value())
      print_line(l);
    return 0;
  }
  if (command == "signin") {
    // The sign-in flow of the design: getserverinfo -> getassoc -> bjoin followed -> bccontext each -> getinv.
    auto s = client.get_server_info();
    if (!s)
      return failed("getserverinfo", s.err());
    auto a = client.get_assoc();
    if (!a)
      return failed("getassoc", a.err());
    std::cout << "member of " << a->member.size() << ", manager of " << a->manager.size() << ", following "
              << a->followed().size() << " room(s)\n";
    std::vector<std::string> uris;
    for (const auto& r : a->followed())
      uris.push_back(r.uri);
    if (!uris.empty()) {
      std::vector<std::string> bad;
      auto joined = client.bjoin(uris, &bad);
      if (!joined)
        return failed("bjoin", joined.err());
      for (const auto& j : joined.value()) {
        std::cout << "== " << j.name << " (" << j.participants.size() << " here)\n";
        auto h = client.history(j.uri, 30);
        if (!h)
          return failed("history", h.err());
        for (const auto& l : h.value())
          print_line(l);
      }
      for (const auto& b : bad)
        std::cout << "could not rejoin " << b << "\n";
    }
    auto inv = client.get_invitations();
    if (!inv)
      return failed("getinv", inv.err());
    if (inv->data())
      for (const auto* i : inv->data()->children_named("inv"))
        print_invitation(*i);
    return 0;
  }
  if (command == "upload") {
    // getfutok, the file over HTTP, then a grpchat with the link so the room sees it (docs/protocol.md "Room files").
    std::string uri;
    if (int rc = room_arg(uri))
      return rc;
    if (args.size() < 3)
      return usage();
    if (auto j = client.join(uri); !j)
      return failed("join " + args[1], j.err());
    auto up = client.upload_file(uri, args[2], args.size() > 3 ? args[3] : std::string{});
    if (!up)
      return failed("upload " + args[2], up.err());
    auto p = client.post(uri, up->link);
    if (!p)
      return failed("post", p.err());
    std::cout << "uploaded " << up->name << " (" << up->size << " bytes, " << up->content_type << ") as " << up->link
              << ", posted #" << p->seq << "\n";
    return 0;
  }
  if (command == "download") {
    std::string uri;
    if (int rc = room_arg(uri))
      return rc;
    if (args.size() < 3)
      return usage();
    auto link = pchat::xccos::parse_file_link(args[2]);
    if (!link)
      return failed("download", {errc::bad_input, 0, "not a ma-filelink:// link: " + args[2]});
    // Without OUT the name is someone else's choice: download_file_into takes the server's validated name, only
    // a plain one not starting with '.', and never replaces a file (unless --force).
    auto d = args.size() > 3 ? client.download_file(uri, args[2], args[3], force)
                             : client.download_file_into(uri, args[2], ".", force);
    if (!d)
      return failed("download " + args[2], d.err());
    std::cout << "saved " << chat_client::printable(d->path) << " (" << d->size << " bytes, "
              << chat_client::printable(d->content_type) << ")\n";
    return 0;
  }
  if (command == "search") {
    if (args.size() < 2)
      return usage();
    std::string words = args[1];
    for (size_t i = 2; i < args.size(); ++i)
      words += " " + args[i];
    auto r = client.command("histsrch", pchat::xccos::histsrch_query(words));
    if (!r)
      return failed("histsrch", r.err());
    if (r->code != 200)
      return failed("histsrch", {errc::rejected, r->code, std::to_string(r->code) + " " + r->token});
    for (const auto* m : r->data()->children_named("msg")) {
      auto l = chat_client::to_chat_line(*m);
      std::cout << "[" << l.ts << "] " << l.chan_uri << " " << l.author << ": " << l.text << "\n";
    }
    return 0;
  }
  return usage();
}
