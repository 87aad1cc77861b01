// The send side of the message layer: install sessions from fetched
// bundles, encrypt one message for every device that must get it, and
// build the <message> stanza (1:1, groups with sender keys, retry
// re-sends). Pure: the caller moves the nodes over the socket.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/self.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::message {

// Signal address of a device JID ("123:4@lid" -> {"123_1", 4}).
store::Address address_of(const binary::Jid& device);

// What to do when a contact's identity key changed (reinstall, or someone
// else). The default accepts it, as both reference clients do; either way
// the change is reported so the caller can emit `identity_changed`.
enum class IdentityDecision { accept, reject };
using IdentityPolicy = std::function<IdentityDecision(const store::Address&)>;
IdentityPolicy accept_identity_changes();

struct SessionReport {
  std::vector<binary::Jid> installed;
  std::vector<binary::Jid> identity_changed;  // accepted (new key trusted, session rebuilt)
  std::vector<std::pair<binary::Jid, Error>> failed;
};

// The devices among `devices` with no Signal session yet (need a bundle).
Result<std::vector<binary::Jid>> devices_without_session(signal::SignalSession& sig,
                                                         std::span<const binary::Jid> devices);
// Installs a session per fetched bundle, only where none exists (a racing
// sender may have installed one first). Per-device failures are collected,
// store failures abort.
Result<SessionReport> install_bundles(signal::SignalSession& sig, std::span<const FetchedBundle> bundles,
                                      const IdentityPolicy& policy = accept_identity_changes());

struct Outgoing {
  std::string id;
  binary::Jid to;  // the chat: a user (non-AD) or a group
  Bytes message;   // serialized wa.proto.Message, unpadded
};

// What a DM carries besides the message: `peer_recipient_pn` on a
// LID-addressed DM when the peer's phone number is known, and the peer's
// privacy token as <tctoken> (docs/PROTOCOL.md §12.1, §12.2).
struct DirectExtras {
  std::optional<binary::Jid> peer_pn;
  std::optional<Bytes> tctoken;
};

struct Built {
  binary::Node stanza;
  bool has_pkmsg = false;
  std::vector<binary::Jid> encrypted_for;                // pairwise recipients
  std::vector<std::pair<binary::Jid, Error>> failed;     // devices left out (no session, ...)
  std::vector<binary::Jid> sender_key_recipients;        // groups: got the SKDM in this stanza
  std::vector<binary::Jid> identity_changed;             // retry: the requester's key changed (accepted)
};

// The <enc mediatype> of a media message ("image", "video", "gif", "ptt",
// "audio", "document", "sticker"), "" for any other message or bytes that do
// not parse. Such a stanza's type is "media", else "text".
std::string media_type_of(ByteView message);
std::string media_type_of(const proto::Message& message);

// 1:1 send: `peer_devices` get the message, `own_devices` (our other
// devices; the sending device is skipped if present) get it wrapped in
// deviceSentMessage{destinationJid=to}. Every device must have a session
// already; devices whose encryption fails are listed in Built::failed and
// left out. Fails with "session_failed" when no peer device could be
// encrypted for, "bad_request" on a non-user `to`.
Result<Built> build_direct_message(signal::SignalSession& sig, const Self& self, const Outgoing& msg,
                                   std::span<const binary::Jid> peer_devices,
                                   std::span<const binary::Jid> own_devices, const DirectExtras& extras = {});

// Groups. Our sender key for the group is (group, own address) with the
// LID identity when the group is LID-addressed. The set of devices that hold
// our current key (the "sender key memory") lives in the store as the
// credential "skmem:<group>"; it is rotated (new key, empty memory) when a
// user in the memory is no longer among `devices` (someone left: they must
// not read what follows).
struct GroupOptions {
  bool lid_addressing = false;
  std::string addressing_mode;  // "lid" / "pn" attr on the stanza; empty = none
};
Result<std::set<std::string>> sender_key_memory(store::Store& st, std::string_view group);
Status remember_sender_key_recipients(store::Store& st, std::string_view group, std::span<const binary::Jid> devices);
Status forget_sender_key_memory(store::Store& st, std::string_view group);

// `devices`: every device of every member (our own other devices
// included; our sending device is skipped). Devices without the key (per
// the memory) get a pairwise SKDM; the content goes once as skmsg. The
// caller records Built::sender_key_recipients with
// remember_sender_key_recipients once the server acked the stanza.
Result<Built> build_group_message(signal::SignalSession& sig, store::Store& st, const Self& self,
                                  const Outgoing& msg, std::span<const binary::Jid> devices,
                                  const GroupOptions& options = {});

// The cached plaintext of message `id` sent in `chat`, found under the
// chat's PN or LID form (the cache keeps the form the stanza used; a retry
// or a reply may name the other).
Result<std::optional<store::SentMessage>> find_sent(store::Store& st, std::string_view id, const binary::Jid& chat);

// A <receipt type="retry"> from a device that could not decrypt.
struct RetryRequest {
  std::string id;
  binary::Jid from;                        // stanza from (device or group)
  std::optional<binary::Jid> participant;  // groups: the requesting device
  std::string recipient;
  uint32_t count = 1;
  std::optional<uint32_t> registration_id;
  std::optional<signal::PreKeyBundle> keys;  // new keys to start a fresh session with
  // The device that must get the re-send.
  const binary::Jid& device() const { return participant ? *participant : from; }
  // The chat the message was sent in: the group, the peer named by
  // `recipient` (a copy for one of our own devices), else the requester.
  binary::Jid chat() const;
};
Result<RetryRequest> parse_retry_receipt(const binary::Node& receipt);

// Re-encrypts a cached message (SentMessage.plaintext, unpadded) for the
// one requesting device. With keys in the request a new session is built
// from them and the old state is archived in the record (still used to
// decrypt what was in flight); a changed identity is reported in
// identity_changed (or refused by the policy). Otherwise the caller must have installed
// a session (fetch a bundle for `device()` first when none exists).
// Groups: the pairwise payload carries our current SKDM with the message.
Result<Built> build_retry_resend(signal::SignalSession& sig, store::Store& st, const Self& self,
                                 const RetryRequest& req, const store::SentMessage& sent,
                                 const IdentityPolicy& policy = accept_identity_changes());

}  // namespace wa::message
