// Known-answer tests for wa_crypto: every vector below is from the cited RFC
// or NIST document; the XEdDSA fixture was produced once by the npm libsignal
// (tests/interop/noise/xeddsa_cross.mjs prints a fresh one).
#include <doctest/doctest.h>

#include <string>

#include "wa/crypto/crypto.hpp"

using namespace wa;
using namespace wa::crypto;

namespace {
Bytes hx(std::string_view s) {
  auto b = from_hex(s);
  REQUIRE(b.has_value());
  return *b;
}
template <size_t N>
std::string hex_of(const std::array<uint8_t, N>& a) {
  return to_hex(ByteView(a));
}
Key32 key32(std::string_view s) {
  Bytes b = hx(s);
  REQUIRE(b.size() == 32);
  Key32 k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}
}  // namespace

TEST_CASE("SHA-256, SHA-512, MD5 known answers") {
  CHECK(hex_of(sha256(as_bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex_of(sha256(ByteView{})) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex_of(sha512(as_bytes("abc"))) ==
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  CHECK(hex_of(md5(ByteView{})) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(hex_of(md5(as_bytes("abc"))) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex_of(sha256_concat(as_bytes("ab"), as_bytes("c"))) == hex_of(sha256(as_bytes("abc"))));
}

TEST_CASE("HMAC-SHA256 RFC 4231") {
  CHECK(hex_of(hmac_sha256(Bytes(20, 0x0b), as_bytes("Hi There"))) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hex_of(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hex_of(hmac_sha256(Bytes(20, 0xaa), Bytes(50, 0xdd))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Test case 6: key longer than the block size is hashed first.
  CHECK(hex_of(hmac_sha256(Bytes(131, 0xaa), as_bytes("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // An empty key is the same as a block of zeros (HMAC pads keys with zeros).
  CHECK(hmac_sha256(ByteView{}, as_bytes("x")) == hmac_sha256(Bytes(32, 0), as_bytes("x")));
}

TEST_CASE("HKDF-SHA256 RFC 5869") {
  // A.1
  CHECK(to_hex(hkdf_sha256(Bytes(22, 0x0b), hx("000102030405060708090a0b0c"), hx("f0f1f2f3f4f5f6f7f8f9"), 42)) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  // A.2 (long inputs, 82 bytes of output)
  Bytes ikm, salt, info;
  for (int i = 0; i < 80; ++i) {
    ikm.push_back(static_cast<uint8_t>(i));
    salt.push_back(static_cast<uint8_t>(0x60 + i));
    info.push_back(static_cast<uint8_t>(0xb0 + i));
  }
  CHECK(to_hex(hkdf_sha256(ikm, salt, info, 82)) ==
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87");
  // A.3: empty salt and info.
  CHECK(to_hex(hkdf_sha256(Bytes(22, 0x0b), ByteView{}, ByteView{}, 42)) ==
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  // Noise's Split() feeds an empty IKM: it must work and differ from a zero IKM of length 1.
  Bytes split = hkdf_sha256(ByteView{}, Bytes(32, 7), ByteView{}, 64);
  CHECK(split.size() == 64);
  CHECK(split != hkdf_sha256(Bytes(1, 0), Bytes(32, 7), ByteView{}, 64));
  CHECK(split == hkdf_sha256(ByteView{}, Bytes(32, 7), ByteView{}, 64));
  // HKDF(empty ikm) = Expand(HMAC(salt, ""), "", L): cross-check the first block by hand.
  auto prk = hmac_sha256(Bytes(32, 7), ByteView{});
  Bytes t1_in{0x01};
  auto t1 = hmac_sha256(prk, t1_in);
  CHECK(Bytes(split.begin(), split.begin() + 32) == Bytes(t1.begin(), t1.end()));
  CHECK(hkdf_sha256(Bytes(1, 1), ByteView{}, ByteView{}, 255 * 32 + 1).empty());
}

TEST_CASE("PBKDF2-SHA256 known answers") {
  CHECK(to_hex(pbkdf2_sha256(as_bytes("password"), as_bytes("salt"), 1, 32)) ==
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  CHECK(to_hex(pbkdf2_sha256(as_bytes("password"), as_bytes("salt"), 4096, 32)) ==
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  // RFC 7914 section 11.
  CHECK(to_hex(pbkdf2_sha256(as_bytes("passwd"), as_bytes("salt"), 1, 64)) ==
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
}

TEST_CASE("AES-256-GCM NIST (GCM spec test cases 13, 14, 16)") {
  auto tc13 = aes_gcm_encrypt(Bytes(32, 0), Bytes(12, 0), ByteView{}, ByteView{});
  REQUIRE(tc13);
  CHECK(to_hex(*tc13) == "530f8afbc74536b9a963b4f1c4cb738b");
  auto tc14 = aes_gcm_encrypt(Bytes(32, 0), Bytes(12, 0), ByteView{}, Bytes(16, 0));
  REQUIRE(tc14);
  CHECK(to_hex(*tc14) == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");

  const Bytes key = hx("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  const Bytes iv = hx("cafebabefacedbaddecaf888");
  const Bytes aad = hx("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const Bytes pt = hx(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
  const std::string ct_tag =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b";
  auto enc = aes_gcm_encrypt(key, iv, aad, pt);
  REQUIRE(enc);
  CHECK(to_hex(*enc) == ct_tag);
  auto dec = aes_gcm_decrypt(key, iv, aad, hx(ct_tag));
  REQUIRE(dec);
  CHECK(*dec == pt);

  SUBCASE("tampering is refused") {
    Bytes bad = hx(ct_tag);
    bad[3] ^= 1;
    auto r = aes_gcm_decrypt(key, iv, aad, bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "auth_failed");
    Bytes bad_aad = aad;
    bad_aad[0] ^= 0x80;
    CHECK(aes_gcm_decrypt(key, iv, bad_aad, hx(ct_tag)).error().code == "auth_failed");
    Bytes bad_tag = hx(ct_tag);
    bad_tag.back() ^= 1;
    CHECK(aes_gcm_decrypt(key, iv, aad, bad_tag).error().code == "auth_failed");
  }
  SUBCASE("bad sizes are typed errors") {
    CHECK(aes_gcm_decrypt(key, iv, aad, Bytes(15, 0)).error().code == "truncated");
    CHECK(aes_gcm_encrypt(Bytes(16, 0), iv, aad, pt).error().code == "bad_key");
    CHECK(aes_gcm_encrypt(key, Bytes(16, 0), aad, pt).error().code == "bad_iv");
  }
  SUBCASE("reusable key gives identical results") {
    auto k = AesGcmKey::create(key);
    REQUIRE(k);
    for (int round = 0; round < 3; ++round) {
      auto e = k->encrypt(iv, aad, pt);
      REQUIRE(e);
      CHECK(to_hex(*e) == ct_tag);
      auto d = k->decrypt(iv, aad, *e);
      REQUIRE(d);
      CHECK(*d == pt);
    }
    Bytes bad = hx(ct_tag);
    bad[0] ^= 1;
    CHECK(k->decrypt(iv, aad, bad).error().code == "auth_failed");
    // A failure must not poison the context for the next message.
    CHECK(k->decrypt(iv, aad, hx(ct_tag)).has_value());
    CHECK(AesGcmKey::create(Bytes(31, 0)).error().code == "bad_key");
    AesGcmKey empty;
    CHECK(empty.encrypt(iv, aad, pt).error().code == "bad_key");
  }
}

TEST_CASE("AES-256-CBC and CTR (NIST SP 800-38A F.2.5 / F.5.5)") {
  const Bytes key = hx("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  const Bytes block = hx("6bc1bee22e409f96e93d7e117393172a");
  auto cbc = aes_cbc_encrypt(key, hx("000102030405060708090a0b0c0d0e0f"), block);
  REQUIRE(cbc);
  REQUIRE(cbc->size() == 32);  // one full PKCS#7 padding block follows
  CHECK(to_hex(ByteView(*cbc).first(16)) == "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
  auto back = aes_cbc_decrypt(key, hx("000102030405060708090a0b0c0d0e0f"), *cbc);
  REQUIRE(back);
  CHECK(*back == block);
  CHECK(aes_cbc_decrypt(key, Bytes(16, 0), Bytes(17, 0)).error().code == "bad_length");
  CHECK(aes_cbc_decrypt(key, Bytes(16, 0), ByteView{}).error().code == "bad_length");
  // Wrong key: the padding check fails (with overwhelming probability for this input).
  const Bytes other = hx("613deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  auto wrong = aes_cbc_decrypt(other, hx("000102030405060708090a0b0c0d0e0f"), *cbc);
  if (!wrong) CHECK(wrong.error().code == "bad_padding");
  else CHECK(*wrong != block);

  auto ctr = aes_ctr(key, hx("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), block);
  REQUIRE(ctr);
  CHECK(to_hex(*ctr) == "601ec313775789a5b7a7f504bbf3d228");
  auto ctr_back = aes_ctr(key, hx("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), *ctr);
  REQUIRE(ctr_back);
  CHECK(*ctr_back == block);
}

TEST_CASE("X25519 RFC 7748 section 6.1") {
  const Key32 alice_priv = key32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const Key32 bob_priv = key32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  KeyPair alice = keypair_from_private(alice_priv);
  KeyPair bob = keypair_from_private(bob_priv);
  CHECK(hex_of(alice.pub) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(hex_of(bob.pub) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto s1 = x25519(alice_priv, bob.pub);
  auto s2 = x25519(bob.priv, alice.pub);
  REQUIRE(s1);
  REQUIRE(s2);
  CHECK(hex_of(*s1) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(*s1 == *s2);
  // Stored private keys are clamped.
  CHECK((alice.priv[0] & 7) == 0);
  CHECK((alice.priv[31] & 0xc0) == 0x40);

  SUBCASE("low-order and malformed peer keys are refused") {
    CHECK(x25519(alice_priv, Bytes(32, 0)).error().code == "weak_key");
    Bytes one(32, 0);
    one[0] = 1;
    CHECK(x25519(alice_priv, one).error().code == "weak_key");
    CHECK(x25519(alice_priv, Bytes(31, 9)).error().code == "bad_key");
  }
  SUBCASE("generated pairs agree") {
    KeyPair a = generate_keypair();
    KeyPair b = generate_keypair();
    CHECK(a.pub != b.pub);
    CHECK(*x25519(a.priv, b.pub) == *x25519(b.priv, a.pub));
  }
}

TEST_CASE("XEdDSA sign/verify and tamper detection") {
  KeyPair kp = generate_keypair();
  const Bytes msg = to_bytes("the details of a noise certificate");
  Sig64 sig = xeddsa_sign(kp.priv, msg);
  CHECK(xeddsa_verify(kp.pub, msg, sig));
  // Randomised nonces: two signatures differ, both verify.
  Sig64 sig2 = xeddsa_sign(kp.priv, msg);
  CHECK(sig != sig2);
  CHECK(xeddsa_verify(kp.pub, msg, sig2));

  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    Sig64 bad = sig;
    bad[i] ^= 0x01;
    CHECK_FALSE(xeddsa_verify(kp.pub, msg, bad));
  }
  Bytes other_msg = msg;
  other_msg.back() ^= 1;
  CHECK_FALSE(xeddsa_verify(kp.pub, other_msg, sig));
  KeyPair other = generate_keypair();
  CHECK_FALSE(xeddsa_verify(other.pub, msg, sig));
  CHECK_FALSE(xeddsa_verify(ByteView(kp.pub).first(31), msg, sig));
  CHECK_FALSE(xeddsa_verify(kp.pub, msg, ByteView(sig).first(63)));
  CHECK_FALSE(xeddsa_verify(kp.pub, msg, Bytes(64, 0)));
  // Empty message works both ways.
  Sig64 empty_sig = xeddsa_sign(kp.priv, ByteView{});
  CHECK(xeddsa_verify(kp.pub, ByteView{}, empty_sig));

  SUBCASE("unclamped private key signs for its X25519 public key") {
    Key32 raw{};
    random_bytes(raw);
    raw[0] |= 7;
    raw[31] |= 0x80;
    KeyPair derived = keypair_from_private(raw);
    CHECK(xeddsa_verify(derived.pub, msg, xeddsa_sign(raw, msg)));
  }
}

TEST_CASE("XEdDSA verifies a signature made by the npm libsignal") {
  // priv a8ab..6b (clamped); pub/sig from libsignal curve.calculateSignature.
  const Key32 priv = key32("a8abababababababababababababababababababababababababababababab6b");
  const std::string pub = "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859";
  KeyPair kp = keypair_from_private(priv);
  CHECK(hex_of(kp.pub) == pub);
  const Bytes sig = hx(
      "6b765f44c3530dc8f7ab2f87de08d2fe1e9b023f7c8aadecbb9bfd796356eae8"
      "c868b0a76bd24ecd1eb1c28f70f25972b4fbb09e05c9b6e0de95ef8629a7a305");
  CHECK(xeddsa_verify(hx(pub), as_bytes("wa-supervisor xeddsa fixture"), sig));
  CHECK_FALSE(xeddsa_verify(hx(pub), as_bytes("wa-supervisor xeddsa fixturE"), sig));
}

TEST_CASE("random and constant-time compare") {
  CHECK(random_bytes(33).size() == 33);
  CHECK(random_bytes(32) != random_bytes(32));
  // Eight draws all equal would mean a broken generator (chance 2^-224).
  const uint32_t first = random_u32();
  bool varied = false;
  for (int i = 0; i < 7; ++i) varied = varied || random_u32() != first;
  CHECK(varied);
  CHECK(equal_ct(as_bytes("abc"), as_bytes("abc")));
  CHECK_FALSE(equal_ct(as_bytes("abc"), as_bytes("abd")));
  CHECK_FALSE(equal_ct(as_bytes("abc"), as_bytes("ab")));
  CHECK(equal_ct(ByteView{}, ByteView{}));
}

TEST_CASE("participant hash: 2: and 6 characters of base64(SHA-256(sorted device JIDs)), order-free") {
  // Computed independently (Python hashlib/base64) with Baileys' formula.
  CHECK(crypto::participant_hash({"1:2@s.whatsapp.net", "1@s.whatsapp.net"}) == "2:vgWvjH");
  CHECK(crypto::participant_hash({"1@s.whatsapp.net", "1:2@s.whatsapp.net"}) == "2:vgWvjH");
  CHECK(crypto::participant_hash({"1@s.whatsapp.net"}) != "2:vgWvjH");
}
