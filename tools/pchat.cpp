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
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "base/version.hpp"
#include "client/chat_client.hpp"
#include "codec/xccos_commands.hpp"

using namespace pchat::client;

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) { stop_requested = 1; }

int usage() {
  std::cerr << "usage: pchat --user alice@example.com [--server HOST:PORT] [--password P] [--timeout SECONDS]\n"
               "             [--tls [--ca FILE | --insecure] [--server-name NAME]] COMMAND\n"
               "(the password may also come from the environment variable PCHAT_PASSWORD; --tls speaks SIP over TLS\n"
               " to the server's sip.tls-port (5061 when --server has no port), checking its certificate against the\n"
               " system's CAs or --ca FILE, e.g. the certificate pchatctl cert self-signed wrote)\n"
               "commands: rooms [TEXT] | join ROOM | post ROOM TEXT... | history ROOM [N] | tail ROOM | follow ROOM |\n"
               "          unfollow ROOM | signin | search WORDS... | info | upload ROOM FILE [NAME] |\n"
               "          download [--force] ROOM LINK [OUT]\n"
               "pchat --version prints the version\n";
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
  bool port_given = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--user" && value(v)) {
      cfg.user = v;
    } else if (a == "--server" && value(v)) {
      auto colon = v.rfind(':');
      cfg.host = v.substr(0, colon);
      if (colon != std::string::npos)
        cfg.port = static_cast<std::uint16_t>(std::atoi(v.c_str() + colon + 1));
      port_given = colon != std::string::npos;
    } else if (a == "--password" && value(v)) {
      cfg.password = v;
    } else if (a == "--tls") {
      cfg.tls.enabled = true;
    } else if (a == "--ca" && value(v)) {
      cfg.tls.ca_file = v;
    } else if (a == "--insecure") {
      cfg.tls.verify = false;
    } else if (a == "--server-name" && value(v)) {
      cfg.tls.server_name = v;
    } else if (a == "--timeout" && value(v)) {
      cfg.timeout = duration{std::atoi(v.c_str()) * 1000};
    } else if (a == "--force") {
      force = true;
    } else if (a == "-h" || a == "--help") {
      return usage();
    } else if (a == "--version") {
      std::cout << "pchat " << pchat::version() << "\n";
      return 0;
    } else {
      args.push_back(a);
    }
  }
  if (cfg.user.empty() || args.empty())
    return usage();
  if (cfg.tls.enabled && !port_given)
    cfg.port = 5061;
  if (const char* env = std::getenv("PCHAT_PASSWORD"); env && cfg.password.empty())
    cfg.password = env;
  const std::string command = args[0];

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
    std::uint32_t n = args.size() > 2 ? static_cast<std::uint32_t>(std::atoi(args[2].c_str())) : 30;
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
