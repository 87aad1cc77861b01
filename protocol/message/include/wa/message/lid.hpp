// PN <-> LID: what stanzas say about who is who, and the other form of a
// user from the store (docs/PROTOCOL.md §12.1). The store keeps one mapping
// per user and moves a contact's Signal state to its LID name when the
// mapping first appears, so learning a mapping is all a caller does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::message {

struct LidMapping {
  std::string pn_user;   // digits of the phone-number user
  std::string lid_user;  // digits of the LID user
  bool operator==(const LidMapping&) const = default;
};

// The mappings a stanza's attributes state: an address attribute and its
// alternative in the other namespace (`from` + `sender_pn` / `sender_lid`,
// `participant` + `participant_pn` / `participant_lid`, `recipient` +
// `peer_recipient_pn` / `peer_recipient_lid`, a devices notification's
// `from` + `lid`). Pairs that are not one PN and one LID are ignored.
std::vector<LidMapping> mappings_in(const binary::Node& stanza);

// Stores what mappings_in finds (each in one transaction with the move of
// the contact's sessions). Store failures pass through.
Status learn_mappings(store::Store& st, const binary::Node& stanza);

// The same user (no device) in the other namespace, if the store knows it.
Result<std::optional<binary::Jid>> alternate_user(store::Store& st, const binary::Jid& user);

// A PN or LID user JID, or a bare phone number ("+1 555 0100" / "15550100"),
// as a user JID; nullopt when it is neither.
std::optional<binary::Jid> parse_user_or_number(std::string_view text);

}  // namespace wa::message
