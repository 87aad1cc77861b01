// What the client answers to what it receives (docs/PROTOCOL.md §10.2-10.4): delivery
// receipts, retry receipts and acks. Built from the incoming stanza so the
// routing attributes (from/participant/recipient) are echoed exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "wa/binary/node.hpp"
#include "wa/message/self.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::message {

// Retries stop at this count (both reference clients).
inline constexpr uint32_t kMaxRetryCount = 5;

enum class DeliveryKind {
  delivered,  // no type attr: we are marked online
  inactive,   // type="inactive": delivered while not marked online
};

// <receipt id to=FROM [participant] [recipient] [type]/>; messages from our
// own devices get type="sender" (whatever `kind` says).
Result<binary::Node> build_delivery_receipt(const binary::Node& stanza, bool from_me,
                                            DeliveryKind kind = DeliveryKind::inactive);

// Keys a retry receipt carries from count 2 on: a fresh one-time prekey
// (generated and stored now), our identity, signed prekey and device
// identity, so the sender can start a new session without a fetch.
struct RetryKeys {
  Bytes identity_pub;
  store::PreKey prekey;
  store::SignedPreKey signed_prekey;
  Bytes device_identity;
};
Result<RetryKeys> make_retry_keys(store::Store& st, const Self& self);

// <receipt id to=FROM type="retry" [participant] [recipient]>
//   <retry count id t v="1"/><registration>u32</registration>[<keys>...]</receipt>
// Fails ("retry_exhausted") when count > kMaxRetryCount, "bad_stanza" on a
// stanza without id/from.
Result<binary::Node> build_retry_receipt(const binary::Node& stanza, uint32_t count, uint32_t registration_id,
                                         const RetryKeys* keys = nullptr);

// <ack class=TAG id to=FROM [participant] [recipient] [type] [from=OWN] [error]/>
// For class "message" the stanza type and our own JID are included (as
// Baileys does); `error` is a NACK code.
Result<binary::Node> build_ack(const binary::Node& stanza, const Self* self = nullptr,
                               std::optional<int> error = std::nullopt);

// NACK code for an error from decrypt_message that retrying cannot fix
// (unsupported content, malformed stanza), nullopt when a retry receipt is
// the right answer (every decryption failure, duplicate_message included:
// a reused key under a new id is recovered by the sender's re-send).
std::optional<int> nack_code_for(const Error& e);

}  // namespace wa::message
