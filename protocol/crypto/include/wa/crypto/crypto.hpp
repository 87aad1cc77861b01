// Cryptographic primitives on OpenSSL 3 EVP (no deprecated APIs) plus
// Signal's XEdDSA curve signatures. Every function is stateless and
// thread-safe; failures are values, never exceptions or aborts.
//
// API CONTRACT shared by protocol/noise, protocol/signal, protocol/store and
// the local server: keep these signatures stable.
#pragma once

#include <array>
#include <string>
#include <vector>
#include <cstdint>
#include <memory>
#include <span>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::crypto {

using Key32 = std::array<uint8_t, 32>;
using Sig64 = std::array<uint8_t, 64>;

// Secure random bytes (RAND_bytes). Aborts the process only if the OS RNG is broken.
void random_bytes(std::span<uint8_t> out);
Bytes random_bytes(size_t n);
uint32_t random_u32();

std::array<uint8_t, 32> sha256(ByteView data);
std::array<uint8_t, 64> sha512(ByteView data);
std::array<uint8_t, 16> md5(ByteView data);  // only for the WA buildHash
std::array<uint8_t, 32> hmac_sha256(ByteView key, ByteView data);
// RFC 5869 HKDF-SHA256; empty salt means 32 zero bytes.
Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, size_t length);
Bytes pbkdf2_sha256(ByteView password, ByteView salt, uint32_t iterations, size_t length);

// AES-256-GCM: ciphertext || 16-byte tag. decrypt fails ("auth_failed") on a bad tag.
Result<Bytes> aes_gcm_encrypt(ByteView key32, ByteView iv12, ByteView aad, ByteView plaintext);
Result<Bytes> aes_gcm_decrypt(ByteView key32, ByteView iv12, ByteView aad, ByteView ciphertext_and_tag);
// AES-256-CBC with PKCS#7 padding.
Result<Bytes> aes_cbc_encrypt(ByteView key32, ByteView iv16, ByteView plaintext);
Result<Bytes> aes_cbc_decrypt(ByteView key32, ByteView iv16, ByteView ciphertext);
// AES-256-CTR (stream; encrypt == decrypt).
Result<Bytes> aes_ctr(ByteView key32, ByteView iv16, ByteView data);

// Curve25519 key pair (Montgomery form, 32-byte keys, private key clamped).
struct KeyPair {
  Key32 pub{};
  Key32 priv{};
  ~KeyPair();  // wipes priv
  KeyPair() = default;
  KeyPair(const KeyPair&) = default;
  KeyPair& operator=(const KeyPair&) = default;
};
KeyPair generate_keypair();
KeyPair keypair_from_private(const Key32& priv);
Result<Key32> x25519(const Key32& priv, ByteView peer_pub32);  // fails on an all-zero shared secret

// Signal's XEdDSA ("curve25519 signature"): 64-byte signatures verified with
// the 32-byte Montgomery public key. sign() uses fresh randomness.
Sig64 xeddsa_sign(const Key32& priv, ByteView message);
bool xeddsa_verify(ByteView pub32, ByteView message, ByteView signature64);

// ---- Additions (beyond the original contract; existing signatures unchanged) ----

// SHA256(a || b) without building the concatenation (Noise MixHash).
std::array<uint8_t, 32> sha256_concat(ByteView a, ByteView b);

// The participant hash of a message's device list, as the server returns it
// in an ack's `phash` (docs/PROTOCOL.md §8.4; Baileys' form): "2:" + the first
// 6 characters of base64(SHA-256(the device JIDs sorted, concatenated)).
std::string participant_hash(std::vector<std::string> device_jids);

// Constant-time equality (false when lengths differ).
bool equal_ct(ByteView a, ByteView b);

// AES-256-GCM with the key schedule expanded once and one context kept per
// direction for a connection's life (transport frames). Measured on OpenSSL 3.0
// it is about as fast as the one-shot functions (scripts/bench/noise.sh); it
// saves re-validating the key on every frame and keeps the transport code simple.
// Not thread-safe: one instance per direction per connection.
class AesGcmKey {
 public:
  static Result<AesGcmKey> create(ByteView key32);
  AesGcmKey();
  ~AesGcmKey();
  AesGcmKey(AesGcmKey&&) noexcept;
  AesGcmKey& operator=(AesGcmKey&&) noexcept;
  AesGcmKey(const AesGcmKey&) = delete;
  AesGcmKey& operator=(const AesGcmKey&) = delete;

  Result<Bytes> encrypt(ByteView iv12, ByteView aad, ByteView plaintext) const;
  Result<Bytes> decrypt(ByteView iv12, ByteView aad, ByteView ciphertext_and_tag) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::crypto
