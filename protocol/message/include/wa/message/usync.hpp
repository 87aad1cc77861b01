// USync device-list queries (which devices of a user must get a copy of a
// message). The response is hostile input: every user/device entry is
// validated, and bad entries are skipped rather than trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/message/self.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::message {

// <iq to="@s.whatsapp.net" type="get" xmlns="usync" id=iq_id>
//   <usync sid mode="query" context="message" last="true" index="0">
//     <query><devices version="2"/><lid/></query>
//     <list><user jid=USER/>...</list></usync></iq>
// `users` are sent without agent/device (to_non_ad).
binary::Node build_usync_devices_query(std::span<const binary::Jid> users, std::string_view iq_id,
                                       std::string_view sid);

struct UsyncDevice {
  uint16_t id = 0;
  std::optional<uint32_t> key_index;
  bool hosted = false;
};

struct UsyncUser {
  binary::Jid user;  // non-AD
  std::vector<UsyncDevice> devices;
  std::optional<binary::Jid> lid;  // from <lid val>
  std::optional<Error> error;      // a per-user <error> (that user's devices are unknown)
};

// Parses an iq result. Fails ("iq_error:<code>") on type="error",
// ("bad_usync") when the <usync><list> is missing; individual malformed
// users/devices are dropped.
Result<std::vector<UsyncUser>> parse_usync_devices(const binary::Node& iq);

// The device JIDs a message must be encrypted for, by the Baileys rules:
// device 0 always, other devices only with a key-index, never our own
// sending device; hosted devices move to the hosted / hosted.lid server.
std::vector<binary::Jid> device_jids(const UsyncUser& user, const Self& self);

// The device-list cache stores device numbers; a hosted device keeps its
// flag in bit 16 so that the hosted server survives the round trip.
inline constexpr uint32_t kHostedFlag = 0x10000;
store::DeviceList to_cache(std::span<const binary::Jid> devices, int64_t now);
// Rebuilds device JIDs for `user` (non-AD) from a cache entry.
std::vector<binary::Jid> from_cache(const binary::Jid& user, const store::DeviceList& list);

}  // namespace wa::message
