// The emulated primary phone's side of linking a companion: QR pairing
// (admin `scan`), phone-number code pairing (admin `link-code` with the md
// link_code_companion_reg stages), pair-success and the companion's
// pair-device-sign, and unlinking (md remove-companion-device).
#include "phone.hpp"
#include "server.hpp"
#include "stanza.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"
#include "wa/proto/client_payload.pb.h"

namespace wa::testserver {

using binary::Jid;
using binary::Node;
using json = admin::json;

Node Server::iq_md(Conn& c, const Node& iq) {
  if (const Node* rm = iq.child("remove-companion-device")) {
    auto j = Jid::parse(rm->attr_or("jid", ""));
    auto addr = j ? resolve(state_, *j) : std::nullopt;
    if (!addr || addr->phone != c.addr.phone || addr->device == 0) return error_for(iq, 400, "bad-request");
    (void)state_.remove_device(addr->phone, addr->device);
    // A device that unlinks itself (logout) gets the answer before the
    // stream ends, as the real server does.
    const bool self = *addr == c.addr;
    if (self) send(c, result_for(iq));
    if (Conn* o = sessions_.online(*addr)) transport_->stream_error(*o, "device_removed");
    notify_devices(addr->phone, "remove", addr->device);
    return self ? Node() : result_for(iq);
  }
  if (const Node* reg = iq.child("link_code_companion_reg")) {
    auto stage = reg->attr_or("stage", "");
    auto child_bytes = [&](const char* tag) -> Bytes {
      const Node* n = reg->child(tag);
      if (!n) return {};
      if (auto b = n->bytes()) return *b;
      if (auto t = n->text()) return to_bytes(*t);
      return {};
    };
    if (stage == "companion_hello") {
      auto j = Jid::parse(reg->attr_or("jid", ""));
      if (!j || !j->is_pn() || !admin::check_phone(j->user)) return error_for(iq, 400, "bad-request");
      Bytes wrapped = child_bytes("link_code_pairing_wrapped_companion_ephemeral_pub");
      if (wrapped.size() != 80) return error_for(iq, 400, "bad-request");
      c.pairing.link_phone = j->user;
      c.pairing.link_companion_eph = std::move(wrapped);
      c.pairing.link_ref = "lc." + to_hex(crypto::random_bytes(8));
      Node r = result_for(iq);
      r.content = binary::Children{Node("link_code_companion_reg", {},
                                        binary::Children{bytes_node("link_code_pairing_ref", to_bytes(c.pairing.link_ref))})};
      return r;
    }
    if (stage == "companion_finish") {
      if (c.pairing.link_code.empty()) return error_for(iq, 400, "bad-request");
      Bytes bundle = child_bytes("link_code_pairing_wrapped_key_bundle");
      Bytes ident = child_bytes("companion_identity_public");
      auto* acc = state_.account(c.pairing.link_phone);
      auto companion_eph = phone::unwrap_link_code_key(c.pairing.link_code, c.pairing.link_companion_eph);
      if (!acc || !companion_eph || ident.size() != 32 || !crypto::equal_ct(ident, c.pairing.identity))
        return error_for(iq, 400, "bad-request");
      auto adv = phone::link_code_adv_secret(c.pairing.link_primary_eph, *companion_eph, acc->identity, ident, bundle);
      if (!adv) return error_for(iq, 400, "bad-request");
      Node r = result_for(iq);
      send(c, r);
      auto pending = std::move(c.pairing.admin);
      start_pairing(c, c.pairing.link_phone, *adv, std::move(pending));
      Bytes wipe = std::move(*adv);
      secure_wipe(wipe);
      return Node();  // already answered
    }
    return error_for(iq, 400, "bad-request");
  }
  return error_for(iq, 501, "feature-not-implemented");
}

void Server::start_pairing(Conn& c, const std::string& phone, ByteView adv_secret,
                           std::shared_ptr<ipc::PendingRequest> pending) {
  Account& acc = state_.ensure_account(phone);
  uint16_t device = acc.next_device++;
  uint32_t key_index = acc.next_key_index++;
  (void)state_.save_account_counters(acc);
  auto ps = phone::make_pair_success(acc.identity, c.pairing.identity, adv_secret, key_index, now_unix());
  c.pairing.iq_id = next_id();
  c.pairing.issued_details = ps.device_details;
  c.pairing.phone = phone;
  c.pairing.device = device;
  c.pairing.key_index = key_index;
  c.pairing.admin = std::move(pending);
  Node iq("iq", {{"from", kServerJid}, {"type", "set"}, {"id", c.pairing.iq_id}, {"t", std::to_string(now_unix())}});
  binary::Children kids{Node("device-identity", {}, ps.container),
                        Node("device", {{"jid", pn_jid(phone, device)}, {"lid", lid_jid(acc.lid, device)}}),
                        Node("platform", {{"name", "android"}})};
  if (state_.policy.lid) {
    // The LID-first server tells the companion whether the account's chats
    // are LID-addressed; a client sends LID-addressed DMs only then.
    proto::ClientPairingProps props;
    props.set_ischatdblidmigrated(acc.lid_migrated);
    kids.push_back(Node("client-props", {}, to_bytes(props.SerializeAsString())));
  }
  iq.content = binary::Children{Node("pair-success", {}, std::move(kids))};
  send(c, iq);
}

void Server::on_pair_device_sign(Conn& c, const Node& iq) {
  c.pairing.iq_id.clear();
  auto answer = [&](const json& j) {
    if (c.pairing.admin) c.pairing.admin->reply(as_bytes(ipc::dump_json(j)));
    c.pairing.admin.reset();
  };
  const Node* sign = iq.child("pair-device-sign");
  const Node* di = sign ? sign->child("device-identity") : nullptr;
  auto* acc = state_.account(c.pairing.phone);
  if (iq.attr_or("type", "") == "error" || !di || !di->bytes() || !acc) {
    answer(ipc::error_reply("pairing_refused", "companion refused the pairing"));
    transport_->close_after_flush(c);
    return;
  }
  Bytes acc_pub(acc->identity.pub.begin(), acc->identity.pub.end());
  auto ok = phone::verify_pair_device_sign(*di->bytes(), c.pairing.issued_details, c.pairing.identity, acc_pub);
  if (!ok) {
    answer(ipc::error_reply(ok.error().code, ok.error().message));
    transport_->close_after_flush(c);
    return;
  }
  Device d;
  d.id = c.pairing.device;
  auto cs = c.link.hs->client_static();
  d.noise_pub.assign(cs.begin(), cs.end());
  d.identity_pub = c.pairing.identity;
  d.regid = c.pairing.regid;
  d.skey_id = c.pairing.skey_id;
  d.skey_pub = c.pairing.skey_pub;
  d.skey_sig = c.pairing.skey_sig;
  d.key_index = c.pairing.key_index;
  d.push_name = c.push_name;
  acc->devices[d.id] = d;
  (void)state_.save_device(c.pairing.phone, d);
  ++counters_.pairings;
  WA_INFO("paired device %s:%u", c.pairing.phone.c_str(), static_cast<unsigned>(d.id));
  answer(ipc::ok_reply(json{{"jid", pn_jid(c.pairing.phone, d.id)}, {"lid", lid_jid(acc->lid, d.id)}}));
  transport_->stream_error(c, "515");
  notify_devices(c.pairing.phone, "add", d.id);
}

// What the real server announces when an account links or unlinks a device
// (whatsmeow notification.go handleDeviceNotification, Baileys
// messages-recv.js handleDevicesNotification):
//   <notification type="devices" from=USER lid=USER_LID id t>
//     <add|remove device_hash=H><device jid=USER:D lid=USER_LID:D/>
//       <key-index-list ts=T/></add|remove></notification>
// Without it a contact keeps sending to the device list it cached, and a
// device linked later never gets its messages. Told: the account's other
// companions (its own sends must reach the new device too) and every device
// of the accounts it exchanged messages with this run (contacts_, as for
// identity changes). Queued offline like any stanza; the client acks it.
void Server::notify_devices(const std::string& phone, const std::string& change, uint16_t device) {
  const Account* acc = state_.account(phone);
  if (acc == nullptr) return;
  // The device hash names the list after the change; clients keep it
  // opaque, so any digest of the device ids will do.
  std::string ids;
  for (const auto& [id, d] : acc->devices) {
    (void)d;
    ids += std::to_string(id) + ",";
  }
  auto digest = crypto::sha256(to_bytes(ids));
  std::string hash = "2:" + to_base64(ByteView(digest.data(), 6));
  std::vector<DeviceAddr> to;
  for (const auto& [id, d] : acc->devices) {
    (void)d;
    if (id != device) to.push_back({phone, id});
  }
  auto peers = contacts_.find(phone);
  if (peers != contacts_.end()) {
    for (const auto& peer : peers->second) {
      const Account* pa = state_.account(peer);
      if (pa == nullptr || peer == phone) continue;
      for (const auto& [id, d] : pa->devices) {
        (void)d;
        to.push_back({peer, id});
      }
    }
  }
  const std::string t = std::to_string(now_unix());
  for (auto& addr : to) {
    Node n("notification", {{"from", pn_jid(phone, 0)}, {"lid", lid_jid(acc->lid, 0)}, {"type", "devices"}, {"id", next_id()},
                            {"t", t}});
    n.content = binary::Children{Node(change, {{"device_hash", hash}}, binary::Children{
        Node("device", {{"jid", pn_jid(phone, device)}, {"lid", lid_jid(acc->lid, device)}}),
        Node("key-index-list", {{"ts", t}})})};
    deliver({std::move(addr), std::move(n)});
    ++counters_.device_notifications;
  }
}

json Server::admin_scan(const json& req, std::shared_ptr<ipc::PendingRequest>& pending) {
  std::string phone = req.value("phone", "");
  std::string qr = req.value("qr", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  auto info = phone::parse_qr(qr);
  if (!info) return ipc::error_reply(info.error().code, info.error().message);
  Conn* shown = sessions_.by_ref(info->ref);
  if (!shown) return ipc::error_reply("unknown_ref", "no connected companion shows this QR (expired?)");
  Conn& c = *shown;
  if (c.link.closing || !c.pairing.iq_id.empty() || c.pairing.admin)
    return ipc::error_reply("busy", "this companion is already pairing");
  if (!crypto::equal_ct(info->identity_pub, c.pairing.identity) || !crypto::equal_ct(info->noise_pub, c.link.hs->client_static()))
    return ipc::error_reply("qr_mismatch", "QR keys do not match the connected companion");
  start_pairing(c, phone, info->adv_secret, std::move(pending));
  secure_wipe(info->adv_secret);
  pending.reset();
  return {};
}

json Server::admin_link_code(const json& req, std::shared_ptr<ipc::PendingRequest>& pending) {
  std::string phone = req.value("phone", "");
  std::string code = req.value("code", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  std::string clean;
  for (char ch : code)
    if (ch != '-') clean += ch;
  if (clean.size() != 8) return ipc::error_reply("bad_code", "a link code has 8 characters");
  for (auto& [wsi, cp] : transport_->conns()) {
    (void)wsi;
    Conn& c = *cp;
    if (c.link.closing || c.pairing.link_phone != phone || !c.pairing.link_code.empty()) continue;
    if (!phone::unwrap_link_code_key(clean, c.pairing.link_companion_eph)) continue;
    Account& acc = state_.ensure_account(phone);
    c.pairing.link_code = clean;
    c.pairing.link_primary_eph = crypto::generate_keypair();
    Node n("notification", {{"from", kServerJid}, {"type", "link_code_companion_reg"}, {"id", next_id()},
                            {"t", std::to_string(now_unix())}});
    n.content = binary::Children{Node("link_code_companion_reg", {}, binary::Children{
        bytes_node("link_code_pairing_ref", to_bytes(c.pairing.link_ref)),
        bytes_node("primary_identity_pub", Bytes(acc.identity.pub.begin(), acc.identity.pub.end())),
        bytes_node("link_code_pairing_wrapped_primary_ephemeral_pub",
                   phone::wrap_link_code_key(clean, c.pairing.link_primary_eph.pub))})};
    send(c, n);
    c.pairing.admin = std::move(pending);
    pending.reset();
    return {};
  }
  return ipc::error_reply("unknown_code", "no connected companion asked for a code for this number");
}

}  // namespace wa::testserver
