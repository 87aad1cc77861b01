// XEdDSA through libsignal-protocol-c: its curve25519_sign/verify are the
// functions behind curve_calculate_signature/curve_verify_signature, and those
// signatures are proven to verify in Baileys' libsignal (and back). Calling
// them directly avoids needing a signal_context (and its crypto provider) just
// to sign.


#include "wa/crypto/crypto.hpp"

// Exported by libsignal-protocol-c but declared only in its private header
// src/curve25519/ed25519/additions/curve_sigs.h; both return 0 on success.
extern "C" {
int curve25519_sign(unsigned char* signature_out, const unsigned char* curve25519_privkey,
                    const unsigned char* msg, unsigned long msg_len, const unsigned char* random);
int curve25519_verify(const unsigned char* signature, const unsigned char* curve25519_pubkey,
                      const unsigned char* msg, unsigned long msg_len);
}

namespace wa::crypto {

Sig64 xeddsa_sign(const Key32& priv, ByteView message) {
  // The library uses the key as an Edwards scalar without clamping it; clamp
  // a copy so a caller's unclamped key signs for the same public key that
  // X25519 derives from it.
  Key32 k = priv;
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  std::array<uint8_t, 64> nonce_random{};
  random_bytes(nonce_random);
  Sig64 sig{};
  static const uint8_t empty = 0;
  const int rc = curve25519_sign(sig.data(), k.data(), message.empty() ? &empty : message.data(),
                                 message.size(), nonce_random.data());
  secure_wipe(k.data(), k.size());
  secure_wipe(nonce_random.data(), nonce_random.size());
  if (rc != 0) {
    // Only an allocation failure inside the library; an all-zero signature
    // never verifies, so callers fail closed.
    sig.fill(0);
  }
  return sig;
}

bool xeddsa_verify(ByteView pub32, ByteView message, ByteView signature64) {
  if (pub32.size() != 32 || signature64.size() != 64) return false;
  static const uint8_t empty = 0;
  return curve25519_verify(signature64.data(), pub32.data(), message.empty() ? &empty : message.data(),
                           message.size()) == 0;
}

}  // namespace wa::crypto
