// Edits (docs/PROTOCOL.md §12.4): the message that replaces the text of one
// of ours, and an edit read from a received message in each of its forms —
// protocolMessage MESSAGE_EDIT (bare, as Baileys sends it, or inside the
// editedMessage wrapper, as whatsmeow does) and the newer
// secretEncryptedMessage MESSAGE_EDIT sealed with the original message's
// secret. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/message/reaction.hpp"
#include "wa/result.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::message {

// How long after sending a message we still offer to edit it (whatsmeow's
// EditWindow; the server enforces its own).
inline constexpr int64_t kEditWindowS = 20 * 60;

// Message{editedMessage{message{protocolMessage{key{remoteJid=chat,
// fromMe=true, id}, type=MESSAGE_EDIT, editedMessage{conversation=text},
// timestampMs}}}}. Fails "bad_request" on an empty id or text.
Result<Bytes> build_edit(const TargetKey& target, std::string_view new_text, int64_t now_ms);

struct Edit {
  TargetKey target;  // from the editor's side
  std::string text;  // the new text (or caption)
  int64_t timestamp_ms = 0;
  bool encrypted = false;  // came as a secretEncryptedMessage
};
// A classic edit (both forms). nullopt: not an edit.
std::optional<Edit> find_edit(const proto::Message& m);

// The encrypted form, still sealed.
struct SecretEdit {
  TargetKey target;
  Bytes payload;
  Bytes iv;
};
std::optional<SecretEdit> find_secret_edit(const proto::Message& m);
// Opens it with the original's secret; the original's author is the editor,
// tried under each spelling given (phone number, LID). Fails "auth_failed"
// or "bad_protobuf" (no edit inside).
Result<Edit> open_secret_edit(const SecretEdit& e, ByteView secret, const std::vector<std::string>& editors);

// Encrypts an edit the newer way (for tests and tools: what a current
// official client sends).
Result<Bytes> build_secret_edit(const TargetKey& target, ByteView secret, std::string_view editor,
                                std::string_view new_text, int64_t now_ms, ByteView iv = {});

}  // namespace wa::message
