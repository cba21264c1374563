#include "client/chat_client.hpp"
#include "base/random.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "codec/xccos_commands.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include <tinyxml2.h>

namespace pchat::client {

namespace {

error rejected(const xccos::item& it) {
  return fail(errc::rejected, it.id + ": " + std::to_string(it.code) + " " + it.token, it.code);
}

room_entry to_room(const xccos::node& chanib) {
  room_entry r;
  r.uri = chanib.attr_or("uri");
  r.name = chanib.attr_or("name");
  r.description = chanib.attr_or("description");
  r.topic = chanib.attr_or("topic");
  r.followed = chanib.attr_or("followed") == "true";
  for (const auto& n : chanib.children) {
    auto id = n.attr_or("id");
    if (id == "urn:parlano:ma:info:ucnt")
      r.user_count = static_cast<std::uint32_t>(std::strtoul(n.text.c_str(), nullptr, 10));
    else if (id == "urn:parlano:ma:info:visibilty")
      r.visibility = n.text;
  }
  return r;
}

// Reads DefaultPersistentChatPoolUri / EnablePersistentChat from a provisionGroupList (MS-SIPREGE 2.2.2.5.11);
// element names are matched without namespaces, as sipe does.
void read_provisioning(const std::string& body, bool& enabled, std::string& pool) {
  tinyxml2::XMLDocument doc;
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS || !doc.RootElement())
    return;
  for (auto* g = doc.RootElement()->FirstChildElement(); g; g = g->NextSiblingElement()) {
    const char* name = g->Attribute("name");
    if (!name || std::string_view{name} != "persistentChatConfiguration")
      continue;
    for (auto* list = g->FirstChildElement(); list; list = list->NextSiblingElement())
      for (auto* p = list->FirstChildElement(); p; p = p->NextSiblingElement()) {
        const char* pname = p->Attribute("name");
        const char* text = p->GetText();
        if (!pname || !text)
          continue;
        if (std::string_view{pname} == "EnablePersistentChat")
          enabled = std::string_view{text} == "true";
        else if (std::string_view{pname} == "DefaultPersistentChatPoolUri")
          pool = text;
      }
  }
}

} // namespace

std::vector<room_entry> assoc_info::followed() const {
  std::vector<room_entry> out;
  for (const auto* group : {&member, &manager, &followed_only})
    for (const auto& r : *group)
      if (r.followed && std::none_of(out.begin(), out.end(), [&](const room_entry& x) { return x.uri == r.uri; }))
        out.push_back(r);
  return out;
}

chat_client::chat_client(chat_config config)
  : config_(std::move(config)),
    user_(config_.user.rfind("sip:", 0) == 0 ? config_.user : "sip:" + config_.user),
    agent_([this] {
      agent_config c;
      c.aor = user_;
      c.request_timeout = config_.timeout;
      c.connect_timeout = config_.timeout;
      c.password = config_.password;
      c.tls = config_.tls;
      return c;
    }()) {
  envid_ = random_u64() & 0x3FFFFFFF;
}

chat_client::~chat_client() = default;

std::string chat_client::domain() const {
  auto at = user_.find('@');
  return at == std::string::npos ? std::string{} : user_.substr(at + 1);
}

std::string chat_client::next_envid() { return std::to_string(++envid_); }

error chat_client::sign_in() {
  if (domain().empty())
    return fail(errc::bad_input, "the user must look like alice@example.com");
  if (auto e = agent_.connect(config_.host, config_.port); !e.ok())
    return e;
  auto reg = agent_.register_user("sip:" + domain(), 3600);
  if (!reg)
    return reg.err();
  if (reg->status != 200)
    return fail(errc::rejected, "REGISTER: " + std::to_string(reg->status) + " " + reg->reason, reg->status);
  // Provisioning-v2: the document comes piggy-backed on the 200 (docs/xccos.md §2.1).
  auto sub = agent_.subscribe(user_, "vnd-microsoft-provisioning-v2",
                              "application/vnd-microsoft-roaming-provisioning-v2+xml",
                              xccos::provisioning_subscription_document(),
                              {{"Supported", "ms-benotify"}, {"Proxy-Require", "ms-benotify"}, {"Expires", "0"}});
  if (!sub)
    return sub.err();
  if (sub->status != 200)
    return fail(errc::rejected, "SUBSCRIBE: " + std::to_string(sub->status) + " " + sub->reason, sub->status);
  read_provisioning(sub->body, enabled_, pool_uri_);
  provisioning_.call_id = sub->get_or("Call-ID");
  provisioning_.local_tag = sip::header_param(sub->get_or("From"), "tag").value_or("");
  provisioning_.remote_tag = sip::header_param(sub->get_or("To"), "tag").value_or("");
  provisioning_.peer_uri = user_;
  provisioning_.remote_target = user_;
  if (auto contact = sip::parse_name_addr(sub->get_or("Contact")))
    provisioning_.remote_target = contact->uri;
  provisioning_.local_cseq = 1;
  if (!enabled_)
    return fail(errc::rejected, "persistent chat is not enabled for " + user_);
  if (pool_uri_.empty())
    pool_uri_ = "sip:ocschat@" + domain();

  std::string channel_uri = pool_uri_;
  if (config_.lookup) {
    auto lookup = agent_.invite(pool_uri_);
    if (!lookup)
      return lookup.err();
    channel_ = lookup.value();
    signed_in_ = true; // command() needs the dialog
    auto r = command("requri", "");
    if (!r)
      return r.err();
    if (r->code != 200)
      return rejected(r.value());
    if (const auto* uib = r->data() ? r->data()->child("uib") : nullptr)
      channel_uri = uib->attr_or("uri", pool_uri_);
    agent_.bye(channel_);
    signed_in_ = false;
  }
  auto chan = agent_.invite(channel_uri);
  if (!chan)
    return chan.err();
  channel_ = chan.value();
  signed_in_ = true;
  return {};
}

void chat_client::sign_out() {
  if (signed_in_ && agent_.connected()) {
    agent_.bye(channel_);
    if (!provisioning_.remote_tag.empty())
      agent_.request(provisioning_, "SUBSCRIBE", {}, {},
                     {{"Event", "vnd-microsoft-provisioning-v2"}, {"Expires", "0"}});
    agent_.register_user("sip:" + domain(), 0);
  }
  signed_in_ = false;
  agent_.close();
}

result<sip::message> chat_client::send_document(const std::string& body) {
  if (!signed_in_)
    return fail(errc::not_connected, "not signed in");
  return agent_.info(channel_, body);
}

error chat_client::pump(duration timeout) {
  auto in = agent_.wait_info(timeout);
  if (!in) {
    if (!agent_.connected())
      return fail(errc::connection_lost, "connection lost: " + agent_.disconnect_reason());
    return fail(errc::timeout, "no document from the server in time");
  }
  auto parsed = xccos::parse(in->body);
  if (auto* err = std::get_if<xccos::parse_error>(&parsed))
    return fail(errc::protocol_error, "server sent an unparsable document: " + std::string{to_string(err->code)} + " " + err->detail);
  for (auto& it : std::get<xccos::envelope>(parsed).items)
    pending_.push_back({std::move(it), in->received});
  return {};
}

result<xccos::item> chat_client::wait_reply(const std::string& envid) {
  auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  for (;;) {
    for (auto i = pending_.begin(); i != pending_.end(); ++i)
      if (i->item.kind == xccos::item_kind::rpl && i->item.cmd_envid == envid) {
        auto it = std::move(i->item);
        pending_.erase(i);
        return it;
      }
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail(errc::timeout, "no reply to envelope " + envid);
    if (auto e = pump(left); !e.ok())
      return e;
  }
}

result<xccos::item> chat_client::command(const std::string& name, const std::string& data) {
  auto envid = next_envid();
  auto r = send_document(xccos::command_document(envid, name, data));
  if (!r)
    return r.err();
  if (r->status != 200)
    return fail(errc::rejected, "INFO: " + std::to_string(r->status) + " " + r->reason, r->status);
  return wait_reply(envid);
}

result<server_info> chat_client::get_server_info() {
  auto r = command("getserverinfo", xccos::serverinfo_query(domain()));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  const auto* sib = r->data() ? r->data()->child("sib") : nullptr;
  if (!sib)
    return fail(errc::protocol_error, "rpl:getserverinfo without sib");
  server_info s;
  s.server_time = sib->attr_or("serverTime");
  s.root_uri = sib->attr_or("rootUri");
  s.db_version = sib->attr_or("dbVersion");
  s.search_limit = static_cast<std::uint32_t>(std::strtoul(sib->attr_or("searchLimit", "0").c_str(), nullptr, 10));
  s.message_size_limit =
    static_cast<std::uint32_t>(std::strtoul(sib->attr_or("messageSizeLimit", "0").c_str(), nullptr, 10));
  s.story_size_limit =
    static_cast<std::uint32_t>(std::strtoul(sib->attr_or("storySizeLimit", "0").c_str(), nullptr, 10));
  return s;
}

result<std::vector<room_entry>> chat_client::search(const std::string& criteria) {
  auto r = command("chansrch", xccos::chansrch_query(criteria));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  std::vector<room_entry> out;
  if (r->data())
    for (const auto* c : r->data()->children_named("chanib"))
      out.push_back(to_room(*c));
  return out;
}

result<assoc_info> chat_client::get_assoc() {
  auto r = command("getassoc", "");
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  assoc_info a;
  if (r->data())
    for (const auto* g : r->data()->children_named("assoc")) {
      auto type = g->attr_or("type");
      auto& target = type == "member" ? a.member : type == "manager" ? a.manager : a.followed_only;
      for (const auto* c : g->children_named("chanib"))
        target.push_back(to_room(*c));
    }
  return a;
}

namespace {

std::vector<join_info> join_infos(const xccos::item& it, std::vector<std::string>* failed) {
  std::map<std::string, std::string> uri_of_id;
  std::vector<join_info> out;
  if (!it.data())
    return out;
  for (const auto* u : it.data()->children_named("uib"))
    uri_of_id[u->attr_or("id")] = u->attr_or("uri");
  for (const auto* c : it.data()->children_named("chanib")) {
    join_info j;
    j.uri = c->attr_or("uri");
    j.name = c->attr_or("name");
    j.topic = c->attr_or("topic");
    for (const auto* aib : c->children_named("aib")) {
      std::string ids = aib->attr_or("value");
      size_t pos = 0;
      while (pos <= ids.size() && !ids.empty()) {
        auto comma = ids.find(',', pos);
        auto id = ids.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (uri_of_id.count(id) && std::find(j.participants.begin(), j.participants.end(), uri_of_id[id])
                                     == j.participants.end())
          j.participants.push_back(uri_of_id[id]);
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    }
    out.push_back(std::move(j));
  }
  if (failed)
    for (const auto* f : it.data()->children_named("fib"))
      failed->push_back(f->attr_or("value"));
  return out;
}

// A URI that is not ma-chan://domain/guid goes as the value with an empty domain: the server answers it with
// its refusal (a fib in a bjoin) rather than the client guessing.
std::string chanid_of(const std::string& uri, size_t key) {
  auto c = xccos::parse_chan_uri(uri);
  if (!c)
    return xccos::chanid(key, "", uri);
  return xccos::chanid(key, c->domain, c->guid);
}

} // namespace

result<join_info> chat_client::join(const std::string& room_uri) {
  auto r = command("join", chanid_of(room_uri, 0));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  auto joined = join_infos(r.value(), nullptr);
  if (joined.empty())
    return fail(errc::protocol_error, "rpl:join without chanib");
  return joined.front();
}

result<std::vector<join_info>> chat_client::bjoin(const std::vector<std::string>& room_uris,
                                                  std::vector<std::string>* failed) {
  std::string data;
  for (size_t i = 0; i < room_uris.size(); ++i)
    data += chanid_of(room_uris[i], i);
  auto r = command("bjoin", data);
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  return join_infos(r.value(), failed);
}

error chat_client::part(const std::string& room_uri) {
  auto r = command("part", xccos::chanib_uri(room_uri));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  return {};
}

chat_line chat_client::to_chat_line(const xccos::node& n) {
  chat_line l;
  l.chan_uri = n.attr_or("chanUri");
  l.author = n.attr_or("author");
  l.ts = n.attr_or("ts");
  if (const auto* chat = n.child("chat"))
    l.text = chat->text;
  l.seq = std::strtoull(n.attr_or("msgid", "0").c_str(), nullptr, 10);
  return l;
}

result<std::vector<chat_line>> chat_client::history(const std::string& room_uri, std::uint32_t n) {
  auto r = command("bccontext", xccos::bccontext_last(room_uri, n));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  std::vector<chat_line> out;
  if (const auto* ch = r->data() ? r->data()->child("chanib") : nullptr)
    for (const auto* m : ch->children_named("msg"))
      if (m->attr_or("id") == "grpchat")
        out.push_back(to_chat_line(*m));
  return out;
}

result<std::vector<chat_client::caught_up>>
chat_client::catch_up(const std::vector<std::pair<std::string, std::uint64_t>>& rooms, std::vector<std::string>* failed) {
  auto r = command("catchup", xccos::catchup_list(rooms));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  std::vector<caught_up> out;
  if (!r->data())
    return out;
  for (const auto* ib : r->data()->children_named("chanib")) {
    caught_up c;
    c.uri = ib->attr_or("uri");
    c.more = ib->attr_or("more") == "true";
    for (const auto* m : ib->children_named("msg"))
      c.lines.push_back(to_chat_line(*m));
    out.push_back(std::move(c));
  }
  if (failed)
    for (const auto* f : r->data()->children_named("fib"))
      failed->push_back(f->attr_or("value"));
  return out;
}

error chat_client::follow(const std::string& room_uri, bool on) {
  auto r = command(on ? "follow" : "unfollow", xccos::chanib_uri(room_uri));
  if (!r)
    return r.err();
  if (r->code != 200)
    return rejected(r.value());
  if (!r->data() || !r->data()->child("chanib"))
    return fail(errc::rejected, "the server refused to change the follow of " + room_uri, 404);
  return {};
}

result<xccos::item> chat_client::get_invitations() {
  return command("getinv", xccos::invitations_query(domain()));
}

error chat_client::post_async(const std::string& room_uri, const std::string& text, std::string* envid_out) {
  auto envid = next_envid();
  auto r = send_document(xccos::grpchat_document(envid, room_uri, user_, now_ticks(), text));
  if (!r)
    return r.err();
  if (r->status != 200)
    return fail(errc::rejected, "INFO: " + std::to_string(r->status) + " " + r->reason, r->status);
  if (envid_out)
    *envid_out = envid;
  return {};
}

result<chat_line> chat_client::post(const std::string& room_uri, const std::string& text) {
  std::string envid;
  if (auto e = post_async(room_uri, text, &envid); !e.ok())
    return e;
  // Our own copy of the post, or the refusal, whichever comes first. Other documents stay queued.
  auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  size_t scanned = 0;
  for (;;) {
    for (auto i = pending_.begin() + static_cast<std::ptrdiff_t>(scanned); i != pending_.end(); ++i, ++scanned) {
      const auto& it = i->item;
      if (it.kind == xccos::item_kind::rpl && it.cmd_envid == envid) {
        auto err = rejected(it);
        pending_.erase(i);
        return err;
      }
      if (it.kind == xccos::item_kind::grpchat && ascii_lower(it.element.attr_or("author")) == ascii_lower(user_)
          && it.element.attr_or("chanUri") == room_uri && it.element.child("chat")
          && it.element.child("chat")->text == text) {
        auto line = to_chat_line(it.element);
        pending_.erase(i);
        return line;
      }
    }
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail(errc::timeout, "the post was not echoed back in time");
    if (auto e = pump(left); !e.ok())
      return e;
  }
}

std::optional<event> chat_client::next_event(duration timeout) {
  if (pending_.empty() && !pump(timeout).ok())
    return std::nullopt;
  if (pending_.empty())
    return std::nullopt;
  auto e = std::move(pending_.front());
  pending_.pop_front();
  return e;
}

std::optional<chat_line> chat_client::next_chat(duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto i = pending_.begin(); i != pending_.end(); ++i)
      if (i->item.kind == xccos::item_kind::grpchat) {
        auto l = to_chat_line(i->item.element);
        pending_.erase(i);
        return l;
      }
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !pump(left).ok())
      return std::nullopt;
  }
}

result<std::string> chat_client::resolve_room(const std::string& name_or_uri) {
  if (name_or_uri.rfind("ma-chan://", 0) == 0)
    return name_or_uri;
  auto rooms = search("");
  if (!rooms)
    return rooms.err();
  for (const auto& r : rooms.value())
    if (ascii_lower(r.name) == ascii_lower(name_or_uri) || ascii_lower(r.uri).substr(r.uri.rfind('/') + 1) == ascii_lower(name_or_uri))
      return r.uri;
  return fail(errc::rejected, "no room named " + name_or_uri, 404);
}

} // namespace pchat::client
