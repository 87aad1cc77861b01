// Our own account as the message layer needs it, read from the store per
// operation (the sender workers hold no state of their own: a re-pairing
// between two sends must be seen by the second).
#pragma once

#include <cstdint>
#include <optional>

#include "wa/binary/jid.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::message {

struct Self {
  binary::Jid jid;                // own device, PN form ("user:D@s.whatsapp.net")
  std::optional<binary::Jid> lid;  // own device, LID form, when known
  Bytes account_identity;          // serialized ADVSignedDeviceIdentity (may be empty before pairing)
  uint32_t registration_id = 0;
  // The server says our 1:1 chats are LID-migrated: DMs go to LIDs
  // (docs/PROTOCOL.md §12.1). Needs `lid`.
  bool lid_migrated = false;

  // Signal address of this device under the PN or the LID identity.
  store::Address address(bool use_lid = false) const;
  // Our user (no device) in the namespace a chat with `peer` uses.
  binary::Jid user_for(const binary::Jid& peer) const;
  // True if `user` (non-AD user part) is us, under either identity.
  bool is_own_user(std::string_view user) const noexcept;
};

// Fails with "not_paired" when own_jid is missing, "db_corrupt" when a
// stored value does not parse.
Result<Self> load_self(store::Store& st);

}  // namespace wa::message
