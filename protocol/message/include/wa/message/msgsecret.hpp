// Message-secret add-ons (docs/PROTOCOL.md §12.4): a message that others may
// vote on or edit carries 32 random bytes (messageContextInfo.messageSecret);
// a vote on it, or an encrypted edit of it, is sealed with a key derived
// from that secret, so only those who saw the message can read them.
//   key = HKDF-SHA256(ikm = secret, salt = none,
//                     info = targetId || targetSender || modifier || useCase, 32)
//   AES-256-GCM, 12-byte IV, tag appended; AAD = targetId || 0x00 || modifier
//   for "Poll Vote" (and "Event Response"), empty for every other use case.
// JIDs are non-AD user JIDs ("user@server"). Pure functions.
#pragma once

#include <string_view>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::message {

inline constexpr size_t kMessageSecretBytes = 32;
inline constexpr std::string_view kUsePollVote = "Poll Vote";
inline constexpr std::string_view kUseMessageEdit = "Message Edit";
inline constexpr std::string_view kUseEventResponse = "Event Response";

// 32 fresh random bytes.
Bytes new_message_secret();

// Who the add-on is about: the target message's id and author, and who
// wrote the add-on (the voter, the editor).
struct AddonParty {
  std::string_view target_id;
  std::string_view target_sender;
  std::string_view modifier;
};

Bytes addon_key(ByteView secret, const AddonParty& p, std::string_view use_case);
Bytes addon_aad(const AddonParty& p, std::string_view use_case);

struct Sealed {
  Bytes payload;  // ciphertext || 16-byte tag
  Bytes iv;       // 12 bytes
};
// Fails "bad_request" on a secret that is not 32 bytes. `iv` empty: random.
Result<Sealed> seal_addon(ByteView secret, const AddonParty& p, std::string_view use_case, ByteView plaintext,
                          ByteView iv = {});
// Fails "bad_request" (sizes) or "auth_failed" (wrong key or party, tampered).
Result<Bytes> open_addon(ByteView secret, const AddonParty& p, std::string_view use_case, ByteView payload,
                         ByteView iv);

}  // namespace wa::message
