// Pairwise sessions between two participants, each with its own SQLite file.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "party.hpp"
#include "temp_dir.hpp"
#include "wa/signal/crypto_provider.hpp"
#include "wa/store/forwarding_store.hpp"

using namespace wa;
using namespace wa::test;
using signal::MessageType;

namespace {

Bytes text(const std::string& s) { return to_bytes(s); }
std::string str(const Bytes& b) { return std::string(as_chars(b)); }

// Alice starts a session from Bob's bundle and they exchange one message
// each way: afterwards both sides send "msg".
void establish(Party& alice, Party& bob) {
  REQUIRE(must(alice.sig->process_bundle(bob.addr, bob.bundle())));
  auto first = must(alice.sig->encrypt(bob.addr, text("hello bob")));
  REQUIRE(first.type == MessageType::pkmsg);
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, first.data))) == "hello bob");
  auto reply = must(bob.sig->encrypt(alice.addr, text("hi alice")));
  REQUIRE(reply.type == MessageType::msg);
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, reply.data))) == "hi alice");
}

}  // namespace

TEST_CASE("session: bundle -> pkmsg -> msg, both directions, many rounds") {
  TempDir dir;
  Party alice(dir.file("alice.db"), "alice", 0), bob(dir.file("bob.db"), "bob", 2);
  auto bundle = bob.bundle();
  REQUIRE(bundle.prekey_id.has_value());
  CHECK(must(bob.db->contains_prekey(*bundle.prekey_id)));

  CHECK_FALSE(must(alice.sig->has_session(bob.addr)));
  CHECK(must(alice.sig->process_bundle(bob.addr, bundle)));
  CHECK(must(alice.sig->has_session(bob.addr)));
  // Installing only when absent: a second bundle does not replace the session.
  CHECK_FALSE(must(alice.sig->process_bundle(bob.addr, bob.bundle())));

  // Until Bob answers, every message from Alice is a pkmsg.
  auto m1 = must(alice.sig->encrypt(bob.addr, text("one")));
  auto m2 = must(alice.sig->encrypt(bob.addr, text("two")));
  CHECK(m1.type == MessageType::pkmsg);
  CHECK(m2.type == MessageType::pkmsg);
  CHECK(signal::enc_type(m1.type) == "pkmsg");
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, m1.data))) == "one");
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, m2.data))) == "two");
  // The one-time prekey is consumed, and Alice's identity learned (TOFU).
  CHECK_FALSE(must(bob.db->contains_prekey(*bundle.prekey_id)));
  CHECK(*must(bob.db->load_identity(alice.addr)) == alice.identity_pub());
  CHECK(*must(alice.db->load_identity(bob.addr)) == bob.identity_pub());

  for (int round = 0; round < 20; ++round) {
    auto from_bob = must(bob.sig->encrypt(alice.addr, text("b" + std::to_string(round))));
    CHECK(from_bob.type == MessageType::msg);
    CHECK(signal::enc_type(from_bob.type) == "msg");
    CHECK(str(must(alice.sig->decrypt_msg(bob.addr, from_bob.data))) == "b" + std::to_string(round));
    auto from_alice = must(alice.sig->encrypt(bob.addr, text("a" + std::to_string(round))));
    CHECK(from_alice.type == MessageType::msg);
    CHECK(str(must(bob.sig->decrypt_msg(alice.addr, from_alice.data))) == "a" + std::to_string(round));
  }
}

TEST_CASE("session: a bundle without a one-time prekey still works") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  REQUIRE(must(alice.sig->process_bundle(bob.addr, bob.bundle(false))));
  auto m = must(alice.sig->encrypt(bob.addr, text("no prekey")));
  CHECK(m.type == MessageType::pkmsg);
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, m.data))) == "no prekey");
}

TEST_CASE("session: out-of-order delivery decrypts, a replay is a duplicate") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  establish(alice, bob);
  std::vector<Bytes> msgs;
  for (int i = 0; i < 6; ++i) msgs.push_back(must(bob.sig->encrypt(alice.addr, text("m" + std::to_string(i)))).data);
  for (int i : {5, 1, 0, 3, 4, 2})
    CHECK(str(must(alice.sig->decrypt_msg(bob.addr, msgs[static_cast<size_t>(i)]))) == "m" + std::to_string(i));
  auto replay = alice.sig->decrypt_msg(bob.addr, msgs[3]);
  REQUIRE_FALSE(replay);
  CHECK(replay.error().code == "duplicate_message");
  // A new ratchet step from Alice, then Bob's older-chain message still arrives late.
  auto late = must(bob.sig->encrypt(alice.addr, text("late")));
  auto a1 = must(alice.sig->encrypt(bob.addr, text("a1")));
  CHECK(str(must(bob.sig->decrypt_msg(alice.addr, a1.data))) == "a1");
  auto b_new = must(bob.sig->encrypt(alice.addr, text("new chain")));
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, b_new.data))) == "new chain");
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, late.data))) == "late");
}

TEST_CASE("session: errors are values: no session, garbage, tampering, wrong type") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  auto no = alice.sig->encrypt(bob.addr, text("x"));
  REQUIRE_FALSE(no);
  CHECK(no.error().code == "no_session");
  Bytes garbage(50, 0x33);
  auto g1 = alice.sig->decrypt_msg(bob.addr, garbage);
  REQUIRE_FALSE(g1);
  auto g2 = alice.sig->decrypt_pkmsg(bob.addr, garbage);
  REQUIRE_FALSE(g2);
  CHECK_FALSE(alice.sig->decrypt_msg(bob.addr, Bytes{}));
  CHECK_FALSE(alice.sig->decrypt_pkmsg(bob.addr, Bytes{}));
  CHECK_FALSE(alice.sig->encrypt(store::Address{"", 0}, text("x")));

  establish(alice, bob);
  auto m = must(bob.sig->encrypt(alice.addr, text("secret")));
  Bytes tampered = m.data;
  tampered[tampered.size() / 2] ^= 0x01;
  auto t = alice.sig->decrypt_msg(bob.addr, tampered);
  REQUIRE_FALSE(t);
  CHECK((t.error().code == "bad_mac" || t.error().code == "invalid_message"));
  // A failed decryption changes nothing: the genuine message still decrypts.
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, m.data))) == "secret");
  // Every prefix of a valid message is rejected cleanly.
  auto m2 = must(bob.sig->encrypt(alice.addr, text("prefix")));
  for (size_t n = 0; n < m2.data.size(); n += 7)
    CHECK_FALSE(alice.sig->decrypt_msg(bob.addr, ByteView(m2.data).first(n)));
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, m2.data))) == "prefix");
}

TEST_CASE("session: a bundle with a bad signed-prekey signature installs nothing") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  auto b = bob.bundle();
  b.signed_prekey_signature[10] ^= 0x40;
  auto r = alice.sig->process_bundle(bob.addr, b);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid_key");
  CHECK_FALSE(must(alice.sig->has_session(bob.addr)));
  CHECK_FALSE(must(alice.db->load_identity(bob.addr)).has_value());
  auto short_key = bob.bundle();
  short_key.identity_key.resize(31);
  CHECK_FALSE(alice.sig->process_bundle(bob.addr, short_key));
}

TEST_CASE("session: our identity missing is reported as no_identity") {
  TempDir dir;
  auto st = must(store::open_sqlite(dir.file("blank.db")));
  auto sig = must(signal::SignalSession::create(*st));
  Party bob(dir.file("b.db"), "bob");
  auto r = sig->process_bundle(bob.addr, bob.bundle());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "no_identity");
}

TEST_CASE("identity: a reinstalled contact is detected on pkmsg, bundle and encrypt, until accepted") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  establish(alice, bob);

  // Bob reinstalls: new identity, new store, same address.
  Party bob2(dir.file("b2.db"), "bob");
  REQUIRE(must(bob2.sig->process_bundle(alice.addr, alice.bundle())));
  auto pk = must(bob2.sig->encrypt(alice.addr, text("it's me, new phone")));
  REQUIRE(pk.type == MessageType::pkmsg);

  auto r = alice.sig->decrypt_pkmsg(bob.addr, pk.data);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "identity_changed");
  // Nothing was trusted implicitly, and the old session is intact.
  CHECK(*must(alice.db->load_identity(bob.addr)) == bob.identity_pub());
  auto still = must(alice.sig->encrypt(bob.addr, text("to old bob")));
  CHECK(str(must(bob.sig->decrypt_msg(alice.addr, still.data))) == "to old bob");

  // A fresh bundle with the new identity is refused as well.
  REQUIRE(must(alice.db->delete_session(bob.addr)));
  auto pb = alice.sig->process_bundle(bob.addr, bob2.bundle());
  REQUIRE_FALSE(pb);
  CHECK(pb.error().code == "identity_changed");

  // The explicit decision.
  must_ok(alice.sig->accept_identity(bob.addr, bob2.identity_pub()));
  CHECK(str(must(alice.sig->decrypt_pkmsg(bob.addr, pk.data))) == "it's me, new phone");
  auto back = must(alice.sig->encrypt(bob.addr, text("welcome back")));
  CHECK(back.type == MessageType::msg);
  CHECK(str(must(bob2.sig->decrypt_msg(alice.addr, back.data))) == "welcome back");
}

TEST_CASE("replace_session: a new session over a live one keeps the old state for what is in flight") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob", 3);
  establish(alice, bob);
  auto in_flight = must(bob.sig->encrypt(alice.addr, text("sent before the retry")));
  REQUIRE(in_flight.type == MessageType::msg);

  // Bob's keys (as in a retry receipt): a new session replaces the current
  // state, the old one is archived in the record.
  must_ok(alice.sig->replace_session(bob.addr, bob.bundle()));
  auto fresh = must(alice.sig->encrypt(bob.addr, text("on the new session")));
  CHECK(fresh.type == MessageType::pkmsg);
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, in_flight.data))) == "sent before the retry");
  // Reading on the archived state does not make it current again: Alice
  // still sends on the new session (Bob has not answered on it yet).
  auto next = must(alice.sig->encrypt(bob.addr, text("still the new session")));
  CHECK(next.type == MessageType::pkmsg);
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, fresh.data))) == "on the new session");
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, next.data))) == "still the new session");
  auto answer = must(bob.sig->encrypt(alice.addr, text("answer on the new session")));
  CHECK(str(must(alice.sig->decrypt_msg(bob.addr, answer.data))) == "answer on the new session");

  // Another identity at that address is refused, and nothing changes.
  Party bob2(dir.file("b2.db"), "bob", 3);
  auto other = alice.sig->replace_session(bob.addr, bob2.bundle());
  REQUIRE_FALSE(other);
  CHECK(other.error().code == "identity_changed");
  CHECK(*must(alice.db->load_identity(bob.addr)) == bob.identity_pub());
  auto still = must(alice.sig->encrypt(bob.addr, text("still bob")));
  CHECK(str(must(bob.sig->decrypt_msg(alice.addr, still.data))) == "still bob");
}

TEST_CASE("identity: a session whose contact identity no longer matches the trusted one fails both ways") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  establish(alice, bob);
  auto pending = must(bob.sig->encrypt(alice.addr, text("pending")));
  // Some other component recorded a different trusted key for Bob.
  must_ok(alice.db->replace_identity(bob.addr, Bytes(32, 0x42)));
  auto e = alice.sig->encrypt(bob.addr, text("x"));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "identity_changed");
  auto d = alice.sig->decrypt_msg(bob.addr, pending.data);
  REQUIRE_FALSE(d);
  CHECK(d.error().code == "identity_changed");
  // Accepting drops the session built on the other key.
  must_ok(alice.sig->accept_identity(bob.addr, Bytes(32, 0x42)));
  CHECK_FALSE(must(alice.sig->has_session(bob.addr)));
  CHECK(alice.sig->encrypt(bob.addr, text("x")).error().code == "no_session");
}

namespace {

// Fails store_session on demand: the last write of a decrypt.
class FailingStore : public store::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  bool fail_session_write = false;
  Status store_session(const store::Address& a, ByteView record) override {
    if (fail_session_write) return fail("injected", "disk on fire");
    return ForwardingStore::store_session(a, record);
  }
};

}  // namespace

TEST_CASE("atomicity: a pkmsg whose session write fails leaves prekey and identity untouched") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  FailingStore failing(*bob.db);
  bob.use_store(failing);
  auto bundle = bob.bundle();
  REQUIRE(must(alice.sig->process_bundle(bob.addr, bundle)));
  auto pk = must(alice.sig->encrypt(bob.addr, text("first")));

  failing.fail_session_write = true;
  auto r = bob.sig->decrypt_pkmsg(alice.addr, pk.data);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "injected");
  if (!signal::signal_transactions_disabled()) {
    // Rolled back with the failed write: the prekey is still there and
    // Alice's identity was not recorded, so the retry can succeed.
    CHECK(must(bob.db->contains_prekey(*bundle.prekey_id)));
    CHECK_FALSE(must(bob.db->load_identity(alice.addr)).has_value());
  }
  failing.fail_session_write = false;
  CHECK(str(must(bob.sig->decrypt_pkmsg(alice.addr, pk.data))) == "first");
  CHECK_FALSE(must(bob.db->contains_prekey(*bundle.prekey_id)));
}

TEST_CASE("atomicity: a caller's transaction (decrypt + inbox) is joined, and rolled back as one") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  establish(alice, bob);
  auto m = must(alice.sig->encrypt(bob.addr, text("into the inbox")));
  // A failure after the decrypt undoes the decrypt's state change too...
  auto aborted = bob.db->transaction(store::Durability::full, [&]() -> Status {
    auto pt = bob.sig->decrypt_msg(alice.addr, m.data);
    if (!pt) return Unexpected<Error>{pt.error()};
    return fail("inbox_full");
  });
  REQUIRE_FALSE(aborted);
  CHECK(aborted.error().code == "inbox_full");
  // ...so the same message decrypts again (not a duplicate), and this time commits.
  int64_t seq = 0;
  must_ok(bob.db->transaction(store::Durability::full, [&]() -> Status {
    auto pt = bob.sig->decrypt_msg(alice.addr, m.data);
    if (!pt) return Unexpected<Error>{pt.error()};
    auto put = bob.db->inbox_put(store::InboxEntry{0, "ID", "alice", "alice", 1, "message", str(*pt), false});
    if (!put) return Unexpected<Error>{put.error()};
    seq = put->seq;
    return {};
  }));
  CHECK(seq > 0);
  CHECK(bob.sig->decrypt_msg(alice.addr, m.data).error().code == "duplicate_message");
}

namespace {
// Counts the session reads and can hand back a stale record, to show what
// the session cache must and must not answer.
struct CountingStore : store::ForwardingStore {
  using ForwardingStore::ForwardingStore;
  int loads = 0;
  Result<std::optional<Bytes>> load_session(const store::Address& a) override {
    ++loads;
    return ForwardingStore::load_session(a);
  }
};
}  // namespace

TEST_CASE("session cache: a decrypt reads its record from the store once, and no copy outlives the operation") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  establish(alice, bob);
  CountingStore counting(*bob.db);
  bob.use_store(counting);
  auto m1 = must(alice.sig->encrypt(bob.addr, text("one")));
  auto m2 = must(alice.sig->encrypt(bob.addr, text("two")));
  // Before the cache: three reads (our state check, the identity check, the
  // library's own); each re-read the same row inside the same transaction.
  counting.loads = 0;
  CHECK(str(must(bob.sig->decrypt_msg(alice.addr, m1.data))) == "one");
  CHECK(counting.loads == 1);
  // Each operation reads the store again: a record written in between by
  // someone else (here: the state before m2, put back) is what it sees, so
  // m2 decrypts a second time instead of being a duplicate of a stale copy.
  const Bytes after_m1 = *must(bob.db->load_session(alice.addr));
  counting.loads = 0;
  CHECK(str(must(bob.sig->decrypt_msg(alice.addr, m2.data))) == "two");
  CHECK(counting.loads == 1);
  must_ok(bob.db->store_session(alice.addr, after_m1));
  CHECK(str(must(bob.sig->decrypt_msg(alice.addr, m2.data))) == "two");
  CHECK(counting.loads == 1 + 1);
}

TEST_CASE("crypto scratch: no HMAC context outlives a Signal operation, or the batch of them it ran in") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  establish(alice, bob);
  signal::release_crypto_scratch();
  auto m1 = must(alice.sig->encrypt(bob.addr, text("one")));
  CHECK(signal::kept_hmac_contexts() == 0);
  auto m2 = must(alice.sig->encrypt(bob.addr, text("two")));
  {
    signal::CryptoBatch batch;  // as the receive path decrypts a batch
    CHECK(str(must(bob.sig->decrypt_msg(alice.addr, m1.data))) == "one");
    CHECK(signal::kept_hmac_contexts() > 0);
    CHECK(str(must(bob.sig->decrypt_msg(alice.addr, m2.data))) == "two");
  }
  CHECK(signal::kept_hmac_contexts() == 0);
}
