#include "routing.hpp"

#include <charconv>
#include <set>

#include "stanza.hpp"
#include "wa/crypto/crypto.hpp"

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

// Attributes the server stamps on every delivered message. DMs on the
// LID-first server never carry addressing_mode (only groups do).
void stamp(Node& n, const Node& msg, uint64_t now, State& st, const DeviceAddr& sender, bool copy_addressing = true) {
  n.set_attr("id", std::string(msg.attr_or("id", "")));
  n.set_attr("t", std::to_string(now));
  n.set_attr("type", std::string(msg.attr_or("type", "text")));
  if (auto* a = st.account(sender.phone)) {
    auto dit = a->devices.find(sender.device);
    if (dit != a->devices.end() && !dit->second.push_name.empty()) n.set_attr("notify", dit->second.push_name);
  }
  for (const char* k : {"edit", "category", "mediatype", "addressing_mode"}) {
    if (!copy_addressing && std::string_view(k) == "addressing_mode") continue;
    if (auto v = msg.attr(k)) n.set_attr(k, std::string(*v));
  }
}

// The device JIDs a sender is expected to address for account `a` (its
// phone, device 0, and every linked companion; `skip` left out), in one
// namespace: what the ack's participant hash is computed over.
void expected_devices(const Account& a, bool lid, const DeviceAddr& skip, std::vector<std::string>& out) {
  auto add = [&](uint16_t id) {
    if (DeviceAddr{a.phone, id} == skip) return;
    out.push_back(lid ? lid_jid(a.lid, id) : pn_jid(a.phone, id));
  };
  add(0);
  for (const auto& [id, d] : a.devices)
    if (id != 0 && d.key_index != 0) add(id);
}

Node ack_for(const Node& msg, const std::string& from, uint64_t now) {
  Node ack("ack", {{"class", "message"}, {"id", std::string(msg.attr_or("id", ""))}, {"from", from}, {"t", std::to_string(now)}});
  return ack;
}

// Content of a node as bytes (the decoder may hand short printable content
// back as text).
std::optional<Bytes> content_bytes(const Node& n) {
  if (auto b = n.bytes()) return *b;
  if (auto c = n.content_chars()) return to_bytes(*c);
  return std::nullopt;
}

}  // namespace

int ack_error_code(const Error& e) {
  if (e.code == "not_member" || e.code == "not_admin") return 403;
  if (e.code == "unknown_group") return 404;
  if (e.code == "account_restricted") return 463;
  return 400;
}

Result<RoutePlan> plan_message(State& st, const DeviceAddr& sender, const Node& msg, uint64_t now) {
  auto to_s = msg.attr("to");
  auto id = msg.attr("id");
  if (!to_s || !id || id->empty() || id->size() > 128) return fail("bad_stanza", "message needs id and to");
  auto to = Jid::parse(*to_s);
  if (!to) return fail("bad_stanza", "bad to jid");
  const Policy& pol = st.policy;
  RoutePlan plan;
  plan.ack = ack_for(msg, std::string(*to_s), now);

  std::vector<const Node*> extra;  // device-identity, meta: copied to every delivery
  const Node* skmsg = nullptr;
  const Node* direct_enc = nullptr;
  for (const auto& c : msg.children()) {
    if (c.tag == "enc") {
      if (c.attr_or("type", "") == "skmsg")
        skmsg = &c;
      else
        direct_enc = &c;
    } else if (c.tag == "device-identity" || c.tag == "meta") {  // <meta polltype> passes through, as on the real server
      extra.push_back(&c);
    }
  }
  // Pairwise <to jid=DEV><enc/></to> entries, keyed by resolved device.
  std::vector<std::pair<DeviceAddr, const Node*>> pairwise;
  bool any_lid_target = false, any_pn_target = false;
  if (const Node* parts = msg.child("participants")) {
    for (const auto& t : parts->children()) {
      if (t.tag != "to") continue;
      auto jid = Jid::parse(t.attr_or("jid", ""));
      if (!jid) continue;
      any_lid_target = any_lid_target || jid->is_lid();
      any_pn_target = any_pn_target || !jid->is_lid();
      auto addr = resolve(st, *jid);
      const Node* enc = t.child("enc");
      if (!addr || !enc) continue;
      pairwise.emplace_back(*addr, enc);
    }
  }
  // The LID-first server refuses a stanza whose devices are not all in one
  // namespace, the one of `to` (the group's mode for groups): the real
  // server answers 400 and delivers nothing. Listing one device in both
  // forms is a case of it.
  auto check_namespace = [&](bool lid) -> Status {
    if ((lid && any_pn_target) || (!lid && any_lid_target))
      return fail("bad_stanza", lid ? "PN device JIDs in a LID-addressed message" : "LID device JIDs in a PN-addressed message");
    return {};
  };

  if (to->is_group()) {
    Group* g = st.group(to->user);
    if (!g) return fail("unknown_group", "no such group");
    if (!g->has(sender.phone)) return fail("not_member", "sender is not a member");
    // An announcement group takes messages from its admins only. A retry
    // re-send (it names its one target in `participant`) is still let
    // through: the message was accepted before the switch.
    if (g->announce && !g->is_admin(sender.phone) && !msg.has_attr("participant"))
      return fail("not_admin", "only admins send to this group");
    // An admin revoke (edit="8": deleting someone else's message) from a
    // member who is not an admin is refused the same way, so no receiver
    // has to trust it (docs/PROTOCOL.md §12.4: the local server's choice).
    if (msg.attr_or("edit", "") == "8" && !g->is_admin(sender.phone) && !msg.has_attr("participant"))
      return fail("not_admin", "only admins delete other members' messages");
    bool lid_mode = pol.lid ? g->addressing_mode == "lid" : msg.attr_or("addressing_mode", "pn") == "lid";
    if (pol.lid) WA_TRY(check_namespace(lid_mode));
    const Account* sacc = st.account(sender.phone);
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
        if (lid_mode) {
          if (!(pol.lid && st.omits_pn(phone, dev_id))) out.set_attr("participant_pn", pn_jid(sender.phone, 0));
        } else if (pol.lid && sacc) {
          out.set_attr("participant_lid", lid_jid(sacc->lid, 0));
        }
        stamp(out, msg, now, st, sender);
        if (pol.lid) out.set_attr("addressing_mode", lid_mode ? "lid" : "pn");
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
    if (!only) {
      // The device list as the server knows it: a client whose list is
      // stale sees a different hash and asks again (docs/PROTOCOL.md §8.4).
      std::vector<std::string> devices;
      for (const auto& [phone, admin] : g->members) {
        (void)admin;
        if (const Account* a = st.account(phone)) expected_devices(*a, lid_mode, sender, devices);
      }
      plan.ack.set_attr("phash", crypto::participant_hash(std::move(devices)));
    }
    return plan;
  }

  if (!to->is_user()) return fail("bad_stanza", "unsupported destination");
  // Peer messages (app state keys, history sync to the own devices) stay
  // PN-addressed and are never refused.
  const bool peer_category = msg.attr_or("category", "") == "peer";
  if (pol.lid && !peer_category) WA_TRY(check_namespace(to->is_lid()));
  auto peer = resolve(st, *to);
  if (!peer) return plan;  // unknown user: the real server acks and drops too
  const bool lid = pol.lid ? to->is_lid() : (to->is_lid() || any_lid_target);
  const Account* sacc = st.account(sender.phone);
  const Account* pacc = st.account(peer->phone);
  if (!sacc || !pacc) return plan;
  const bool self_chat = peer->phone == sender.phone;
  // Retry resend: <message to=DEVICE><enc/></message> for exactly that device.
  const bool direct_resend = direct_enc && to->device != 0 && device_exists(st, *peer) && !(*peer == sender);

  if (pol.lid && !peer_category) {
    // Reported real-server behaviour (2026): an account whose chats are not
    // LID-migrated gets 400 for every LID-addressed DM; a PN-addressed DM
    // between two migrated accounts is refused with 463.
    if (to->is_lid() && !sacc->lid_migrated)
      return fail("bad_stanza", "LID-addressed message from an account that is not LID-migrated");
    if (!to->is_lid() && pol.pn_dm_to_migrated_463 && !self_chat && !direct_resend && sacc->lid_migrated &&
        pacc->lid_migrated)
      return fail("account_restricted", "PN-addressed message to a LID-migrated contact");
  }
  if (pol.require_tctoken && !peer_category && !self_chat && !direct_resend) {
    // A first message needs trust: the recipient wrote to the sender
    // before, the sender's earlier message was accepted, or the message
    // carries a token the recipient issued to the sender and that is not
    // expired.
    bool trusted = st.has_dm(peer->phone, sender.phone) || st.has_dm(sender.phone, peer->phone);
    if (!trusted) {
      if (const Node* tc = msg.child("tctoken")) {
        auto bytes = content_bytes(*tc);
        trusted = bytes && st.token_valid(peer->phone, sender.phone, *bytes, now);
      }
    }
    if (!trusted) return fail("account_restricted", "no conversation and no valid privacy token");
  }
  if (!peer_category && !self_chat) (void)st.record_dm(sender.phone, peer->phone);

  // On the LID-first server every 1:1 delivery names the sender in the
  // namespace it addressed, with the other form as an alt attribute (no
  // device on the alt); own-device copies say which chat in both forms.
  const bool alts = pol.lid && !peer_category;
  auto make = [&](const DeviceAddr& target, const Node& enc, std::optional<std::string> recipient,
                  const Account* chat) {
    const bool omit = alts && st.omits_pn(target.phone, target.device);
    Node out("message");
    out.set_attr("from", sender_jid(st, sender, lid));
    if (alts) {
      if (!lid) out.set_attr("sender_lid", lid_jid(sacc->lid, 0));
      else if (!omit) out.set_attr("sender_pn", pn_jid(sender.phone, 0));
    }
    if (recipient) {
      out.set_attr("recipient", *recipient);
      if (alts && chat) {
        auto rj = Jid::parse(*recipient);
        if (rj && !rj->is_lid()) out.set_attr("peer_recipient_lid", lid_jid(chat->lid, 0));
        else if (rj && !omit) out.set_attr("peer_recipient_pn", pn_jid(chat->phone, 0));
      }
    }
    stamp(out, msg, now, st, sender, !pol.lid);
    binary::Children kids{enc};
    for (const Node* e : extra) kids.push_back(*e);
    out.content = std::move(kids);
    return Delivery{target, std::move(out)};
  };

  std::set<DeviceAddr> done;
  // Baileys also lists the retried device under <participants> with a
  // second encryption of the same message: the device gets ONE copy (the
  // direct one), as from the real server - two would make it decrypt, or
  // fail and ask again, twice for one re-send.
  if (direct_resend) done.insert(*peer);
  for (const auto& [addr, enc] : pairwise) {
    if (addr == sender || addr.device == 0 || !device_exists(st, addr) || done.count(addr)) continue;
    done.insert(addr);
    if (addr.phone == sender.phone && peer->phone != sender.phone) {
      // One of the sender's own other devices: it learns the chat from `recipient`.
      std::string recipient = lid ? lid_jid(pacc->lid, 0) : pn_jid(peer->phone, 0);
      plan.deliveries.push_back(make(addr, *enc, recipient, pacc));
    } else {
      plan.deliveries.push_back(make(addr, *enc, std::nullopt, nullptr));
    }
  }
  if (direct_resend) {
    std::optional<std::string> recipient;
    const Account* chat = nullptr;
    if (auto r = msg.attr("recipient")) {
      recipient = std::string(*r);
      auto rj = Jid::parse(*r);
      auto ra = rj ? resolve(st, *rj) : std::nullopt;
      if (ra) chat = st.account(ra->phone);
    }
    plan.deliveries.push_back(make(*peer, *direct_enc, recipient, chat));
  }
  if (!direct_resend && !peer_category) {
    std::vector<std::string> devices;
    if (!self_chat) expected_devices(*pacc, lid, sender, devices);
    expected_devices(*sacc, lid, sender, devices);
    plan.ack.set_attr("phash", crypto::participant_hash(std::move(devices)));
  }
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
    const bool lid_group = st.policy.lid && g->addressing_mode == "lid";
    proto.set_attr("participant", sender_jid(st, DeviceAddr{sender.phone, 0}, lid_group));
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

bool pn_lookup_refused(State& st, const DeviceAddr& asker, const Jid& asked, const Account* target) {
  const Policy& pol = st.policy;
  if (!pol.lid || !pol.refuse_pn_lookups || asked.is_lid() || !target || target->phone == asker.phone) return false;
  const Account* a = st.account(asker.phone);
  return a && a->lid_migrated && target->lid_migrated;
}

Result<std::vector<Delivery>> plan_privacy_tokens(State& st, const DeviceAddr& issuer, const Node& iq, uint64_t now,
                                                  const std::function<std::string()>& next_id) {
  const Node* tokens = iq.child("tokens");
  if (!tokens) return fail("bad_stanza", "privacy set needs <tokens>");
  const Account* ia = st.account(issuer.phone);
  if (!ia) return fail("bad_stanza", "unknown issuer");
  std::vector<Delivery> out;
  for (const auto& tk : tokens->children()) {
    if (tk.tag != "token" || tk.attr_or("type", "") != "trusted_contact") continue;
    uint64_t t = now;
    if (auto ts = tk.attr("t")) {
      auto [p, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), t);
      if (ec != std::errc() || p != ts->data() + ts->size()) return fail("bad_stanza", "token t must be unix seconds");
    }
    auto j = Jid::parse(tk.attr_or("jid", ""));
    auto holder = j ? resolve(st, *j) : std::nullopt;
    if (!holder || holder->phone == issuer.phone) continue;
    const Account* ha = st.account(holder->phone);
    Bytes token = crypto::random_bytes(24);
    (void)st.add_token(issuer.phone, holder->phone, t, token);
    for (const auto& [dev_id, d] : ha->devices) {
      (void)d;
      Node n("notification", {{"from", pn_jid(issuer.phone, 0)}, {"sender_lid", lid_jid(ia->lid, 0)},
                              {"type", "privacy_token"}, {"id", next_id()}, {"t", std::to_string(now)}});
      // The inner jid is the HOLDER's own JID, not the issuer's.
      n.content = binary::Children{Node("tokens", {}, binary::Children{Node(
          "token", {{"jid", lid_jid(ha->lid, 0)}, {"t", std::to_string(t)}, {"type", "trusted_contact"}}, token)})};
      out.push_back({DeviceAddr{holder->phone, dev_id}, std::move(n)});
    }
  }
  return out;
}

std::vector<Delivery> plan_lid_change(State& st, const std::string& phone, const std::string& old_lid,
                                      const std::set<std::string>& peers, uint64_t now,
                                      const std::function<std::string()>& next_id) {
  std::vector<Delivery> out;
  const Account* a = st.account(phone);
  if (!a) return out;
  for (const auto& peer : peers) {
    const Account* pa = st.account(peer);
    if (!pa || peer == phone) continue;
    for (const auto& [dev_id, d] : pa->devices) {
      (void)d;
      Node n("notification", {{"from", kServerJid}, {"type", "contacts"}, {"id", next_id()}, {"t", std::to_string(now)}});
      n.content = binary::Children{Node("modify", {{"old", pn_jid(phone, 0)}, {"new", pn_jid(phone, 0)},
                                                   {"old_lid", lid_jid(old_lid, 0)}, {"new_lid", lid_jid(a->lid, 0)}})};
      out.push_back({DeviceAddr{peer, dev_id}, std::move(n)});
    }
  }
  return out;
}

}  // namespace wa::testserver
