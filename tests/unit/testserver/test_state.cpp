// State survives a restart: certificate root, accounts with their phone keys,
// devices, remaining one-time prekeys, groups and offline queues.
#include <doctest/doctest.h>

#include "state.hpp"
#include "temp_dir.hpp"

#include <sys/stat.h>

using namespace wa;
using namespace wa::testserver;

TEST_CASE("state persists across reopen") {
  test::TempDir dir;
  crypto::Key32 root{}, account_pub{};
  std::string lid;
  {
    auto st = State::open(dir.path(), 1700000000);
    REQUIRE(st);
    root = st->ca().root.pub;
    Account& a = st->ensure_account("155501");
    account_pub = a.identity.pub;
    lid = a.lid;
    CHECK(st->account_by_lid(lid) == &a);
    CHECK(crypto::xeddsa_verify(a.identity.pub, [&] {
      Bytes m{5};
      m.insert(m.end(), a.spk.pub.begin(), a.spk.pub.end());
      return m;
    }(), a.spk_sig));
    a.next_device = 3;
    REQUIRE(st->save_account_counters(a));
    Device d;
    d.id = 2;
    d.noise_pub = crypto::random_bytes(32);
    d.identity_pub = crypto::random_bytes(32);
    d.regid = 77;
    d.skey_id = 1;
    d.skey_pub = crypto::random_bytes(32);
    d.skey_sig = crypto::random_bytes(64);
    d.key_index = 5;
    d.push_name = "Alice";
    a.devices[2] = d;
    REQUIRE(st->save_device("155501", d));
    REQUIRE(st->add_prekeys("155501", 2, {{1, crypto::random_bytes(32)}, {2, crypto::random_bytes(32)}}));
    auto first = st->take_prekey("155501", 2);
    REQUIRE(first);
    CHECK(first->first == 1);
    Group g;
    g.id = "155501-1700000000";
    g.subject = "s";
    g.creator = "155501";
    g.creation = 1700000000;
    g.members = {{"155501", true}, {"155502", false}};
    g.description = "rules";
    g.desc_id = "D1";
    g.desc_t = 1700000001;
    g.desc_by = "155502";
    g.announce = true;
    g.locked = true;
    g.invite = "Code123";
    REQUIRE(st->save_group(g));
    Bytes node{1, 2, 3};
    REQUIRE(st->enqueue("155501", 2, node));
    REQUIRE(st->enqueue("155501", 2, node));
    CHECK(st->queued_count("155501", 2) == 2);
  }
  auto st = State::open(dir.path(), 1800000000);
  REQUIRE(st);
  CHECK(st->ca().root.pub == root);
  auto* a = st->account("155501");
  REQUIRE(a);
  CHECK(a->identity.pub == account_pub);
  CHECK(a->lid == lid);
  CHECK(a->next_device == 3);
  REQUIRE(a->devices.count(2));
  CHECK(a->devices[2].push_name == "Alice");
  CHECK(a->devices[2].regid == 77);
  CHECK(a->devices[2].key_index == 5);
  // Prekey 1 was handed out before the restart: only 2 is left, and only once.
  auto pk = st->take_prekey("155501", 2);
  REQUIRE(pk);
  CHECK(pk->first == 2);
  CHECK_FALSE(st->take_prekey("155501", 2));
  auto* g = st->group("155501-1700000000");
  REQUIRE(g);
  CHECK(g->members.size() == 2);
  CHECK(g->members[0].second);
  CHECK(g->description == "rules");
  CHECK(g->desc_id == "D1");
  CHECK(g->desc_t == 1700000001);
  CHECK(g->desc_by == "155502");
  CHECK(g->announce);
  CHECK(g->locked);
  CHECK(st->group_by_invite("Code123") == g);
  CHECK(st->group_by_invite("") == nullptr);
  auto q = st->queued("155501", 2);
  REQUIRE(q.size() == 2);
  CHECK(q[0].seq < q[1].seq);
  REQUIRE(st->dequeue({q[0].seq, q[1].seq}));
  CHECK(st->queued_count("155501", 2) == 0);
  // A new account after restart gets a fresh LID.
  CHECK(st->ensure_account("155502").lid != lid);
  REQUIRE(st->remove_device("155501", 2));
  CHECK(st->account("155501")->devices.empty());
}

TEST_CASE("state file is private") {
  test::TempDir dir;
  REQUIRE(State::open(dir.path(), 1700000000));
  struct stat sb {};
  REQUIRE(::stat(dir.file("state.db").c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
}
