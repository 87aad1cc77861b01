// QR strings and pair-success verification against a phone simulated here
// from the documented byte layouts (docs/PROTOCOL.md §5.1).
#include <doctest/doctest.h>

#include "pair.hpp"
#include "wa/proto/adv.pb.h"
#include "wa/proto/client_payload.pb.h"

using namespace wa;
using namespace wa::connection;
using wa::binary::Node;

namespace {

Credentials make_creds() {
  Credentials c;
  c.noise = crypto::generate_keypair();
  c.identity = crypto::generate_keypair();
  c.adv_secret = crypto::random_bytes(32);
  c.registration_id = 1234;
  return c;
}

Bytes cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Phone {
  crypto::KeyPair identity = crypto::generate_keypair();
  uint32_t key_index = 3;
  std::string details;

  // tamper: 0 none, 1 hmac, 2 account signature
  Node pair_success(const Credentials& c, int tamper = 0, bool hosted = false) {
    wa::proto::ADVDeviceIdentity dev;
    dev.set_rawid(77);
    dev.set_timestamp(1700000000);
    dev.set_keyindex(key_index);
    details = dev.SerializeAsString();
    Bytes msg = cat({Bytes{6, 0}, as_bytes(details), c.identity.pub});
    auto sig = crypto::xeddsa_sign(identity.priv, msg);
    if (tamper == 2) sig[5] ^= 1;
    wa::proto::ADVSignedDeviceIdentity signed_id;
    signed_id.set_details(details);
    signed_id.set_accountsignaturekey(std::string(as_chars(identity.pub)));
    signed_id.set_accountsignature(std::string(as_chars(sig)));
    std::string sd = signed_id.SerializeAsString();
    Bytes mac_in = cat({hosted ? ByteView(Bytes{6, 5}) : ByteView(), as_bytes(sd)});
    auto mac = crypto::hmac_sha256(c.adv_secret, mac_in);
    if (tamper == 1) mac[0] ^= 1;
    wa::proto::ADVSignedDeviceIdentityHMAC container;
    container.set_details(sd);
    container.set_hmac(std::string(as_chars(mac)));
    if (hosted) container.set_accounttype(wa::proto::HOSTED);
    std::string ct = container.SerializeAsString();
    wa::binary::Children kids;
    kids.emplace_back("device-identity", wa::binary::Attrs{}, Bytes(ct.begin(), ct.end()));
    kids.emplace_back("device", wa::binary::Attrs{{"jid", "15551234567:4@s.whatsapp.net"}, {"lid", "98765:4@lid"}});
    kids.emplace_back("platform", wa::binary::Attrs{{"name", "android"}});
    return Node("iq", {{"from", "@s.whatsapp.net"}, {"type", "set"}, {"id", "ps1"}},
                wa::binary::Children{Node("pair-success", {}, std::move(kids))});
  }
};

}  // namespace

TEST_CASE("QR string: fixed prefix, ref, base64 keys, adv secret, platform") {
  Credentials c = make_creds();
  std::string qr = make_qr_string("2@abc==", c, "1");
  std::string expect = "https://wa.me/settings/linked_devices#2@abc==," + to_base64(c.noise.pub) + "," +
                       to_base64(c.identity.pub) + "," + to_base64(c.adv_secret) + ",1";
  CHECK(qr == expect);
}

TEST_CASE("pair-device refs are read in order - junk refs dropped") {
  wa::binary::Children refs;
  refs.emplace_back("ref", wa::binary::Attrs{}, to_bytes("r1"));
  refs.emplace_back("ref", wa::binary::Attrs{}, Bytes{});
  refs.emplace_back("ref", wa::binary::Attrs{}, std::string("r3"));
  refs.emplace_back("ref", wa::binary::Attrs{}, Bytes(5000, 'x'));
  Node iq("iq", {{"type", "set"}}, wa::binary::Children{Node("pair-device", {}, std::move(refs))});
  auto got = pair_device_refs(iq);
  REQUIRE(got.size() == 2);
  CHECK(got[0] == "r1");
  CHECK(got[1] == "r3");
  CHECK(pair_device_refs(Node("iq")).empty());
}

TEST_CASE("a genuine pair-success is accepted and answered with a valid device signature") {
  Credentials c = make_creds();
  Phone phone;
  auto r = verify_pair_success(phone.pair_success(c), c);
  REQUIRE(r);
  CHECK(r->identity.jid == "15551234567:4@s.whatsapp.net");
  CHECK(r->identity.lid == "98765:4@lid");
  CHECK(r->identity.platform == "android");
  CHECK(r->identity.primary_identity == Bytes(phone.identity.pub.begin(), phone.identity.pub.end()));

  // The stored identity keeps the account signature key; the reply does not.
  wa::proto::ADVSignedDeviceIdentity stored;
  REQUIRE(stored.ParseFromArray(r->identity.account.data(), static_cast<int>(r->identity.account.size())));
  CHECK(stored.accountsignaturekey().size() == 32);

  const Node& reply = r->reply;
  CHECK(reply.tag == "iq");
  CHECK(reply.attr_or("type", "") == "result");
  CHECK(reply.attr_or("id", "") == "ps1");
  const Node* sign = reply.child("pair-device-sign");
  REQUIRE(sign);
  const Node* di = sign->child("device-identity");
  REQUIRE(di);
  CHECK(di->attr_or("key-index", "") == "3");
  REQUIRE(di->bytes());
  wa::proto::ADVSignedDeviceIdentity sent;
  REQUIRE(sent.ParseFromArray(di->bytes()->data(), static_cast<int>(di->bytes()->size())));
  CHECK_FALSE(sent.has_accountsignaturekey());
  // What the server checks: 06 01 || details || companion identity || primary identity.
  Bytes msg = cat({Bytes{6, 1}, as_bytes(phone.details), c.identity.pub, phone.identity.pub});
  CHECK(crypto::xeddsa_verify(c.identity.pub, msg, as_bytes(sent.devicesignature())));
}

TEST_CASE("pair-success client-props say whether the account's chats are LID-migrated") {
  Credentials c = make_creds();
  Phone phone;
  auto plain = verify_pair_success(phone.pair_success(c), c);
  REQUIRE(plain);
  CHECK_FALSE(plain->identity.lid_migrated.has_value());
  for (bool migrated : {true, false}) {
    Node ps = phone.pair_success(c);
    wa::proto::ClientPairingProps props;
    props.set_ischatdblidmigrated(migrated);
    std::string bytes = props.SerializeAsString();
    auto& kids = std::get<wa::binary::Children>(ps.content);
    std::get<wa::binary::Children>(kids[0].content).emplace_back("client-props", wa::binary::Attrs{}, Bytes(bytes.begin(), bytes.end()));
    auto r = verify_pair_success(ps, c);
    REQUIRE(r);
    REQUIRE(r->identity.lid_migrated.has_value());
    CHECK(*r->identity.lid_migrated == migrated);
  }
  // Garbage props are ignored, the pairing still succeeds.
  Node ps = phone.pair_success(c);
  std::get<wa::binary::Children>(std::get<wa::binary::Children>(ps.content)[0].content)
      .emplace_back("client-props", wa::binary::Attrs{}, Bytes{0xff, 0xff, 0xff});
  auto r = verify_pair_success(ps, c);
  REQUIRE(r);
  CHECK_FALSE(r->identity.lid_migrated.has_value());
}

TEST_CASE("hosted accounts use the 06 05 HMAC prefix") {
  Credentials c = make_creds();
  Phone phone;
  CHECK(verify_pair_success(phone.pair_success(c, 0, true), c));
}

TEST_CASE("a wrong HMAC or account signature is refused with a distinct code") {
  Credentials c = make_creds();
  Phone phone;
  auto bad_mac = verify_pair_success(phone.pair_success(c, 1), c);
  REQUIRE_FALSE(bad_mac);
  CHECK(bad_mac.error().code == "hmac_mismatch");
  auto bad_sig = verify_pair_success(phone.pair_success(c, 2), c);
  REQUIRE_FALSE(bad_sig);
  CHECK(bad_sig.error().code == "signature_mismatch");
  // Someone else's QR secret.
  Credentials other = make_creds();
  auto wrong = verify_pair_success(phone.pair_success(other), c);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == "hmac_mismatch");

  Node err = pair_error_reply("ps1", bad_mac.error());
  CHECK(err.attr_or("type", "") == "error");
  REQUIRE(err.child("error"));
  CHECK(err.child("error")->attr_or("text", "") == "hmac-mismatch");
}

TEST_CASE("malformed pair-success nodes are errors, not crashes") {
  Credentials c = make_creds();
  CHECK(verify_pair_success(Node("iq"), c).error().code == "pair_malformed");
  Node no_dev("iq", {}, wa::binary::Children{Node("pair-success", {}, wa::binary::Children{
                                                  Node("device-identity", {}, Bytes{1, 2, 3})})});
  CHECK(verify_pair_success(no_dev, c).error().code == "pair_malformed");
  Node garbage("iq", {}, wa::binary::Children{Node("pair-success", {}, wa::binary::Children{
      Node("device-identity", {}, Bytes{0xff, 0xff, 0xff}), Node("device", {{"jid", "1@s.whatsapp.net"}})})});
  CHECK(verify_pair_success(garbage, c).error().code == "pair_malformed");
}
