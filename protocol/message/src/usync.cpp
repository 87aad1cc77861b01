#include "wa/message/usync.hpp"

#include <charconv>

namespace wa::message {

namespace {

template <class T>
std::optional<T> parse_uint(std::string_view s) {
  T v{};
  if (s.empty() || s.size() > 10) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

binary::Node build_usync_devices_query(std::span<const binary::Jid> users, std::string_view iq_id,
                                       std::string_view sid) {
  binary::Children list;
  list.reserve(users.size());
  for (const auto& u : users) list.emplace_back("user", binary::Attrs{{"jid", u.to_non_ad().str()}});
  binary::Children query;
  query.emplace_back("devices", binary::Attrs{{"version", "2"}});
  query.emplace_back("lid");
  binary::Children usync;
  usync.emplace_back("query", binary::Attrs{}, std::move(query));
  usync.emplace_back("list", binary::Attrs{}, std::move(list));
  binary::Children iq;
  iq.emplace_back("usync",
                  binary::Attrs{{"sid", std::string(sid)}, {"mode", "query"}, {"context", "message"},
                                {"last", "true"}, {"index", "0"}},
                  std::move(usync));
  return binary::Node("iq",
                      binary::Attrs{{"to", "@s.whatsapp.net"}, {"type", "get"}, {"xmlns", "usync"},
                                    {"id", std::string(iq_id)}},
                      std::move(iq));
}

Result<std::vector<UsyncUser>> parse_usync_devices(const binary::Node& iq) {
  if (iq.tag != "iq") return fail("bad_usync", "not an iq");
  if (iq.attr_or("type", "") == "error") {
    const binary::Node* e = iq.child("error");
    return fail("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"), "usync query failed");
  }
  const binary::Node* usync = iq.child("usync");
  const binary::Node* list = usync ? usync->child("list") : nullptr;
  if (!list) return fail("bad_usync", "usync response without <usync><list>");
  std::vector<UsyncUser> out;
  for (const binary::Node* u : list->children("user")) {
    auto jid = binary::Jid::parse(u->attr_or("jid", ""));
    if (!jid || !jid->is_user()) continue;
    UsyncUser user;
    user.user = jid->to_non_ad();
    if (const binary::Node* err = u->child("error")) {
      user.error = Error{"usync_user_error:" + std::string(err->attr_or("code", "?")),
                         std::string(err->attr_or("text", ""))};
    }
    if (const binary::Node* devices = u->child("devices")) {
      if (const binary::Node* err = devices->child("error"); err && !user.error)
        user.error = Error{"usync_user_error:" + std::string(err->attr_or("code", "?")),
                           std::string(err->attr_or("text", ""))};
      if (const binary::Node* dl = devices->child("device-list")) {
        for (const binary::Node* d : dl->children("device")) {
          auto id = parse_uint<uint16_t>(d->attr_or("id", ""));
          if (!id) continue;
          UsyncDevice dev;
          dev.id = *id;
          if (auto ki = d->attr("key-index")) dev.key_index = parse_uint<uint32_t>(*ki);
          dev.hosted = d->attr_or("is_hosted", "") == "true";
          user.devices.push_back(dev);
        }
      }
    }
    if (const binary::Node* lid = u->child("lid")) {
      auto l = binary::Jid::parse(lid->attr_or("val", ""));
      if (l && l->is_lid()) user.lid = l->to_non_ad();
    }
    out.push_back(std::move(user));
  }
  return out;
}

std::vector<binary::Jid> device_jids(const UsyncUser& user, const Self& self) {
  std::vector<binary::Jid> out;
  const bool own = self.is_own_user(user.user.user);
  for (const auto& d : user.devices) {
    if (own && d.id == self.jid.device) continue;
    // A companion without key-index is not signed into the account: the
    // server answers a stanza addressed to it with a bad-request error.
    if (d.id != 0 && !d.key_index) continue;
    binary::Jid j = user.user;
    j.device = d.id;
    if (d.hosted) {
      j.server = std::string(user.user.is_lid() ? binary::server::kHostedLid : binary::server::kHosted);
    } else if (d.id == 99) {
      continue;  // 99 is the hosted device slot; never valid on a plain user
    }
    out.push_back(std::move(j));
  }
  return out;
}

store::DeviceList to_cache(std::span<const binary::Jid> devices, int64_t now) {
  store::DeviceList list;
  list.fetched_at = now;
  for (const auto& d : devices) list.devices.push_back(d.device | (d.is_hosted() ? kHostedFlag : 0u));
  return list;
}

std::vector<binary::Jid> from_cache(const binary::Jid& user, const store::DeviceList& list) {
  std::vector<binary::Jid> out;
  for (uint32_t v : list.devices) {
    if ((v & ~(kHostedFlag | 0xFFFFu)) != 0) continue;
    binary::Jid j = user.to_non_ad();
    j.device = static_cast<uint16_t>(v & 0xFFFF);
    if (v & kHostedFlag)
      j.server = std::string(user.is_lid() ? binary::server::kHostedLid : binary::server::kHosted);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace wa::message
