// The receive side: classify an incoming <message>, decrypt its <enc>
// children in order, unpad, parse, unwrap our own devices' copies and
// take in sender keys. Pure: the caller stores the result, then sends the
// receipt/ack nodes from receipt.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/message/self.hpp"
#include "wa/message/send.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::message {

struct Incoming {
  std::string id;
  std::string chat;    // user (non-AD) or group JID the message belongs to
  std::string sender;  // the sending device JID
  bool from_me = false;
  bool is_group = false;
  int64_t timestamp = 0;
  // What the content is (content.hpp: content_type): "text", a media kind,
  // "location", "contact", "reaction", "revoke", ...; the stanza's own
  // `type` attribute until content is found.
  std::string msg_type;
  std::string text;       // conversation or extendedTextMessage.text
  std::string quoted_id;  // contextInfo.stanzaId of a reply
  Bytes raw;              // serialized Message (after unwrapping deviceSentMessage)
  Bytes message_secret;   // messageContextInfo.messageSecret (32 bytes) if carried
  bool has_content = false;  // false: a sender-key-only (or empty) message
  std::vector<store::Address> identity_changed;  // accepted new identities
};

// Error codes: "bad_stanza" (missing/invalid from, id, participant),
// "unsupported" (newsletter/plaintext, enc v!=2, msmsg), "no_enc",
// "bad_padding", "bad_protobuf", and the Signal codes (no_session,
// invalid_message, bad_mac, duplicate_message, invalid_key_id,
// no_sender_key / invalid_*, identity_changed when the policy rejects).
// After such an error the caller sends a retry receipt (decryption
// failures) or an ack with a NACK code (see receipt.hpp: nack_code_for).
Result<Incoming> decrypt_message(signal::SignalSession& sig, const Self& self, const binary::Node& stanza,
                                 const IdentityPolicy& policy = accept_identity_changes());

// The chat and sender a <message> stanza names, as decrypt_message would
// report them (chat: the user or group JID; sender: the device). For
// events about a message that could not be decrypted.
struct Source {
  std::string chat;
  std::string sender;
};
Result<Source> message_source(const Self& self, const binary::Node& stanza);

// The text/quoted id/type summary of a Message protobuf (used by
// decrypt_message; exposed for the history and tests).
struct Summary {
  std::string text;
  std::string quoted_id;
  std::string type;  // content_type(), when has_content
  bool has_content = false;
  Bytes message_secret;  // messageContextInfo.messageSecret, when 32 bytes
};
Summary summarize(ByteView message);
Summary summarize(const proto::Message& message);

}  // namespace wa::message
