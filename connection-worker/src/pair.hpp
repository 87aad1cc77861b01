// QR pairing of a new companion (docs/PROTOCOL.md §5.1): the QR string made
// from each server ref, and the verification of <pair-success> (ADV HMAC
// under our secret, the primary's account signature over our identity) with
// the device signature and the <pair-device-sign> reply.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "credentials.hpp"
#include "wa/binary/node.hpp"

namespace wa::connection {

// "https://wa.me/settings/linked_devices#REF,NOISE,IDENTITY,ADV,PLATFORM"
std::string make_qr_string(std::string_view ref, const Credentials& creds, std::string_view platform_id);

// Refs of <iq type=set><pair-device><ref>..</ref>...</pair-device></iq>.
// Refs that are empty or absurdly long are dropped (they cannot be scanned).
std::vector<std::string> pair_device_refs(const binary::Node& iq);

struct PairSuccess {
  PairedIdentity identity;
  binary::Node reply;  // the <iq type=result><pair-device-sign> to send
};

// Verifies a <pair-success> iq against our credentials. Errors:
// "pair_malformed", "hmac_mismatch", "signature_mismatch".
Result<PairSuccess> verify_pair_success(const binary::Node& iq, const Credentials& creds);

// The refusal whatsmeow sends when verification fails.
binary::Node pair_error_reply(std::string_view id, const Error& error);

// Time each QR stays valid: the first 60 s, each later one 20 s.
inline constexpr uint64_t kFirstQrMs = 60000;
inline constexpr uint64_t kNextQrMs = 20000;

}  // namespace wa::connection
