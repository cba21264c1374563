#include "codec/xccos.hpp"
#include "base/random.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <chrono>
#include <cstring>

#include <tinyxml2.h>

namespace pchat::xccos {

// --- timestamps -------------------------------------------------------------------------------------------

namespace {

constexpr std::int64_t seconds_per_day = 86'400;

// Howard Hinnant's civil-date algorithms (public domain): no gmtime, no locale, no thread hazards.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

void put_digits(std::string& out, std::int64_t v, int width) {
  char buf[24];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

bool read_digits(std::string_view s, size_t& pos, int width, int& out) {
  if (pos + static_cast<size_t>(width) > s.size())
    return false;
  int v = 0;
  for (int i = 0; i < width; ++i) {
    char c = s[pos + static_cast<size_t>(i)];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  pos += static_cast<size_t>(width);
  out = v;
  return true;
}

bool expect_char(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c)
    return false;
  ++pos;
  return true;
}

} // namespace

std::string format_ts(std::int64_t ticks) {
  if (ticks < 0)
    ticks = 0;
  const std::int64_t secs = ticks / ticks_per_second;
  const std::int64_t frac = ticks % ticks_per_second;
  const std::int64_t days = secs / seconds_per_day;
  std::int64_t sod = secs % seconds_per_day;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  std::string out;
  out.reserve(28);
  put_digits(out, y, 4);
  out += '-';
  put_digits(out, m, 2);
  out += '-';
  put_digits(out, d, 2);
  out += 'T';
  put_digits(out, sod / 3600, 2);
  out += ':';
  put_digits(out, sod / 60 % 60, 2);
  out += ':';
  put_digits(out, sod % 60, 2);
  out += '.';
  put_digits(out, frac, 7);
  out += 'Z';
  return out;
}

std::optional<std::int64_t> parse_ts(std::string_view s) {
  size_t pos = 0;
  int year = 0, mon = 0, day = 0, hh = 0, mm = 0, ss = 0;
  if (!read_digits(s, pos, 4, year) || !expect_char(s, pos, '-') || !read_digits(s, pos, 2, mon)
      || !expect_char(s, pos, '-') || !read_digits(s, pos, 2, day) || !expect_char(s, pos, 'T')
      || !read_digits(s, pos, 2, hh) || !expect_char(s, pos, ':') || !read_digits(s, pos, 2, mm)
      || !expect_char(s, pos, ':') || !read_digits(s, pos, 2, ss))
    return std::nullopt;
  if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
    return std::nullopt;
  std::int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 7) {
        frac = frac * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0)
      return std::nullopt;
    for (; digits < 7; ++digits)
      frac *= 10;
  }
  if (pos < s.size() && s[pos] == 'Z')
    ++pos;
  if (pos != s.size())
    return std::nullopt;
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day));
  const std::int64_t secs = days * seconds_per_day + hh * 3600 + mm * 60 + ss;
  return secs * ticks_per_second + frac;
}

// --- generic document model --------------------------------------------------------------------------------

const std::string* node::attr(std::string_view key) const {
  for (const auto& [k, v] : attrs)
    if (k == key)
      return &v;
  return nullptr;
}

std::string node::attr_or(std::string_view key, std::string_view fallback) const {
  const auto* v = attr(key);
  return v ? *v : std::string{fallback};
}

const node* node::child(std::string_view child_name) const {
  for (const auto& c : children)
    if (c.name == child_name)
      return &c;
  return nullptr;
}

std::vector<const node*> node::children_named(std::string_view child_name) const {
  std::vector<const node*> out;
  for (const auto& c : children)
    if (c.name == child_name)
      out.push_back(&c);
  return out;
}

namespace {

std::string local_name(const char* qname) {
  const char* colon = std::strchr(qname, ':');
  return colon ? std::string{colon + 1} : std::string{qname};
}

// Depth guard: a hostile document cannot make the converter recurse without bound (tinyxml2 itself caps depth
// at TINYXML2_MAX_ELEMENT_DEPTH as of 9.0).
constexpr int max_depth = 64;

constexpr const char* not_xml_characters =
  "a character XML 1.0 does not allow (a control character, also as a character reference, or invalid UTF-8)";

// The item as a node; on failure, why the document is not well-formed. tinyxml2 lets through what XML 1.0
// forbids (control characters, &#1;, invalid UTF-8), which any conforming parser (sipe's libxml2) refuses:
// refused here too, since the server echoes ids and values into its replies, which must stay well-formed.
const char* convert(const tinyxml2::XMLElement* e, node& out, int depth) {
  if (depth > max_depth)
    return "element nesting too deep";
  out.name = local_name(e->Name());
  for (const auto* a = e->FirstAttribute(); a; a = a->Next()) {
    if (!is_xml_text(a->Name()) || !is_xml_text(a->Value()))
      return not_xml_characters;
    out.attrs.emplace_back(a->Name(), a->Value());
  }
  for (const auto* c = e->FirstChild(); c; c = c->NextSibling()) {
    if (const auto* ce = c->ToElement()) {
      out.children.emplace_back();
      if (const char* why = convert(ce, out.children.back(), depth + 1))
        return why;
    } else if (const auto* t = c->ToText()) {
      if (!is_xml_text(t->Value()))
        return not_xml_characters;
      out.text += t->Value();
    }
  }
  return is_xml_text(out.name) ? nullptr : not_xml_characters;
}

bool kind_of(const std::string& name, item_kind& k) {
  if (name == "cmd")
    k = item_kind::cmd;
  else if (name == "rpl")
    k = item_kind::rpl;
  else if (name == "ntc")
    k = item_kind::ntc;
  else if (name == "grpchat")
    k = item_kind::grpchat;
  else
    return false;
  return true;
}

} // namespace

std::variant<envelope, parse_error> parse(std::string_view body) {
  tinyxml2::XMLDocument doc(true, tinyxml2::PRESERVE_WHITESPACE);
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS) {
    const char* why = doc.ErrorStr();
    return parse_error{pchat_errc::malformed_xml, why ? why : "not well-formed"};
  }
  const auto* root = doc.RootElement();
  if (!root || local_name(root->Name()) != "xccos")
    return parse_error{pchat_errc::not_xccos, "the root element is not <xccos>"};
  envelope env;
  if (const char* envid = root->Attribute("envid")) {
    if (!is_xml_text(envid))
      return parse_error{pchat_errc::malformed_xml, not_xml_characters};
    env.envid = envid;
  }
  for (const auto* e = root->FirstChildElement(); e; e = e->NextSiblingElement()) {
    item it;
    if (!kind_of(local_name(e->Name()), it.kind))
      continue;
    if (const char* why = convert(e, it.element, 0))
      return parse_error{pchat_errc::malformed_xml, why};
    it.id = it.element.attr_or("id", it.kind == item_kind::grpchat ? "grpchat" : "");
    it.seqid = it.element.attr_or("seqid");
    if (const node* cid = it.element.child("commandid")) {
      it.cmd_seqid = cid->attr_or("seqid");
      it.cmd_envid = cid->attr_or("envid");
    }
    if (const node* resp = it.element.child("resp")) {
      it.code = std::atoi(resp->attr_or("code", "0").c_str());
      it.token = resp->text;
    }
    env.items.push_back(std::move(it));
  }
  if (env.items.empty())
    return parse_error{pchat_errc::not_xccos, "no cmd, rpl, ntc or grpchat element"};
  return env;
}

namespace {

// Value of the first `name="..."` (or '...') at or after `from`.
std::string scan_attr(std::string_view body, std::string_view name, size_t from = 0) {
  std::string pat{name};
  pat += '=';
  for (size_t pos = body.find(pat, from); pos != std::string_view::npos; pos = body.find(pat, pos + 1)) {
    // Require a word boundary before the name ("seqid" must not match inside "xseqid").
    if (pos > 0 && (std::isalnum(static_cast<unsigned char>(body[pos - 1])) || body[pos - 1] == ':'))
      continue;
    size_t q = pos + pat.size();
    if (q >= body.size() || (body[q] != '"' && body[q] != '\''))
      return {};
    size_t end = body.find(body[q], q + 1);
    if (end == std::string_view::npos || end - q - 1 > 128)
      return {};
    return std::string{body.substr(q + 1, end - q - 1)};
  }
  return {};
}

} // namespace

salvage salvage_ids(std::string_view body) {
  salvage s;
  s.envid = scan_attr(body, "envid");
  size_t item = body.find("<cmd");
  if (item == std::string_view::npos)
    item = body.find("<grpchat");
  if (item != std::string_view::npos) {
    s.seqid = scan_attr(body, "seqid", item);
    s.id = scan_attr(body, "id", item);
  }
  // Only plain tokens are echoed back: the fields end up in attributes of our reply.
  auto clean = [](std::string& v) {
    for (char c : v)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_' || c == '.')) {
        v.clear();
        return;
      }
  };
  clean(s.envid);
  clean(s.seqid);
  clean(s.id);
  return s;
}

// --- typed commands ----------------------------------------------------------------------------------------

std::optional<chan_ref> parse_chan_uri(std::string_view uri) {
  constexpr std::string_view scheme = "ma-chan://";
  if (uri.substr(0, scheme.size()) != scheme)
    return std::nullopt;
  auto rest = uri.substr(scheme.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size())
    return std::nullopt;
  auto guid = rest.substr(slash + 1);
  if (guid.find('/') != std::string_view::npos)
    return std::nullopt;
  return chan_ref{{}, std::string{rest.substr(0, slash)}, std::string{guid}};
}

std::string format_file_link(const file_link& l) {
  return "ma-filelink://" + l.domain + "/" + l.room_guid + "/" + l.file_id + "/" + percent_encode(l.name);
}

std::optional<file_link> parse_file_link(std::string_view link) {
  constexpr std::string_view scheme = "ma-filelink://";
  if (link.substr(0, scheme.size()) != scheme)
    return std::nullopt;
  auto rest = link.substr(scheme.size());
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0)
      return std::nullopt;
    parts[i] = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
  }
  if (rest.empty() || rest.find('/') != std::string_view::npos)
    return std::nullopt;
  for (char c : rest)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return std::nullopt; // a link is one word of printable ASCII
  auto name = percent_decode(rest);
  if (!name)
    return std::nullopt;
  return file_link{std::string{parts[0]}, std::string{parts[1]}, std::string{parts[2]}, std::move(*name)};
}

namespace {

std::optional<chan_ref> chan_from_chanid(const node& n) {
  chan_ref c;
  c.key = n.attr_or("key");
  c.domain = n.attr_or("domain");
  c.guid = n.attr_or("value");
  if (c.domain.empty() || c.guid.empty())
    return std::nullopt;
  return c;
}

// A sequence number as an attribute carries it: 1 to 19 decimal digits (no sign, no space).
std::optional<std::uint64_t> parse_seq(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(text);
}

// A room reference inside <data>: <chanid> or <chanib uri>.
std::optional<chan_ref> chan_in(const node* data) {
  if (!data)
    return std::nullopt;
  if (const node* id = data->child("chanid"))
    return chan_from_chanid(*id);
  if (const node* ib = data->child("chanib"))
    if (const auto* uri = ib->attr("uri"))
      return parse_chan_uri(*uri);
  return std::nullopt;
}

// The settings a <chanib> carries as attributes (our management extensions); `uri` is the room, not a setting.
std::vector<std::pair<std::string, std::string>> settings_of(const node& chanib, bool with_category) {
  static const char* const names[] = {"name", "description", "topic", "addin", "privacy", "type", "invite", "disabled"};
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : chanib.attrs) {
    bool known = std::find(std::begin(names), std::end(names), key) != std::end(names);
    if (known || (with_category && key == "category"))
      out.emplace_back(key, value);
  }
  return out;
}

command_data decode_cmd(const item& it) {
  const node* data = it.data();
  const std::string& id = it.id;
  if (id == "cmd:requri")
    return requri_cmd{};
  if (id == "cmd:getserverinfo") {
    getserverinfo_cmd c;
    if (const node* sib = data ? data->child("sib") : nullptr) {
      c.domain = sib->attr_or("domain");
      c.info_type = sib->attr_or("infoType");
    }
    return c;
  }
  if (id == "cmd:chansrch") {
    chansrch_cmd c;
    const node* qib = data ? data->child("qib") : nullptr;
    if (!qib)
      return invalid_cmd{"chansrch needs <qib>"};
    c.qtype = qib->attr_or("qtype", "BYNAME");
    c.criteria = qib->attr_or("criteria");
    c.extended = qib->attr_or("extended") == "true";
    return c;
  }
  if (id == "cmd:join") {
    auto chan = chan_in(data);
    if (!chan)
      return invalid_cmd{"join needs <chanid domain value> or <chanib uri>"};
    return join_cmd{std::move(*chan)};
  }
  if (id == "cmd:bjoin") {
    bjoin_cmd c;
    if (data)
      for (const auto& n : data->children) {
        std::optional<chan_ref> chan;
        if (n.name == "chanid")
          chan = chan_from_chanid(n);
        else if (n.name == "chanib" && n.attr("uri"))
          chan = parse_chan_uri(*n.attr("uri"));
        else
          continue;
        if (!chan) // keep the broken item so the reply can report it as a <fib>
          chan = chan_ref{n.attr_or("key"), n.attr_or("domain"), n.attr_or("value")};
        c.chans.push_back(std::move(*chan));
      }
    if (c.chans.empty())
      return invalid_cmd{"bjoin needs at least one <chanid>"};
    return c;
  }
  if (id == "cmd:part") {
    auto chan = chan_in(data);
    if (!chan)
      return invalid_cmd{"part needs <chanib uri>"};
    return part_cmd{std::move(*chan)};
  }
  if (id == "cmd:bccontext") {
    auto chan = chan_in(data);
    if (!chan)
      return invalid_cmd{"bccontext needs <chanib uri>"};
    bccontext_cmd c{std::move(*chan)};
    if (const node* bcq = data->child("bcq"))
      if (const node* last = bcq->child("last")) {
        long n = std::atol(last->attr_or("cnt", "25").c_str());
        c.last = n < 0 ? 0u : static_cast<std::uint32_t>(std::min<long>(n, 1'000'000));
        if (const auto* before = last->attr("before")) {
          auto v = parse_seq(*before);
          if (!v)
            return invalid_cmd{"bccontext's before must be a sequence number"};
          c.before = *v;
        }
      }
    return c;
  }
  if (id == "cmd:getinv") {
    getinv_cmd c;
    if (const node* inv = data ? data->child("inv") : nullptr) {
      c.invite_id = inv->attr_or("inviteId");
      c.domain = inv->attr_or("domain");
    }
    return c;
  }
  if (id == "cmd:getassoc")
    return getassoc_cmd{};
  if (id == "cmd:follow" || id == "cmd:unfollow") {
    follow_cmd c;
    c.on = id == "cmd:follow";
    if (data)
      for (const auto* ib : data->children_named("chanib")) {
        auto chan = parse_chan_uri(ib->attr_or("uri"));
        if (!chan)
          return invalid_cmd{"follow/unfollow items are <chanib uri=\"ma-chan://domain/guid\"/>"};
        c.chans.push_back(std::move(*chan));
      }
    if (c.chans.empty())
      return invalid_cmd{"follow/unfollow needs at least one <chanib uri/>"};
    return c;
  }
  if (id == "cmd:catchup") {
    catchup_cmd c;
    if (data)
      for (const auto* ib : data->children_named("chanib")) {
        auto chan = parse_chan_uri(ib->attr_or("uri"));
        auto seq = parse_seq(ib->attr_or("seq", "0"));
        if (!chan || !seq)
          return invalid_cmd{"catchup needs <chanib uri seq> items with a decimal seq"};
        c.rooms.emplace_back(std::move(*chan), *seq);
      }
    if (c.rooms.empty())
      return invalid_cmd{"catchup needs at least one <chanib uri seq>"};
    return c;
  }
  if (id == "cmd:getpref" || id == "cmd:setpref") {
    const node* pref = data ? data->child("pref") : nullptr;
    if (!pref || pref->attr_or("label").empty())
      return invalid_cmd{"getpref/setpref need <pref label/>"};
    if (id == "cmd:getpref")
      return getpref_cmd{pref->attr_or("label"), pref->attr_or("seqid"), pref->attr_or("createdefault") == "true"};
    if (!pref->attr("content"))
      return invalid_cmd{"setpref needs <pref label content/>"};
    return setpref_cmd{pref->attr_or("label"), pref->attr_or("seqid"), pref->attr_or("content")};
  }
  if (id == "cmd:nodespermcreatechild")
    return nodespermcreatechild_cmd{};
  if (id == "cmd:chancreate") {
    const node* ib = data ? data->child("chanib") : nullptr;
    if (!ib || ib->attr_or("name").empty() || ib->attr_or("category").empty())
      return invalid_cmd{"chancreate needs <chanib name category/>"};
    return chancreate_cmd{settings_of(*ib, true)};
  }
  if (id == "cmd:chanupd" || id == "cmd:chanrole") {
    const node* ib = data ? data->child("chanib") : nullptr;
    auto chan = ib ? parse_chan_uri(ib->attr_or("uri")) : std::nullopt;
    if (!chan)
      return invalid_cmd{id + " needs <chanib uri=\"ma-chan://domain/guid\"/>"};
    if (id == "cmd:chanupd") {
      auto fields = settings_of(*ib, false);
      if (fields.empty())
        return invalid_cmd{"chanupd changes nothing"};
      return chanupd_cmd{std::move(*chan), std::move(fields)};
    }
    chanrole_cmd c{std::move(*chan), {}};
    for (const auto* uib : data->children_named("uib")) {
      if (uib->attr_or("uri").empty() || !uib->attr("roles"))
        return invalid_cmd{"chanrole items are <uib uri roles/>"};
      c.users.emplace_back(uib->attr_or("uri"), uib->attr_or("roles"));
    }
    if (c.users.empty())
      return invalid_cmd{"chanrole needs at least one <uib uri roles/>"};
    return c;
  }
  if (id == "cmd:roster") {
    auto chan = chan_in(data);
    if (!chan)
      return invalid_cmd{"roster needs <chanib uri>"};
    roster_cmd c{std::move(*chan)};
    if (const node* page = data->child("page")) {
      for (auto [name, out] : {std::pair{"start", &c.start}, std::pair{"count", &c.count}}) {
        const std::string v = page->attr_or(name, name[0] == 's' ? "0" : "500");
        if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
          return invalid_cmd{"roster page start and count are numbers"};
        *out = static_cast<std::uint32_t>(std::stoul(v));
      }
      c.count = std::min<std::uint32_t>(c.count, 5000);
    }
    return c;
  }
  if (id == "cmd:getfutok" || id == "cmd:getfdtok") {
    // docs/xccos.md §4: <ftdb channelUri="ma-chan://..." fileUrl="Report.txt"/>
    const node* ftdb = data ? data->child("ftdb") : nullptr;
    if (!ftdb)
      return invalid_cmd{id + " needs <ftdb channelUri fileUrl/>"};
    auto chan = parse_chan_uri(ftdb->attr_or("channelUri"));
    if (!chan)
      return invalid_cmd{id + " channelUri is not ma-chan://domain/guid"};
    auto url = ftdb->attr_or("fileUrl");
    if (url.empty())
      return invalid_cmd{id + " needs fileUrl"};
    return getftok_cmd{id == "cmd:getfutok", std::move(*chan), std::move(url)};
  }
  if (id == "cmd:histsrch") {
    const node* q = data ? data->child("srch") : nullptr;
    if (!q)
      return invalid_cmd{"histsrch needs <srch text author from to limit/>"};
    histsrch_cmd c;
    c.text = q->attr_or("text");
    c.author = q->attr_or("author");
    if (const auto* from = q->attr("from")) {
      auto t = parse_ts(*from);
      if (!t)
        return invalid_cmd{"histsrch from is not a timestamp"};
      c.from_ticks = *t;
    }
    if (const auto* to = q->attr("to")) {
      auto t = parse_ts(*to);
      if (!t)
        return invalid_cmd{"histsrch to is not a timestamp"};
      c.to_ticks = *t;
    }
    const std::string limit = q->attr_or("limit", "0");
    if (limit.empty() || limit.size() > 9 || limit.find_first_not_of("0123456789") != std::string::npos)
      return invalid_cmd{"histsrch limit must be a number"};
    c.limit = static_cast<std::uint32_t>(std::stoul(limit));
    for (const auto* ib : data->children_named("chanib")) {
      auto chan = parse_chan_uri(ib->attr_or("uri"));
      if (!chan)
        return invalid_cmd{"histsrch rooms are <chanib uri=\"ma-chan://domain/guid\"/>"};
      c.chans.push_back(std::move(*chan));
    }
    if (c.text.empty() && c.author.empty() && !q->attr("from") && !q->attr("to"))
      return invalid_cmd{"histsrch needs text, author or a time range"};
    return c;
  }
  return unknown_cmd{};
}

command_data decode_grpchat(const item& it) {
  const node& e = it.element;
  const auto* uri = e.attr("chanUri");
  if (!uri)
    return invalid_cmd{"grpchat needs chanUri"};
  auto chan = parse_chan_uri(*uri);
  if (!chan)
    return invalid_cmd{"grpchat chanUri is not ma-chan://domain/guid"};
  const node* chat = e.child("chat");
  if (!chat)
    return invalid_cmd{"grpchat needs <chat>"};
  grpchat_cmd c;
  c.chan = std::move(*chan);
  c.author = e.attr_or("author");
  c.ts = e.attr_or("ts");
  c.text = chat->text;
  c.ack = e.attr_or("ack") == "true";
  return c;
}

} // namespace

std::string command::reply_id() const {
  if (id == "cmd:getfutok" || id == "cmd:getfdtok")
    return "rpl:getftok";
  if (id.rfind("cmd:", 0) == 0)
    return "rpl:" + id.substr(4);
  return "rpl:" + id;
}

std::vector<command> decode_commands(const envelope& env) {
  std::vector<command> out;
  for (const auto& it : env.items) {
    if (it.kind != item_kind::cmd && it.kind != item_kind::grpchat)
      continue;
    command c;
    c.id = it.id;
    c.seqid = it.seqid;
    c.envid = env.envid;
    c.data = it.kind == item_kind::grpchat ? decode_grpchat(it) : decode_cmd(it);
    out.push_back(std::move(c));
  }
  return out;
}

// --- serialization -----------------------------------------------------------------------------------------

void append_file_token(std::string& out, std::string_view token, std::string_view server_uri) {
  append_empty_element(out, "token", {{"token", token}, {"serveruri", server_uri}});
}

std::uint64_t next_envid() {
  // room to count up without wrapping past 63 bits
  static std::atomic<std::uint64_t> counter{random_u64() & 0x3FFF'FFFF'FFFF'FFFFull};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

namespace {

void open_envelope(std::string& out, std::uint64_t envid) {
  // The .NET serializer on real servers declares xsd/xsi too; clients ignore them (docs/xccos.md §3).
  out += "<xccos xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
         "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ver=\"1\" envid=\"";
  out += std::to_string(envid);
  out += "\" xmlns=\"urn:parlano:xml:ns:xccos\">";
}

void append_msg_attrs(std::string& out, const chat_message& m) {
  append_xml_attribute(out, "chanUri", m.chan_uri);
  append_xml_attribute(out, "author", m.author);
  append_xml_attribute(out, "ts", format_ts(m.ticks));
  if (m.seq > 0)
    append_xml_attribute(out, "msgid", std::to_string(m.seq));
  out += "><chat>";
  append_xml_text(out, m.text);
  out += "</chat>";
}

} // namespace

std::string serialize(std::uint64_t envid, const std::vector<out_item>& items) {
  std::string out;
  size_t guess = 256;
  for (const auto& it : items)
    guess += it.data.size() + 160;
  out.reserve(guess);
  open_envelope(out, envid);
  for (const auto& it : items) {
    const char* tag = it.kind == item_kind::ntc ? "ntc" : "rpl";
    out += '<';
    out += tag;
    append_xml_attribute(out, "id", it.id);
    append_xml_attribute(out, "seqid", it.seqid);
    out += '>';
    if (!it.cmd_seqid.empty() || !it.cmd_envid.empty()) {
      out += "<commandid";
      append_xml_attribute(out, "seqid", it.cmd_seqid);
      append_xml_attribute(out, "envid", it.cmd_envid);
      out += "/>";
    }
    if (it.code != 0) {
      out += "<resp code=\"";
      out += std::to_string(it.code);
      out += "\">";
      append_xml_text(out, it.token);
      out += "</resp>";
    }
    if (it.data.empty()) {
      out += "<data/>";
    } else {
      out += "<data>";
      out += it.data;
      out += "</data>";
    }
    out += "</";
    out += tag;
    out += '>';
  }
  out += "</xccos>";
  return out;
}

std::string serialize_grpchat(std::uint64_t envid, const chat_message& m) {
  std::string out;
  out.reserve(320 + m.text.size() + m.chan_uri.size() + m.author.size());
  open_envelope(out, envid);
  out += "<grpchat id=\"grpchat\" seqid=\"1\"";
  append_msg_attrs(out, m);
  out += "</grpchat></xccos>";
  return out;
}

void append_history_msg(std::string& out, const chat_message& m) {
  out += "<msg id=\"grpchat\"";
  append_msg_attrs(out, m);
  out += "</msg>";
}

void append_empty_element(std::string& out, std::string_view name,
                          std::initializer_list<std::pair<std::string_view, std::string_view>> attrs) {
  out += '<';
  out += name;
  for (const auto& [k, v] : attrs)
    append_xml_attribute(out, k, v);
  out += "/>";
}

void append_chanib_summary(std::string& out, const room_summary& r, std::string_view extra_attrs) {
  out += "<chanib";
  append_xml_attribute(out, "name", r.name);
  append_xml_attribute(out, "description", r.description);
  append_xml_attribute(out, "uri", r.uri);
  if (!r.topic.empty())
    append_xml_attribute(out, "topic", r.topic);
  out += extra_attrs;
  out += "><info id=\"urn:parlano:ma:info:ucnt\">";
  out += std::to_string(r.user_count);
  // "visibilty" is what sipe reads (sic, docs/xccos.md §4).
  out += "</info><info id=\"urn:parlano:ma:info:visibilty\">";
  append_xml_text(out, r.visibility);
  out += "</info><prop id=\"urn:parlano:ma:prop:filepost\">";
  out += r.filepost ? "true" : "false";
  out += "</prop><prop id=\"urn:parlano:ma:prop:invite\">";
  out += r.invite ? "true" : "false";
  out += "</prop><prop id=\"urn:parlano:ma:prop:logged\">";
  out += r.logged ? "true" : "false";
  out += "</prop></chanib>";
}

void append_join_result(std::string& out, std::uint32_t& next_id, const room_summary& room,
                        const std::vector<participant>& people) {
  std::string members, managers;
  for (const auto& p : people) {
    const std::string id = std::to_string(next_id++);
    append_empty_element(out, "uib", {{"id", id}, {"uri", p.uri}});
    // Key 3984 lists ordinary participants, 12276 channel operators (docs/xccos.md §4, sipe's reading).
    std::string& list = p.manager ? managers : members;
    if (!list.empty())
      list += ',';
    list += id;
  }
  out += "<chanib";
  append_xml_attribute(out, "uri", room.uri);
  append_xml_attribute(out, "name", room.name);
  append_xml_attribute(out, "topic", room.topic);
  out += '>';
  append_empty_element(out, "aib", {{"key", "3984"}, {"value", members}});
  if (!managers.empty())
    append_empty_element(out, "aib", {{"key", "12276"}, {"value", managers}});
  out += "</chanib>";
}

} // namespace pchat::xccos
