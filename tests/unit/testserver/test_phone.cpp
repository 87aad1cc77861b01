// The emulated phone's pairing output, checked the way a companion checks it
// (docs/PROTOCOL.md §5.1 step 7), written here independently with wa_crypto.
#include <doctest/doctest.h>

#include "phone.hpp"
#include "wa/proto/adv.pb.h"

using namespace wa;
using namespace wa::testserver;

namespace {

Bytes cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string qr_for(const crypto::KeyPair& noise, const crypto::KeyPair& ident, ByteView adv) {
  return "2@ref," + to_base64(noise.pub) + "," + to_base64(ident.pub) + "," + to_base64(adv) + ",1";
}

// What a companion does with pair-success; returns its pair-device-sign bytes.
Result<Bytes> companion_accepts(ByteView container_bytes, ByteView adv, const crypto::KeyPair& ident) {
  proto::ADVSignedDeviceIdentityHMAC container;
  if (!container.ParseFromArray(container_bytes.data(), static_cast<int>(container_bytes.size()))) return fail("parse");
  auto mac = crypto::hmac_sha256(adv, as_bytes(container.details()));
  if (!crypto::equal_ct(mac, as_bytes(container.hmac()))) return fail("hmac");
  proto::ADVSignedDeviceIdentity sid;
  if (!sid.ParseFromString(container.details())) return fail("parse");
  proto::ADVDeviceIdentity dev;
  if (!dev.ParseFromString(sid.details())) return fail("parse");
  const uint8_t p[] = {6, 0};
  auto msg = cat({ByteView(p), as_bytes(sid.details()), ident.pub});
  if (sid.accountsignaturekey().size() != 32 || sid.accountsignature().size() != 64) return fail("sizes");
  if (!crypto::xeddsa_verify(as_bytes(sid.accountsignaturekey()), msg, as_bytes(sid.accountsignature())))
    return fail("account_sig");
  const uint8_t p2[] = {6, 1};
  auto dmsg = cat({ByteView(p2), as_bytes(sid.details()), ident.pub, as_bytes(sid.accountsignaturekey())});
  auto dsig = crypto::xeddsa_sign(ident.priv, dmsg);
  sid.set_devicesignature(std::string(as_chars(dsig)));
  sid.clear_accountsignaturekey();
  return to_bytes(sid.SerializeAsString());
}

}  // namespace

TEST_CASE("QR text parses with and without the wa.me prefix") {
  auto noise = crypto::generate_keypair(), ident = crypto::generate_keypair();
  auto adv = crypto::random_bytes(32);
  std::string qr = qr_for(noise, ident, adv);
  for (const std::string& text : {qr, std::string(phone::kQrPrefix) + qr, qr + "\n"}) {
    auto info = phone::parse_qr(text);
    REQUIRE(info);
    CHECK(info->ref == "2@ref");
    CHECK(info->noise_pub == Bytes(noise.pub.begin(), noise.pub.end()));
    CHECK(info->identity_pub == Bytes(ident.pub.begin(), ident.pub.end()));
    CHECK(info->adv_secret == adv);
    CHECK(info->platform == "1");
  }
}

TEST_CASE("malformed QR texts are refused with bad_qr") {
  for (const char* bad : {"", "ref", "ref,AAAA,BBBB", ",a,b,c", "ref,!!!,x,y", "ref,AAAA,AAAA,AAAA"}) {
    auto r = phone::parse_qr(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "bad_qr");
  }
  CHECK_FALSE(phone::parse_qr(std::string(5000, 'a')));
}

TEST_CASE("pair-success passes the companion's checks and its signature verifies back") {
  auto account = crypto::generate_keypair();
  auto ident = crypto::generate_keypair();
  auto adv = crypto::random_bytes(32);
  auto ps = phone::make_pair_success(account, ident.pub, adv, 7, 1700000000);
  CHECK(ps.key_index == 7);
  auto sign = companion_accepts(ps.container, adv, ident);
  REQUIRE(sign);
  CHECK(phone::verify_pair_device_sign(*sign, ps.device_details, ident.pub, account.pub));

  proto::ADVDeviceIdentity dev;
  REQUIRE(dev.ParseFromArray(ps.device_details.data(), static_cast<int>(ps.device_details.size())));
  CHECK(dev.keyindex() == 7);
  CHECK(dev.timestamp() == 1700000000);

  SUBCASE("a companion with another adv secret refuses (HMAC)") {
    auto other = crypto::random_bytes(32);
    auto r = companion_accepts(ps.container, other, ident);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "hmac");
  }
  SUBCASE("a companion with another identity refuses (account signature)") {
    auto r = companion_accepts(ps.container, adv, crypto::generate_keypair());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "account_sig");
  }
  SUBCASE("a device signature by another key is refused") {
    auto wrong = companion_accepts(ps.container, adv, ident);
    REQUIRE(wrong);
    auto r = phone::verify_pair_device_sign(*wrong, ps.device_details, crypto::generate_keypair().pub, account.pub);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "bad_device_signature");
  }
  SUBCASE("details other than the issued ones are refused") {
    auto other = phone::make_pair_success(account, ident.pub, adv, 8, 1700000001);
    auto r = phone::verify_pair_device_sign(*sign, other.device_details, ident.pub, account.pub);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "details_mismatch");
  }
  SUBCASE("garbage is refused") {
    Bytes junk{1, 2, 3};
    CHECK_FALSE(phone::verify_pair_device_sign(junk, ps.device_details, ident.pub, account.pub));
  }
}

TEST_CASE("link-code pairing: both sides derive the same adv secret") {
  const std::string code = "ABCD2345";
  auto companion_eph = crypto::generate_keypair();
  auto companion_ident = crypto::generate_keypair();
  auto account = crypto::generate_keypair();
  auto primary_eph = crypto::generate_keypair();

  // Companion wraps its ephemeral; the phone unwraps it with the typed code.
  auto wrapped = phone::wrap_link_code_key(code, companion_eph.pub);
  REQUIRE(wrapped.size() == 80);
  auto unwrapped = phone::unwrap_link_code_key(code, wrapped);
  REQUIRE(unwrapped);
  CHECK(*unwrapped == Bytes(companion_eph.pub.begin(), companion_eph.pub.end()));
  auto wrong = phone::unwrap_link_code_key("ZZZZ9999", wrapped);
  REQUIRE(wrong);
  CHECK(*wrong != *unwrapped);

  // Companion side of docs/PROTOCOL.md §5.2 step 6.
  auto s1 = crypto::x25519(companion_eph.priv, primary_eph.pub);
  REQUIRE(s1);
  auto r = crypto::random_bytes(32);
  auto salt = crypto::random_bytes(32);
  auto nonce = crypto::random_bytes(12);
  auto key = crypto::hkdf_sha256(*s1, salt, as_bytes("link_code_pairing_key_bundle_encryption_key"), 32);
  auto ct = crypto::aes_gcm_encrypt(key, nonce, {}, cat({companion_ident.pub, account.pub, r}));
  REQUIRE(ct);
  Bytes bundle = cat({salt, nonce, *ct});
  auto s2 = crypto::x25519(companion_ident.priv, account.pub);
  REQUIRE(s2);
  auto expect = crypto::hkdf_sha256(cat({*s1, *s2, r}), {}, as_bytes("adv_secret"), 32);

  auto adv = phone::link_code_adv_secret(primary_eph, companion_eph.pub, account, companion_ident.pub, bundle);
  REQUIRE(adv);
  CHECK(*adv == expect);

  bundle.back() ^= 1;
  auto bad = phone::link_code_adv_secret(primary_eph, companion_eph.pub, account, companion_ident.pub, bundle);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "bad_bundle");
  CHECK_FALSE(phone::link_code_adv_secret(primary_eph, companion_eph.pub, account, companion_ident.pub, Bytes(10)));
}
