// Prekey bundle fetch: the keys a contact device published, needed once to
// start a Signal session with it (docs/PROTOCOL.md §8.2). Responses are hostile input: every
// key length is checked before it reaches the Signal library.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"

namespace wa::message {

// <iq xmlns="encrypt" type="get" to="@s.whatsapp.net" id><key>
//   <user jid=DEVICE [reason="identity"]/>...</key></iq>
binary::Node build_prekey_query(std::span<const binary::Jid> devices, std::string_view iq_id,
                                bool reason_identity = false);

struct FetchedBundle {
  binary::Jid jid;  // the device
  Result<signal::PreKeyBundle> bundle;
};

// Parses the iq result: one entry per <user> with a parseable jid. A user
// carrying <error> (or malformed keys) gets an error entry ("bundle_error:<code>"
// / "bad_bundle"). The whole call fails on an iq error or a missing <list>.
Result<std::vector<FetchedBundle>> parse_prekey_response(const binary::Node& iq);

// Reads identity / skey / key (directly under `holder` or inside its <keys>
// child) into a bundle; shared with retry receipts, which carry the same
// shapes. registration_id and device_id are given by the caller.
Result<signal::PreKeyBundle> parse_key_material(const binary::Node& holder, uint32_t registration_id,
                                                uint32_t device_id);

// Big-endian unsigned integer of exactly `width` bytes (1..4).
std::optional<uint32_t> read_be(ByteView b, size_t width);
Bytes write_be(uint32_t v, size_t width);

}  // namespace wa::message
