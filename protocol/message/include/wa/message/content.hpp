// What a decrypted message is, read from its content rather than from the
// stanza's type attribute (docs/PROTOCOL.md §12.4), and the plain content
// kinds beside text and media: locations, contact cards and revokes. Pure
// functions; nothing here throws on outside bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/message/reaction.hpp"
#include "wa/result.hpp"

namespace wa::proto {
class Message;
class ContextInfo;
}  // namespace wa::proto

namespace wa::message {

// The `msg_type` of a message event: "text"; a media kind ("image", "video",
// "audio", "voice", "document", "sticker"); "location", "live_location",
// "contact"; "reaction"; "revoke"; "edit" (classic, wrapped or
// secret-encrypted); "poll", "poll_vote";
// "protocol" (another ProtocolMessage: history sync, app-state keys,
// disappearing-timer changes...); "unknown" for content we do not read.
std::string content_type(const proto::Message& m);

struct Location {
  double latitude = 0;
  double longitude = 0;
  std::string name;
  std::string address;
  std::string url;
  std::string comment;  // a live location's caption
  uint32_t accuracy_m = 0;
  bool live = false;
  std::string quoted_id;  // contextInfo.stanzaId of a reply
};
// Message{locationMessage}. Fails "bad_request" outside [-90, 90] x [-180, 180]
// (or not finite), or on text fields over kMaxLocationText bytes.
inline constexpr size_t kMaxLocationText = 1024;
Result<Bytes> build_location(const Location& loc, const proto::ContextInfo* ci);
std::optional<Location> find_location(const proto::Message& m);

struct ContactCard {
  std::string name;   // displayName
  std::string vcard;  // the vCard text
};
// At most this many cards in one message, and this many bytes of vCard each.
inline constexpr size_t kMaxContactCards = 20;
inline constexpr size_t kMaxVcardBytes = 16 * 1024;
// One card: Message{contactMessage}; several: Message{contactsArrayMessage}.
Result<Bytes> build_contacts(std::span<const ContactCard> cards, const proto::ContextInfo* ci);
// Empty when the message holds no contact card.
std::vector<ContactCard> find_contacts(const proto::Message& m);
// A minimal vCard 3.0 for a name and phone number, with the waid parameter
// WhatsApp clients use to offer "message" / "add": the number's digits.
// Fails "bad_request" on an empty name or a number without 5..20 digits.
Result<std::string> make_vcard(std::string_view name, std::string_view phone);

// A revoke ("delete for everyone"): Message{protocolMessage{key, type=REVOKE}}.
// The key is written from the revoker's side (fromMe for our own message; an
// admin revoke names the author in `participant`).
Result<Bytes> build_revoke(const TargetKey& target);
std::optional<TargetKey> find_revoke(const proto::Message& m);

// The quoted message id of any content kind (contextInfo.stanzaId), "" when
// the message is not a reply.
std::string quoted_id_of(const proto::Message& m);

}  // namespace wa::message
