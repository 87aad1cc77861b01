// Key material for registration and prekey refills: our identity, the
// registration id, the signed prekey (XEdDSA-signed by the identity key over
// 0x05 || pub, as WhatsApp's eSkeySig and Signal bundles expect) and batches
// of one-time prekeys with 24-bit ids.
#pragma once

#include <cstdint>
#include <vector>

#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::signal {

inline constexpr uint32_t kMaxPreKeyId = 0xFFFFFF;  // ids are sent as 3 bytes

crypto::KeyPair generate_identity_key_pair();
uint32_t generate_registration_id();  // 1..16380
store::SignedPreKey generate_signed_prekey(const crypto::KeyPair& identity, uint32_t id, int64_t timestamp);
// `count` keys with ids start, start+1, ... wrapping from kMaxPreKeyId to 1.
std::vector<store::PreKey> generate_prekeys(uint32_t start_id, size_t count);

// First start of a profile: creates and stores the identity key pair,
// registration id and signed prekey (id 1) unless they already exist. One
// durable transaction, so a crash never leaves half an identity. Returns
// true if it created them.
Result<bool> ensure_registration(store::Store& store);

// Generates `count` new one-time prekeys continuing the stored
// next_prekey_id counter, stores them (not uploaded) and advances the
// counter, atomically across processes. Returns the new keys.
Result<std::vector<store::PreKey>> generate_and_store_prekeys(store::Store& store, size_t count);

}  // namespace wa::signal
