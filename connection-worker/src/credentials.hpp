// The account's long-lived secrets and identity, as the connection needs
// them: created once per profile (noise key, Signal identity, registration
// id, signed prekey, ADV secret), completed by pairing (own JID/LID and the
// primary-signed device identity), deleted on logout.
#pragma once

#include <optional>
#include <string>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

struct Credentials {
  crypto::KeyPair noise;
  crypto::KeyPair identity;
  uint32_t registration_id = 0;
  store::SignedPreKey signed_prekey;
  Bytes adv_secret;  // 32 bytes
  // Set by pairing; empty for a profile that was never linked.
  std::string jid;
  std::string lid;
  Bytes account;  // ADVSignedDeviceIdentity incl. accountSignatureKey and deviceSignature
  std::string platform;

  bool registered() const { return !jid.empty() && !account.empty(); }
};

// What a successful pairing adds.
struct PairedIdentity {
  std::string jid;
  std::string lid;
  std::string platform;
  Bytes account;           // full ADVSignedDeviceIdentity (with accountSignatureKey)
  Bytes primary_identity;  // 32, the phone's identity key (trusted for its device 0)
  // pair-success <client-props> isChatDbLidMigrated, when the server sent it.
  std::optional<bool> lid_migrated;
};

// Loads the credentials, creating whatever is missing in one durable
// transaction (a crash never leaves half a set).
Result<Credentials> load_or_create_credentials(store::Store& store);

// Persists a pairing atomically: either every field is written or none.
Status save_pairing(store::Store& store, const PairedIdentity& paired, ByteView adv_secret);

// Logged out: the linked identity is gone for good. Removes the pairing and
// every key so the next start registers as a new companion.
Status forget_credentials(store::Store& store);

}  // namespace wa::connection
