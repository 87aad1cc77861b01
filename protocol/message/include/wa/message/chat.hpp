// What a user does in a chat besides sending: read receipts (docs/PROTOCOL.md §10.2, Baileys
// sendReceipt) and chat states ("typing", Baileys sendPresenceUpdate), out
// and in. Pure builders and parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"

namespace wa::message {

// At most this many ids in one read receipt (a <list> of items).
inline constexpr size_t kMaxReadIds = 256;

// <receipt id=IDS[0] to=CHAT [participant=SENDER] type="read" t=NOW>
//   [<list><item id=IDS[1]/>...</list>]</receipt>
// `sender` (the messages' author, normalised to the user) is required for a
// group chat and ignored for a 1:1 chat. Fails "bad_request" on no ids, too
// many ids, or a group without a sender.
Result<binary::Node> build_read_receipt(const binary::Jid& chat, const std::optional<binary::Jid>& sender,
                                        std::span<const std::string> ids, int64_t now);

enum class ChatState { composing, paused };

// <chatstate from=OWN_USER to=CHAT><composing/>|<paused/></chatstate>
binary::Node build_chatstate(const binary::Jid& own, const binary::Jid& chat, ChatState state);

struct IncomingChatState {
  std::string chat;    // the user (1:1) or the group
  std::string sender;  // who types (the participant in a group)
  std::string state;   // "composing", "recording" (composing media=audio) or "paused"
};
// <chatstate from=USER|GROUP [participant=USER]><composing [media]/>|<paused/>
// Fails "bad_stanza" on anything else.
Result<IncomingChatState> parse_chatstate(const binary::Node& stanza);

}  // namespace wa::message
