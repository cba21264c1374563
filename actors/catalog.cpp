#include "actors/catalog.hpp"

#include "actors/protocol.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "codec/sip_message.hpp"
#include "codec/xccos.hpp"
#include "base/text.hpp"

namespace pchat {

caf::error to_error(const storage::status& st) {
  switch (st.code) {
    case storage::errc::ok: return caf::none;
    case storage::errc::not_found: return make_error(pchat_errc::room_not_found, st.message);
    case storage::errc::already_exists: return make_error(pchat_errc::already_exists, st.message);
    case storage::errc::invalid_argument: return make_error(pchat_errc::invalid_argument, st.message);
    case storage::errc::io_error:
    case storage::errc::corruption:
    case storage::errc::busy: return make_error(pchat_errc::store_failed, st.message);
  }
  return make_error(pchat_errc::store_failed, st.message);
}

catalog::catalog(std::shared_ptr<storage::store> store) : store_(std::move(store)) {
  for (auto& c : store_->categories())
    categories_.emplace(c.id, std::move(c));
  for (auto& r : store_->rooms()) {
    room_guids_.emplace(ascii_lower(r.guid), r.id);
    rooms_.emplace(r.id, std::move(r));
  }
}

const storage::room* catalog::room(std::uint64_t id) const {
  auto i = rooms_.find(id);
  return i == rooms_.end() ? nullptr : &i->second;
}

const storage::room* catalog::room_by_guid(const std::string& guid) const {
  auto i = room_guids_.find(ascii_lower(guid));
  return i == room_guids_.end() ? nullptr : room(i->second);
}

const storage::category& catalog::category_of(const storage::room& r) const {
  static const storage::category none{};
  auto i = categories_.find(r.category_id);
  return i == categories_.end() ? none : i->second;
}

const storage::category* catalog::category(std::uint64_t id) const {
  auto i = categories_.find(id);
  return i == categories_.end() ? nullptr : &i->second;
}

namespace {

// "ma-chan://example.com/<guid>" or "ma-cat://example.com/<guid>" -> "<guid>"; anything else unchanged.
std::string strip_scheme(const std::string& ref) {
  for (const char* scheme : {"ma-chan://", "ma-cat://"})
    if (ascii_lower(ref).rfind(scheme, 0) == 0) {
      auto slash = ref.find('/', std::string{scheme}.size());
      return slash == std::string::npos ? ref : ref.substr(slash + 1);
    }
  return ref;
}

} // namespace

const storage::room* catalog::find_room(const std::string& ref) const {
  if (const auto* r = room_by_guid(strip_scheme(ref)))
    return r;
  auto name = ascii_lower(ref);
  for (const auto& [id, r] : rooms_)
    if (ascii_lower(r.name) == name)
      return &r;
  return nullptr;
}

const storage::category* catalog::find_category(const std::string& ref) const {
  auto guid = ascii_lower(strip_scheme(ref));
  auto name = ascii_lower(ref);
  for (const auto& [id, c] : categories_)
    if (ascii_lower(c.guid) == guid || ascii_lower(c.name) == name)
      return &c;
  return nullptr;
}

std::vector<storage::category> catalog::creatable(const principal& who) const {
  std::vector<storage::category> out;
  for (const auto& [id, c] : categories_)
    if (who.admin || rules::may_create_room(c, who.user))
      out.push_back(c);
  return out;
}

namespace {
caf::error admin_only(const principal& who, const char* what) {
  if (who.admin)
    return caf::none;
  return make_error(pchat_errc::forbidden, std::string{what} + " is for administrators");
}
} // namespace

namespace {

caf::error bad_value(const std::string& field, const std::string& value, const char* expected) {
  return make_error(pchat_errc::invalid_argument, field + "=" + value + ": expected " + expected);
}

caf::error parse_bool(const std::string& field, const std::string& value, bool& out) {
  if (value == "true" || value == "false") {
    out = value == "true";
    return caf::none;
  }
  return bad_value(field, value, "true or false");
}

// keep-days / keep-posts: a whole number, 0 for no limit. Days stop at 100000 (273 years) so that a cut-off
// time never overflows.
caf::error parse_limit(const std::string& field, const std::string& value, std::uint64_t max, std::uint64_t& out) {
  if (value.empty() || value.size() > 19 || value.find_first_not_of("0123456789") != std::string::npos ||
      std::stoull(value) > max)
    return bad_value(field, value, ("a whole number from 0 (no limit) to " + std::to_string(max)).c_str());
  out = std::stoull(value);
  return caf::none;
}

caf::error apply_keep(const std::string& field, const std::string& value, storage::retention& keep) {
  std::uint64_t n = 0;
  if (field == "keep-days") {
    if (auto err = parse_limit(field, value, storage::retention::max_days, n))
      return err;
    keep.days = static_cast<std::uint32_t>(n);
  } else {
    if (auto err = parse_limit(field, value, UINT64_MAX / 2, n))
      return err;
    keep.posts = n;
  }
  return caf::none;
}

bool is_keep_field(const std::string& field) { return field == "keep-days" || field == "keep-posts" || field == "keep"; }

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::string item;
  for (char ch : value + ",") {
    if (ch != ',') {
      if (ch != ' ')
        item.push_back(ch);
      continue;
    }
    // A user is kept as its normalised sip: URI ("Alice@Example.com" -> "sip:alice@example.com").
    if (item.find('@') != std::string::npos)
      item = sip::normalize_aor(item);
    if (!item.empty())
      out.push_back(ascii_lower(item));
    item.clear();
  }
  return out;
}

} // namespace

// Text that travels in XCCOS documents (names, descriptions, topics, add-in URLs) must be XML text: one control
// character in a room's topic would make every chansrch that lists the room unparsable for every client.
static caf::error check_text(const patch& fields) {
  for (const auto& [field, value] : fields)
    if (!is_xml_text(value))
      return make_error(pchat_errc::invalid_argument,
                        field + " holds a character that cannot appear in XML (a control character or invalid UTF-8)");
  return caf::none;
}

caf::error catalog::apply(const patch& fields, storage::room& r) const {
  if (auto err = check_text(fields))
    return err;
  for (const auto& [field, value] : fields) {
    if (field == "name")
      r.name = value;
    else if (field == "description")
      r.description = value;
    else if (field == "topic")
      r.topic = value;
    else if (field == "addin")
      r.addin_url = value;
    else if (field == "privacy") {
      auto mode = storage::privacy_from(value);
      if (!mode)
        return bad_value(field, value, "open, closed or secret");
      r.privacy_mode = *mode;
    } else if (field == "type") {
      if (value == "normal")
        r.type = storage::room_type::normal;
      else if (value == "auditorium")
        r.type = storage::room_type::auditorium;
      else
        return bad_value(field, value, "normal or auditorium");
    } else if (field == "invite") {
      if (value == "inherit")
        r.invite = storage::room_invite::inherit;
      else if (value == "false")
        r.invite = storage::room_invite::off;
      else
        return bad_value(field, value, "inherit or false");
    } else if (field == "disabled") {
      if (auto err = parse_bool(field, value, r.disabled))
        return err;
    } else if (field == "keep") {
      if (value != "inherit")
        return bad_value(field, value, "inherit (the category's retention)");
      r.keep.reset();
    } else if (field == "keep-days" || field == "keep-posts") {
      // A room's own rule replaces its category's whole rule: what it does not set is unlimited.
      if (!r.keep)
        r.keep.emplace();
      if (auto err = apply_keep(field, value, *r.keep))
        return err;
    } else if (field == "category") {
      const auto* c = find_category(value);
      if (!c)
        return make_error(pchat_errc::category_not_found, "no category " + value);
      r.category_id = c->id;
    } else {
      return make_error(pchat_errc::invalid_argument, "unknown room field " + field);
    }
  }
  if (r.name.empty())
    return make_error(pchat_errc::invalid_argument, "a room needs a name");
  return caf::none;
}

caf::error catalog::apply(const patch& fields, storage::category& c) {
  if (auto err = check_text(fields))
    return err;
  for (const auto& [field, value] : fields) {
    caf::error err;
    if (field == "name")
      c.name = value;
    else if (field == "description")
      c.description = value;
    else if (field == "invite")
      err = parse_bool(field, value, c.invite);
    else if (field == "logged")
      err = parse_bool(field, value, c.logged);
    else if (field == "filepost")
      err = parse_bool(field, value, c.filepost);
    else if (field == "allow")
      c.allow = split_list(value);
    else if (field == "deny")
      c.deny = split_list(value);
    else if (field == "creators")
      c.creators = split_list(value);
    else if (field == "keep-days" || field == "keep-posts")
      err = apply_keep(field, value, c.keep);
    else
      err = make_error(pchat_errc::invalid_argument, "unknown category field " + field);
    if (err)
      return err;
  }
  if (c.name.empty())
    return make_error(pchat_errc::invalid_argument, "a category needs a name");
  return caf::none;
}

caf::expected<storage::category> catalog::create_category(const principal& who, const patch& fields) {
  if (auto err = admin_only(who, "creating categories"))
    return err;
  storage::category c;
  if (auto err = apply(fields, c))
    return err;
  if (auto err = to_error(store_->create_category(c)))
    return err;
  categories_[c.id] = c;
  return c;
}

caf::expected<storage::category> catalog::update_category(const principal& who, std::uint64_t id,
                                                          const patch& fields) {
  if (auto err = admin_only(who, "changing categories"))
    return err;
  const auto* old = category(id);
  if (!old)
    return make_error(pchat_errc::category_not_found);
  auto c = *old;
  if (auto err = apply(fields, c))
    return err;
  if (auto err = to_error(store_->update_category(c)))
    return err;
  categories_[c.id] = c;
  return c;
}

caf::error catalog::remove_category(const principal& who, std::uint64_t id) {
  if (auto err = admin_only(who, "removing categories"))
    return err;
  if (!category(id))
    return make_error(pchat_errc::category_not_found);
  if (auto err = to_error(store_->remove_category(id)))
    return err;
  categories_.erase(id);
  return caf::none;
}

// Retention deletes history: only administrators set it (a manager could otherwise erase a room's record).
static caf::error check_keep(const principal& who, const patch& fields) {
  for (const auto& [field, value] : fields)
    if (is_keep_field(field) && !who.admin)
      return make_error(pchat_errc::forbidden, "retention is for administrators");
  return caf::none;
}

caf::expected<storage::room> catalog::create_room(const principal& who, const patch& fields) {
  if (auto err = check_keep(who, fields))
    return err;
  storage::room r;
  if (auto err = apply(fields, r))
    return err;
  const auto* c = category(r.category_id);
  if (!c)
    return make_error(pchat_errc::category_not_found, "a room needs a category");
  if (!who.admin && !rules::may_create_room(*c, who.user))
    return make_error(pchat_errc::forbidden, "not a creator in category " + c->name);
  if (auto err = to_error(store_->create_room(r)))
    return err;
  room_guids_[ascii_lower(r.guid)] = r.id;
  rooms_[r.id] = r;
  if (!who.admin)
    if (auto err = to_error(store_->set_roles(r.id, who.user, storage::role::member | storage::role::manager)))
      return err;
  return r;
}

caf::error catalog::check_manager(const principal& who, const storage::room& r) const {
  if (who.admin)
    return caf::none;
  auto roles = roles_of(r.id, who.user);
  if (rules::may_manage(category_of(r), who.user, roles))
    return caf::none;
  // Outsiders learn nothing about a secret room, not even that it exists.
  if (!rules::may_see(r, category_of(r), who.user, roles))
    return make_error(pchat_errc::room_not_found);
  return make_error(pchat_errc::forbidden, "not a manager of " + r.name);
}

caf::expected<storage::room> catalog::update_room(const principal& who, std::uint64_t id, const patch& fields) {
  const auto* old = room(id);
  if (!old)
    return make_error(pchat_errc::room_not_found);
  if (auto err = check_manager(who, *old))
    return err;
  if (auto err = check_keep(who, fields))
    return err;
  auto r = *old;
  if (auto err = apply(fields, r))
    return err;
  if (r.category_id != old->category_id && !who.admin)
    return make_error(pchat_errc::forbidden, "only administrators move rooms between categories");
  if (auto err = to_error(store_->update_room(r)))
    return err;
  rooms_[r.id] = r;
  return r;
}

caf::error catalog::remove_room(const principal& who, std::uint64_t id) {
  const auto* r = room(id);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  if (!who.admin) {
    if (auto err = check_manager(who, *r))
      return err;
    return make_error(pchat_errc::forbidden, "only administrators remove rooms; managers can disable them");
  }
  auto guid = ascii_lower(r->guid);
  if (auto err = to_error(store_->remove_room(id)))
    return err;
  room_guids_.erase(guid);
  rooms_.erase(id);
  return caf::none;
}

caf::expected<std::optional<storage::invitation>> catalog::set_roles(const principal& who, std::uint64_t room_id,
                                                                      const std::string& user,
                                                                      std::uint8_t roles) {
  const auto* r = room(room_id);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  if (auto err = check_manager(who, *r))
    return err;
  if (user.rfind("sip:", 0) != 0 || !is_xml_text(user) || user.find_first_of(" \t\r\n<>\"") != std::string::npos)
    return make_error(pchat_errc::invalid_argument, "not a user address (sip:user@domain)");
  const auto& c = category_of(*r);
  if (roles != 0 && !rules::may_hold_role(c, user))
    return make_error(pchat_errc::forbidden, user + " is outside the scope of category " + c.name);
  auto before = roles_of(room_id, user);
  bool invite = (roles & storage::role::member) != 0 && (before & storage::role::member) == 0 &&
                rules::invitations_on(*r, c) && user != who.user;
  if (!invite) {
    if (auto err = to_error(store_->set_roles(room_id, user, roles)))
      return err;
    return std::optional<storage::invitation>{};
  }
  storage::invitation inv;
  inv.inviter = who.user;
  if (auto err = to_error(store_->set_roles(room_id, user, roles, inv)))
    return err;
  return std::optional<storage::invitation>{std::move(inv)};
}

} // namespace pchat
