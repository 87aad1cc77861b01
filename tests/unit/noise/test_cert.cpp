// Certificate chain creation and every verification failure, each with its
// own typed error.
#include <doctest/doctest.h>

#include "wa/noise/cert.hpp"

using namespace wa;
using namespace wa::noise;
using wa::crypto::KeyPair;

namespace {

constexpr uint64_t kNow = 1'750'000'000;

struct Pki {
  KeyPair root = crypto::generate_keypair();
  KeyPair inter = crypto::generate_keypair();
  KeyPair server = crypto::generate_keypair();
  CertDetails inter_d{77, 0, Bytes(inter.pub.begin(), inter.pub.end()), kNow - 100, kNow + 100};
  CertDetails leaf_d{5, 77, Bytes(server.pub.begin(), server.pub.end()), kNow - 10, kNow + 10};
  CertPolicy policy() const { return CertPolicy{root.pub, 0}; }
  Bytes chain() const { return make_cert_chain(make_certificate(leaf_d, inter.priv), make_certificate(inter_d, root.priv)); }
  Status verify(uint64_t now = kNow) const { return verify_cert_chain(chain(), server.pub, policy(), now); }
};

std::string code_of(const Status& s) { return s ? std::string("ok") : s.error().code; }

}  // namespace

TEST_CASE("a well-formed chain verifies") {
  Pki p;
  CHECK(code_of(p.verify()) == "ok");
  // Window edges are inclusive, as in whatsmeow.
  CHECK(code_of(p.verify(kNow - 10)) == "ok");
  CHECK(code_of(p.verify(kNow + 10)) == "ok");
}

TEST_CASE("chain under another root is refused") {
  Pki p;
  KeyPair other = crypto::generate_keypair();
  CHECK(code_of(verify_cert_chain(p.chain(), p.server.pub, CertPolicy{other.pub, 0}, kNow)) == "cert_untrusted_root");
  // The production default rejects a test chain.
  CHECK(code_of(verify_cert_chain(p.chain(), p.server.pub, CertPolicy{}, kNow)) == "cert_untrusted_root");
}

TEST_CASE("validity windows are enforced for both certificates") {
  Pki p;
  CHECK(code_of(p.verify(kNow + 11)) == "cert_expired");
  CHECK(code_of(p.verify(kNow - 11)) == "cert_not_yet_valid");
  CHECK(code_of(p.verify(kNow + 101)) == "cert_expired");      // intermediate checked first
  CHECK(code_of(p.verify(kNow - 101)) == "cert_not_yet_valid");
  Pki q;
  q.leaf_d.not_after = kNow - 1;
  CHECK(code_of(q.verify()) == "cert_expired");
  Pki r;
  r.inter_d.not_before = kNow + 1;
  CHECK(code_of(r.verify()) == "cert_not_yet_valid");
}

TEST_CASE("leaf key must be the server static key") {
  Pki p;
  KeyPair other = crypto::generate_keypair();
  CHECK(code_of(verify_cert_chain(p.chain(), other.pub, p.policy(), kNow)) == "cert_key_mismatch");
  CHECK(code_of(verify_cert_chain(p.chain(), ByteView(p.server.pub).first(31), p.policy(), kNow)) ==
        "cert_key_mismatch");
}

TEST_CASE("issuer serials are checked") {
  Pki p;
  p.inter_d.issuer_serial = 1;
  CHECK(code_of(p.verify()) == "cert_issuer_mismatch");
  Pki q;
  q.leaf_d.issuer_serial = 78;
  CHECK(code_of(q.verify()) == "cert_leaf_issuer_mismatch");
  // A configured non-zero root serial is honoured.
  Pki r;
  r.inter_d.issuer_serial = 9;
  CHECK(code_of(verify_cert_chain(r.chain(), r.server.pub, CertPolicy{r.root.pub, 9}, kNow)) == "ok");
}

TEST_CASE("tampered or missing signatures are refused") {
  Pki p;
  SUBCASE("leaf signed by the wrong key") {
    Bytes chain = make_cert_chain(make_certificate(p.leaf_d, p.root.priv), make_certificate(p.inter_d, p.root.priv));
    CHECK(code_of(verify_cert_chain(chain, p.server.pub, p.policy(), kNow)) == "cert_bad_signature");
  }
  SUBCASE("intermediate signed by the intermediate itself") {
    Bytes chain = make_cert_chain(make_certificate(p.leaf_d, p.inter.priv), make_certificate(p.inter_d, p.inter.priv));
    CHECK(code_of(verify_cert_chain(chain, p.server.pub, p.policy(), kNow)) == "cert_untrusted_root");
  }
  SUBCASE("every single-bit flip of the chain fails") {
    const Bytes good = p.chain();
    size_t refused = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      Bytes bad = good;
      bad[i] ^= 0x04;
      if (!verify_cert_chain(bad, p.server.pub, p.policy(), kNow)) ++refused;
    }
    CHECK(refused == good.size());
  }
  SUBCASE("wrong signature and key lengths") {
    CertDetails short_key = p.inter_d;
    short_key.key.pop_back();
    Bytes chain = make_cert_chain(make_certificate(p.leaf_d, p.inter.priv), make_certificate(short_key, p.root.priv));
    CHECK(code_of(verify_cert_chain(chain, p.server.pub, p.policy(), kNow)) == "cert_bad_key_length");
  }
}

TEST_CASE("malformed chains are typed errors") {
  Pki p;
  CHECK(code_of(verify_cert_chain(ByteView{}, p.server.pub, p.policy(), kNow)) == "cert_malformed");
  const Bytes garbage = {0xff, 0xff, 0xff, 0xff, 0x0f};
  CHECK(code_of(verify_cert_chain(garbage, p.server.pub, p.policy(), kNow)) == "cert_malformed");
  const Bytes leaf_only = make_cert_chain(make_certificate(p.leaf_d, p.inter.priv), ByteView{});
  CHECK(code_of(verify_cert_chain(leaf_only, p.server.pub, p.policy(), kNow)) == "cert_malformed");
  const Bytes chain = p.chain();
  CHECK(code_of(verify_cert_chain(ByteView(chain).first(chain.size() - 3), p.server.pub, p.policy(), kNow)) != "ok");
}

TEST_CASE("CertAuthority issues chains that verify only for their key and root") {
  const uint64_t now = 1'760'000'000;
  CertAuthority ca = CertAuthority::generate(now, 3600);
  KeyPair server = crypto::generate_keypair();
  Bytes chain = ca.issue_chain(server.pub, 42);
  CHECK(code_of(verify_cert_chain(chain, server.pub, ca.policy(), now)) == "ok");
  CHECK(code_of(verify_cert_chain(chain, server.pub, ca.policy(), now + 3601)) == "cert_expired");
  CHECK(ca.intermediate_serial != 0);
  CertAuthority other = CertAuthority::generate(now, 3600);
  CHECK(code_of(verify_cert_chain(chain, server.pub, other.policy(), now)) == "cert_untrusted_root");
}
