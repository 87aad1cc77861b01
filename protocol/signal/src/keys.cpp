#include "wa/signal/keys.hpp"

#include <chrono>

namespace wa::signal {
namespace {

Bytes to_vec(const crypto::Key32& k) { return Bytes(k.begin(), k.end()); }

uint32_t next_id(uint32_t id) { return id >= kMaxPreKeyId ? 1 : id + 1; }

}  // namespace

crypto::KeyPair generate_identity_key_pair() { return crypto::generate_keypair(); }

uint32_t generate_registration_id() { return crypto::random_u32() % 16380 + 1; }

store::SignedPreKey generate_signed_prekey(const crypto::KeyPair& identity, uint32_t id, int64_t timestamp) {
  crypto::KeyPair kp = crypto::generate_keypair();
  Bytes message;
  message.reserve(33);
  message.push_back(0x05);
  message.insert(message.end(), kp.pub.begin(), kp.pub.end());
  crypto::Sig64 sig = crypto::xeddsa_sign(identity.priv, message);
  store::SignedPreKey k;
  k.id = id;
  k.pub = to_vec(kp.pub);
  k.priv = to_vec(kp.priv);
  k.signature.assign(sig.begin(), sig.end());
  k.timestamp = timestamp;
  return k;
}

std::vector<store::PreKey> generate_prekeys(uint32_t start_id, size_t count) {
  std::vector<store::PreKey> keys;
  keys.reserve(count);
  uint32_t id = start_id == 0 || start_id > kMaxPreKeyId ? 1 : start_id;
  for (size_t i = 0; i < count; ++i, id = next_id(id)) {
    crypto::KeyPair kp = crypto::generate_keypair();
    keys.push_back(store::PreKey{id, to_vec(kp.pub), to_vec(kp.priv), false});
  }
  return keys;
}

Result<bool> ensure_registration(store::Store& st) {
  bool created = false;
  auto s = st.transaction(store::Durability::full, [&]() -> Status {
    auto existing = st.get_credential(store::cred::identity_priv);
    if (!existing) return Unexpected<Error>{existing.error()};
    if (*existing) {
      secure_wipe(**existing);
      return {};
    }
    crypto::KeyPair identity = generate_identity_key_pair();
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    store::SignedPreKey spk = generate_signed_prekey(identity, 1, now);
    Status r = st.put_credential(store::cred::identity_pub, identity.pub);
    if (r) r = st.put_credential(store::cred::identity_priv, identity.priv);
    if (r) r = st.put_credential(store::cred::registration_id, store::encode_u32(generate_registration_id()));
    if (r) r = st.store_signed_prekey(spk);
    if (r) r = st.put_credential(store::cred::signed_prekey_id, store::encode_u32(spk.id));
    if (r) r = st.put_credential(store::cred::next_prekey_id, store::encode_u32(1));
    secure_wipe(spk.priv);
    if (!r) return r;
    created = true;
    return {};
  });
  if (!s) return Unexpected<Error>{s.error()};
  return created;
}

Result<std::vector<store::PreKey>> generate_and_store_prekeys(store::Store& st, size_t count) {
  std::vector<store::PreKey> keys;
  auto s = st.transaction(store::Durability::full, [&]() -> Status {
    auto next = st.get_credential(store::cred::next_prekey_id);
    if (!next) return Unexpected<Error>{next.error()};
    uint32_t start = 1;
    if (*next) {
      auto v = store::decode_u32(**next);
      if (!v) return fail("db_corrupt", "stored next_prekey_id is malformed");
      start = *v;
    }
    keys = generate_prekeys(start, count);
    for (const auto& k : keys)
      if (auto r = st.store_prekey(k); !r) return r;
    uint32_t after = keys.empty() ? start : next_id(keys.back().id);
    return st.put_credential(store::cred::next_prekey_id, store::encode_u32(after));
  });
  if (!s) {
    for (auto& k : keys) secure_wipe(k.priv);
    return Unexpected<Error>{s.error()};
  }
  return keys;
}

}  // namespace wa::signal
