#include "phone.hpp"

#include <vector>

#include "wa/crypto/link_code.hpp"
#include "wa/proto/adv.pb.h"

namespace wa::testserver::phone {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}


}  // namespace

Result<QrInfo> parse_qr(std::string_view qr) {
  if (qr.substr(0, kQrPrefix.size()) == kQrPrefix) qr.remove_prefix(kQrPrefix.size());
  while (!qr.empty() && (qr.back() == '\n' || qr.back() == '\r' || qr.back() == ' ')) qr.remove_suffix(1);
  if (qr.size() > 1024) return fail("bad_qr", "QR text too long");
  auto parts = split(qr, ',');
  if (parts.size() < 4) return fail("bad_qr", "expected REF,NOISE,IDENTITY,ADV[,PLATFORM]");
  QrInfo info;
  info.ref = std::string(parts[0]);
  if (info.ref.empty()) return fail("bad_qr", "empty ref");
  auto noise = from_base64(parts[1]);
  auto ident = from_base64(parts[2]);
  auto adv = from_base64(parts[3]);
  if (!noise || noise->size() != 32) return fail("bad_qr", "noise key is not 32 bytes of base64");
  if (!ident || ident->size() != 32) return fail("bad_qr", "identity key is not 32 bytes of base64");
  if (!adv || adv->size() != 32) return fail("bad_qr", "adv secret is not 32 bytes of base64");
  info.noise_pub = std::move(*noise);
  info.identity_pub = std::move(*ident);
  info.adv_secret = std::move(*adv);
  if (parts.size() > 4) info.platform = std::string(parts[4]);
  return info;
}

PairSuccess make_pair_success(const crypto::KeyPair& account_identity, ByteView companion_identity_pub32,
                              ByteView adv_secret, uint32_t key_index, uint64_t now_unix) {
  proto::ADVDeviceIdentity dev;
  dev.set_rawid(crypto::random_u32());
  dev.set_timestamp(now_unix);
  dev.set_keyindex(key_index);
  dev.set_accounttype(proto::E2EE);
  dev.set_devicetype(proto::E2EE);
  std::string dd = dev.SerializeAsString();

  const uint8_t prefix[] = {6, 0};
  auto msg = concat({ByteView(prefix), as_bytes(dd), companion_identity_pub32});
  auto account_sig = crypto::xeddsa_sign(account_identity.priv, msg);

  proto::ADVSignedDeviceIdentity signed_id;
  signed_id.set_details(dd);
  signed_id.set_accountsignaturekey(std::string(as_chars(account_identity.pub)));
  signed_id.set_accountsignature(std::string(as_chars(account_sig)));
  std::string sd = signed_id.SerializeAsString();

  auto mac = crypto::hmac_sha256(adv_secret, as_bytes(sd));
  proto::ADVSignedDeviceIdentityHMAC container;
  container.set_details(sd);
  container.set_hmac(std::string(as_chars(mac)));
  std::string c = container.SerializeAsString();

  PairSuccess out;
  out.container = to_bytes(c);
  out.device_details = to_bytes(dd);
  out.key_index = key_index;
  return out;
}

Status verify_pair_device_sign(ByteView signed_identity, ByteView issued_details, ByteView companion_identity_pub32,
                               ByteView account_pub32) {
  proto::ADVSignedDeviceIdentity sid;
  if (!sid.ParseFromArray(signed_identity.data(), static_cast<int>(signed_identity.size())))
    return fail("bad_signed_identity", "pair-device-sign is not an ADVSignedDeviceIdentity");
  if (!sid.has_details() || !sid.has_devicesignature())
    return fail("bad_signed_identity", "pair-device-sign lacks details or device signature");
  if (!crypto::equal_ct(as_bytes(sid.details()), issued_details))
    return fail("details_mismatch", "companion signed other device details than we issued");
  const uint8_t prefix[] = {6, 1};
  auto msg = concat({ByteView(prefix), issued_details, companion_identity_pub32, account_pub32});
  if (!crypto::xeddsa_verify(companion_identity_pub32, msg, as_bytes(sid.devicesignature())))
    return fail("bad_device_signature", "device signature does not verify");
  return {};
}

Result<Bytes> unwrap_link_code_key(std::string_view code, ByteView wrapped) {
  auto k = crypto::link_code_unwrap(code, wrapped);
  if (!k) return Unexpected<Error>{k.error()};
  return Bytes(k->begin(), k->end());
}

Bytes wrap_link_code_key(std::string_view code, ByteView pub32) { return crypto::link_code_wrap(code, pub32); }

Result<Bytes> link_code_adv_secret(const crypto::KeyPair& primary_eph, ByteView companion_eph_pub,
                                   const crypto::KeyPair& account_identity, ByteView companion_identity_pub,
                                   ByteView bundle) {
  if (bundle.size() < 32 + 12 + 16 + 96) return fail("bad_bundle", "key bundle too short");
  auto s1 = crypto::x25519(primary_eph.priv, companion_eph_pub);
  if (!s1) return fail("bad_bundle", "bad companion ephemeral");
  Bytes s1b(s1->begin(), s1->end());
  auto bundle_key = crypto::hkdf_sha256(s1b, bundle.subspan(0, 32), as_bytes("link_code_pairing_key_bundle_encryption_key"), 32);
  auto plain = crypto::aes_gcm_decrypt(bundle_key, bundle.subspan(32, 12), {}, bundle.subspan(44));
  secure_wipe(bundle_key);
  if (!plain || plain->size() != 96) return fail("bad_bundle", "key bundle does not decrypt");
  ByteView p(*plain);
  if (!crypto::equal_ct(p.subspan(0, 32), companion_identity_pub) ||
      !crypto::equal_ct(p.subspan(32, 32), account_identity.pub))
    return fail("bundle_mismatch", "key bundle names other identities");
  auto s2 = crypto::x25519(account_identity.priv, companion_identity_pub);
  if (!s2) return fail("bad_bundle", "bad companion identity");
  Bytes ikm = concat({s1b, ByteView(*s2), p.subspan(64, 32)});
  auto adv = crypto::hkdf_sha256(ikm, {}, as_bytes("adv_secret"), 32);
  secure_wipe(ikm);
  secure_wipe(s1b);
  return adv;
}

}  // namespace wa::testserver::phone
