// Reactions (docs/PROTOCOL.md §12.4): the message that reacts to another one,
// and the reaction read from a received message. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::message {

// The reacted-to message as the reactor names it (a MessageKey): the chat,
// whether the reactor sent it, its id, and its author in a group when the
// reactor did not send it.
struct TargetKey {
  std::string chat;
  bool from_me = false;
  std::string id;
  std::string participant;
};

// At most this many bytes of emoji (a sequence with modifiers and joiners).
inline constexpr size_t kMaxReactionBytes = 64;

// Message{reactionMessage{key, text=emoji, senderTimestampMs}}; an empty
// emoji removes the reaction. Fails "bad_request" on an empty id or an emoji
// over kMaxReactionBytes.
Result<Bytes> build_reaction(const TargetKey& target, std::string_view emoji, int64_t now_ms);

struct Reaction {
  TargetKey target;
  std::string emoji;  // "" = removed
  int64_t timestamp_ms = 0;
};
std::optional<Reaction> find_reaction(const proto::Message& m);
std::optional<Reaction> find_reaction(ByteView serialized);

}  // namespace wa::message
