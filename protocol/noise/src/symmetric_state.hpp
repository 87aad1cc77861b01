// Noise SymmetricState with WhatsApp's conventions: the 32-byte protocol name
// is used directly as h, ck and k; one nonce counter serves both directions
// and resets on every MixKey; AEAD is AES-256-GCM with aad = h.
#pragma once

#include <cstdint>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"

namespace wa::noise {

class SymmetricState {
 public:
  SymmetricState();
  ~SymmetricState();
  SymmetricState(const SymmetricState&) = delete;
  SymmetricState& operator=(const SymmetricState&) = delete;

  void mix_hash(ByteView data);
  void mix_key(ByteView input_key_material);
  // Both fail only on counter exhaustion or (decrypt) a bad tag.
  Result<Bytes> encrypt_and_hash(ByteView plaintext);
  Result<Bytes> decrypt_and_hash(ByteView ciphertext);
  // HKDF(ck, empty) -> (first 32, second 32).
  void split(crypto::Key32& first, crypto::Key32& second) const;

 private:
  crypto::Key32 h_{};
  crypto::Key32 ck_{};
  crypto::Key32 k_{};
  uint32_t n_ = 0;
};

}  // namespace wa::noise
