// Message ids and the plaintext padding every E2E payload carries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::message {

// "3EB0" + uppercase hex of the first 9 bytes of
// SHA-256(unix seconds u64 BE || own user || "@c.us" || 16 random bytes):
// 22 characters, the shape both reference clients send. The hash only
// spreads entropy; the ids are opaque to the server.
std::string generate_message_id(std::string_view own_user, int64_t unix_seconds);

// True for strings that are safe to use as a stanza id we received
// (non-empty, <= 128 printable ASCII characters).
bool plausible_message_id(std::string_view id) noexcept;

// Appends N bytes of value N with N random in 1..16 (the Baileys rule; the
// receiver only reads the last byte).
Bytes pad(ByteView plaintext);
// Deterministic variant for tests (n must be 1..255).
Bytes pad_with(ByteView plaintext, uint8_t n);
// Drops the padding: fails with "bad_padding" when the buffer is empty, the
// last byte is 0 or larger than the buffer.
Result<Bytes> unpad(ByteView padded);

}  // namespace wa::message
