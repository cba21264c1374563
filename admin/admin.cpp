#include "admin/admin.hpp"

#include "admin/backup.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <map>
#include <sstream>

#include "actors/catalog.hpp"
#include "actors/retention.hpp"
#include "actors/room.hpp"
#include "actors/views.hpp"
#include "compliance/queue.hpp"
#include "compliance/verify.hpp"
#include "codec/digest.hpp"
#include "codec/ntlm.hpp"
#include "base/hex.hpp"
#include "codec/sip_message.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

namespace pchat::admin {

namespace {

category_view view_of(const storage::category& c, const std::string& domain) {
  return {"ma-cat://" + domain + "/" + c.guid, c.name, c.description};
}

class local_ops final : public operations {
public:
  local_ops(std::shared_ptr<storage::store> store, std::string domain, std::string compliance_dir)
    : store_(store), tree_(std::move(store)), domain_(std::move(domain)),
      compliance_dir_(std::move(compliance_dir)) {}

  caf::expected<category_view> create_category(const patch& fields) override {
    return category(tree_.create_category(admin_, fields));
  }
  caf::expected<category_view> update_category(const std::string& ref, const patch& fields) override {
    const auto* c = tree_.find_category(ref);
    if (!c)
      return make_error(pchat_errc::category_not_found, ref);
    return category(tree_.update_category(admin_, c->id, fields));
  }
  caf::expected<bool> remove_category(const std::string& ref) override {
    const auto* c = tree_.find_category(ref);
    if (!c)
      return make_error(pchat_errc::category_not_found, ref);
    if (auto err = tree_.remove_category(admin_, c->id))
      return err;
    return true;
  }
  caf::expected<room_view> create_room(const patch& fields) override { return room(tree_.create_room(admin_, fields)); }
  caf::expected<room_view> update_room(const std::string& ref, const patch& fields) override {
    const auto* r = tree_.find_room(ref);
    if (!r)
      return make_error(pchat_errc::room_not_found, ref);
    return room(tree_.update_room(admin_, r->id, fields));
  }
  caf::expected<bool> remove_room(const std::string& ref) override {
    const auto* r = tree_.find_room(ref);
    if (!r)
      return make_error(pchat_errc::room_not_found, ref);
    if (auto err = tree_.remove_room(admin_, r->id))
      return err;
    return true;
  }
  caf::expected<bool> set_roles(const std::string& ref, const std::string& user, std::uint8_t bits) override {
    const auto* r = tree_.find_room(ref);
    if (!r)
      return make_error(pchat_errc::room_not_found, ref);
    auto invited = tree_.set_roles(admin_, r->id, user, bits);
    if (!invited)
      return invited.error();
    return invited->has_value();
  }
  caf::expected<std::uint64_t> clear_history(const std::string& ref, std::int64_t before_ticks) override {
    const auto* r = tree_.find_room(ref);
    if (!r)
      return make_error(pchat_errc::room_not_found, ref);
    auto floor = store_->cleared_up_to(r->id);
    auto up_to = clear_bound(*store_, r->id, before_ticks, 0, store_->last_seq(r->id));
    if (up_to <= floor)
      return floor;
    // Archived first, as the room archives a post before storing it: a deletion is never done unrecorded.
    if (auto err = archive(*r, compliance::event_kind::clear,
                           clear_record(floor, up_to, administrator_clear(before_ticks))))
      return err;
    if (auto st = store_->clear_history(r->id, up_to); !st.ok())
      return make_error(pchat_errc::store_failed, st.message);
    return up_to;
  }
  caf::expected<bool> replace_message(const std::string& ref, std::uint64_t seq, const std::string& text) override {
    const auto* r = tree_.find_room(ref);
    if (!r)
      return make_error(pchat_errc::room_not_found, ref);
    if (seq == 0)
      return false;
    if (auto at = store_->after(r->id, seq - 1, 1); at.empty() || at.front().seq != seq)
      return false;
    if (auto err = archive(*r, compliance::event_kind::remove, remove_record(seq, text)))
      return err;
    auto st = store_->replace_message(r->id, seq, text);
    if (st.code == storage::errc::not_found)
      return false;
    if (!st.ok())
      return make_error(pchat_errc::store_failed, st.message);
    return true;
  }

private:
  // With compliance on (pchatd's compliance.enabled), the event goes straight into the queue pchatd archives from.
  caf::error archive(const storage::room& r, compliance::event_kind kind, std::string content) {
    if (compliance_dir_.empty())
      return caf::none;
    if (!queue_)
      if (auto st = compliance::queue::open(compliance_dir_, queue_); !st.ok())
        return make_error(pchat_errc::store_failed, "the compliance queue " + compliance_dir_ + ": " + st.message);
    std::vector<compliance::event> one(1);
    auto& e = one.front();
    e.kind = kind;
    e.room_uri = room_uri(domain_, r);
    e.room_name = r.name;
    e.room_logged = tree_.category_of(r).logged;
    e.ticks = now_ticks();
    e.content = std::move(content);
    if (auto st = queue_->enqueue(one); !st.ok())
      return make_error(pchat_errc::store_failed, "the compliance queue " + compliance_dir_ + ": " + st.message);
    return caf::none;
  }

  caf::expected<category_view> category(caf::expected<storage::category> c) const {
    if (!c)
      return c.error();
    return view_of(*c, domain_);
  }
  caf::expected<room_view> room(caf::expected<storage::room> r) const {
    if (!r)
      return r.error();
    return make_room_view(*r, tree_.category_of(*r), domain_, 0);
  }

  std::shared_ptr<storage::store> store_;
  catalog tree_;
  std::string domain_;
  std::string compliance_dir_;
  std::unique_ptr<compliance::queue> queue_;
  principal admin_ = principal::administrator();
};

class actor_ops final : public operations {
public:
  actor_ops(caf::actor_system& sys, directory_actor directory) : self_(sys), directory_(std::move(directory)) {}

  caf::expected<category_view> create_category(const patch& fields) override {
    return ask<category_view>(create_atom::value, admin_, category_atom::value, fields);
  }
  caf::expected<category_view> update_category(const std::string& ref, const patch& fields) override {
    return ask<category_view>(update_atom::value, admin_, category_atom::value, ref, fields);
  }
  caf::expected<bool> remove_category(const std::string& ref) override {
    return ask<bool>(remove_atom::value, admin_, category_atom::value, ref);
  }
  caf::expected<room_view> create_room(const patch& fields) override {
    return ask<room_view>(create_atom::value, admin_, fields);
  }
  caf::expected<room_view> update_room(const std::string& ref, const patch& fields) override {
    return ask<room_view>(update_atom::value, admin_, ref, fields);
  }
  caf::expected<bool> remove_room(const std::string& ref) override {
    return ask<bool>(remove_atom::value, admin_, ref);
  }
  caf::expected<bool> set_roles(const std::string& ref, const std::string& user, std::uint8_t bits) override {
    return ask<bool>(roles_atom::value, admin_, ref, user, bits);
  }
  caf::expected<std::uint64_t> clear_history(const std::string& ref, std::int64_t before_ticks) override {
    return ask<std::uint64_t>(clear_atom::value, admin_, ref, before_ticks);
  }
  caf::expected<bool> replace_message(const std::string& ref, std::uint64_t seq, const std::string& text) override {
    return ask<bool>(redact_atom::value, admin_, ref, seq, text);
  }

private:
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> out{caf::sec::request_timeout};
    self_->request(directory_, std::chrono::seconds(30), std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  caf::scoped_actor self_;
  directory_actor directory_;
  principal admin_ = principal::administrator();
};

// --- the command line ---------------------------------------------------------------------------------------

struct args_t {
  std::vector<std::string> words;
  std::vector<std::pair<std::string, std::string>> opts; // in order; --role may repeat
  bool has(const std::string& k) const {
    for (const auto& o : opts)
      if (o.first == k)
        return true;
    return false;
  }
};

// Options take a value except these flags; the old flag forms of category add (--invite, --no-log, --no-files)
// still work.
args_t parse(const std::vector<std::string>& in) {
  args_t a;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& s = in[i];
    if (s.rfind("--", 0) != 0) {
      a.words.push_back(s);
      continue;
    }
    auto key = s.substr(2);
    if (key == "password" && i + 1 < in.size()) { // a password may itself start with "--"
      a.opts.emplace_back(key, in[++i]);
      continue;
    }
    if (key == "demo" || key == "no-log" || key == "no-files" || key == "json") {
      a.opts.emplace_back(key, "");
      continue;
    }
    bool has_value = i + 1 < in.size() && in[i + 1].rfind("--", 0) != 0;
    if (key == "invite" && (!has_value || (in[i + 1] != "true" && in[i + 1] != "false" && in[i + 1] != "inherit"))) {
      a.opts.emplace_back(key, "true");
      continue;
    }
    a.opts.emplace_back(key, has_value ? in[++i] : std::string{});
  }
  return a;
}

// The options that are fields of the catalog's patches (catalog.hpp), in the order given.
patch fields_of(const args_t& a, std::initializer_list<const char*> allowed, std::string& unknown) {
  patch out;
  for (const auto& [k, v] : a.opts) {
    if (k == "no-log")
      out.emplace_back("logged", "false");
    else if (k == "no-files")
      out.emplace_back("filepost", "false");
    else if (k == "role" || k == "demo")
      continue;
    else if (std::find(allowed.begin(), allowed.end(), k) != allowed.end())
      out.emplace_back(k, v);
    else
      unknown = "--" + k;
  }
  return out;
}

using storage::privacy_name;
using storage::role_bit;

// "member manager": the role words, space-separated.
std::string roles_text(std::uint8_t bits) {
  std::string out;
  for (const auto& word : storage::role_names(bits))
    out += (out.empty() ? "" : " ") + word;
  return out;
}

std::string join_list(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out.empty() ? "-" : out;
}

// A time for `history clear --before`: 2026-01-31 (midnight UTC), 2026-01-31T12:00:00Z, or an age, 90d / 12h /
// 30m (that long before `now`). -> 100-ns ticks since the Unix epoch.
std::optional<std::int64_t> when_ticks(const std::string& text, std::time_t now) {
  constexpr std::int64_t per_second = 10'000'000;
  if (text.size() >= 2 && (text.back() == 'd' || text.back() == 'h' || text.back() == 'm')) {
    auto digits = text.substr(0, text.size() - 1);
    if (digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 9) {
      std::int64_t n = std::stoll(digits);
      std::int64_t unit = text.back() == 'd' ? 86400 : text.back() == 'h' ? 3600 : 60;
      return (static_cast<std::int64_t>(now) - n * unit) * per_second;
    }
  }
  std::tm tm{};
  const char* end = nullptr;
  if (text.size() == 10)
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  else if (text.size() == 20 && text.back() == 'Z')
    end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0')
    return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * per_second;
}

// --json output (nlohmann-json): the same facts as the text, one document per command.
using json = nlohmann::json;


json keep_json(const storage::retention& k) { return {{"days", k.days}, {"posts", k.posts}}; }

json category_json(const storage::category& c, const std::string& domain) {
  return {{"name", c.name},       {"uri", "ma-cat://" + domain + "/" + c.guid},
          {"description", c.description}, {"invite", c.invite},
          {"logged", c.logged},   {"filepost", c.filepost},
          {"allow", c.allow},     {"deny", c.deny},
          {"creators", c.creators}, {"keep", keep_json(c.keep)}};
}

json room_json(const storage::store& db, const storage::room& rm, const std::string& domain) {
  auto c = db.category_by_id(rm.category_id);
  return {{"name", rm.name},
          {"uri", "ma-chan://" + domain + "/" + rm.guid},
          {"category", c ? c->name : ""},
          {"description", rm.description},
          {"topic", rm.topic},
          {"privacy", privacy_name(rm.privacy_mode)},
          {"type", rm.type == storage::room_type::auditorium ? "auditorium" : "normal"},
          {"invite", rm.invite == storage::room_invite::off ? "false" : "inherit"},
          {"disabled", rm.disabled},
          {"addin", rm.addin_url},
          {"posts", db.last_seq(rm.id)},
          // What applies, and where it comes from.
          {"keep", keep_json(c ? storage::effective_retention(rm, *c) : rm.keep.value_or(storage::retention{}))},
          {"keep_from", rm.keep ? "room" : "category"}};
}

json members_json(const storage::store& db, std::uint64_t room_id) {
  json out = json::array();
  for (const auto& [user, bits] : db.room_roles(room_id))
    out.push_back({{"user", user}, {"roles", storage::role_names(bits)}});
  return out;
}

std::string dump(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

// "category_not_found: no category X" from a pchat error; CAF's rendering for anything else.
std::string describe(const caf::error& err) {
  if (err.category() != pchat_error_category)
    return caf::to_string(err);
  std::string out = to_string(static_cast<pchat_errc>(err.code()));
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0))
    out += ": " + err.context().get_as<std::string>(0);
  return out;
}

std::optional<storage::room> find_room(storage::store& db, const std::string& ref) {
  if (auto r = db.room_by_name(ref))
    return r;
  auto slash = ref.rfind('/');
  return db.room_by_guid(slash == std::string::npos ? ref : ref.substr(slash + 1));
}

std::optional<storage::category> find_category(storage::store& db, const std::string& ref) {
  if (auto c = db.category_by_name(ref))
    return c;
  auto slash = ref.rfind('/');
  auto guid = slash == std::string::npos ? ref : ref.substr(slash + 1);
  for (auto& c : db.categories())
    if (ascii_lower(c.guid) == ascii_lower(guid))
      return c;
  return std::nullopt;
}

const std::string* option(const args_t& a, const std::string& key) {
  for (const auto& o : a.opts)
    if (o.first == key)
      return &o.second;
  return nullptr;
}

// Both HA1s of `aor` over pchatd's realm (its SIP domain): the store never sees the password.
void set_password(storage::user_record& u, const std::string& realm, const std::string& password) {
  auto name = sip::digest::username_of(u.aor);
  u.realm = realm;
  u.ha1_md5 = sip::digest::ha1(sip::digest::algorithm::md5, name, realm, password);
  u.ha1_sha256 = sip::digest::ha1(sip::digest::algorithm::sha256, name, realm, password);
  u.nt_hash = hex::encode(sip::ntlm::nt_hash(password)); // for NTLM (pidgin-sipe); empty if MD4 is unavailable
}

const char* on_off(bool enabled) { return enabled ? "enabled" : "disabled"; }

std::string describe(const storage::status& st) { return std::string{storage::to_string(st.code)} + ": " + st.message; }

// Users and policy (README "Users and authentication"). Unlike rooms these are written to the store directly,
// also while pchatd runs (this code then runs on its admin thread): the SIP thread reads accounts and policy per
// request with point reads, so the next REGISTER, SUBSCRIBE or INVITE sees the change; no actor caches them.
std::optional<result> run_users(const args_t& a, storage::store& db, const std::string& domain) {
  const auto& w = a.words;
  std::ostringstream out;
  std::ostringstream err;
  auto finish = [&](int code) { return result{code, out.str(), err.str()}; };
  auto failed = [&](const std::string& what, const storage::status& st) {
    err << "pchatctl: " << what << ": " << describe(st) << "\n";
    return finish(1);
  };
  auto usage_error = [&](const std::string& why) {
    err << "pchatctl: " << why << "\n" << usage();
    return finish(2);
  };
  if (w[0] == "user" && w.size() == 2 && w[1] == "list") {
    if (a.has("json")) {
      json all = json::array();
      for (const auto& u : db.users())
        all.push_back({{"user", u.aor}, {"name", u.display_name}, {"enabled", !u.disabled}, {"realm", u.realm},
                       {"ntlm", u.nt_hash.size() == 32}});
      out << dump(all);
      return finish(0);
    }
    for (const auto& u : db.users()) {
      out << u.aor << "\t" << (u.display_name.empty() ? "-" : u.display_name) << "\t" << on_off(!u.disabled);
      if (u.realm != domain)
        out << "\tpassword set for realm " << u.realm << ", not " << domain << ": set it again";
      out << "\n";
    }
    return finish(0);
  }
  if (w[0] == "user" && w.size() == 3) {
    auto aor = sip::normalize_aor(w[2]);
    if (aor.empty())
      return usage_error(w[2] + " is not a user (alice@example.com)");
    const auto* password = option(a, "password");
    const auto* name = option(a, "name");
    const auto* disabled = option(a, "disabled");
    for (const auto& [k, v] : a.opts)
      if (k != "password" && k != "name" && k != "disabled")
        return usage_error("unknown option --" + k + " for user " + w[1]);
    if (disabled && *disabled != "true" && *disabled != "false")
      return usage_error("--disabled " + *disabled + ": expected true or false");
    if (password && password->empty())
      return usage_error("the password is empty");
    if (w[1] == "remove") {
      if (auto st = db.remove_user(aor); !st.ok())
        return failed("user remove " + aor, st);
      out << "removed " << aor << "\n";
      return finish(0);
    }
    storage::user_record u;
    if (w[1] == "add") {
      if (!password)
        return usage_error("user add needs a password (--password, --password-file or typed at the terminal)");
      u.aor = aor;
    } else if (w[1] == "passwd" || w[1] == "set") {
      if (w[1] == "passwd" && !password)
        return usage_error("user passwd needs a password (--password, --password-file or typed at the terminal)");
      if (auto st = db.find_user(aor, u); !st.ok())
        return failed("user " + w[1] + " " + aor, st);
    } else {
      return std::nullopt;
    }
    if (name)
      u.display_name = *name;
    if (disabled)
      u.disabled = *disabled == "true";
    if (password)
      set_password(u, domain, *password);
    auto st = w[1] == "add" ? db.add_user(u) : db.update_user(u);
    if (!st.ok())
      return failed("user " + w[1] + " " + aor, st);
    out << u.aor << "\t" << (u.display_name.empty() ? "-" : u.display_name) << "\t" << on_off(!u.disabled) << "\n";
    return finish(0);
  }
  if (w[0] == "policy" && w.size() >= 2 && w[1] == "show") {
    if (w.size() == 2 && a.has("json")) {
      json all = json::array();
      for (const auto& p : db.policies())
        all.push_back({{"scope", p.scope == storage::policy_scope::global   ? "global"
                                 : p.scope == storage::policy_scope::domain ? "domain"
                                                                            : "user"},
                       {"subject", p.subject},
                       {"persistent_chat", p.persistent_chat}});
      out << dump(all);
      return finish(0);
    }
    if (w.size() == 2) {
      auto all = db.policies();
      if (all.empty() || all.front().scope != storage::policy_scope::global)
        out << "global\t(not set: pchatd's pchat.persistent-chat applies, enabled unless configured)\n";
      for (const auto& p : all)
        out << (p.scope == storage::policy_scope::global ? "global"
                : p.scope == storage::policy_scope::domain ? "domain " + p.subject
                                                           : "user " + p.subject)
            << "\t" << on_off(p.persistent_chat) << "\n";
      return finish(0);
    }
    if (w.size() == 4 && w[2] == "user") {
      auto aor = sip::normalize_aor(w[3]);
      if (aor.empty())
        return usage_error(w[3] + " is not a user (alice@example.com)");
      std::optional<storage::policy_setting> p;
      if (auto st = db.persistent_chat_policy(aor, p); !st.ok())
        return failed("policy show user " + aor, st);
      if (a.has("json")) {
        json j = {{"user", aor}, {"persistent_chat", nullptr}, {"from", nullptr}};
        if (p) {
          j["persistent_chat"] = p->persistent_chat;
          j["from"] = p->scope == storage::policy_scope::user     ? "user"
                      : p->scope == storage::policy_scope::domain ? "domain " + p->subject
                                                                  : "global";
        }
        out << dump(j);
        return finish(0);
      }
      out << aor << "\t";
      if (!p)
        out << "(not set: pchatd's pchat.persistent-chat applies)\n";
      else
        out << on_off(p->persistent_chat) << "\tfrom the "
            << (p->scope == storage::policy_scope::user ? "user setting"
                : p->scope == storage::policy_scope::domain ? "setting of domain " + p->subject
                                                            : "global setting")
            << "\n";
      return finish(0);
    }
    return usage_error("policy show [user USER]");
  }
  if (w[0] == "policy" && w.size() >= 2 && w[1] == "set") {
    // policy set global VALUE | policy set domain D VALUE | policy set user U VALUE
    bool global = w.size() == 4 && w[2] == "global";
    bool scoped = w.size() == 5 && (w[2] == "domain" || w[2] == "user");
    if (!global && !scoped)
      return usage_error("policy set global|domain D|user U enabled|disabled|inherit");
    const auto& value = w.back();
    if (value != "enabled" && value != "disabled" && value != "inherit")
      return usage_error(value + ": expected enabled, disabled or inherit");
    auto scope = global ? storage::policy_scope::global
                 : w[2] == "domain" ? storage::policy_scope::domain : storage::policy_scope::user;
    std::string subject = global ? "" : ascii_lower(w[3]);
    if (scope == storage::policy_scope::user) {
      subject = sip::normalize_aor(w[3]);
      if (subject.empty())
        return usage_error(w[3] + " is not a user (alice@example.com)");
    }
    std::optional<bool> setting;
    if (value != "inherit")
      setting = value == "enabled";
    if (auto st = db.set_policy(scope, subject, setting); !st.ok())
      return failed("policy set", st);
    out << (global ? "global" : w[2] + " " + subject) << "\t" << value << "\n";
    return finish(0);
  }
  return std::nullopt;
}

constexpr std::initializer_list<const char*> category_fields = {"name",  "description", "invite",    "logged",
                                                                "filepost", "allow",    "deny",      "creators",
                                                                "keep-days", "keep-posts"};
constexpr std::initializer_list<const char*> room_fields = {"name",   "category", "description", "topic",
                                                            "addin",  "privacy",  "type",        "invite",
                                                            "disabled", "keep-days", "keep-posts", "keep"};

} // namespace

std::unique_ptr<operations> local_operations(std::shared_ptr<storage::store> store, std::string domain,
                                             std::string compliance_dir) {
  return std::make_unique<local_ops>(std::move(store), std::move(domain), std::move(compliance_dir));
}

std::unique_ptr<operations> actor_operations(caf::actor_system& sys, directory_actor directory) {
  return std::make_unique<actor_ops>(sys, std::move(directory));
}

std::string usage() {
  return R"(usage: pchatctl [--config FILE] [--data DIR] [--domain D] COMMAND      (pchatctl --version: the version)
pchatd's configuration FILE gives the data directory, domain and run directory; without --config and --data
pchatctl reads ./pchatd.ini or )" PCHAT_SYSCONF_DIR R"(/pchatd.ini when there is one (docs/operations.md).
  init [--demo]                         create the store (no other command does); --demo adds category General
                                        with Lobby and Dev
  check                                 check the configuration, data directory, accounts' realm, ports and TLS
                                        files; exit 1 on any error
  backup DEST                           a consistent copy of the store, room files and compliance queue in the
                                        new directory DEST, pchatd running or not
  restore SRC                           a backup into the data directory, which must hold no store (pchatd
                                        stopped); then start pchatd on it
  export [--rooms A,B] [--no-history] FILE
                                        categories, rooms, roles and history as JSON Lines (FILE - : stdout);
                                        read-only, works beside a running pchatd
  import FILE                           an export into this store (pchatd stopped); nothing is written unless
                                        the whole file is sound, existing rooms and categories are never touched
  category add NAME [--description D] [--invite true|false] [--logged true|false] [--filepost true|false]
               [--allow LIST] [--deny LIST] [--creators LIST] [--keep-days N] [--keep-posts N]
  category set CAT [--name N] [same options as add]
  category show CAT | category list | category remove CAT
  room add NAME --category CAT [--description D] [--topic T] [--privacy open|closed|secret]
           [--type normal|auditorium] [--invite inherit|false] [--disabled true|false] [--addin URL]
           [--keep-days N] [--keep-posts N] [--keep inherit]
                                        retention: pchatd deletes posts older than N days and all but the newest
                                        N posts (0: no limit); a room's own rule replaces its category's
  room set ROOM [--name N] [--category CAT] [same options as add]
  room show ROOM | room list | room remove ROOM
  member add ROOM USER [--role member|manager|presenter]...    (roles add up; default member)
  member remove ROOM USER                                       (every role)
  manager add|remove ROOM USER  |  presenter add|remove ROOM USER
  member list ROOM
  history ROOM [N]
  history clear ROOM --before DATE|AGE  delete the posts made before DATE (2026-01-31, 2026-01-31T12:00:00Z, UTC)
                                        or older than AGE (90d, 12h, 30m), like Clear-CsPersistentChatRoom
  message remove ROOM SEQ [--replace TEXT]
                                        post #SEQ reads TEXT (default: that an administrator removed it) for
                                        every later reader and search; like Remove-CsPersistentChatMessage
  user add USER [--password P | --password-file F] [--name N]   an account for SIP Digest (pchatd's realm is
                                        --domain); with neither option the password is read from the terminal
                                        without echo (or one line from stdin when it is not a terminal)
  user passwd USER [--password P | --password-file F]
  user set USER [--name N] [--disabled true|false]
  user remove USER | user list
  policy set global|domain D|user U enabled|disabled|inherit   persistent chat (EnablePersistentChat); the
                                        most specific setting wins, inherit removes one
  policy show [user USER]
  stats                                 the running pchatd's live counters and fan-out latency
  compliance verify DIR [--queue QDIR] [--partial]
                                        check archived XML in DIR against its hash chain (and the queue's end)
  cert self-signed [--out DIR] [--name N]... [--days D] [--force]
                                        a key and self-signed certificate for SIP over TLS and HTTPS (DIR/pchat.crt,
                                        DIR/pchat.key; DIR defaults to ./var/tls; no data directory needed)
--json after a list or show command (category, room, member list, history, user list, policy show) prints JSON.
LIST is comma-separated principals: * (everyone), a domain (example.com) or a user (sip:alice@example.com).
Changes work with pchatd stopped (directly on DIR) and running (through DIR/pchatd.sock).
Exit status: 0 ok, 1 failed, 2 usage or configuration error, 3 data directory busy and pchatd not answering.
)";
}

result run(const std::vector<std::string>& argv, const context& where) {
  auto& db = where.store;
  auto& ops = where.ops;
  const auto& domain = where.domain;
  std::ostringstream out;
  std::ostringstream err;
  auto a = parse(argv);
  const auto& w = a.words;
  auto fail = [&](const std::string& what, const caf::error& e) {
    err << "pchatctl: " << what << ": " << describe(e) << "\n";
    return result{1, out.str(), err.str()};
  };
  auto usage_error = [&](const std::string& why) {
    err << "pchatctl: " << why << "\n" << usage();
    return result{2, out.str(), err.str()};
  };
  auto done = [&] { return result{0, out.str(), err.str()}; };
  if (w.empty())
    return usage_error("no command");
  const std::string cmd = w[0] + (w.size() > 1 && w[0] != "init" && w[0] != "history" ? " " + w[1] : "");
  std::string unknown;
  if (w[0] == "user" || w[0] == "policy")
    if (auto handled = run_users(a, db, domain))
      return *handled;

  if (cmd == "init") {
    if (a.has("demo") && db.categories().empty()) {
      auto c = ops.create_category({{"name", "General"}, {"description", "Rooms for everyone"}});
      if (!c)
        return fail("category General", c.error());
      for (auto [name, desc] : {std::pair{"Lobby", "Say hello"}, std::pair{"Dev", "Developers"}})
        if (auto made = ops.create_room({{"name", name}, {"description", desc}, {"category", "General"}}); !made)
          return fail(std::string{"room "} + name, made.error());
    }
    out << "data directory ready: " << db.categories().size() << " categories, " << db.rooms().size() << " rooms\n";
    return done();
  }
  if ((cmd == "category add" || cmd == "category set") && w.size() == 3) {
    auto fields = fields_of(a, category_fields, unknown);
    if (!unknown.empty())
      return usage_error("unknown option " + unknown + " for " + cmd);
    if (cmd == "category add")
      fields.insert(fields.begin(), {"name", w[2]});
    auto c = cmd == "category add" ? ops.create_category(fields) : ops.update_category(w[2], fields);
    if (!c)
      return fail(cmd + " " + w[2], c.error());
    out << c->name << "\t" << c->uri << "\n";
    return done();
  }
  const bool as_json = a.has("json");
  if (cmd == "category list" && w.size() == 2) {
    if (as_json) {
      json all = json::array();
      for (const auto& c : db.categories())
        all.push_back(category_json(c, domain));
      out << dump(all);
      return done();
    }
    for (const auto& c : db.categories())
      out << c.name << "\tma-cat://" << domain << "/" << c.guid << "\t" << c.description << "\n";
    return done();
  }
  if (cmd == "category show" && w.size() == 3) {
    auto c = find_category(db, w[2]);
    if (!c)
      return fail(cmd, make_error(pchat_errc::category_not_found, w[2]));
    if (as_json) {
      out << dump(category_json(*c, domain));
      return done();
    }
    out << "name        " << c->name << "\nuri         ma-cat://" << domain << "/" << c->guid << "\ndescription "
        << c->description << "\ninvite      " << (c->invite ? "true" : "false") << "\nlogged      "
        << (c->logged ? "true" : "false") << "\nfilepost    " << (c->filepost ? "true" : "false")
        << "\nallow       " << (c->allow.empty() ? "* (empty list)" : join_list(c->allow)) << "\ndeny        "
        << join_list(c->deny) << "\ncreators    " << join_list(c->creators) << "\nkeep        "
        << pchat::describe(c->keep) << "\n";
    return done();
  }
  if ((cmd == "category remove" || cmd == "room remove") && w.size() == 3) {
    auto gone = cmd == "category remove" ? ops.remove_category(w[2]) : ops.remove_room(w[2]);
    if (!gone)
      return fail(cmd + " " + w[2], gone.error());
    out << "removed " << w[2] << "\n";
    return done();
  }
  if ((cmd == "room add" || cmd == "room set") && w.size() == 3) {
    auto fields = fields_of(a, room_fields, unknown);
    if (!unknown.empty())
      return usage_error("unknown option " + unknown + " for " + cmd);
    if (cmd == "room add") {
      fields.insert(fields.begin(), {"name", w[2]});
      if (!a.has("category"))
        fields.emplace_back("category", "General");
    }
    auto v = cmd == "room add" ? ops.create_room(fields) : ops.update_room(w[2], fields);
    if (!v)
      return fail(cmd + " " + w[2], v.error());
    out << v->name << "\t" << v->uri << "\n";
    return done();
  }
  if (cmd == "room list" && w.size() == 2) {
    if (as_json) {
      json all = json::array();
      for (const auto& rm : db.rooms())
        all.push_back(room_json(db, rm, domain));
      out << dump(all);
      return done();
    }
    for (const auto& rm : db.rooms())
      out << rm.name << "\tma-chan://" << domain << "/" << rm.guid << "\t" << privacy_name(rm.privacy_mode)
          << (rm.type == storage::room_type::auditorium ? " auditorium" : "") << (rm.disabled ? " disabled" : "")
          << "\t" << rm.description << "\n";
    return done();
  }
  if ((cmd == "room show" || cmd == "member list") && w.size() == 3) {
    auto rm = find_room(db, w[2]);
    if (!rm)
      return fail(cmd, make_error(pchat_errc::room_not_found, w[2]));
    if (as_json) {
      if (cmd == "room show") {
        auto j = room_json(db, *rm, domain);
        j["members"] = members_json(db, rm->id);
        out << dump(j);
      } else {
        out << dump(members_json(db, rm->id));
      }
      return done();
    }
    if (cmd == "room show") {
      auto c = db.category_by_id(rm->category_id);
      out << "name        " << rm->name << "\nuri         ma-chan://" << domain << "/" << rm->guid << "\ncategory    "
          << (c ? c->name : "?") << "\ndescription " << rm->description << "\ntopic       " << rm->topic
          << "\nprivacy     " << privacy_name(rm->privacy_mode) << "\ntype        "
          << (rm->type == storage::room_type::auditorium ? "auditorium" : "normal") << "\ninvite      "
          << (rm->invite == storage::room_invite::off ? "false" : "inherit") << "\ndisabled    "
          << (rm->disabled ? "true" : "false") << "\naddin       " << rm->addin_url << "\nposts       "
          << db.last_seq(rm->id) << "\nkeep        "
          << pchat::describe(c ? storage::effective_retention(*rm, *c) : rm->keep.value_or(storage::retention{}))
          << (rm->keep ? " (the room's own)" : " (the category's)") << "\n";
    }
    for (const auto& [user, bits] : db.room_roles(rm->id))
      out << user << "\t" << roles_text(bits) << "\n";
    return done();
  }
  bool role_cmd = w[0] == "member" || w[0] == "manager" || w[0] == "presenter";
  if (role_cmd && w.size() == 4 && (w[1] == "add" || w[1] == "remove")) {
    auto rm = find_room(db, w[2]);
    if (!rm)
      return fail(cmd, make_error(pchat_errc::room_not_found, w[2]));
    auto user = sip::normalize_aor(w[3]);
    if (user.empty())
      return usage_error(w[3] + " is not a user (alice@example.com)");
    std::uint8_t before = db.roles_of(rm->id, user);
    std::uint8_t bits = before;
    if (w[1] == "add") {
      bool any = false;
      for (const auto& [k, v] : a.opts)
        if (k == "role") {
          auto bit = role_bit(v);
          if (!bit)
            return usage_error("--role " + v + ": expected member, manager or presenter");
          bits |= *bit;
          any = true;
        }
      if (!any)
        bits |= *role_bit(w[0]);
    } else {
      bits = w[0] == "member" ? 0 : static_cast<std::uint8_t>(bits & ~*role_bit(w[0]));
    }
    auto invited = ops.set_roles(rm->name, user, bits);
    if (!invited)
      return fail(cmd, invited.error());
    out << user << "\t" << (bits ? roles_text(bits) : "removed") << "\t" << rm->name
        << (*invited ? "\tinvited" : "") << "\n";
    return done();
  }
  if (cmd == "compliance verify" && w.size() == 3) {
    compliance::verify_options vo;
    vo.from_genesis = !a.has("partial");
    // Check the output's end against what the queue says it archived, when the queue is where we expect it.
    std::string queue_dir = where.data_dir + "/compliance";
    for (const auto& [k, v] : a.opts)
      if (k == "queue")
        queue_dir = v;
    compliance::chain_point end;
    if (compliance::queue::archived_end(queue_dir, end).ok() && end.id > 0)
      vo.expect_end = end;
    auto report = compliance::verify_dir(w[2], vo);
    out << compliance::to_string(report) << (vo.expect_end ? "" : "(end not checked: no compliance queue found)\n");
    return {report.ok() ? 0 : 1, out.str(), err.str()};
  }
  if (w[0] == "backup") {
    if (w.size() != 2)
      return usage_error("backup DEST");
    return backup(where, w[1]);
  }
  if (w[0] == "history" && w.size() == 3 && w[1] == "clear") {
    // Clear-CsPersistentChatRoom -Before: every post made before the time goes.
    const auto* before = option(a, "before");
    for (const auto& [k, v] : a.opts)
      if (k != "before")
        return usage_error("unknown option --" + k + " for history clear");
    if (!before)
      return usage_error("history clear ROOM --before DATE|AGE (2026-01-31, 2026-01-31T12:00:00Z, 90d, 12h)");
    auto ticks = when_ticks(*before, std::time(nullptr));
    if (!ticks)
      return usage_error("--before " + *before + ": expected 2026-01-31, 2026-01-31T12:00:00Z or an age like 90d");
    auto rm = find_room(db, w[2]);
    const std::uint64_t floor = rm ? db.cleared_up_to(rm->id) : 0;
    auto up_to = ops.clear_history(w[2], *ticks);
    if (!up_to)
      return fail("history clear " + w[2], up_to.error());
    if (*up_to <= floor)
      out << "history clear " << w[2] << ": nothing left that was posted before " << *before
          << (floor ? " (cleared up to #" + std::to_string(floor) + " before)" : "") << "\n";
    else
      out << "history clear " << w[2] << ": posts up to #" << *up_to << " deleted\n";
    return done();
  }
  if (w[0] == "message" && w.size() == 4 && w[1] == "remove") {
    // Remove-CsPersistentChatMessage [-ReplaceMessage]: the post keeps its place (seq, author, time), so
    // catch-up and history stay gap-free, and reads the replacement from now on.
    const auto* replace = option(a, "replace");
    for (const auto& [k, v] : a.opts)
      if (k != "replace")
        return usage_error("unknown option --" + k + " for message remove");
    char* end = nullptr;
    auto seq = std::strtoull(w[3].c_str(), &end, 10);
    if (w[3].empty() || *end != '\0' || w[3][0] == '-' || seq == 0)
      return usage_error("message remove ROOM SEQ: " + w[3] + " is not a post number (#N in pchatctl history)");
    std::string text = replace ? *replace : "This message was removed by an administrator.";
    auto found = ops.replace_message(w[2], seq, text);
    if (!found)
      return fail("message remove " + w[2], found.error());
    if (!*found) {
      err << "pchatctl: message remove " << w[2] << ": no post #" << seq << " (never made, or cleared)\n";
      return result{1, out.str(), err.str()};
    }
    out << "message remove " << w[2] << ": #" << seq << " now reads: " << text << "\n";
    return done();
  }
  if (w[0] == "history" && w.size() >= 2) {
    auto rm = find_room(db, w[1]);
    if (!rm)
      return fail("history", make_error(pchat_errc::room_not_found, w[1]));
    std::size_t n = 30;
    if (w.size() > 2) {
      char* end = nullptr;
      n = std::strtoul(w[2].c_str(), &end, 10);
      if (w[2].empty() || *end != '\0' || w[2][0] == '-')
        return usage_error("history ROOM [N]: " + w[2] + " is not a number");
    }
    if (as_json) {
      json all = json::array();
      for (const auto& m : db.last(rm->id, n))
        all.push_back({{"seq", m.seq}, {"author", m.author}, {"ticks", m.ticks}, {"text", m.text}});
      out << dump(all);
      return done();
    }
    for (const auto& m : db.last(rm->id, n))
      out << "#" << m.seq << " " << m.author << ": " << m.text << "\n";
    return done();
  }
  return usage_error("unknown command: " + cmd);
}

} // namespace pchat::admin
