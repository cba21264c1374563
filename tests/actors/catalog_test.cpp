// The room model's rules and the catalog's authorisation, as plain code over a real RocksDB store.
#include "actors/catalog.hpp"
#include "actors/protocol.hpp"
#include "actors/rules.hpp"

#include "fixture.hpp"

using namespace pchat;

namespace {

const std::string alice = "sip:alice@example.com";
const std::string bob = "sip:bob@example.com";
const std::string mallory = "sip:mallory@example.com";
const std::string guest = "sip:guest@partner.org";

pchat_errc code_of(const caf::error& err) {
  REQUIRE(err);
  REQUIRE(err.category() == pchat_error_category);
  return static_cast<pchat_errc>(err.code());
}

struct catalog_fixture {
  test::temp_dir dir;
  std::shared_ptr<storage::store> db;
  std::unique_ptr<catalog> tree;
  principal admin = principal::administrator();

  catalog_fixture() {
    std::unique_ptr<storage::store> s;
    REQUIRE(storage::store::open(dir.path.string(), {}, s).ok());
    db = std::move(s);
    tree = std::make_unique<catalog>(db);
  }

  storage::category category(const patch& fields) {
    auto c = tree->create_category(admin, fields);
    REQUIRE(c);
    return *c;
  }
  storage::room room(const patch& fields) {
    auto r = tree->create_room(admin, fields);
    REQUIRE(r);
    return *r;
  }
};

} // namespace

TEST_CASE("rules: principals match users, domains and everyone, deny wins, empty allow is everyone") {
  CHECK(rules::principal_matches("*", alice));
  CHECK(rules::principal_matches(alice, alice));
  CHECK_FALSE(rules::principal_matches(alice, bob));
  CHECK(rules::principal_matches("example.com", alice));
  CHECK_FALSE(rules::principal_matches("example.com", guest));
  CHECK_FALSE(rules::principal_matches("ample.com", alice)); // a domain is matched whole

  storage::category c;
  CHECK(rules::in_scope(c, guest));
  c.allow = {"example.com"};
  CHECK(rules::in_scope(c, alice));
  CHECK_FALSE(rules::in_scope(c, guest));
  c.deny = {mallory};
  CHECK_FALSE(rules::in_scope(c, mallory));
  c.allow = {"*", mallory};
  CHECK_FALSE(rules::in_scope(c, mallory));
}

TEST_CASE("rules: scope, privacy and roles decide seeing, joining and posting") {
  storage::category c;
  c.allow = {"example.com"};
  storage::room open;
  storage::room closed;
  closed.privacy_mode = storage::privacy::closed;
  storage::room secret;
  secret.privacy_mode = storage::privacy::secret;
  const auto member = storage::role::member;

  CHECK(rules::may_see(open, c, alice, 0));
  CHECK(rules::may_join(open, c, alice, 0));
  CHECK_FALSE(rules::may_see(open, c, guest, 0)); // out of scope
  CHECK_FALSE(rules::may_join(open, c, guest, 0));
  CHECK(rules::may_see(closed, c, alice, 0));
  CHECK_FALSE(rules::may_join(closed, c, alice, 0));
  CHECK(rules::may_join(closed, c, alice, member));
  CHECK_FALSE(rules::may_see(secret, c, alice, 0));
  CHECK(rules::may_see(secret, c, alice, member));
  storage::room hall;
  hall.type = storage::room_type::auditorium;
  CHECK_FALSE(rules::may_post(hall, c, alice, member));
  CHECK(rules::may_post(hall, c, alice, storage::role::presenter));
  storage::room off = open;
  off.disabled = true;
  CHECK_FALSE(rules::may_join(off, c, alice, member));
  c.creators = {alice, guest};
  CHECK(rules::may_create_room(c, alice));
  CHECK_FALSE(rules::may_create_room(c, bob));
  CHECK_FALSE(rules::may_create_room(c, guest)); // a creator outside the scope creates nothing
}

TEST_CASE_METHOD(catalog_fixture, "catalog: administrators create, change and remove, others are refused") {
  auto eng = category({{"name", "Engineering"}, {"allow", "example.com"}, {"creators", "sip:Alice@Example.com"}});
  CHECK(eng.creators == std::vector<std::string>{alice}); // principals are normalised to lower case
  CHECK(code_of(tree->create_category(principal::of(alice), {{"name", "Mine"}}).error()) == pchat_errc::forbidden);
  CHECK(code_of(tree->create_category(admin, {{"name", "engineering"}}).error()) == pchat_errc::already_exists);
  CHECK(code_of(tree->create_category(admin, {{"name", "X"}, {"logged", "maybe"}}).error())
        == pchat_errc::invalid_argument);
  CHECK(code_of(tree->create_category(admin, {{"colour", "red"}}).error()) == pchat_errc::invalid_argument);

  auto dev = room({{"name", "Dev"}, {"category", "Engineering"}, {"privacy", "closed"}});
  CHECK(tree->find_room("dev") != nullptr);
  CHECK(tree->find_room("ma-chan://example.com/" + dev.guid)->id == dev.id);
  CHECK(code_of(tree->create_room(admin, {{"name", "Dev"}, {"category", "Engineering"}}).error())
        == pchat_errc::already_exists);
  CHECK(code_of(tree->create_room(admin, {{"name", "Y"}, {"category", "Nope"}}).error())
        == pchat_errc::category_not_found);
  CHECK(code_of(tree->create_room(admin, {{"name", "Y"}}).error()) == pchat_errc::category_not_found);
  CHECK(code_of(tree->create_room(admin, {{"name", "Y"}, {"category", "Engineering"}, {"privacy", "hidden"}}).error())
        == pchat_errc::invalid_argument);

  // A creator creates and becomes manager; someone else in scope may not.
  auto mine = tree->create_room(principal::of(alice), {{"name", "Alice's"}, {"category", "Engineering"}});
  REQUIRE(mine);
  CHECK(db->roles_of(mine->id, alice) == (storage::role::member | storage::role::manager));
  CHECK(code_of(tree->create_room(principal::of(bob), {{"name", "Bob's"}, {"category", "Engineering"}}).error())
        == pchat_errc::forbidden);
  CHECK(tree->creatable(principal::of(alice)).size() == 1);
  CHECK(tree->creatable(principal::of(bob)).empty());
  CHECK(tree->creatable(admin).size() == 1);

  // The manager changes settings but cannot move the room or remove it.
  auto topic = tree->update_room(principal::of(alice), mine->id, {{"topic", "Plans"}, {"privacy", "secret"}});
  REQUIRE(topic);
  CHECK(db->room_by_id(mine->id)->topic == "Plans");
  category({{"name", "Elsewhere"}});
  CHECK(code_of(tree->update_room(principal::of(alice), mine->id, {{"category", "Elsewhere"}}).error())
        == pchat_errc::forbidden);
  CHECK(code_of(tree->remove_room(principal::of(alice), mine->id)) == pchat_errc::forbidden);
  // Outsiders: forbidden on a room they can see, not found on a secret one.
  CHECK(code_of(tree->update_room(principal::of(bob), dev.id, {{"topic", "x"}}).error()) == pchat_errc::forbidden);
  CHECK(code_of(tree->update_room(principal::of(bob), mine->id, {{"topic", "x"}}).error())
        == pchat_errc::room_not_found);
  CHECK(code_of(tree->set_roles(principal::of(bob), mine->id, bob, storage::role::member).error())
        == pchat_errc::room_not_found);
  CHECK(db->room_by_id(mine->id)->topic == "Plans");

  CHECK(code_of(tree->remove_category(admin, eng.id)) == pchat_errc::invalid_argument); // rooms remain
  REQUIRE_FALSE(tree->remove_room(admin, mine->id));
  REQUIRE_FALSE(tree->remove_room(admin, dev.id));
  CHECK(tree->find_room("Dev") == nullptr);
  REQUIRE_FALSE(tree->remove_category(admin, eng.id));
  CHECK(tree->find_category("Engineering") == nullptr);
  CHECK(db->categories().size() == 1);
}

TEST_CASE_METHOD(catalog_fixture, "catalog: roles stay inside the scope, members of invite rooms are invited once") {
  category({{"name", "Partners"}, {"allow", "example.com"}, {"deny", mallory}, {"invite", "true"}});
  auto r = room({{"name", "Deals"}, {"category", "Partners"}});
  auto quiet = room({{"name", "Quiet"}, {"category", "Partners"}, {"invite", "false"}});
  CHECK(code_of(tree->set_roles(admin, r.id, guest, storage::role::member).error()) == pchat_errc::forbidden);
  CHECK(code_of(tree->set_roles(admin, r.id, mallory, storage::role::member).error()) == pchat_errc::forbidden);

  auto first = tree->set_roles(admin, r.id, bob, storage::role::member);
  REQUIRE(first);
  REQUIRE(first->has_value());
  CHECK((*first)->user == bob);
  CHECK((*first)->room_id == r.id);
  auto again = tree->set_roles(admin, r.id, bob, storage::role::member | storage::role::presenter);
  REQUIRE(again);
  CHECK_FALSE(again->has_value()); // already a member: no second invitation
  auto in_quiet = tree->set_roles(admin, quiet.id, bob, storage::role::member);
  REQUIRE(in_quiet);
  CHECK_FALSE(in_quiet->has_value()); // the room turned invitations off
  CHECK(db->invitations(bob).size() == 1);

  // A manager adds members too; removing is always allowed.
  REQUIRE(tree->set_roles(admin, r.id, alice, storage::role::manager));
  auto by_manager = tree->set_roles(principal::of(alice), r.id, "sip:carol@example.com", storage::role::member);
  REQUIRE(by_manager);
  REQUIRE(by_manager->has_value());
  CHECK((*by_manager)->inviter == alice);
  REQUIRE(tree->set_roles(principal::of(alice), r.id, bob, 0));
  CHECK(db->roles_of(r.id, bob) == 0);
  CHECK(code_of(tree->set_roles(principal::of(bob), r.id, bob, storage::role::manager).error())
        == pchat_errc::forbidden);
}

TEST_CASE_METHOD(catalog_fixture, "catalog: a reopened catalog sees every change") {
  category({{"name", "A"}, {"deny", "partner.org"}});
  auto r = room({{"name", "One"}, {"category", "A"}, {"topic", "t"}});
  REQUIRE(tree->update_category(admin, r.category_id, {{"name", "B"}, {"allow", "*"}}));
  tree = std::make_unique<catalog>(db);
  const auto* c = tree->find_category("B");
  REQUIRE(c);
  CHECK(c->allow == std::vector<std::string>{"*"});
  CHECK(c->deny == std::vector<std::string>{"partner.org"});
  REQUIRE(tree->find_room("one"));
  CHECK(tree->find_room("one")->topic == "t");
}
