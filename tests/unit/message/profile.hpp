// One device of an account for message tests: its own SQLite store in a
// temp dir, registered Signal keys, paired credentials (own jid/lid and a
// stand-in device identity), and helpers to hand its keys to others the
// way the server would (a prekey-fetch response node).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "wa/binary/codec.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/self.hpp"
#include "wa/signal/keys.hpp"
#include "wa/signal/session.hpp"
#include "must.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::test {

// Encodes and decodes a node: what actually crosses the wire.
inline binary::Node wire(const binary::Node& n) { return must(binary::decode(must(binary::encode(n)))); }

struct Device {
  std::unique_ptr<store::Store> db;
  std::unique_ptr<signal::SignalSession> sig;
  binary::Jid jid;

  Device(const std::string& path, const std::string& jid_text, const std::string& lid_text = "") {
    db = must(store::open_sqlite(path));
    must(signal::ensure_registration(*db));
    must_ok(db->put_credential(store::cred::own_jid, as_bytes(jid_text)));
    if (!lid_text.empty()) must_ok(db->put_credential(store::cred::own_lid, as_bytes(lid_text)));
    // Opaque to the message layer: it only forwards these bytes.
    must_ok(db->put_credential(store::cred::account_identity, to_bytes("adv-signed-identity:" + jid_text)));
    sig = must(signal::SignalSession::create(*db));
    jid = must(binary::Jid::parse(jid_text));
  }

  message::Self self() { return must(message::load_self(*db)); }

  // The <user> entry of a prekey-fetch response for this device.
  binary::Node bundle_user(bool with_prekey = true, bool nested = false) {
    auto reg = *store::decode_u32(*must(db->get_credential(store::cred::registration_id)));
    auto spk = *must(db->load_signed_prekey(1));
    binary::Children keys;
    keys.emplace_back("identity", binary::Attrs{}, *must(db->get_credential(store::cred::identity_pub)));
    binary::Children skey;
    skey.emplace_back("id", binary::Attrs{}, message::write_be(spk.id, 3));
    skey.emplace_back("value", binary::Attrs{}, spk.pub);
    skey.emplace_back("signature", binary::Attrs{}, spk.signature);
    keys.emplace_back("skey", binary::Attrs{}, std::move(skey));
    if (with_prekey) {
      auto pk = must(signal::generate_and_store_prekeys(*db, 1));
      binary::Children key;
      key.emplace_back("id", binary::Attrs{}, message::write_be(pk[0].id, 3));
      key.emplace_back("value", binary::Attrs{}, pk[0].pub);
      keys.emplace_back("key", binary::Attrs{}, std::move(key));
    }
    binary::Children user;
    user.emplace_back("registration", binary::Attrs{}, message::write_be(reg, 4));
    user.emplace_back("type", binary::Attrs{}, Bytes{0x05});
    if (nested) {
      user.emplace_back("keys", binary::Attrs{}, std::move(keys));
    } else {
      for (auto& k : keys) user.push_back(std::move(k));
    }
    return binary::Node("user", binary::Attrs{{"jid", jid.str()}}, std::move(user));
  }
};

// <iq type="result"><list><user .../>...</list></iq>
inline binary::Node prekey_response(binary::Children users) {
  binary::Children list;
  list.emplace_back("list", binary::Attrs{}, std::move(users));
  return binary::Node("iq", binary::Attrs{{"type", "result"}, {"id", "1"}, {"from", "@s.whatsapp.net"}},
                      std::move(list));
}

// One device's entry of a usync response.
struct UsyncEntry {
  std::string user;
  std::vector<std::pair<int, bool>> devices;  // id, has key-index
  std::string lid;
};
inline binary::Node usync_response(const std::vector<UsyncEntry>& entries) {
  binary::Children users;
  for (const auto& e : entries) {
    binary::Children dl;
    for (auto [id, ki] : e.devices) {
      binary::Attrs a{{"id", std::to_string(id)}};
      if (ki) a.emplace_back("key-index", std::to_string(id));
      dl.emplace_back("device", std::move(a));
    }
    binary::Children devices;
    devices.emplace_back("device-list", binary::Attrs{}, std::move(dl));
    devices.emplace_back("key-index-list", binary::Attrs{{"ts", "1700000000"}}, Bytes{1, 2, 3});
    binary::Children user;
    user.emplace_back("devices", binary::Attrs{}, std::move(devices));
    if (!e.lid.empty()) user.emplace_back("lid", binary::Attrs{{"val", e.lid}});
    users.emplace_back("user", binary::Attrs{{"jid", e.user}}, std::move(user));
  }
  binary::Children list;
  list.emplace_back("list", binary::Attrs{}, std::move(users));
  binary::Children usync;
  usync.emplace_back("usync", binary::Attrs{{"sid", "s1"}, {"mode", "query"}, {"context", "message"}},
                     std::move(list));
  return binary::Node("iq", binary::Attrs{{"type", "result"}, {"id", "1"}, {"from", "@s.whatsapp.net"}},
                      std::move(usync));
}

// What the server delivers to `device` out of a stanza we built (docs/PROTOCOL.md §8.5, §9.1):
// the device's own <enc> (if any), then any shared skmsg, plus the
// device-identity.
inline binary::Node deliver(const binary::Node& sent, const binary::Jid& from_device, const binary::Jid& to_device,
                            bool own_device, const std::string& t = "1700000001") {
  const std::string to = std::string(sent.attr_or("to", ""));
  bool group = to.find("@g.us") != std::string::npos;
  binary::Attrs a;
  if (group) {
    a = {{"from", to}, {"participant", from_device.str()}};
  } else {
    a = {{"from", from_device.str()}};
    if (own_device) a.emplace_back("recipient", to);
  }
  a.emplace_back("id", std::string(sent.attr_or("id", "")));
  a.emplace_back("t", t);
  a.emplace_back("type", std::string(sent.attr_or("type", "text")));
  binary::Children children;
  if (const binary::Node* parts = sent.child("participants"))
    for (const binary::Node* tn : parts->children("to"))
      if (tn->attr_or("jid", "") == to_device.str())
        for (const auto& enc : tn->children()) children.push_back(enc);
  for (const binary::Node* enc : sent.children("enc")) children.push_back(*enc);  // skmsg, or a retry's enc
  if (const binary::Node* di = sent.child("device-identity")) children.push_back(*di);
  return binary::Node("message", std::move(a), std::move(children));
}

}  // namespace wa::test
