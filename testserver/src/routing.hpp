// Routing decisions (docs/PROTOCOL.md §8.5, §9.1, §10.3): which device gets which stanza.
// Pure over State: the server turns each Delivery into a send on a live
// connection or an entry in the device's offline queue.
#pragma once

#include <cstdint>
#include <optional>
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
// as an ack error (bad_stanza -> 400, not_member -> 403, unknown_group -> 404).
Result<RoutePlan> plan_message(State& st, const DeviceAddr& sender, const binary::Node& msg, uint64_t now);

// A <chatstate to=USER|GROUP><composing/>|<paused/></chatstate> from
// `sender`: one copy per device of the peer (1:1) or of every other member
// (group), `from` = the sender's user (1:1) or the group with `participant`.
// Nothing for an unknown peer, a group the sender is not in, or a bad stanza
// (the real server does not answer chat states). Live only: the caller must
// not queue these for offline devices.
std::vector<Delivery> plan_chatstate(State& st, const DeviceAddr& sender, const binary::Node& cs);

// A <receipt> from `sender` (delivery, read, retry, ...).
Result<RoutePlan> plan_receipt(State& st, const DeviceAddr& sender, const binary::Node& receipt, uint64_t now);

}  // namespace wa::testserver
