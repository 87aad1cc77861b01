// Post-handshake frame encryption: AES-256-GCM with one key and one 32-bit
// counter per direction, iv = 8 zero bytes || counter (BE), no AAD.
#pragma once

#include <cstdint>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"

namespace wa::noise {

class TransportCipher {
 public:
  static Result<TransportCipher> create(ByteView write_key32, ByteView read_key32);

  // Encrypts one frame payload (e.g. flag byte + binary node) for sending.
  Result<Bytes> encrypt(ByteView plaintext);
  // Decrypts one received frame payload. A failure ("auth_failed") leaves the
  // cipher unusable ("transport_broken"): the peer's counter can no longer be
  // trusted to match, so the only safe action is to drop the connection.
  Result<Bytes> decrypt(ByteView ciphertext);

  uint64_t frames_sent() const { return write_counter_; }
  uint64_t frames_received() const { return read_counter_; }

  TransportCipher(TransportCipher&&) noexcept = default;
  TransportCipher& operator=(TransportCipher&&) noexcept = default;

 private:
  TransportCipher() = default;
  crypto::AesGcmKey write_;
  crypto::AesGcmKey read_;
  // 64-bit so exhaustion of the 32-bit wire counter is detected instead of
  // wrapping (a repeated iv under GCM leaks the authentication key).
  uint64_t write_counter_ = 0;
  uint64_t read_counter_ = 0;
  bool broken_ = false;
};

}  // namespace wa::noise
