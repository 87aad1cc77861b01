// Registration keys: formats, signatures verified by two implementations,
// prekey id sequencing.
#include <curve.h>
#include <doctest/doctest.h>
#include <signal_protocol.h>

#include <set>

#include "party.hpp"
#include "temp_dir.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/signal/context.hpp"

using namespace wa;
using namespace wa::test;

TEST_CASE("keys: signed prekey signature is XEdDSA over 0x05||pub, verified by wa_crypto and libsignal") {
  auto identity = signal::generate_identity_key_pair();
  auto spk = signal::generate_signed_prekey(identity, 7, 1234);
  CHECK(spk.id == 7);
  CHECK(spk.timestamp == 1234);
  REQUIRE(spk.pub.size() == 32);
  REQUIRE(spk.priv.size() == 32);
  REQUIRE(spk.signature.size() == 64);
  Bytes msg{0x05};
  msg.insert(msg.end(), spk.pub.begin(), spk.pub.end());
  CHECK(crypto::xeddsa_verify(identity.pub, msg, spk.signature));
  CHECK_FALSE(crypto::xeddsa_verify(identity.pub, spk.pub, spk.signature));  // unprefixed: must not verify

  auto ctx = must(signal::SignalContext::create());
  Bytes id33{0x05};
  id33.insert(id33.end(), identity.pub.begin(), identity.pub.end());
  ec_public_key* key = nullptr;
  REQUIRE(curve_decode_point(&key, id33.data(), id33.size(), ctx->raw()) == 0);
  CHECK(curve_verify_signature(key, msg.data(), msg.size(), spk.signature.data(), spk.signature.size()) == 1);
  Bytes bad = spk.signature;
  bad[0] ^= 1;
  CHECK(curve_verify_signature(key, msg.data(), msg.size(), bad.data(), bad.size()) != 1);
  signal_type_unref(reinterpret_cast<signal_type_base*>(key));
}

TEST_CASE("keys: registration id range, prekey ids wrap within 24 bits") {
  for (int i = 0; i < 200; ++i) {
    uint32_t id = signal::generate_registration_id();
    CHECK(id >= 1);
    CHECK(id <= 16380);
  }
  auto keys = signal::generate_prekeys(signal::kMaxPreKeyId - 1, 3);
  REQUIRE(keys.size() == 3);
  CHECK(keys[0].id == signal::kMaxPreKeyId - 1);
  CHECK(keys[1].id == signal::kMaxPreKeyId);
  CHECK(keys[2].id == 1);
  CHECK(keys[0].pub != keys[1].pub);
}

TEST_CASE("keys: ensure_registration is idempotent - prekey batches continue the stored counter") {
  TempDir dir;
  auto st = must(store::open_sqlite(dir.file("p.db")));
  CHECK(must(signal::ensure_registration(*st)) == true);
  auto pub1 = *must(st->get_credential(store::cred::identity_pub));
  CHECK(must(signal::ensure_registration(*st)) == false);
  CHECK(*must(st->get_credential(store::cred::identity_pub)) == pub1);
  CHECK(must(st->get_credential(store::cred::registration_id))->size() == 4);
  CHECK(must(st->contains_signed_prekey(1)));

  auto a = must(signal::generate_and_store_prekeys(*st, 5));
  auto b = must(signal::generate_and_store_prekeys(*st, 5));
  std::set<uint32_t> ids;
  for (auto& k : a) ids.insert(k.id);
  for (auto& k : b) ids.insert(k.id);
  CHECK(ids.size() == 10);
  CHECK(a.front().id == 1);
  CHECK(b.front().id == 6);
  CHECK(must(st->count_prekeys(false)) == 10);
  CHECK(must(st->prekeys_not_uploaded(100)).size() == 10);

  must_ok(st->put_credential(store::cred::next_prekey_id, store::encode_u32(signal::kMaxPreKeyId)));
  auto c = must(signal::generate_and_store_prekeys(*st, 2));
  CHECK(c[0].id == signal::kMaxPreKeyId);
  CHECK(c[1].id == 1);  // wrapped: overwrites the oldest id, as the server has long consumed it
  CHECK(*store::decode_u32(*must(st->get_credential(store::cred::next_prekey_id))) == 2);
}
