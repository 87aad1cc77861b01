// The key IQs: encrypt (prekey count, digest, upload, rotation, bundle
// fetch) and usync (device lists, LIDs, contacts).
#include <map>

#include "server.hpp"
#include "stanza.hpp"

namespace wa::testserver {

using binary::Jid;
using binary::Node;

namespace {

// Below this many one-time prekeys a device is told to upload more (the
// reference clients' MIN_PREKEY_COUNT).
constexpr size_t kPreKeyLowMark = 5;

}  // namespace

Node Server::iq_encrypt(Conn& c, const Node& iq) {
  auto* acc = state_.account(c.addr.phone);
  auto dit = acc->devices.find(c.addr.device);
  if (dit == acc->devices.end()) return error_for(iq, 404, "item-not-found");
  Device& dev = dit->second;
  if (iq.child("count")) {
    Node r = result_for(iq);
    r.content = binary::Children{Node("count", {{"value", std::to_string(dev.prekeys.size())}})};
    return r;
  }
  if (iq.child("digest")) {
    Node r = result_for(iq);
    binary::Children list;
    for (const auto& [id, pub] : dev.prekeys) {
      (void)pub;
      list.push_back(bytes_node("id", be(id, 3)));
    }
    r.content = binary::Children{Node("digest", {}, binary::Children{
        bytes_node("type", Bytes{5}), bytes_node("registration", be(dev.regid, 4)), bytes_node("identity", dev.identity_pub),
        Node("skey", {}, binary::Children{bytes_node("id", be(dev.skey_id, 3)), bytes_node("value", dev.skey_pub),
                                        bytes_node("signature", dev.skey_sig)}),
        Node("list", {}, std::move(list))})};
    return r;
  }
  auto read_skey = [&](const Node* sk, uint32_t& id, Bytes& pub, Bytes& sig) -> bool {
    if (!sk) return false;
    const Node* i = sk->child("id");
    const Node* v = sk->child("value");
    const Node* s = sk->child("signature");
    auto idv = from_be(i ? i->bytes() : nullptr, 3);
    if (!idv || !v || !v->bytes() || v->bytes()->size() != 32 || !s || !s->bytes() || s->bytes()->size() != 64) return false;
    Bytes msg{0x05};
    msg.insert(msg.end(), v->bytes()->begin(), v->bytes()->end());
    if (!crypto::xeddsa_verify(dev.identity_pub, msg, *s->bytes())) return false;
    id = *idv;
    pub = *v->bytes();
    sig = *s->bytes();
    return true;
  };
  if (const Node* rot = iq.child("rotate")) {
    if (!read_skey(rot->child("skey"), dev.skey_id, dev.skey_pub, dev.skey_sig)) return error_for(iq, 400, "bad-request");
    (void)state_.save_signed_prekey(c.addr.phone, dev);
    return result_for(iq);
  }
  if (const Node* key = iq.child("key")) {
    // Prekey bundle fetch.
    binary::Children users;
    for (const auto& u : key->children()) {
      if (u.tag != "user") continue;
      std::string jid_s(u.attr_or("jid", ""));
      auto j = Jid::parse(jid_s);
      auto addr = j ? resolve(state_, *j) : std::nullopt;
      Account* a = addr ? state_.account(addr->phone) : nullptr;
      Node un("user", {{"jid", jid_s}});
      if (a && pn_lookup_refused(state_, c.addr, *j, a)) {
        un.content = binary::Children{Node("error", {{"code", "404"}, {"text", "item-not-found"}})};
      } else if (a && addr->device == 0) {
        un.content = binary::Children{
            bytes_node("registration", be(a->regid, 4)), bytes_node("type", Bytes{5}),
            bytes_node("identity", Bytes(a->identity.pub.begin(), a->identity.pub.end())),
            Node("skey", {}, binary::Children{bytes_node("id", be(1, 3)),
                                            bytes_node("value", Bytes(a->spk.pub.begin(), a->spk.pub.end())),
                                            bytes_node("signature", a->spk_sig)})};
      } else if (a && a->devices.count(addr->device)) {
        const Device& d = a->devices.at(addr->device);
        binary::Children kids{bytes_node("registration", be(d.regid, 4)), bytes_node("type", Bytes{5}),
                              bytes_node("identity", d.identity_pub),
                              Node("skey", {}, binary::Children{bytes_node("id", be(d.skey_id, 3)), bytes_node("value", d.skey_pub),
                                                              bytes_node("signature", d.skey_sig)})};
        if (auto pk = state_.take_prekey(addr->phone, addr->device))
          kids.push_back(Node("key", {}, binary::Children{bytes_node("id", be(pk->first, 3)), bytes_node("value", pk->second)}));
        un.content = std::move(kids);
        check_prekey_stock(*addr);
      } else {
        un.content = binary::Children{Node("error", {{"code", "404"}, {"text", "item-not-found"}})};
      }
      users.push_back(std::move(un));
    }
    Node r = result_for(iq);
    r.content = binary::Children{Node("list", {}, std::move(users))};
    return r;
  }
  if (iq.child("list") || iq.child("skey")) {
    // Prekey upload.
    const Node* ident = iq.child("identity");
    if (ident && ident->bytes() && !crypto::equal_ct(*ident->bytes(), dev.identity_pub))
      return error_for(iq, 409, "identity-mismatch");
    if (auto rid = from_be(iq.child("registration") ? iq.child("registration")->bytes() : nullptr, 4)) dev.regid = *rid;
    std::map<uint32_t, Bytes> keys;
    if (const Node* list = iq.child("list")) {
      for (const auto& k : list->children()) {
        if (k.tag != "key") continue;
        auto id = from_be(k.child("id") ? k.child("id")->bytes() : nullptr, 3);
        const Node* v = k.child("value");
        if (!id || !v || !v->bytes() || v->bytes()->size() != 32) return error_for(iq, 400, "bad-request");
        keys[*id] = *v->bytes();
      }
    }
    if (keys.size() > 5000 || dev.prekeys.size() + keys.size() > 20000) return error_for(iq, 406, "too-many-keys");
    uint32_t sid = 0;
    Bytes spub, ssig;
    if (iq.child("skey")) {
      if (!read_skey(iq.child("skey"), sid, spub, ssig)) return error_for(iq, 400, "bad-request");
      dev.skey_id = sid;
      dev.skey_pub = spub;
      dev.skey_sig = ssig;
      (void)state_.save_signed_prekey(c.addr.phone, dev);
    }
    (void)state_.add_prekeys(c.addr.phone, c.addr.device, keys);
    prekeys_low_.erase(c.addr);
    return result_for(iq);
  }
  return error_for(iq, 501, "feature-not-implemented");
}

Node Server::iq_usync(Conn& c, const Node& iq) {
  const Node* us = iq.child("usync");
  if (!us) return error_for(iq, 400, "bad-request");
  const Node* query = us->child("query");
  const Node* list = us->child("list");
  if (!query || !list) return error_for(iq, 400, "bad-request");
  bool want_devices = query->child("devices") != nullptr;
  bool want_lid = query->child("lid") != nullptr;
  bool want_contact = query->child("contact") != nullptr;
  const bool lid_server = state_.policy.lid;
  // 2026 onWhatsApp: <contact addressing_mode="lid"/> answers jid=LID pn_jid=PN.
  const bool contact_lid = lid_server && want_contact && query->child("contact")->attr_or("addressing_mode", "") == "lid";
  uint64_t now = now_unix();
  binary::Children users;
  for (const auto& u : list->children()) {
    if (u.tag != "user") continue;
    std::string jid_s(u.attr_or("jid", ""));
    std::string contact;
    if (const Node* ct = u.child("contact")) {
      if (auto cc = ct->content_chars()) contact = std::string(*cc);
    }
    if (jid_s.empty() && !contact.empty()) {
      std::string digits;
      for (char ch : contact)
        if (ch >= '0' && ch <= '9') digits += ch;
      jid_s = digits + "@s.whatsapp.net";
    }
    auto j = Jid::parse(jid_s);
    auto addr = j ? resolve(state_, *j) : std::nullopt;
    Account* a = addr ? state_.account(addr->phone) : nullptr;
    Node un("user", {{"jid", jid_s}});
    if (contact_lid) {
      un.attrs.clear();
      if (a) un.set_attr("jid", lid_jid(a->lid, 0));
      if (a) un.set_attr("pn_jid", pn_jid(a->phone, 0));
      else if (j && j->is_pn()) un.set_attr("pn_jid", j->to_non_ad().str());
      else un.set_attr("jid", jid_s);  // an unknown LID (or junk): echoed as asked
    }
    binary::Children kids;
    if (want_devices) {
      binary::Children devs;
      if (a && !pn_lookup_refused(state_, c.addr, *j, a)) {
        devs.push_back(Node("device", {{"id", "0"}}));
        for (const auto& [id, d] : a->devices)
          devs.push_back(Node("device", {{"id", std::to_string(id)}, {"key-index", std::to_string(d.key_index)}}));
      }
      kids.push_back(Node("devices", {}, binary::Children{Node("device-list", {}, std::move(devs)),
                                                          Node("key-index-list", {{"ts", std::to_string(now)}})}));
    }
    if (want_lid && a) kids.push_back(Node("lid", {{"val", a->lid + "@lid"}}));
    else if (want_lid && lid_server)
      kids.push_back(Node("lid", {}, binary::Children{Node("error", {{"code", "404"}, {"text", "missing"}})}));
    if (want_contact) kids.push_back(Node("contact", {{"type", a ? "in" : "out"}}));
    if (query->child("status") && a) kids.push_back(about_node(c, a->phone));
    un.content = std::move(kids);
    users.push_back(std::move(un));
  }
  Node r = result_for(iq);
  Node out_us("usync", {{"sid", std::string(us->attr_or("sid", ""))}, {"mode", std::string(us->attr_or("mode", "query"))},
                        {"last", "true"}, {"index", "0"}, {"context", std::string(us->attr_or("context", "interactive"))}});
  out_us.content = binary::Children{Node("list", {}, std::move(users))};
  r.content = binary::Children{std::move(out_us)};
  return r;
}

Node Server::iq_privacy(Conn& c, const Node& iq) {
  if (iq.child("tokens")) ++counters_.privacy_token_iqs;
  // Only the LID-first server (or one enforcing tokens) knows privacy
  // tokens; the 2024 server never did.
  if (!state_.policy.lid && !state_.policy.require_tctoken) return error_for(iq, 501, "feature-not-implemented");
  if (iq.attr_or("type", "") != "set" || !iq.child("tokens")) return error_for(iq, 501, "feature-not-implemented");
  auto plan = plan_privacy_tokens(state_, c.addr, iq, now_unix(), [this] { return next_id(); });
  if (!plan) return error_for(iq, 400, "bad-request");
  for (auto& d : *plan) {
    ++counters_.privacy_tokens;
    deliver(std::move(d));
  }
  // As the real server: the result carries no token (the holder gets it).
  return result_for(iq);
}

void Server::check_prekey_stock(const DeviceAddr& dev) {
  auto* a = state_.account(dev.phone);
  if (!a) return;
  auto it = a->devices.find(dev.device);
  if (it == a->devices.end() || it->second.prekeys.size() >= kPreKeyLowMark || prekeys_low_.count(dev)) return;
  prekeys_low_.insert(dev);
  Node n("notification", {{"from", kServerJid}, {"type", "encrypt"}, {"id", next_id()}, {"t", std::to_string(now_unix())}});
  n.content = binary::Children{Node("count", {{"value", std::to_string(it->second.prekeys.size())}})};
  deliver({dev, std::move(n)});
}

}  // namespace wa::testserver
