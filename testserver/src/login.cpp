// The ClientPayload at the end of the handshake: a new companion registers
// (and is shown QR refs), a paired one logs in and gets <success>.
#include "server.hpp"
#include "stanza.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/proto/client_payload.pb.h"

namespace wa::testserver {

using binary::Node;

namespace {

constexpr int kPairingTimeoutS = 160;  // 6 refs: 60 s + 5 x 20 s, as the real server
constexpr int kQrRefs = 6;

// devicePairingData: the companion's Signal identity and signed prekey.
Status read_registration(const proto::ClientPayload::DevicePairingRegistrationData& d, Pairing& out) {
  if (d.eident().size() != 32 || d.eskeyval().size() != 32 || d.eskeysig().size() != 64 || d.eregid().size() != 4 ||
      d.eskeyid().size() != 3)
    return fail("bad_payload", "devicePairingData has wrong field sizes");
  Bytes signed_msg{0x05};
  signed_msg.insert(signed_msg.end(), d.eskeyval().begin(), d.eskeyval().end());
  if (!crypto::xeddsa_verify(as_bytes(d.eident()), signed_msg, as_bytes(d.eskeysig())))
    return fail("bad_payload", "signed prekey signature does not verify");
  out.registering = true;
  out.identity = to_bytes(d.eident());
  out.skey_pub = to_bytes(d.eskeyval());
  out.skey_sig = to_bytes(d.eskeysig());
  Bytes rid = to_bytes(d.eregid()), sid = to_bytes(d.eskeyid());
  out.regid = *from_be(&rid, 4);
  out.skey_id = *from_be(&sid, 3);
  return {};
}

}  // namespace

Status Server::on_client_payload(Conn& c, ByteView payload) {
  proto::ClientPayload p;
  if (!p.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return fail("bad_payload", "ClientPayload does not parse");
  c.push_name = p.pushname().substr(0, 64);
  if (p.has_devicepairingdata()) {
    WA_TRY(read_registration(p.devicepairingdata(), c.pairing));
    binary::Children refs;
    for (int i = 0; i < kQrRefs; ++i) {
      std::string ref = "2@" + to_base64(crypto::random_bytes(33));
      sessions_.show_ref(ref, c);
      c.pairing.refs.push_back(ref);
      refs.push_back(Node("ref", {}, to_bytes(ref)));
    }
    Node iq("iq", {{"from", kServerJid}, {"type", "set"}, {"id", next_id()}, {"xmlns", "md"}});
    iq.content = binary::Children{Node("pair-device", {}, std::move(refs))};
    send(c, iq);
    transport_->set_deadline(c, kPairingTimeoutS);
    return {};
  }
  // Login of a paired companion.
  std::string phone = std::to_string(p.username());
  if (const std::string* reason = faults_.refusal(phone)) {
    send(c, Node("failure", {{"reason", *reason}}));
    transport_->close_after_flush(c);
    return {};
  }
  auto* acc = state_.account(phone);
  const Device* dev = nullptr;
  if (acc) {
    auto it = acc->devices.find(static_cast<uint16_t>(p.device()));
    if (it != acc->devices.end() && p.device() <= 0xFFFF) dev = &it->second;
  }
  if (!dev || !crypto::equal_ct(dev->noise_pub, c.link.hs->client_static())) {
    send(c, Node("failure", {{"reason", "401"}}));
    transport_->close_after_flush(c);
    return {};
  }
  c.addr = DeviceAddr{phone, dev->id};
  c.authed = true;
  transport_->set_deadline(c, 0);
  ++counters_.logins;
  if (!c.push_name.empty() && c.push_name != dev->push_name) {
    Device copy = *dev;
    copy.push_name = c.push_name;
    acc->devices[dev->id].push_name = c.push_name;
    (void)state_.save_device(phone, copy);
  }
  login_success(c);
  return {};
}

void Server::login_success(Conn& c) {
  if (Conn* old = sessions_.log_in(c)) {
    // What the old connection left unanswered belongs to this login now.
    persist_unacked(*old);
    ++counters_.replaced;
    transport_->stream_error(*old, "replaced");
  }
  auto* acc = state_.account(c.addr.phone);
  send(c, Node("success", {{"t", std::to_string(now_unix())}, {"lid", lid_jid(acc->lid, c.addr.device)},
                           {"props", "1"}, {"abprops", "1"}, {"location", "local"}}));
  start_offline_delivery(c);
}

void Server::on_closed(Conn& c) {
  if (c.authed) {
    presence_gone(c);
    sessions_.log_out(c);
    persist_unacked(c);
  }
  sessions_.drop_refs(c);
  if (c.pairing.admin) {
    c.pairing.admin->reply(
        as_bytes(ipc::dump_json(ipc::error_reply("closed", "companion disconnected before pairing finished"))));
  }
}

}  // namespace wa::testserver
