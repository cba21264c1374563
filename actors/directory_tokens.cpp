#include "actors/directory_tokens.hpp"

#include "actors/directory.hpp"
#include "actors/rules.hpp"
#include "actors/views.hpp"
#include "base/log.hpp"
#include "codec/xccos.hpp"
#include "storage/file_store.hpp"
#include "base/text.hpp"
#include "base/random.hpp"

namespace pchat {

void file_tokens::expire(caf::actor_clock::time_point now) {
  while (!order_.empty() && order_.front().first <= now) {
    auto i = tokens_.find(order_.front().second);
    if (i != tokens_.end() && i->second.expires == order_.front().first) {
      auto n = per_user_.find(i->second.user);
      if (n != per_user_.end() && --n->second == 0)
        per_user_.erase(n);
      tokens_.erase(i);
    }
    order_.pop_front();
  }
}

caf::expected<std::string> file_tokens::issue(const std::string& user, bool upload, std::uint64_t room_id,
                                              std::string item, caf::actor_clock::time_point now,
                                              caf::actor_clock::duration_type ttl) {
  expire(now);
  auto mine = per_user_.find(user);
  auto live = mine == per_user_.end() ? 0u : mine->second;
  if (tokens_.size() >= max_tokens || live >= max_per_user) {
    log::line(log::level::info, "directory") << "file token refused user=" << log::q(user) << ": " << live
                                             << " live of this user, " << tokens_.size() << " in all";
    return make_error(pchat_errc::busy, "too many live file tokens; try again in a few minutes");
  }
  auto id = random_guid();
  auto expires = now + ttl;
  tokens_[id] = {user, upload, room_id, std::move(item), expires, false};
  ++per_user_[user];
  order_.emplace_back(expires, id);
  return id;
}

file_tokens::token* file_tokens::find(const std::string& id, caf::actor_clock::time_point now) {
  expire(now);
  auto i = tokens_.find(id);
  if (i == tokens_.end() || i->second.expires <= now)
    return nullptr;
  return &i->second;
}

namespace {

// The file rules (docs/protocol.md "Room files"): a user who may join the room may download its files; a user
// who may post there (so not an attendee of an auditorium) may upload when the category allows file posts.
// Secret rooms are room_not_found to outsiders, as everywhere.
caf::error check_file_rules(const catalog& tree, const storage::room& r, const std::string& user, bool upload) {
  const auto& c = tree.category_of(r);
  auto roles = tree.roles_of(r.id, user);
  if (!rules::may_see(r, c, user, roles))
    return make_error(pchat_errc::room_not_found);
  if (!rules::may_join(r, c, user, roles))
    return make_error(pchat_errc::forbidden, "only members of the room may transfer its files");
  if (upload && !rules::may_post(r, c, user, roles))
    return make_error(pchat_errc::forbidden, "only presenters may post files in an auditorium");
  if (upload && !c.filepost)
    return make_error(pchat_errc::forbidden, "file posting is off in this room's category");
  return {};
}

} // namespace

caf::result<file_ticket> issue_file_token(directory_self self, const std::string& user, bool upload,
                                          const std::string& guid, const std::string& file_url) {
  auto& st = self->state;
  if (!st.opts.files)
    return make_error(pchat_errc::files_unavailable, "room files are off (no web server)");
  const auto* r = st.tree->room_by_guid(guid);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  if (auto err = check_file_rules(*st.tree, *r, user, upload))
    return err;
  file_ticket t;
  std::string item;
  if (upload) {
    if (!storage::file_store::valid_name(file_url))
      return make_error(pchat_errc::invalid_argument, "not a plain file name: " + file_url);
    item = file_url;
    t.path = "/files/" + r->guid + "/" + percent_encode(file_url);
  } else {
    // The link must name a file of this room: a token for one room never opens another's files.
    auto link = xccos::parse_file_link(file_url);
    if (!link || ascii_lower(link->room_guid) != ascii_lower(r->guid) || ascii_lower(link->domain) != ascii_lower(st.opts.domain))
      return make_error(pchat_errc::file_not_found, file_url);
    auto f = st.store->file(r->id, link->file_id);
    if (!f)
      return make_error(pchat_errc::file_not_found, file_url);
    item = f->id;
    t.path = "/files/" + r->guid + "/" + f->id;
  }
  auto token = st.tokens.issue(user, upload, r->id, item, self->clock().now(), st.opts.files->token_ttl);
  if (!token)
    return token.error();
  t.token = std::move(*token);
  log::line(log::level::debug, "directory") << (upload ? "upload" : "download") << " token room=" << log::q(r->name)
                                            << " user=" << log::q(user) << " file=" << log::q(item);
  return t;
}

caf::result<file_grant> redeem_file_token(directory_self self, const std::string& token, bool upload,
                                          const std::string& guid, const std::string& item) {
  auto& st = self->state;
  auto* t = st.tokens.find(token, self->clock().now());
  if (!t)
    return make_error(pchat_errc::token_invalid, "unknown or expired token");
  if (t->upload != upload)
    return make_error(pchat_errc::token_invalid, upload ? "a download token cannot upload"
                                                        : "an upload token cannot download");
  if (upload && t->used)
    return make_error(pchat_errc::token_invalid, "the upload token was used already");
  const auto* r = st.tree->room(t->room_id);
  if (!r)
    return make_error(pchat_errc::room_not_found);
  bool same_item = upload ? item == t->item : ascii_lower(item) == t->item;
  if (ascii_lower(guid) != ascii_lower(r->guid) || !same_item)
    return make_error(pchat_errc::forbidden, "the token was issued for another room or file");
  // Roles may have changed since the token was issued.
  if (auto err = check_file_rules(*st.tree, *r, t->user, upload))
    return err;
  file_grant g;
  g.user = t->user;
  g.room = view_of(st, *r);
  if (upload) {
    g.name = t->item;
  } else {
    auto f = st.store->file(r->id, t->item);
    if (!f)
      return make_error(pchat_errc::file_not_found);
    g.file = std::move(*f);
  }
  t->used = true;
  return g;
}

} // namespace pchat
