// Phone-number pairing: the code alphabet, key wrapping, and the companion
// side of the key agreement checked against the phone's side computed here.
#include <doctest/doctest.h>

#include "pair_code.hpp"

using namespace wa;
using namespace wa::connection;
using wa::binary::Node;

namespace {
Bytes cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes child(const Node& n, std::string_view tag) {
  const Node* c = n.child(tag);
  REQUIRE(c);
  REQUIRE(c->bytes());
  return *c->bytes();
}
}  // namespace

TEST_CASE("pairing code: 8 characters of the 32-letter alphabet, 5 bits each") {
  CHECK(encode_pairing_code(Bytes{0, 0, 0, 0, 0}) == "11111111");
  CHECK(encode_pairing_code(Bytes{0xff, 0xff, 0xff, 0xff, 0xff}) == "ZZZZZZZZ");
  // 0x08 0x86 0x42 0x98 0xE8 = 00001 00010 00011 00100 00101 00110 00111 01000
  CHECK(encode_pairing_code(Bytes{0x08, 0x86, 0x42, 0x98, 0xE8}) == "23456789");
  for (int i = 0; i < 20; ++i) {
    std::string code = make_pairing_code();
    REQUIRE(code.size() == 8);
    for (char ch : code) CHECK(std::string_view("123456789ABCDEFGHJKLMNPQRSTVWXYZ").find(ch) != std::string_view::npos);
  }
}

TEST_CASE("wrapped keys round-trip only with the right code") {
  crypto::KeyPair k = crypto::generate_keypair();
  Bytes w = wrap_pairing_key("ABCD1234", k.pub);
  REQUIRE(w.size() == 80);
  auto back = unwrap_pairing_key("ABCD1234", w);
  REQUIRE(back);
  CHECK(*back == k.pub);
  auto wrong = unwrap_pairing_key("ABCD1235", w);
  REQUIRE(wrong);
  CHECK(*wrong != k.pub);
  CHECK_FALSE(unwrap_pairing_key("ABCD1234", Bytes(79)));
}

TEST_CASE("phone numbers are validated") {
  CHECK_FALSE(new_pair_code_request("12345"));
  CHECK_FALSE(new_pair_code_request("+15551234567"));
  CHECK_FALSE(new_pair_code_request("1555 1234567"));
  auto r = new_pair_code_request("15551234567");
  REQUIRE(r);
  CHECK(r->phone_jid == "15551234567@s.whatsapp.net");
}

TEST_CASE("companion_hello and companion_finish agree with the phone's side of the key agreement") {
  Credentials c;
  c.noise = crypto::generate_keypair();
  c.identity = crypto::generate_keypair();
  ClientSettings s;
  auto req = new_pair_code_request("15551234567");
  REQUIRE(req);
  Node hello = companion_hello_iq(*req, c, s, "id1");
  CHECK(hello.attr_or("xmlns", "") == "md");
  const Node* reg = hello.child("link_code_companion_reg");
  REQUIRE(reg);
  CHECK(reg->attr_or("stage", "") == "companion_hello");
  CHECK(reg->attr_or("jid", "") == "15551234567@s.whatsapp.net");
  CHECK(child(*reg, "companion_platform_id") == to_bytes("1"));
  CHECK(child(*reg, "companion_platform_display") == to_bytes("Chrome (Mac OS)"));
  CHECK(child(*reg, "companion_server_auth_key_pub") == Bytes(c.noise.pub.begin(), c.noise.pub.end()));

  // The phone: learns the companion's ephemeral key from the code.
  auto companion_eph = unwrap_pairing_key(req->code, child(*reg, "link_code_pairing_wrapped_companion_ephemeral_pub"));
  REQUIRE(companion_eph);
  CHECK(*companion_eph == req->ephemeral.pub);
  crypto::KeyPair primary_eph = crypto::generate_keypair();
  crypto::KeyPair primary_id = crypto::generate_keypair();
  wa::binary::Children kids;
  kids.emplace_back("link_code_pairing_ref", wa::binary::Attrs{}, to_bytes("REF"));
  kids.emplace_back("primary_identity_pub", wa::binary::Attrs{}, Bytes(primary_id.pub.begin(), primary_id.pub.end()));
  kids.emplace_back("link_code_pairing_wrapped_primary_ephemeral_pub", wa::binary::Attrs{},
                    wrap_pairing_key(req->code, primary_eph.pub));
  Node notif("notification", {{"type", "link_code_companion_reg"}, {"from", "@s.whatsapp.net"}},
             wa::binary::Children{Node("link_code_companion_reg", {}, std::move(kids))});

  auto fin = companion_finish(notif, *req, c);
  REQUIRE(fin);
  CHECK(fin->content.attr_or("stage", "") == "companion_finish");
  CHECK(child(fin->content, "link_code_pairing_ref") == to_bytes("REF"));

  // Phone side: S1 from its ephemeral, decrypt the bundle, S2 from its identity.
  auto s1 = crypto::x25519(primary_eph.priv, *companion_eph);
  REQUIRE(s1);
  Bytes bundle = child(fin->content, "link_code_pairing_wrapped_key_bundle");
  REQUIRE(bundle.size() == 32 + 12 + 96 + 16);
  Bytes key = crypto::hkdf_sha256(*s1, ByteView(bundle).first(32), as_bytes("link_code_pairing_key_bundle_encryption_key"), 32);
  auto plain = crypto::aes_gcm_decrypt(key, ByteView(bundle).subspan(32, 12), {}, ByteView(bundle).subspan(44));
  REQUIRE(plain);
  REQUIRE(plain->size() == 96);
  CHECK(Bytes(plain->begin(), plain->begin() + 32) == Bytes(c.identity.pub.begin(), c.identity.pub.end()));
  CHECK(Bytes(plain->begin() + 32, plain->begin() + 64) == Bytes(primary_id.pub.begin(), primary_id.pub.end()));
  auto s2 = crypto::x25519(primary_id.priv, c.identity.pub);
  REQUIRE(s2);
  Bytes adv = crypto::hkdf_sha256(cat({*s1, *s2, ByteView(*plain).subspan(64)}), {}, as_bytes("adv_secret"), 32);
  CHECK(adv == fin->adv_secret);
}

TEST_CASE("a malformed link_code notification is refused") {
  Credentials c;
  c.identity = crypto::generate_keypair();
  auto req = new_pair_code_request("15551234567");
  REQUIRE(req);
  CHECK_FALSE(companion_finish(Node("notification"), *req, c));
  wa::binary::Children kids;
  kids.emplace_back("link_code_pairing_ref", wa::binary::Attrs{}, to_bytes("REF"));
  kids.emplace_back("primary_identity_pub", wa::binary::Attrs{}, Bytes(31));
  kids.emplace_back("link_code_pairing_wrapped_primary_ephemeral_pub", wa::binary::Attrs{}, Bytes(80));
  Node n("notification", {}, wa::binary::Children{Node("link_code_companion_reg", {}, std::move(kids))});
  CHECK(companion_finish(n, *req, c).error().code == "pair_malformed");
}
