// Privacy ("trusted contact") tokens, docs/PROTOCOL.md §12.2: a contact that
// trusts us issues a token the server hands to us in a privacy_token
// notification; we attach it to our 1:1 messages to that contact. We issue
// our own to a contact after writing to it, once per 7-day bucket. Kept in
// the store's credentials ("tctoken:<user>", "tcissued:<user>"), keyed by
// the contact's LID user when known, else its phone number user.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::message::tctoken {

inline constexpr int64_t kBucketS = 604800;  // 7 days
inline constexpr int64_t kBuckets = 4;       // buckets a token stays valid in
inline constexpr size_t kMaxTokenBytes = 1024;

// Stale once `t` is before the start of the bucket (kBuckets - 1) back.
bool expired(int64_t t, int64_t now);

// Stores the trusted_contact tokens of a <notification type="privacy_token">
// under the issuer (its `sender_lid`, else its mapped LID, else `from`);
// an older token never replaces a newer one. Returns how many were kept.
Result<size_t> store_received(store::Store& st, const binary::Node& notification);

// The unexpired token `peer` (a user JID, either form) gave us, if any.
Result<std::optional<Bytes>> valid_token_for(store::Store& st, const binary::Jid& peer, int64_t now);

// Whether we should issue our token to `peer` now: never issued, or last in
// an earlier bucket.
Result<bool> should_issue(store::Store& st, const binary::Jid& peer, int64_t now);
Status mark_issued(store::Store& st, const binary::Jid& peer, int64_t now);
// The peer re-registered (identity change): issue ours again on the next DM.
Status forget_issued(store::Store& st, const binary::Jid& peer);
// <iq xmlns="privacy" type="set"><tokens><token jid t type="trusted_contact"/></tokens></iq>
binary::Node build_issue_iq(const binary::Jid& peer, int64_t now, std::string_view iq_id);

}  // namespace wa::message::tctoken
