// One Signal participant for tests: its own SQLite store (file in a temp
// dir), registration, and a SignalSession on top.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "wa/signal/keys.hpp"
#include "wa/signal/session.hpp"
#include "must.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::test {

struct Party {
  std::unique_ptr<store::Store> db;
  store::Store* st = nullptr;  // what the session uses (db, or a decorator)
  std::unique_ptr<signal::SignalSession> sig;
  store::Address addr;

  Party(const std::string& path, std::string name, uint32_t device = 0) : addr{std::move(name), device} {
    db = must(store::open_sqlite(path));
    st = db.get();
    must(signal::ensure_registration(*db));
    sig = must(signal::SignalSession::create(*st));
  }
  // Re-creates the session object on another Store (e.g. a decorator over db).
  void use_store(store::Store& s) {
    st = &s;
    sig = must(signal::SignalSession::create(s));
  }

  Bytes identity_pub() { return *must(db->get_credential(store::cred::identity_pub)); }

  signal::PreKeyBundle bundle(bool with_prekey = true) {
    signal::PreKeyBundle b;
    b.registration_id = *store::decode_u32(*must(db->get_credential(store::cred::registration_id)));
    b.device_id = addr.device;
    if (with_prekey) {
      auto keys = must(signal::generate_and_store_prekeys(*db, 1));
      b.prekey_id = keys[0].id;
      b.prekey_pub = keys[0].pub;
    }
    auto spk = *must(db->load_signed_prekey(1));
    b.signed_prekey_id = spk.id;
    b.signed_prekey_pub = spk.pub;
    b.signed_prekey_signature = spk.signature;
    b.identity_key = identity_pub();
    return b;
  }
};

}  // namespace wa::test
