// The crypto provider libsignal-protocol-c calls back into: randomness from
// wa_crypto, HMAC-SHA256 / SHA-512 / AES on OpenSSL 3 EVP. Exposed so tests
// can drive the callbacks exactly as the library does.
#pragma once

#include <signal_protocol.h>

#include <cstddef>

namespace wa::signal {

// A process-wide provider; its functions are thread-safe (state lives in the
// per-call contexts the library passes back).
const signal_crypto_provider& crypto_provider();

// HMAC contexts are kept from one HMAC to this thread's next: keying a fresh
// one costs as much as the HMAC itself, and a decrypt makes several. A kept
// context holds state derived from its last key, so none outlives the Signal
// operation that used it (SignalSession releases them as each ends) - or,
// while a CryptoBatch is open on the thread, the batch: the receive path's
// batch of decrypts shares them and releases them at its end.
class CryptoBatch {
 public:
  CryptoBatch() noexcept;
  ~CryptoBatch();
  CryptoBatch(const CryptoBatch&) = delete;
  CryptoBatch& operator=(const CryptoBatch&) = delete;
};

// Frees this thread's kept contexts (OpenSSL cleanses them), unless a batch
// is open on it.
void release_crypto_scratch() noexcept;

// How many this thread keeps (tests).
size_t kept_hmac_contexts() noexcept;

}  // namespace wa::signal
