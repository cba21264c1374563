// Users and persistent chat policy: the record codec (strict decoding) and the store against a real RocksDB in a
// fresh temporary directory per test.
#include "storage/record_codec.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>
#include <rocksdb/db.h>

#include <string>
#include <vector>

#include "support/store_backend.hpp"
#include "support/temp_dir.hpp"

using namespace pchat::storage;

namespace {

const std::string md5_a(32, 'a');
const std::string sha_b(64, 'b');

user_record alice() {
  user_record u;
  u.aor = "sip:alice@example.com";
  u.display_name = "Alice Liddell";
  u.realm = "example.com";
  u.ha1_md5 = md5_a;
  u.ha1_sha256 = sha_b;
  return u;
}

std::unique_ptr<store> open_store(const std::string& dir, bool read_only = false) {
  std::unique_ptr<store> s;
  open_options opts;
  opts.read_only = read_only;
  auto st = pchat::test::open_store_at(dir, opts, s);
  INFO(to_string(st.code) << ": " << st.message);
  REQUIRE(st.ok());
  return s;
}

// Writes `value` under `key` in the users column family, bypassing the store (a damaged or future record).
void put_raw_user_value(const std::string& dir, const std::string& key, const std::string& value) {
  rocksdb::DBOptions o;
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(o, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& name : names)
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions{});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(o, dir, cfs, &handles, &db).ok());
  rocksdb::Status ws;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == "users")
      ws = db->Put(rocksdb::WriteOptions{}, handles[i], key, value);
  for (auto* h : handles)
    db->DestroyColumnFamilyHandle(h);
  delete db;
  REQUIRE(ws.ok());
}

} // namespace

TEST_CASE("codec: user record round trip takes the aor from the key") {
  auto u = alice();
  u.disabled = true;
  auto enc = codec::encode_user(u);
  auto back = codec::decode_user(enc, "sip:alice@example.com");
  REQUIRE(back);
  CHECK(back->aor == "sip:alice@example.com");
  CHECK(back->display_name == "Alice Liddell");
  CHECK(back->realm == "example.com");
  CHECK(back->ha1_md5 == md5_a);
  CHECK(back->ha1_sha256 == sha_b);
  CHECK(back->disabled);
  CHECK(codec::encode_user(*back) == enc);
}

TEST_CASE("codec: a user record keeps its NT hash and one written before NT hashes decodes without one") {
  auto u = alice();
  auto before = codec::encode_user(u); // no NT hash: the record as it was written before NTLM
  u.nt_hash = std::string(32, 'c');
  auto with = codec::encode_user(u);
  CHECK(with.size() > before.size());
  auto back = codec::decode_user(with, u.aor);
  REQUIRE(back);
  CHECK(back->nt_hash == u.nt_hash);
  back = codec::decode_user(before, u.aor);
  REQUIRE(back);
  CHECK(back->nt_hash.empty());
  u.nt_hash = std::string(32, 'C'); // not canonical
  CHECK_FALSE(codec::decode_user(codec::encode_user(u), u.aor));
  u.nt_hash = std::string(30, 'c');
  CHECK_FALSE(codec::decode_user(codec::encode_user(u), u.aor));
}

TEST_CASE("codec: user records decode strictly") {
  auto enc = codec::encode_user(alice());
  for (std::size_t n = 0; n < enc.size(); ++n)
    CHECK_FALSE(codec::decode_user(enc.substr(0, n), "sip:a@b"));
  CHECK_FALSE(codec::decode_user(enc + "x", "sip:a@b")); // trailing byte
  auto v2 = enc;
  v2[0] = 2;
  CHECK_FALSE(codec::decode_user(v2, "sip:a@b")); // unknown version
  auto flags = enc;
  flags[1] = 2;
  CHECK_FALSE(codec::decode_user(flags, "sip:a@b")); // unknown flag bit
  auto bad = [](auto change) {
    auto u = alice();
    change(u);
    return codec::decode_user(codec::encode_user(u), u.aor).has_value();
  };
  CHECK_FALSE(bad([](user_record& u) { u.ha1_md5 = std::string(32, 'A'); })); // upper case is not canonical
  CHECK_FALSE(bad([](user_record& u) { u.ha1_md5 = std::string(31, 'a'); }));
  CHECK_FALSE(bad([](user_record& u) { u.ha1_sha256 = std::string(64, 'g'); }));
  CHECK_FALSE(bad([](user_record& u) { u.ha1_sha256.clear(); })); // a password is always set
  CHECK_FALSE(bad([](user_record& u) { u.realm.clear(); }));
  CHECK(bad([](user_record& u) { u.display_name.clear(); })); // a name is optional
}

TEST_CASE("codec: policy records and keys") {
  CHECK(codec::decode_policy(codec::encode_policy(true)) == true);
  CHECK(codec::decode_policy(codec::encode_policy(false)) == false);
  CHECK_FALSE(codec::decode_policy(""));
  CHECK_FALSE(codec::decode_policy(std::string{"\x01\x02", 2}));
  CHECK_FALSE(codec::decode_policy(codec::encode_policy(true) + "x"));
  // A scan of the "p" range lists global, then domains, then users.
  CHECK(codec::key::policy(policy_scope::global, "") < codec::key::policy(policy_scope::domain, "a.com"));
  CHECK(codec::key::policy(policy_scope::domain, "zz.com") < codec::key::policy(policy_scope::user, "sip:a@a.com"));
  CHECK(codec::key::user("sip:a@b").substr(0, 1) != codec::key::policy(policy_scope::user, "sip:a@b").substr(0, 1));
}

TEST_CASE("store: users are added, found, listed, updated and removed, and survive a reopen") {
  pchat::test::temp_dir tmp;
  auto dir = tmp.str("db");
  {
    auto s = open_store(dir);
    user_record out;
    CHECK(s->find_user("sip:alice@example.com", out).code == errc::not_found);
    REQUIRE(s->add_user(alice()).ok());
    CHECK(s->add_user(alice()).code == errc::already_exists);
    auto bob = alice();
    bob.aor = "sip:bob@example.com";
    bob.display_name = "";
    CHECK(s->update_user(bob).code == errc::not_found); // update never creates
    REQUIRE(s->add_user(bob).ok());
    REQUIRE(s->find_user("sip:alice@example.com", out).ok());
    CHECK(out.display_name == "Alice Liddell");
    CHECK(out.ha1_sha256 == sha_b);
    auto changed = alice();
    changed.ha1_md5 = std::string(32, 'c');
    changed.disabled = true;
    REQUIRE(s->update_user(changed).ok());
    auto all = s->users();
    REQUIRE(all.size() == 2);
    CHECK(all[0].aor == "sip:alice@example.com"); // ordered by aor
    CHECK(all[1].aor == "sip:bob@example.com");
  }
  auto s = open_store(dir);
  user_record out;
  REQUIRE(s->find_user("sip:alice@example.com", out).ok());
  CHECK(out.ha1_md5 == std::string(32, 'c'));
  CHECK(out.disabled);
  REQUIRE(s->remove_user("sip:alice@example.com").ok());
  CHECK(s->remove_user("sip:alice@example.com").code == errc::not_found);
  CHECK(s->find_user("sip:alice@example.com", out).code == errc::not_found);
  CHECK(s->users().size() == 1);
}

TEST_CASE("store: users without an address, realm or well-formed HA1s are refused") {
  pchat::test::temp_dir tmp;
  auto s = open_store(tmp.str("db"));
  auto refused = [&](auto change) {
    auto u = alice();
    change(u);
    return s->add_user(u).code == errc::invalid_argument;
  };
  CHECK(refused([](user_record& u) { u.aor.clear(); }));
  CHECK(refused([](user_record& u) { u.aor = std::string{"sip:a\0b@c", 9}; }));
  CHECK(refused([](user_record& u) { u.realm.clear(); }));
  CHECK(refused([](user_record& u) { u.ha1_md5 = "plaintext password"; }));
  CHECK(refused([](user_record& u) { u.ha1_sha256 = md5_a; }));
  CHECK(s->users().empty());
}

TEST_CASE("store: an undecodable user record is corruption, not a missing user", "[rocksdb]") {
  pchat::test::temp_dir tmp;
  auto dir = tmp.str("db");
  {
    auto s = open_store(dir);
    REQUIRE(s->add_user(alice()).ok());
  }
  auto future = codec::encode_user(alice());
  future[0] = 2; // what a newer pchat might write
  put_raw_user_value(dir, codec::key::user("sip:alice@example.com"), future);
  put_raw_user_value(dir, codec::key::policy(policy_scope::global, ""), "junk");
  auto s = open_store(dir);
  user_record out;
  auto st = s->find_user("sip:alice@example.com", out);
  CHECK(st.code == errc::corruption);
  CHECK(st.message.find("sip:alice@example.com") != std::string::npos);
  CHECK(s->users().empty());
  std::optional<policy_setting> p;
  CHECK(s->persistent_chat_policy("sip:bob@example.com", p).code == errc::corruption);
}

TEST_CASE("store: the most specific persistent chat setting wins: user, then domain, then global") {
  pchat::test::temp_dir tmp;
  auto s = open_store(tmp.str("db"));
  std::optional<policy_setting> p;
  const std::string bob = "sip:bob@example.com";
  REQUIRE(s->persistent_chat_policy(bob, p).ok());
  CHECK_FALSE(p); // nothing stored: the caller's default

  REQUIRE(s->set_policy(policy_scope::global, "", false).ok());
  REQUIRE(s->persistent_chat_policy(bob, p).ok());
  REQUIRE(p);
  CHECK(p->scope == policy_scope::global);
  CHECK_FALSE(p->persistent_chat);

  REQUIRE(s->set_policy(policy_scope::domain, "Example.COM", true).ok()); // domains are case-folded
  REQUIRE(s->persistent_chat_policy("sip:bob@example.com:5061", p).ok());
  REQUIRE(p);
  CHECK(p->scope == policy_scope::domain);
  CHECK(p->subject == "example.com");
  CHECK(p->persistent_chat);
  REQUIRE(s->persistent_chat_policy("sip:carol@other.org", p).ok());
  REQUIRE(p);
  CHECK(p->scope == policy_scope::global); // another domain falls through to global

  REQUIRE(s->set_policy(policy_scope::user, bob, false).ok());
  REQUIRE(s->persistent_chat_policy(bob, p).ok());
  REQUIRE(p);
  CHECK(p->scope == policy_scope::user);
  CHECK_FALSE(p->persistent_chat);
  REQUIRE(s->persistent_chat_policy("sip:alice@example.com", p).ok());
  CHECK(p->persistent_chat); // alice still gets the domain's setting

  auto all = s->policies();
  REQUIRE(all.size() == 3);
  CHECK(all[0].scope == policy_scope::global);
  CHECK(all[1].scope == policy_scope::domain);
  CHECK(all[2].scope == policy_scope::user);
  CHECK(all[2].subject == bob);

  REQUIRE(s->set_policy(policy_scope::user, bob, std::nullopt).ok()); // back to inherit
  REQUIRE(s->persistent_chat_policy(bob, p).ok());
  CHECK(p->scope == policy_scope::domain);
  CHECK(s->policies().size() == 2);

  CHECK(s->set_policy(policy_scope::global, "x", true).code == errc::invalid_argument);
  CHECK(s->set_policy(policy_scope::domain, "", true).code == errc::invalid_argument);
  CHECK(s->set_policy(policy_scope::user, "", false).code == errc::invalid_argument);
}

TEST_CASE("store: a database without the users family reads as empty read-only and gains it when opened to write", "[rocksdb]") {
  pchat::test::temp_dir tmp;
  auto dir = tmp.str("db");
  {
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "catalog", "history", "roles", "follows", "invites", "prefs"})
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions{});
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    REQUIRE(rocksdb::DB::Open(o, dir, cfs, &handles, &db).ok());
    for (auto* h : handles)
      db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  {
    auto ro = open_store(dir, true);
    user_record out;
    CHECK(ro->find_user("sip:alice@example.com", out).code == errc::not_found);
    CHECK(ro->users().empty());
    std::optional<policy_setting> p;
    CHECK(ro->persistent_chat_policy("sip:alice@example.com", p).ok());
    CHECK_FALSE(p);
    CHECK(ro->add_user(alice()).code == errc::invalid_argument); // read-only
  }
  auto s = open_store(dir);
  REQUIRE(s->add_user(alice()).ok());
  user_record out;
  CHECK(s->find_user("sip:alice@example.com", out).ok());
}
