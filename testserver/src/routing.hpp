// Routing decisions (docs/PROTOCOL.md §8.5, §9.1, §10.3): which device gets which stanza.
// Pure over State: the server turns each Delivery into a send on a live
// connection or an entry in the device's offline queue.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "state.hpp"
#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"

namespace wa::testserver {

struct DeviceAddr {
  std::string phone;
  uint16_t device = 0;
  bool operator==(const DeviceAddr&) const = default;
  bool operator<(const DeviceAddr& o) const { return phone < o.phone || (phone == o.phone && device < o.device); }
};

struct Delivery {
  DeviceAddr to;
  binary::Node node;
};

struct RoutePlan {
  std::vector<Delivery> deliveries;
  binary::Node ack;  // for the sender
};

// PN or LID user/device JID of a known account -> (phone, device). The device
// need not be linked (callers check).
std::optional<DeviceAddr> resolve(const State& st, const binary::Jid& jid);
std::string pn_jid(const std::string& phone, uint16_t device);
std::string lid_jid(const std::string& lid, uint16_t device);

// A <message> from `sender`. Errors are stanza-level problems the sender gets
// as an ack error (ack_error_code). With st.policy.lid (the LID-first
// server) it also enforces the addressing rules (mixed namespaces, LID DMs
// from unmigrated accounts, PN DMs between migrated accounts) and, with
// st.policy.require_tctoken, the privacy-token rule; an accepted 1:1
// message records the conversation (st.record_dm).
Result<RoutePlan> plan_message(State& st, const DeviceAddr& sender, const binary::Node& msg, uint64_t now);

// The ack error a plan_message error becomes: bad_stanza 400, not_member
// and not_admin (an announcement group) 403, unknown_group 404,
// account_restricted 463.
int ack_error_code(const Error& e);

// A <chatstate to=USER|GROUP><composing/>|<paused/></chatstate> from
// `sender`: one copy per device of the peer (1:1) or of every other member
// (group), `from` = the sender's user (1:1) or the group with `participant`.
// Nothing for an unknown peer, a group the sender is not in, or a bad stanza
// (the real server does not answer chat states). Live only: the caller must
// not queue these for offline devices.
std::vector<Delivery> plan_chatstate(State& st, const DeviceAddr& sender, const binary::Node& cs);

// A <receipt> from `sender` (delivery, read, retry, ...).
Result<RoutePlan> plan_receipt(State& st, const DeviceAddr& sender, const binary::Node& receipt, uint64_t now);

// LID-first server with --pn-lookups refuse (reported real behaviour,
// 2026): a PN-keyed device list or prekey fetch of a LID-migrated third
// party, asked by a migrated account, gets nothing. The asker's own account
// and LID-keyed lookups always answer.
bool pn_lookup_refused(State& st, const DeviceAddr& asker, const binary::Jid& asked, const Account* target);

// <iq xmlns="privacy" type="set"><tokens><token jid=PEER t type="trusted_contact"/>
// from `issuer`: mints a random opaque token per known PEER (other
// types and unknown or own JIDs are skipped), stores it, and returns the
// <notification type="privacy_token"> for every device of each holder
// (ids from next_id). Errors: bad_stanza (no <tokens>, a bad t).
Result<std::vector<Delivery>> plan_privacy_tokens(State& st, const DeviceAddr& issuer, const binary::Node& iq, uint64_t now,
                                                  const std::function<std::string()>& next_id);

// Number change: `phone` now has LID st.account(phone)->lid instead of
// old_lid. Every device of each peer gets <notification type="contacts">
// <modify old=PN new=PN old_lid new_lid/> so it re-maps the account.
std::vector<Delivery> plan_lid_change(State& st, const std::string& phone, const std::string& old_lid,
                                      const std::set<std::string>& peers, uint64_t now,
                                      const std::function<std::string()>& next_id);

}  // namespace wa::testserver
