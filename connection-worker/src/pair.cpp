#include "pair.hpp"

#include "wa/proto/adv.pb.h"
#include "wa/proto/client_payload.pb.h"

namespace wa::connection {

namespace pb = wa::proto;

namespace {

constexpr uint8_t kAccountSigPrefix[] = {6, 0};
constexpr uint8_t kHostedSigPrefix[] = {6, 5};
constexpr uint8_t kDeviceSigPrefix[] = {6, 1};
constexpr size_t kMaxRef = 1024;

ByteView view(const std::string& s) { return as_bytes(s); }

}  // namespace

std::string make_qr_string(std::string_view ref, const Credentials& c, std::string_view platform_id) {
  std::string out = "https://wa.me/settings/linked_devices#";
  out += ref;
  out += ',';
  out += to_base64(c.noise.pub);
  out += ',';
  out += to_base64(c.identity.pub);
  out += ',';
  out += to_base64(c.adv_secret);
  out += ',';
  out += platform_id;
  return out;
}

std::vector<std::string> pair_device_refs(const binary::Node& iq) {
  std::vector<std::string> refs;
  const binary::Node* pd = iq.child("pair-device");
  if (pd == nullptr) return refs;
  for (const binary::Node* r : pd->children("ref")) {
    auto chars = r->content_chars();
    if (!chars || chars->empty() || chars->size() > kMaxRef) continue;
    refs.emplace_back(*chars);
  }
  return refs;
}

Result<PairSuccess> verify_pair_success(const binary::Node& iq, const Credentials& creds) {
  const binary::Node* ps = iq.child("pair-success");
  if (ps == nullptr) return fail("pair_malformed", "no pair-success child");
  const binary::Node* di = ps->child("device-identity");
  const binary::Node* dev = ps->child("device");
  if (di == nullptr || dev == nullptr || di->bytes() == nullptr)
    return fail("pair_malformed", "pair-success lacks device-identity or device");
  auto jid = dev->attr("jid");
  if (!jid || jid->empty()) return fail("pair_malformed", "device has no jid");

  pb::ADVSignedDeviceIdentityHMAC container;
  const Bytes& raw = *di->bytes();
  if (!container.ParseFromArray(raw.data(), static_cast<int>(raw.size())) || !container.has_details() ||
      !container.has_hmac())
    return fail("pair_malformed", "device-identity is not an ADVSignedDeviceIdentityHMAC");
  bool hosted_account = container.has_accounttype() && container.accounttype() == pb::HOSTED;
  Bytes mac_input = concat({hosted_account ? ByteView(kHostedSigPrefix) : ByteView(), view(container.details())});
  auto mac = crypto::hmac_sha256(creds.adv_secret, mac_input);
  if (!crypto::equal_ct(mac, view(container.hmac()))) return fail("hmac_mismatch", "pair-success HMAC does not match");

  pb::ADVSignedDeviceIdentity account;
  if (!account.ParseFromString(container.details()) || !account.has_details())
    return fail("pair_malformed", "bad ADVSignedDeviceIdentity");
  pb::ADVDeviceIdentity device;
  if (!device.ParseFromString(account.details())) return fail("pair_malformed", "bad ADVDeviceIdentity");
  if (account.accountsignaturekey().size() != 32 || account.accountsignature().size() != 64)
    return fail("signature_mismatch", "account signature key or signature has the wrong length");
  bool hosted_device = device.has_devicetype() && device.devicetype() == pb::HOSTED;
  Bytes account_msg = concat({hosted_device ? ByteView(kHostedSigPrefix) : ByteView(kAccountSigPrefix),
                           view(account.details()), creds.identity.pub});
  if (!crypto::xeddsa_verify(view(account.accountsignaturekey()), account_msg, view(account.accountsignature())))
    return fail("signature_mismatch", "the account signature does not verify");

  Bytes device_msg = concat({ByteView(kDeviceSigPrefix), view(account.details()), creds.identity.pub,
                          view(account.accountsignaturekey())});
  auto sig = crypto::xeddsa_sign(creds.identity.priv, device_msg);
  account.set_devicesignature(std::string(as_chars(sig)));

  PairSuccess out;
  out.identity.jid = std::string(*jid);
  out.identity.lid = std::string(dev->attr_or("lid", ""));
  if (const binary::Node* p = ps->child("platform")) out.identity.platform = std::string(p->attr_or("name", ""));
  // Whether the account's 1:1 chats are LID-addressed (docs/PROTOCOL.md
  // §12.1). Unparseable props are ignored: the flag stays unknown (PN).
  if (const binary::Node* cp = ps->child("client-props"); cp && cp->bytes()) {
    pb::ClientPairingProps props;
    if (props.ParseFromArray(cp->bytes()->data(), static_cast<int>(cp->bytes()->size())) &&
        props.has_ischatdblidmigrated())
      out.identity.lid_migrated = props.ischatdblidmigrated();
  }
  std::string full = account.SerializeAsString();
  out.identity.account = Bytes(full.begin(), full.end());
  out.identity.primary_identity = Bytes(account.accountsignaturekey().begin(), account.accountsignaturekey().end());

  // The reply carries the identity without the account signature key.
  pb::ADVSignedDeviceIdentity reply_identity = account;
  reply_identity.clear_accountsignaturekey();
  std::string enc = reply_identity.SerializeAsString();
  binary::Node sign_node("device-identity", {{"key-index", std::to_string(device.keyindex())}},
                         Bytes(enc.begin(), enc.end()));
  out.reply = binary::Node("iq", {{"to", "@s.whatsapp.net"}, {"type", "result"}, {"id", std::string(iq.attr_or("id", ""))}},
                           binary::Children{binary::Node("pair-device-sign", {}, binary::Children{std::move(sign_node)})});
  return out;
}

binary::Node pair_error_reply(std::string_view id, const Error& error) {
  std::string code = error.code == "pair_malformed" ? "500" : "401";
  std::string text = error.code == "hmac_mismatch" ? "hmac-mismatch"
                     : error.code == "signature_mismatch" ? "signature-mismatch"
                                                          : "internal-error";
  return binary::Node("iq", {{"to", "@s.whatsapp.net"}, {"type", "error"}, {"id", std::string(id)}},
                      binary::Children{binary::Node("error", {{"code", code}, {"text", text}})});
}

}  // namespace wa::connection
