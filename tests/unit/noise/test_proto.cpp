// Our generated protobuf code must produce byte-identical encodings to
// Baileys' protobufjs (fixtures from tests/interop/noise/gen_proto_fixtures.mjs),
// and parse them back.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "wa/bytes.hpp"
#include "wa/proto/adv.pb.h"
#include "wa/proto/client_payload.pb.h"
#include "wa/proto/handshake.pb.h"
#include "wa/proto/message.pb.h"
#include "wa/proto/signal_wire.pb.h"

using namespace wa;
namespace pb = wa::proto;

namespace {

const std::map<std::string, std::string>& fixtures() {
  static const std::map<std::string, std::string> m = {
#include "proto_fixtures.inc"
  };
  return m;
}

std::string seq(size_t n, unsigned start = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((start + i) & 0xff);
  return s;
}

std::string hex_of(const std::string& s) { return to_hex(as_bytes(s)); }

void check_fixture(const std::string& name, const google::protobuf::MessageLite& msg) {
  INFO("fixture: " << name);
  auto it = fixtures().find(name);
  REQUIRE(it != fixtures().end());
  std::string wire;
  REQUIRE(msg.SerializeToString(&wire));
  CHECK(hex_of(wire) == it->second);
  // And our parser reads Baileys' bytes back to the same message.
  auto bytes = from_hex(it->second);
  REQUIRE(bytes.has_value());
  std::unique_ptr<google::protobuf::MessageLite> back(msg.New());
  REQUIRE(back->ParseFromArray(bytes->data(), static_cast<int>(bytes->size())));
  CHECK(back->SerializeAsString() == wire);
}

pb::ClientPayload::UserAgent user_agent() {
  pb::ClientPayload::UserAgent ua;
  ua.set_platform(pb::ClientPayload::UserAgent::WEB);
  ua.mutable_appversion()->set_primary(2);
  ua.mutable_appversion()->set_secondary(3000);
  ua.mutable_appversion()->set_tertiary(1043857760);
  ua.set_mcc("000");
  ua.set_mnc("000");
  ua.set_osversion("0.1");
  ua.set_device("Desktop");
  ua.set_osbuildnumber("0.1");
  ua.set_releasechannel(pb::ClientPayload::UserAgent::RELEASE);
  ua.set_localelanguageiso6391("en");
  ua.set_localecountryiso31661alpha2("US");
  return ua;
}

}  // namespace

TEST_CASE("handshake messages match Baileys bytes") {
  pb::HandshakeMessage hello;
  hello.mutable_clienthello()->set_ephemeral(seq(32, 1));
  check_fixture("client_hello", hello);

  pb::HandshakeMessage server;
  server.mutable_serverhello()->set_ephemeral(seq(32, 0x40));
  server.mutable_serverhello()->set_static_(seq(48, 0x80));
  server.mutable_serverhello()->set_payload(seq(20, 0xc0));
  check_fixture("server_hello", server);

  pb::HandshakeMessage finish;
  finish.mutable_clientfinish()->set_static_(seq(48, 7));
  finish.mutable_clientfinish()->set_payload(seq(5, 9));
  check_fixture("client_finish", finish);
}

TEST_CASE("certificate chain matches Baileys bytes") {
  pb::CertChain::NoiseCertificate::Details inter;
  inter.set_serial(7);
  inter.set_issuerserial(0);
  inter.set_key(seq(32, 0x11));
  inter.set_notbefore(1700000000);
  inter.set_notafter(4102444800ULL);
  check_fixture("cert_details_intermediate", inter);
  pb::CertChain::NoiseCertificate::Details leaf;
  leaf.set_serial(1234567);
  leaf.set_issuerserial(7);
  leaf.set_key(seq(32, 0x22));
  leaf.set_notbefore(1700000000);
  leaf.set_notafter(1900000000);

  pb::CertChain chain;
  chain.mutable_leaf()->set_details(leaf.SerializeAsString());
  chain.mutable_leaf()->set_signature(seq(64, 0x33));
  chain.mutable_intermediate()->set_details(inter.SerializeAsString());
  chain.mutable_intermediate()->set_signature(seq(64, 0x44));
  check_fixture("cert_chain", chain);
}

TEST_CASE("client payloads match Baileys bytes") {
  pb::DeviceProps props;
  props.set_os("Mac OS");
  props.set_platformtype(pb::DeviceProps::CHROME);
  props.set_requirefullsync(false);
  auto* hsc = props.mutable_historysyncconfig();
  hsc->set_storagequotamb(10240);
  hsc->set_inlineinitialpayloadine2eemsg(true);
  hsc->set_supportcallloghistory(false);
  hsc->set_supportgrouphistory(false);
  hsc->set_supportmessageassociation(true);
  props.mutable_version()->set_primary(10);
  props.mutable_version()->set_secondary(15);
  props.mutable_version()->set_tertiary(7);
  check_fixture("device_props", props);

  pb::ClientPayload reg;
  reg.set_connecttype(pb::ClientPayload::WIFI_UNKNOWN);
  reg.set_connectreason(pb::ClientPayload::USER_ACTIVATED);
  *reg.mutable_useragent() = user_agent();
  reg.mutable_webinfo()->set_websubplatform(pb::ClientPayload::WebInfo::WEB_BROWSER);
  reg.set_passive(false);
  reg.set_pull(false);
  auto* pair = reg.mutable_devicepairingdata();
  pair->set_buildhash(seq(16, 0xa0));
  pair->set_deviceprops(props.SerializeAsString());
  pair->set_eregid(std::string("\x00\x00\x30\x39", 4));
  pair->set_ekeytype(std::string("\x05", 1));
  pair->set_eident(seq(32, 0x50));
  pair->set_eskeyid(std::string("\x00\x00\x01", 3));
  pair->set_eskeyval(seq(32, 0x60));
  pair->set_eskeysig(seq(64, 0x70));
  check_fixture("client_payload_register", reg);

  pb::ClientPayload login;
  login.set_connecttype(pb::ClientPayload::WIFI_UNKNOWN);
  login.set_connectreason(pb::ClientPayload::USER_ACTIVATED);
  *login.mutable_useragent() = user_agent();
  login.mutable_webinfo()->set_websubplatform(pb::ClientPayload::WebInfo::WEB_BROWSER);
  login.set_passive(true);
  login.set_pull(true);
  login.set_username(5511999887766ULL);
  login.set_device(3);
  login.set_liddbmigrated(false);
  login.set_pushname("wa test");
  check_fixture("client_payload_login", login);
}

TEST_CASE("ADV identities match Baileys bytes") {
  pb::ADVDeviceIdentity id;
  id.set_rawid(987654321);
  id.set_timestamp(1700000123);
  id.set_keyindex(2);
  id.set_accounttype(pb::E2EE);
  id.set_devicetype(pb::HOSTED);
  check_fixture("adv_device_identity", id);
  pb::ADVSignedDeviceIdentity signed_id;
  signed_id.set_details(id.SerializeAsString());
  signed_id.set_accountsignaturekey(seq(32, 1));
  signed_id.set_accountsignature(seq(64, 2));
  signed_id.set_devicesignature(seq(64, 3));
  check_fixture("adv_signed_device_identity", signed_id);
  pb::ADVSignedDeviceIdentityHMAC hmac;
  hmac.set_details(signed_id.SerializeAsString());
  hmac.set_hmac(seq(32, 4));
  hmac.set_accounttype(pb::HOSTED);
  check_fixture("adv_signed_device_identity_hmac", hmac);
  pb::ADVKeyIndexList list;
  list.set_rawid(5);
  list.set_timestamp(6);
  list.set_currentindex(3);
  for (uint32_t v : {0u, 1u, 3u, 300u}) list.add_validindexes(v);
  check_fixture("adv_key_index_list", list);
}

TEST_CASE("E2E messages match Baileys bytes") {
  pb::Message text;
  auto* ext = text.mutable_extendedtextmessage();
  ext->set_text("ol\xc3\xa1, mundo");
  auto* ctx = ext->mutable_contextinfo();
  ctx->set_stanzaid("3EB0ABCDEF");
  ctx->set_participant("5511999887766@s.whatsapp.net");
  ctx->mutable_quotedmessage()->set_conversation("earlier");
  ctx->add_mentionedjid("1@s.whatsapp.net");
  ctx->add_mentionedjid("2@s.whatsapp.net");
  auto* mci = text.mutable_messagecontextinfo();
  auto* dlm = mci->mutable_devicelistmetadata();
  dlm->set_senderkeyhash(seq(10, 1));
  dlm->set_sendertimestamp(1700000000);
  dlm->add_senderkeyindexes(1);
  dlm->add_senderkeyindexes(2);
  dlm->set_recipientkeyhash(seq(10, 2));
  dlm->set_recipienttimestamp(1700000001);
  mci->set_devicelistmetadataversion(2);
  mci->set_messagesecret(seq(32, 9));
  check_fixture("message_extended_text", text);

  pb::Message dsm;
  dsm.mutable_devicesentmessage()->set_destinationjid("5511000000000@s.whatsapp.net");
  dsm.mutable_devicesentmessage()->mutable_message()->set_conversation("hi");
  dsm.mutable_devicesentmessage()->set_phash("2:abc");
  dsm.mutable_senderkeydistributionmessage()->set_groupid("120363000000000000@g.us");
  dsm.mutable_senderkeydistributionmessage()->set_axolotlsenderkeydistributionmessage(seq(40, 0x90));
  check_fixture("message_device_sent", dsm);

  pb::Message proto_msg;
  auto* pm = proto_msg.mutable_protocolmessage();
  pm->set_type(pb::Message::ProtocolMessage::HISTORY_SYNC_NOTIFICATION);
  pm->mutable_key()->set_remotejid("x@s.whatsapp.net");
  pm->mutable_key()->set_fromme(true);
  pm->mutable_key()->set_id("ABC");
  auto* hsn = pm->mutable_historysyncnotification();
  hsn->set_filesha256(seq(32));
  hsn->set_filelength(123456);
  hsn->set_mediakey(seq(32, 5));
  hsn->set_fileencsha256(seq(32, 6));
  hsn->set_directpath("/v/t62/abc");
  hsn->set_synctype(pb::Message::INITIAL_BOOTSTRAP);
  hsn->set_chunkorder(1);
  check_fixture("message_protocol", proto_msg);

  pb::Message image;
  auto* im = image.mutable_imagemessage();
  im->set_url("https://mmg.whatsapp.net/x");
  im->set_mimetype("image/jpeg");
  im->set_caption("cap");
  im->set_filesha256(seq(32, 1));
  im->set_filelength(4096);
  im->set_height(480);
  im->set_width(640);
  im->set_mediakey(seq(32, 2));
  im->set_fileencsha256(seq(32, 3));
  im->set_directpath("/v/x");
  im->set_mediakeytimestamp(1700000000);
  im->set_jpegthumbnail(seq(8, 4));
  check_fixture("message_image", image);
}

TEST_CASE("Signal wire messages match libsignal / Baileys bytes") {
  pb::SenderKeyDistributionMessage skdm;
  skdm.set_id(4000000000U);
  skdm.set_iteration(0);
  skdm.set_chainkey(seq(32, 1));
  skdm.set_signingkey("\x05" + seq(32, 2));
  check_fixture("sender_key_distribution", skdm);
  pb::SenderKeyMessage skm;
  skm.set_id(1);
  skm.set_iteration(17);
  skm.set_ciphertext(seq(16, 3));
  check_fixture("sender_key_message", skm);
  pb::WhisperMessage wm;
  wm.set_ephemeralkey("\x05" + seq(32, 1));
  wm.set_counter(3);
  wm.set_previouscounter(2);
  wm.set_ciphertext(seq(16, 7));
  check_fixture("whisper_message", wm);
  pb::PreKeyWhisperMessage pkm;
  pkm.set_registrationid(12345);
  pkm.set_prekeyid(77);
  pkm.set_signedprekeyid(1);
  pkm.set_basekey("\x05" + seq(32, 8));
  pkm.set_identitykey("\x05" + seq(32, 9));
  pkm.set_message(seq(20, 10));
  check_fixture("prekey_whisper_message", pkm);
}

TEST_CASE("unknown fields survive a round trip") {
  // Message field 37 (viewOnceMessage) is not in our subset: a relay must not drop it.
  std::string wire = pb::Message().SerializeAsString();
  wire += std::string("\xaa\x02\x02\x0a\x00", 5);  // tag (37<<3|2) = 0x12a -> varint aa 02, len 2, inner
  pb::Message m;
  REQUIRE(m.ParseFromString(wire));
  CHECK(m.SerializeAsString() == wire);
}
