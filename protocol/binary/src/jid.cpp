#include "wa/binary/jid.hpp"

#include <algorithm>
#include <array>

namespace wa::binary {
namespace {

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses a canonical decimal number; names `what` in the error.
Result<uint32_t> number(std::string_view s, std::string_view what, uint32_t max) {
  if (s.empty()) return fail("bad_jid", std::string(what) + " is empty");
  if (!all_digits(s)) return fail("bad_jid", std::string(what) + " is not a number");
  if (s.size() > 1 && s[0] == '0') return fail("bad_jid", std::string(what) + " has a leading zero");
  if (s.size() > 6) return fail("bad_jid", std::string(what) + " is out of range (max " + std::to_string(max) + ")");
  uint32_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint32_t>(c - '0');
  if (v > max) return fail("bad_jid", std::string(what) + " " + std::to_string(v) + " is out of range (max " + std::to_string(max) + ")");
  return v;
}

constexpr std::array<std::string_view, 11> kKnownServers = {
    server::kUser,      server::kLid, server::kHosted,    server::kHostedLid, server::kGroup,     server::kBroadcast,
    server::kNewsletter, server::kBot, server::kMessenger, server::kInterop,   server::kLegacyUser};

bool takes_device(std::string_view s) noexcept {
  return s == server::kUser || s == server::kLid || s == server::kHosted || s == server::kHostedLid ||
         s == server::kMessenger || s == server::kInterop;
}

uint32_t max_device(std::string_view s) noexcept {
  // AD_JID carries one device byte; FB_JID and INTEROP_JID carry two.
  return (s == server::kMessenger || s == server::kInterop) ? 0xFFFF : 0xFF;
}

Status check_user(const Jid& j) {
  const std::string_view u = j.user;
  if (u.size() > kMaxJidUser) return fail("bad_jid", "user is too long (max " + std::to_string(kMaxJidUser) + ")");
  if (u.empty()) {
    if (j.device != 0 || j.agent != 0) return fail("bad_jid", "a device or agent needs a user");
    return {};
  }
  const std::string_view s = j.server;
  if (s == server::kGroup) {
    // "120363...@g.us", or the old "creator-timestamp@g.us".
    const auto dash = u.find('-');
    if (dash == std::string_view::npos ? all_digits(u) : (all_digits(u.substr(0, dash)) && all_digits(u.substr(dash + 1)))) return {};
    return fail("bad_jid", "group id '" + j.user + "' must be digits or digits-digits");
  }
  if (s == server::kBroadcast) {
    if (u == "status" || all_digits(u)) return {};
    return fail("bad_jid", "broadcast id '" + j.user + "' must be 'status' or digits");
  }
  if (!all_digits(u)) return fail("bad_jid", "user '" + j.user + "' must be digits (no '+', spaces or letters)");
  return {};
}

}  // namespace

Result<Jid> Jid::parse(std::string_view s) {
  if (s.empty()) return fail("bad_jid", "jid is empty");
  const auto at = s.find('@');
  if (at == std::string_view::npos) return fail("bad_jid", "jid has no '@'");
  if (s.find('@', at + 1) != std::string_view::npos) return fail("bad_jid", "jid has more than one '@'");
  Jid j;
  const std::string_view srv = s.substr(at + 1);
  if (srv.empty()) return fail("bad_jid", "jid has no server after '@'");
  if (std::find(kKnownServers.begin(), kKnownServers.end(), srv) == kKnownServers.end()) {
    return fail("bad_jid", "unknown server '" + std::string(srv.substr(0, 64)) + "'");
  }
  j.server = std::string(srv);

  std::string_view user = s.substr(0, at);
  if (const auto colon = user.find(':'); colon != std::string_view::npos) {
    const std::string_view dev = user.substr(colon + 1);
    if (dev.find(':') != std::string_view::npos) return fail("bad_jid", "jid has more than one ':'");
    if (!takes_device(srv)) return fail("bad_jid", "server '" + j.server + "' does not take a device");
    auto d = number(dev, "device", max_device(srv));
    if (!d) return Unexpected<Error>{std::move(d).error()};
    j.device = static_cast<uint16_t>(*d);
    user = user.substr(0, colon);
  }
  if (const auto underscore = user.find('_'); underscore != std::string_view::npos) {
    if (srv != server::kUser) return fail("bad_jid", "an agent ('_') is only allowed on s.whatsapp.net");
    auto a = number(user.substr(underscore + 1), "agent", 0xFF);
    if (!a) return Unexpected<Error>{std::move(a).error()};
    j.agent = static_cast<uint8_t>(*a);
    user = user.substr(0, underscore);
  }
  if (srv == server::kInterop && !user.empty()) {
    const auto dash = user.find('-');
    if (dash == std::string_view::npos) return fail("bad_jid", "interop user must be 'integrator-user'");
    auto i = number(user.substr(0, dash), "integrator", 0xFFFF);
    if (!i) return Unexpected<Error>{std::move(i).error()};
    j.integrator = static_cast<uint16_t>(*i);
    user = user.substr(dash + 1);
  }
  j.user = std::string(user);
  if (auto st = j.validate(); !st) return Unexpected<Error>{st.error()};
  return j;
}

Status Jid::validate() const {
  if (server.empty()) return fail("bad_jid", "jid has no server");
  if (std::find(kKnownServers.begin(), kKnownServers.end(), server) == kKnownServers.end()) {
    return fail("bad_jid", "unknown server '" + server.substr(0, 64) + "'");
  }
  if (device != 0 && !takes_device(server)) return fail("bad_jid", "server '" + server + "' does not take a device");
  if (device > max_device(server)) return fail("bad_jid", "device " + std::to_string(device) + " is out of range (max 255)");
  if (agent != 0) {
    if (server != server::kUser) return fail("bad_jid", "an agent ('_') is only allowed on s.whatsapp.net");
    if (agent == kDomainLid || agent == kDomainHosted || agent == kDomainHostedLid) {
      return fail("bad_jid", "agent " + std::to_string(agent) + " is a domain type; use the lid/hosted server instead");
    }
  }
  if (integrator != 0 && server != server::kInterop) return fail("bad_jid", "only interop jids have an integrator");
  if (server == server::kInterop && user.empty() && integrator != 0) return fail("bad_jid", "an integrator needs a user");
  return check_user(*this);
}

std::string Jid::str() const {
  std::string out;
  out.reserve(user.size() + server.size() + 16);
  if (server == server::kInterop && !user.empty()) out += std::to_string(integrator) + "-";
  out += user;
  if (agent != 0) out += "_" + std::to_string(agent);
  if (device != 0 || agent != 0) out += ":" + std::to_string(device);
  out += "@";
  out += server;
  return out;
}

Jid Jid::to_non_ad() const {
  Jid j = *this;
  j.agent = 0;
  j.device = 0;
  return j;
}

uint8_t Jid::domain_type() const noexcept {
  if (server == server::kLid) return kDomainLid;
  if (server == server::kHosted) return kDomainHosted;
  if (server == server::kHostedLid) return kDomainHostedLid;
  return agent;
}

std::string Jid::signal_address_name() const {
  const uint8_t d = domain_type();
  return d == 0 ? user : user + "_" + std::to_string(d);
}

}  // namespace wa::binary
