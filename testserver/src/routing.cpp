#include "routing.hpp"

#include <set>

namespace wa::testserver {

using binary::Jid;
using binary::Node;

std::string pn_jid(const std::string& phone, uint16_t device) {
  return device ? phone + ":" + std::to_string(device) + "@s.whatsapp.net" : phone + "@s.whatsapp.net";
}
std::string lid_jid(const std::string& lid, uint16_t device) {
  return device ? lid + ":" + std::to_string(device) + "@lid" : lid + "@lid";
}

std::optional<DeviceAddr> resolve(const State& st, const Jid& jid) {
  auto& s = const_cast<State&>(st);  // lookups only
  if (jid.is_pn()) {
    if (s.account(jid.user)) return DeviceAddr{jid.user, jid.device};
  } else if (jid.is_lid()) {
    if (auto* a = s.account_by_lid(jid.user)) return DeviceAddr{a->phone, jid.device};
  }
  return std::nullopt;
}

namespace {

// The sender's device JID in the addressing the conversation uses.
std::string sender_jid(State& st, const DeviceAddr& sender, bool lid) {
  if (lid) {
    if (auto* a = st.account(sender.phone)) return lid_jid(a->lid, sender.device);
  }
  return pn_jid(sender.phone, sender.device);
}

bool device_exists(State& st, const DeviceAddr& d) {
  auto* a = st.account(d.phone);
  return a && a->devices.count(d.device);
}

// Attributes the server stamps on every delivered message.
void stamp(Node& n, const Node& msg, uint64_t now, State& st, const DeviceAddr& sender) {
  n.set_attr("id", std::string(msg.attr_or("id", "")));
  n.set_attr("t", std::to_string(now));
  n.set_attr("type", std::string(msg.attr_or("type", "text")));
  if (auto* a = st.account(sender.phone)) {
    auto dit = a->devices.find(sender.device);
    if (dit != a->devices.end() && !dit->second.push_name.empty()) n.set_attr("notify", dit->second.push_name);
  }
  for (const char* k : {"edit", "category", "mediatype", "addressing_mode"})
    if (auto v = msg.attr(k)) n.set_attr(k, std::string(*v));
}

Node ack_for(const Node& msg, const std::string& from, uint64_t now) {
  Node ack("ack", {{"class", "message"}, {"id", std::string(msg.attr_or("id", ""))}, {"from", from}, {"t", std::to_string(now)}});
  return ack;
}

}  // namespace

Result<RoutePlan> plan_message(State& st, const DeviceAddr& sender, const Node& msg, uint64_t now) {
  auto to_s = msg.attr("to");
  auto id = msg.attr("id");
  if (!to_s || !id || id->empty() || id->size() > 128) return fail("bad_stanza", "message needs id and to");
  auto to = Jid::parse(*to_s);
  if (!to) return fail("bad_stanza", "bad to jid");
  RoutePlan plan;
  plan.ack = ack_for(msg, std::string(*to_s), now);

  std::vector<const Node*> extra;  // device-identity etc., copied to every delivery
  const Node* skmsg = nullptr;
  const Node* direct_enc = nullptr;
  for (const auto& c : msg.children()) {
    if (c.tag == "enc") {
      if (c.attr_or("type", "") == "skmsg")
        skmsg = &c;
      else
        direct_enc = &c;
    } else if (c.tag == "device-identity") {
      extra.push_back(&c);
    }
  }
  // Pairwise <to jid=DEV><enc/></to> entries, keyed by resolved device.
  std::vector<std::pair<DeviceAddr, const Node*>> pairwise;
  bool any_lid_target = false;
  if (const Node* parts = msg.child("participants")) {
    for (const auto& t : parts->children()) {
      if (t.tag != "to") continue;
      auto jid = Jid::parse(t.attr_or("jid", ""));
      if (!jid) continue;
      auto addr = resolve(st, *jid);
      const Node* enc = t.child("enc");
      if (!addr || !enc) continue;
      any_lid_target = any_lid_target || jid->is_lid();
      pairwise.emplace_back(*addr, enc);
    }
  }

  if (to->is_group()) {
    Group* g = st.group(to->user);
    if (!g) return fail("unknown_group", "no such group");
    if (!g->has(sender.phone)) return fail("not_member", "sender is not a member");
    bool lid_mode = msg.attr_or("addressing_mode", "pn") == "lid";
    // A retry resend names its one target in `participant`.
    std::optional<DeviceAddr> only;
    if (auto p = msg.attr("participant")) {
      auto pj = Jid::parse(*p);
      if (!pj) return fail("bad_stanza", "bad participant");
      only = resolve(st, *pj);
      if (!only) return plan;
    }
    for (const auto& [phone, admin] : g->members) {
      (void)admin;
      auto* a = st.account(phone);
      if (!a) continue;
      for (const auto& [dev_id, dev] : a->devices) {
        (void)dev;
        DeviceAddr target{phone, dev_id};
        if (target == sender) continue;
        if (only && !(*only == target)) continue;
        Node out("message");
        out.set_attr("from", to->str());
        out.set_attr("participant", sender_jid(st, sender, lid_mode));
        if (lid_mode)
          out.set_attr("participant_pn", pn_jid(sender.phone, 0));
        stamp(out, msg, now, st, sender);
        binary::Children kids;
        // Pairwise first: it may carry the sender key the skmsg needs.
        for (const auto& [addr, enc] : pairwise)
          if (addr == target) kids.push_back(*enc);
        if (direct_enc && only) kids.push_back(*direct_enc);
        if (skmsg) kids.push_back(*skmsg);
        if (kids.empty()) continue;
        for (const Node* e : extra) kids.push_back(*e);
        out.content = std::move(kids);
        plan.deliveries.push_back({target, std::move(out)});
      }
    }
    return plan;
  }

  if (!to->is_user()) return fail("bad_stanza", "unsupported destination");
  auto peer = resolve(st, *to);
  if (!peer) return plan;  // unknown user: the real server acks and drops too
  bool lid = to->is_lid() || any_lid_target;
  const std::string peer_user_jid = to->to_non_ad().str();

  auto make = [&](const DeviceAddr& target, const Node& enc, std::optional<std::string> recipient) {
    Node out("message");
    out.set_attr("from", sender_jid(st, sender, lid));
    if (recipient) out.set_attr("recipient", *recipient);
    stamp(out, msg, now, st, sender);
    binary::Children kids{enc};
    for (const Node* e : extra) kids.push_back(*e);
    out.content = std::move(kids);
    return Delivery{target, std::move(out)};
  };

  std::set<DeviceAddr> done;
  // Retry resend: <message to=DEVICE><enc/></message> for exactly that device.
  // Baileys also lists that device under <participants> with a second
  // encryption of the same message: the device gets ONE copy (the direct
  // one), as from the real server - two would make it decrypt, or fail and
  // ask again, twice for one re-send.
  const bool direct_resend = direct_enc && to->device != 0 && device_exists(st, *peer) && !(*peer == sender);
  if (direct_resend) done.insert(*peer);
  for (const auto& [addr, enc] : pairwise) {
    if (addr == sender || addr.device == 0 || !device_exists(st, addr) || done.count(addr)) continue;
    done.insert(addr);
    if (addr.phone == sender.phone && peer->phone != sender.phone) {
      // One of the sender's own other devices: it learns the chat from `recipient`.
      std::string recipient = lid ? lid_jid(st.account(peer->phone)->lid, 0) : pn_jid(peer->phone, 0);
      plan.deliveries.push_back(make(addr, *enc, recipient));
    } else {
      plan.deliveries.push_back(make(addr, *enc, std::nullopt));
    }
  }
  if (direct_resend) {
    std::optional<std::string> recipient;
    if (auto r = msg.attr("recipient")) recipient = std::string(*r);
    plan.deliveries.push_back(make(*peer, *direct_enc, recipient));
  }
  (void)peer_user_jid;
  return plan;
}

std::vector<Delivery> plan_chatstate(State& st, const DeviceAddr& sender, const Node& cs) {
  std::vector<Delivery> out;
  auto to = Jid::parse(cs.attr_or("to", ""));
  const auto& kids = cs.children();
  if (!to || kids.empty() || (kids[0].tag != "composing" && kids[0].tag != "paused")) return out;
  Node state(kids[0].tag);
  if (auto media = kids[0].attr("media")) state.set_attr("media", std::string(*media));
  std::vector<std::string> phones;
  Node proto("chatstate");
  if (to->is_group()) {
    Group* g = st.group(to->user);
    if (!g || !g->has(sender.phone)) return out;
    for (const auto& m : g->members)
      if (m.first != sender.phone) phones.push_back(m.first);
    proto.set_attr("from", to->to_non_ad().str());
    proto.set_attr("participant", pn_jid(sender.phone, 0));
  } else if (to->is_user()) {
    auto peer = resolve(st, *to);
    if (!peer || peer->phone == sender.phone) return out;
    phones.push_back(peer->phone);
    proto.set_attr("from", to->is_lid() ? sender_jid(st, DeviceAddr{sender.phone, 0}, true) : pn_jid(sender.phone, 0));
  } else {
    return out;
  }
  proto.content = binary::Children{state};
  for (const auto& phone : phones) {
    auto* a = st.account(phone);
    if (!a) continue;
    for (const auto& [dev_id, dev] : a->devices) {
      (void)dev;
      if (dev_id != 0) out.push_back({DeviceAddr{phone, dev_id}, proto});
    }
  }
  return out;
}

Result<RoutePlan> plan_receipt(State& st, const DeviceAddr& sender, const Node& r, uint64_t now) {
  auto to_s = r.attr("to");
  auto id = r.attr("id");
  if (!to_s || !id) return fail("bad_stanza", "receipt needs id and to");
  auto to = Jid::parse(*to_s);
  if (!to) return fail("bad_stanza", "bad to jid");
  RoutePlan plan;
  plan.ack = Node("ack", {{"class", "receipt"}, {"id", std::string(*id)}, {"from", std::string(*to_s)}});
  if (auto t = r.attr("type")) plan.ack.set_attr("type", std::string(*t));

  std::optional<Jid> target_jid;
  if (to->is_group()) {
    auto p = r.attr("participant");
    if (!p) return plan;
    auto pj = Jid::parse(*p);
    if (!pj) return fail("bad_stanza", "bad participant");
    target_jid = *pj;
  } else {
    target_jid = *to;
  }
  auto target = resolve(st, *target_jid);
  if (!target) return plan;
  bool lid = target_jid->is_lid();
  std::vector<DeviceAddr> targets;
  if (target_jid->device != 0) {
    targets.push_back(*target);
  } else if (auto* a = st.account(target->phone)) {
    for (const auto& [dev_id, dev] : a->devices) {
      (void)dev;
      DeviceAddr d{target->phone, dev_id};
      if (!(d == sender)) targets.push_back(d);
    }
  }
  for (const auto& t : targets) {
    if (t.device == 0 || !device_exists(st, t) || t == sender) continue;
    Node out("receipt");
    // As the real server: 1:1 receipts (retry ones too) come `from` the
    // sending DEVICE, group ones `from` the group with that device as
    // `participant`. whatsmeow takes the device it re-encrypts for from
    // there; Baileys looks its recent-message cache up by `from`, so a
    // companion's retry reaches it through its getMessage, by id.
    if (to->is_group()) {
      out.set_attr("from", to->str());
      out.set_attr("participant", sender_jid(st, sender, lid));
    } else {
      out.set_attr("from", sender_jid(st, sender, lid));
    }
    out.set_attr("id", std::string(*id));
    out.set_attr("t", std::string(r.attr_or("t", std::to_string(now))));
    if (auto ty = r.attr("type")) out.set_attr("type", std::string(*ty));
    if (auto rc = r.attr("recipient")) out.set_attr("recipient", std::string(*rc));
    if (r.has_content()) out.content = r.content;
    plan.deliveries.push_back({t, std::move(out)});
  }
  return plan;
}

}  // namespace wa::testserver
