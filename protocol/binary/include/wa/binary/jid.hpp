// JIDs: WhatsApp addresses "user[_agent][:device]@server".
//
// Nodes carry JIDs as strings (the codec picks the wire form); this type is
// for code that needs the parts, and for validating JIDs a user typed: parse()
// is strict and its errors say what is wrong ("jid has no '@'", "device is
// not a number", "unknown server 'x'").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wa/result.hpp"

namespace wa::binary {

namespace server {
inline constexpr std::string_view kUser = "s.whatsapp.net";  // phone-number (PN) users
inline constexpr std::string_view kLid = "lid";
inline constexpr std::string_view kHosted = "hosted";
inline constexpr std::string_view kHostedLid = "hosted.lid";
inline constexpr std::string_view kGroup = "g.us";
inline constexpr std::string_view kBroadcast = "broadcast";
inline constexpr std::string_view kNewsletter = "newsletter";
inline constexpr std::string_view kBot = "bot";
inline constexpr std::string_view kMessenger = "msgr";
inline constexpr std::string_view kInterop = "interop";
inline constexpr std::string_view kLegacyUser = "c.us";
}  // namespace server

// Domain types carried by AD_JID (and appended to Signal address names).
inline constexpr uint8_t kDomainWhatsApp = 0;
inline constexpr uint8_t kDomainLid = 1;
inline constexpr uint8_t kDomainHosted = 128;
inline constexpr uint8_t kDomainHostedLid = 129;

inline constexpr std::size_t kMaxJidUser = 64;

struct Jid {
  std::string user;         // empty = the server itself ("@s.whatsapp.net")
  uint8_t agent = 0;        // raw agent, s.whatsapp.net only ("user_A:D@...")
  uint16_t device = 0;      // 0 = primary device
  uint16_t integrator = 0;  // interop only ("I-user:D@interop")
  std::string server;

  static Result<Jid> parse(std::string_view s);
  // Canonical string form (device omitted when 0 unless an agent is present).
  std::string str() const;
  // The checks parse() applies, for a Jid built field by field.
  Status validate() const;

  Jid to_non_ad() const;  // same user, no agent/device
  bool is_group() const noexcept { return server == server::kGroup; }
  bool is_pn() const noexcept { return server == server::kUser; }
  bool is_lid() const noexcept { return server == server::kLid; }
  bool is_hosted() const noexcept { return server == server::kHosted || server == server::kHostedLid; }
  // A person's account (any of the user servers), not a group or list.
  bool is_user() const noexcept { return !user.empty() && (is_pn() || is_lid() || is_hosted() || server == server::kLegacyUser); }
  bool is_broadcast() const noexcept { return server == server::kBroadcast; }
  bool is_status_broadcast() const noexcept { return is_broadcast() && user == "status"; }
  bool is_newsletter() const noexcept { return server == server::kNewsletter; }
  bool is_server() const noexcept { return user.empty(); }

  // 0 for s.whatsapp.net, 1 lid, 128 hosted, 129 hosted.lid, else the agent.
  uint8_t domain_type() const noexcept;
  // Signal protocol address name: "user", or "user_<domain>" for a non-zero
  // domain (LID user "123" -> "123_1"); the device id is `device`.
  std::string signal_address_name() const;

  bool operator==(const Jid&) const = default;
};

}  // namespace wa::binary
