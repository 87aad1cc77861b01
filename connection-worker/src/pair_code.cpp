#include "pair_code.hpp"

#include "client_payload.hpp"
#include "wa/crypto/link_code.hpp"

namespace wa::connection {

namespace {

constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";

Result<Bytes> child_bytes(const binary::Node& n, std::string_view tag) {
  const binary::Node* c = n.child(tag);
  if (c == nullptr) return fail("pair_malformed", "missing " + std::string(tag));
  if (const Bytes* b = c->bytes()) return *b;
  if (const std::string* s = c->text()) return Bytes(s->begin(), s->end());
  return fail("pair_malformed", std::string(tag) + " has no content");
}

}  // namespace

std::string encode_pairing_code(ByteView in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : in) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(acc >> (bits - 5)) & 31]);
      bits -= 5;
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 31]);
  return out;
}

std::string make_pairing_code() {
  Bytes r = crypto::random_bytes(5);
  return encode_pairing_code(r);
}

Bytes wrap_pairing_key(std::string_view code, ByteView pub32) { return crypto::link_code_wrap(code, pub32); }

Result<crypto::Key32> unwrap_pairing_key(std::string_view code, ByteView wrapped) {
  auto k = crypto::link_code_unwrap(code, wrapped);
  if (!k) return fail("pair_malformed", k.error().message);
  return *k;
}

Result<PairCodeRequest> new_pair_code_request(std::string_view phone) {
  if (phone.size() < 6 || phone.size() > 20) return fail("bad_request", "phone must be 6 to 20 digits");
  for (char c : phone)
    if (c < '0' || c > '9') return fail("bad_request", "phone must be digits only (country code first)");
  PairCodeRequest r;
  r.code = make_pairing_code();
  r.ephemeral = crypto::generate_keypair();
  r.phone_jid = std::string(phone) + "@s.whatsapp.net";
  return r;
}

binary::Node companion_hello_iq(const PairCodeRequest& req, const Credentials& creds, const ClientSettings& s,
                                const std::string& id) {
  using binary::Node;
  Bytes wrapped = wrap_pairing_key(req.code, req.ephemeral.pub);
  binary::Children kids;
  kids.emplace_back("link_code_pairing_wrapped_companion_ephemeral_pub", binary::Attrs{}, std::move(wrapped));
  kids.emplace_back("companion_server_auth_key_pub", binary::Attrs{}, Bytes(creds.noise.pub.begin(), creds.noise.pub.end()));
  kids.emplace_back("companion_platform_id", binary::Attrs{}, to_bytes(companion_platform_id(s)));
  kids.emplace_back("companion_platform_display", binary::Attrs{}, to_bytes(s.browser_name + " (" + s.browser_os + ")"));
  kids.emplace_back("link_code_pairing_nonce", binary::Attrs{}, to_bytes("0"));
  Node reg("link_code_companion_reg",
           {{"jid", req.phone_jid}, {"stage", "companion_hello"}, {"should_show_push_notification", "true"}},
           std::move(kids));
  return Node("iq", {{"to", "@s.whatsapp.net"}, {"type", "set"}, {"id", id}, {"xmlns", "md"}},
              binary::Children{std::move(reg)});
}

Result<CompanionFinish> companion_finish(const binary::Node& notification, const PairCodeRequest& req,
                                         const Credentials& creds) {
  const binary::Node* reg = notification.child("link_code_companion_reg");
  if (reg == nullptr) return fail("pair_malformed", "no link_code_companion_reg child");
  auto ref = child_bytes(*reg, "link_code_pairing_ref");
  if (!ref) return Unexpected<Error>{ref.error()};
  auto primary_identity = child_bytes(*reg, "primary_identity_pub");
  if (!primary_identity) return Unexpected<Error>{primary_identity.error()};
  if (primary_identity->size() != 32) return fail("pair_malformed", "primary_identity_pub must be 32 bytes");
  auto wrapped = child_bytes(*reg, "link_code_pairing_wrapped_primary_ephemeral_pub");
  if (!wrapped) return Unexpected<Error>{wrapped.error()};
  auto primary_eph = unwrap_pairing_key(req.code, *wrapped);
  if (!primary_eph) return Unexpected<Error>{primary_eph.error()};

  auto s1 = crypto::x25519(req.ephemeral.priv, *primary_eph);
  if (!s1) return fail("pair_malformed", "bad primary ephemeral key");
  Bytes random = crypto::random_bytes(32);
  Bytes salt = crypto::random_bytes(32);
  Bytes bundle_key = crypto::hkdf_sha256(*s1, salt, as_bytes("link_code_pairing_key_bundle_encryption_key"), 32);
  Bytes bundle_plain = concat({creds.identity.pub, *primary_identity, random});
  Bytes nonce = crypto::random_bytes(12);
  auto bundle = crypto::aes_gcm_encrypt(bundle_key, nonce, {}, bundle_plain);
  secure_wipe(bundle_key);
  secure_wipe(bundle_plain);
  if (!bundle) return Unexpected<Error>{bundle.error()};
  auto s2 = crypto::x25519(creds.identity.priv, *primary_identity);
  if (!s2) return fail("pair_malformed", "bad primary identity key");
  Bytes ikm = concat({*s1, *s2, random});
  CompanionFinish out;
  out.adv_secret = crypto::hkdf_sha256(ikm, {}, as_bytes("adv_secret"), 32);
  secure_wipe(ikm);
  secure_wipe(random);

  binary::Children kids;
  kids.emplace_back("link_code_pairing_wrapped_key_bundle", binary::Attrs{}, concat({salt, nonce, *bundle}));
  kids.emplace_back("companion_identity_public", binary::Attrs{}, Bytes(creds.identity.pub.begin(), creds.identity.pub.end()));
  kids.emplace_back("link_code_pairing_ref", binary::Attrs{}, std::move(*ref));
  out.content = binary::Node("link_code_companion_reg", {{"jid", req.phone_jid}, {"stage", "companion_finish"}},
                             std::move(kids));
  return out;
}

}  // namespace wa::connection
