// The store-callback conventions libsignal-protocol-c relies on (measured,
// one case per convention), checked through the library's own store API.
#include <doctest/doctest.h>
#include <session_pre_key.h>
#include <session_record.h>
#include <signal_protocol.h>

#include "party.hpp"
#include "store_bridge.hpp"
#include "temp_dir.hpp"

using namespace wa;
using namespace wa::test;

namespace {
template <class T>
void unref(T* p) {
  if (p) signal_type_unref(reinterpret_cast<signal_type_base*>(p));
}
}  // namespace

TEST_CASE("bridge: missing records, empty device lists, key formats") {
  TempDir dir;
  auto st = must(store::open_sqlite(dir.file("p.db")));
  must(signal::ensure_registration(*st));
  auto ctx = must(signal::SignalContext::create());
  auto bridge = must(signal::detail::StoreBridge::create(*st, *ctx));
  signal_protocol_store_context* sc = bridge->raw();
  const char name[] = "bob";
  signal_protocol_address addr{name, 3, 2};

  // Missing session: "not found" (the library then starts a fresh record).
  CHECK(signal_protocol_session_contains_session(sc, &addr) == 0);
  session_record* rec = nullptr;
  REQUIRE(signal_protocol_session_load_session(sc, &rec, &addr) == 0);
  REQUIRE(rec != nullptr);
  CHECK(session_record_is_fresh(rec));
  unref(rec);

  // No sessions at all: still an allocated, empty list.
  signal_int_list* devices = nullptr;
  CHECK(signal_protocol_session_get_sub_device_sessions(sc, &devices, name, 3) == 0);
  REQUIRE(devices != nullptr);
  CHECK(signal_int_list_size(devices) == 0);
  signal_int_list_free(devices);

  // Missing prekeys are SG_ERR_INVALID_KEY_ID.
  session_pre_key* pk = nullptr;
  CHECK(signal_protocol_pre_key_load_key(sc, &pk, 4242) == SG_ERR_INVALID_KEY_ID);
  session_signed_pre_key* spk = nullptr;
  CHECK(signal_protocol_signed_pre_key_load_key(sc, &spk, 4242) == SG_ERR_INVALID_KEY_ID);

  // A stored prekey comes back as a libsignal key pair: 33-byte public
  // (0x05 prefix) over the store's 32 bytes, 32-byte private.
  auto keys = must(signal::generate_and_store_prekeys(*st, 1));
  REQUIRE(signal_protocol_pre_key_load_key(sc, &pk, keys[0].id) == 0);
  CHECK(session_pre_key_get_id(pk) == keys[0].id);
  signal_buffer* pub = nullptr;
  REQUIRE(ec_public_key_serialize(&pub, ec_key_pair_get_public(session_pre_key_get_key_pair(pk))) == 0);
  REQUIRE(signal_buffer_len(pub) == 33);
  CHECK(signal_buffer_data(pub)[0] == 0x05);
  CHECK(Bytes(signal_buffer_data(pub) + 1, signal_buffer_data(pub) + 33) == keys[0].pub);
  signal_buffer_free(pub);
  unref(pk);

  // Our identity: 33-byte public, 32-byte private.
  ratchet_identity_key_pair* ident = nullptr;
  REQUIRE(signal_protocol_identity_get_key_pair(sc, &ident) == 0);
  signal_buffer* ipub = nullptr;
  REQUIRE(ec_public_key_serialize(&ipub, ratchet_identity_key_pair_get_public(ident)) == 0);
  CHECK(signal_buffer_len(ipub) == 33);
  signal_buffer_free(ipub);
  signal_buffer* ipriv = nullptr;
  REQUIRE(ec_private_key_serialize(&ipriv, ratchet_identity_key_pair_get_private(ident)) == 0);
  CHECK(signal_buffer_len(ipriv) == 32);
  signal_buffer_bzero_free(ipriv);
  unref(ident);

  // Sessions on two devices are listed.
  must_ok(st->store_session(store::Address{"bob", 1}, Bytes(5, 1)));
  must_ok(st->store_session(store::Address{"bob", 7}, Bytes(5, 1)));
  REQUIRE(signal_protocol_session_get_sub_device_sessions(sc, &devices, name, 3) == 2);
  CHECK(signal_int_list_at(devices, 0) == 1);
  CHECK(signal_int_list_at(devices, 1) == 7);
  signal_int_list_free(devices);
}
