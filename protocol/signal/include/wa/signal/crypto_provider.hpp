// The crypto provider libsignal-protocol-c calls back into: randomness from
// wa_crypto, HMAC-SHA256 / SHA-512 / AES on OpenSSL 3 EVP. Exposed so tests
// can drive the callbacks exactly as the library does.
#pragma once

#include <signal_protocol.h>

namespace wa::signal {

// A process-wide provider; its functions are thread-safe (state lives in the
// per-call contexts the library passes back).
const signal_crypto_provider& crypto_provider();

}  // namespace wa::signal
