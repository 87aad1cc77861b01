// Phone-number-code pairing (link_code_companion_reg): each side's ephemeral
// X25519 public key travels wrapped under the 8-character code as
// salt(32) || iv(16) || AES-256-CTR(PBKDF2-SHA256(code, salt, 131072), iv, pub32).
// The companion (connection worker) and the emulated phone (local server)
// both use these, so the two sides cannot drift apart.
#pragma once

#include <string_view>

#include "wa/crypto/crypto.hpp"

namespace wa::crypto {

inline constexpr uint32_t kLinkCodeIterations = 2u << 16;  // 131072, as both reference clients use
inline constexpr size_t kLinkCodeWrappedSize = 32 + 16 + 32;

Bytes link_code_wrap(std::string_view code, ByteView pub32);
// Fails with "bad_wrapped_key" unless `wrapped` is 80 bytes.
Result<Key32> link_code_unwrap(std::string_view code, ByteView wrapped);

}  // namespace wa::crypto
