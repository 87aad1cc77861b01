// Our initiator against our responder, transport both ways, and every way a
// handshake is refused.
#include <doctest/doctest.h>

#include <string>

#include "wa/noise/handshake.hpp"

using namespace wa;
using namespace wa::noise;
using wa::crypto::KeyPair;

namespace {

constexpr uint64_t kNow = 1'760'000'000;

struct Setup {
  CertAuthority ca = CertAuthority::generate(kNow, 86400);
  KeyPair server_static = crypto::generate_keypair();
  KeyPair client_static = crypto::generate_keypair();
  Bytes chain = ca.issue_chain(server_static.pub, 1001);
};

std::string code_of(const Status& s) { return s ? std::string("ok") : s.error().code; }
template <class T>
std::string code_of(const Result<T>& r) { return r ? std::string("ok") : r.error().code; }

// Runs the client up to (and including) reading the server hello.
struct Pair {
  NoiseInitiator client;
  NoiseResponder server;
  Bytes hello;
  Bytes server_hello;
  Pair(const Setup& s, const CertPolicy& policy, Bytes chain)
      : client(s.client_static, policy), server(s.server_static, std::move(chain)) {
    auto h = client.write_client_hello();
    REQUIRE(h);
    hello = *h;
    REQUIRE(server.read_client_hello(hello));
    auto sh = server.write_server_hello();
    REQUIRE(sh);
    server_hello = *sh;
  }
};

}  // namespace

TEST_CASE("initiator and responder complete the handshake and exchange frames") {
  Setup s;
  Pair p(s, s.ca.policy(), s.chain);
  // ClientHello on the wire: 12 22 0a 20 <32-byte ephemeral> (docs/PROTOCOL.md §2.2).
  REQUIRE(p.hello.size() == 36);
  CHECK(to_hex(ByteView(p.hello).first(4)) == "12220a20");
  CHECK(to_hex(ByteView(p.server_hello).first(1)) == "1a");

  REQUIRE(code_of(p.client.read_server_hello(p.server_hello, kNow)) == "ok");
  CHECK(p.client.server_static() == s.server_static.pub);
  const Bytes login = to_bytes("serialized ClientPayload goes here");
  auto finish = p.client.write_client_finish(login);
  REQUIRE(finish);
  CHECK(to_hex(ByteView(*finish).first(1)) == "22");
  auto got = p.server.read_client_finish(*finish);
  REQUIRE(got);
  CHECK(*got == login);
  CHECK(p.server.client_static() == s.client_static.pub);

  auto ct = p.client.split();
  auto st = p.server.split();
  REQUIRE(ct);
  REQUIRE(st);
  for (int i = 0; i < 5; ++i) {
    const Bytes up = to_bytes("client frame " + std::to_string(i));
    auto e = ct->encrypt(up);
    REQUIRE(e);
    CHECK(e->size() == up.size() + 16);
    auto d = st->decrypt(*e);
    REQUIRE(d);
    CHECK(*d == up);
    const Bytes down(static_cast<size_t>(i) * 1000, static_cast<uint8_t>(i));
    auto e2 = st->encrypt(down);
    REQUIRE(e2);
    auto d2 = ct->decrypt(*e2);
    REQUIRE(d2);
    CHECK(*d2 == down);
  }
  CHECK(ct->frames_sent() == 5);
  CHECK(st->frames_received() == 5);
  // Spent handshakes refuse further use.
  CHECK(code_of(p.client.split()) == "bad_state");
  CHECK(code_of(p.server.read_client_finish(*finish)) == "bad_state");
}

TEST_CASE("two handshakes derive different keys") {
  Setup s;
  Pair a(s, s.ca.policy(), s.chain);
  Pair b(s, s.ca.policy(), s.chain);
  REQUIRE(a.client.read_server_hello(a.server_hello, kNow));
  REQUIRE(b.client.read_server_hello(b.server_hello, kNow));
  REQUIRE(a.server.read_client_finish(*a.client.write_client_finish(Bytes{1})));
  REQUIRE(b.server.read_client_finish(*b.client.write_client_finish(Bytes{1})));
  auto ca = a.client.split();
  auto cb = b.client.split();
  auto sb = b.server.split();
  REQUIRE(ca);
  REQUIRE(cb);
  REQUIRE(sb);
  const Bytes msg = to_bytes("same plaintext");
  auto ea = ca->encrypt(msg);
  auto eb = cb->encrypt(msg);
  CHECK(*ea != *eb);
  CHECK(code_of(sb->decrypt(*ea)) == "auth_failed");
}

TEST_CASE("transport refuses tampering, replay and reordering") {
  Setup s;
  Pair p(s, s.ca.policy(), s.chain);
  REQUIRE(p.client.read_server_hello(p.server_hello, kNow));
  REQUIRE(p.server.read_client_finish(*p.client.write_client_finish(Bytes{})));
  auto c = p.client.split();
  auto srv = p.server.split();
  REQUIRE(c);
  REQUIRE(srv);

  SUBCASE("tampered frame, then the cipher is dead") {
    auto e = c->encrypt(to_bytes("hello"));
    Bytes bad = *e;
    bad[0] ^= 1;
    CHECK(code_of(srv->decrypt(bad)) == "auth_failed");
    CHECK(code_of(srv->decrypt(*e)) == "transport_broken");
  }
  SUBCASE("replay") {
    auto e = c->encrypt(to_bytes("once"));
    REQUIRE(srv->decrypt(*e));
    CHECK(code_of(srv->decrypt(*e)) == "auth_failed");
  }
  SUBCASE("reorder") {
    auto e1 = c->encrypt(to_bytes("first"));
    auto e2 = c->encrypt(to_bytes("second"));
    CHECK(code_of(srv->decrypt(*e2)) == "auth_failed");
  }
  SUBCASE("reflection: a frame we sent does not decrypt as received") {
    auto e = c->encrypt(to_bytes("mine"));
    CHECK(code_of(c->decrypt(*e)) == "auth_failed");
  }
  SUBCASE("short frames") {
    CHECK(code_of(srv->decrypt(Bytes(15, 0))) == "truncated");
  }
}

TEST_CASE("client refuses bad certificate chains") {
  Setup s;
  SUBCASE("chain under another root") {
    CertAuthority other = CertAuthority::generate(kNow, 86400);
    Pair p(s, other.policy(), s.chain);
    CHECK(code_of(p.client.read_server_hello(p.server_hello, kNow)) == "cert_untrusted_root");
    // A failed handshake stays failed.
    CHECK(code_of(p.client.write_client_finish(Bytes{})) == "bad_state");
  }
  SUBCASE("production root refuses the test chain") {
    Pair p(s, CertPolicy{}, s.chain);
    CHECK(code_of(p.client.read_server_hello(p.server_hello, kNow)) == "cert_untrusted_root");
  }
  SUBCASE("expired and not-yet-valid") {
    Pair p(s, s.ca.policy(), s.chain);
    CHECK(code_of(p.client.read_server_hello(p.server_hello, kNow + 86401)) == "cert_expired");
    Pair q(s, s.ca.policy(), s.chain);
    CHECK(code_of(q.client.read_server_hello(q.server_hello, kNow - 86401)) == "cert_not_yet_valid");
  }
  SUBCASE("leaf key is not the server static key") {
    KeyPair other = crypto::generate_keypair();
    Pair p(s, s.ca.policy(), s.ca.issue_chain(other.pub, 1));
    CHECK(code_of(p.client.read_server_hello(p.server_hello, kNow)) == "cert_key_mismatch");
  }
  SUBCASE("wrong leaf issuer serial") {
    CertDetails inter{s.ca.intermediate_serial, 0, Bytes(s.ca.intermediate.pub.begin(), s.ca.intermediate.pub.end()),
                      s.ca.not_before, s.ca.not_after};
    CertDetails leaf{1, s.ca.intermediate_serial + 1, Bytes(s.server_static.pub.begin(), s.server_static.pub.end()),
                     s.ca.not_before, s.ca.not_after};
    Bytes chain = make_cert_chain(make_certificate(leaf, s.ca.intermediate.priv), make_certificate(inter, s.ca.root.priv));
    Pair p(s, s.ca.policy(), chain);
    CHECK(code_of(p.client.read_server_hello(p.server_hello, kNow)) == "cert_leaf_issuer_mismatch");
  }
  SUBCASE("tampered leaf signature") {
    // Flip a bit inside the leaf's signature (its last bytes sit right before
    // the intermediate certificate in the serialized chain).
    Bytes chain = s.chain;
    CertDetails leaf{1001, s.ca.intermediate_serial, Bytes(s.server_static.pub.begin(), s.server_static.pub.end()),
                     s.ca.not_before, s.ca.not_after};
    Bytes leaf_cert = make_certificate(leaf, s.ca.intermediate.priv);
    leaf_cert.back() ^= 0x01;  // the signature is the leaf certificate's last field
    Bytes inter_cert = make_certificate(
        CertDetails{s.ca.intermediate_serial, 0, Bytes(s.ca.intermediate.pub.begin(), s.ca.intermediate.pub.end()),
                    s.ca.not_before, s.ca.not_after},
        s.ca.root.priv);
    Pair p(s, s.ca.policy(), make_cert_chain(leaf_cert, inter_cert));
    CHECK(code_of(p.client.read_server_hello(p.server_hello, kNow)) == "cert_bad_signature");
  }
}

TEST_CASE("tampered handshake ciphertexts are typed errors") {
  Setup s;
  SUBCASE("server hello static") {
    Pair p(s, s.ca.policy(), s.chain);
    Bytes bad = p.server_hello;
    bad[2 + 34 + 5] ^= 1;  // inside the encrypted static (after tag/len + ephemeral field)
    CHECK(code_of(p.client.read_server_hello(bad, kNow)) == "handshake_decrypt_failed");
  }
  SUBCASE("server hello ephemeral swapped") {
    Pair p(s, s.ca.policy(), s.chain);
    Bytes bad = p.server_hello;
    bad[2 + 2 + 7] ^= 1;  // a byte of the ephemeral key: the derived key changes
    CHECK(code_of(p.client.read_server_hello(bad, kNow)) == "handshake_decrypt_failed");
  }
  SUBCASE("client finish payload") {
    Pair p(s, s.ca.policy(), s.chain);
    REQUIRE(p.client.read_server_hello(p.server_hello, kNow));
    auto fin = p.client.write_client_finish(to_bytes("payload"));
    Bytes bad = *fin;
    bad.back() ^= 1;
    CHECK(code_of(p.server.read_client_finish(bad)) == "handshake_decrypt_failed");
  }
  SUBCASE("client finish from a different handshake") {
    Pair a(s, s.ca.policy(), s.chain);
    Pair b(s, s.ca.policy(), s.chain);
    REQUIRE(a.client.read_server_hello(a.server_hello, kNow));
    auto fin = a.client.write_client_finish(to_bytes("payload"));
    CHECK(code_of(b.server.read_client_finish(*fin)) == "handshake_decrypt_failed");
  }
}

TEST_CASE("truncated and garbage handshake messages are typed errors") {
  Setup s;
  SUBCASE("responder side") {
    auto fresh = [&] { return NoiseResponder(s.server_static, s.chain); };
    CHECK(code_of(fresh().read_client_hello(ByteView{})) == "handshake_truncated");
    CHECK(code_of(fresh().read_client_hello(Bytes{0xff, 0xff, 0xff})) == "handshake_malformed");
    CHECK(code_of(fresh().read_client_hello(Bytes{0x12, 0x22, 0x0a, 0x20, 1, 2, 3})) == "handshake_malformed");
    // A well-formed message of the wrong kind.
    CHECK(code_of(fresh().read_client_hello(Bytes{0x1a, 0x00})) == "handshake_unexpected");
    // Ephemeral of the wrong length.
    CHECK(code_of(fresh().read_client_hello(Bytes{0x12, 0x03, 0x0a, 0x01, 0x09})) == "handshake_bad_length");
    CHECK(code_of(fresh().read_client_hello(Bytes(300 * 1024, 0))) == "handshake_too_large");
    // Steps out of order.
    CHECK(code_of(fresh().write_server_hello()) == "bad_state");
    CHECK(code_of(fresh().read_client_finish(Bytes{0x22, 0x00})) == "bad_state");

    // Client finish with parts missing or short.
    NoiseInitiator c(s.client_static, s.ca.policy());
    NoiseResponder r = fresh();
    REQUIRE(r.read_client_hello(*c.write_client_hello()));
    REQUIRE(r.write_server_hello());
    CHECK(code_of(r.read_client_finish(Bytes{0x22, 0x00})) == "handshake_bad_length");
  }
  SUBCASE("initiator side") {
    NoiseInitiator c(s.client_static, s.ca.policy());
    CHECK(code_of(c.read_server_hello(Bytes{0x1a, 0x00}, kNow)) == "bad_state");
    REQUIRE(c.write_client_hello());
    CHECK(code_of(c.write_client_hello()) == "bad_state");
    NoiseInitiator d(s.client_static, s.ca.policy());
    REQUIRE(d.write_client_hello());
    CHECK(code_of(d.read_server_hello(Bytes{0x1a, 0x00}, kNow)) == "handshake_bad_length");
    NoiseInitiator e(s.client_static, s.ca.policy());
    REQUIRE(e.write_client_hello());
    CHECK(code_of(e.read_server_hello(Bytes{0x12, 0x00}, kNow)) == "handshake_unexpected");
    NoiseInitiator f(s.client_static, s.ca.policy());
    REQUIRE(f.write_client_hello());
    CHECK(code_of(f.read_server_hello(Bytes{0x1a, 0x05, 0x0a}, kNow)) == "handshake_malformed");
    // Every truncation of a real server hello is refused, never accepted.
    Pair p(s, s.ca.policy(), s.chain);
    for (size_t n = 0; n < p.server_hello.size(); n += 7) {
      NoiseInitiator g(s.client_static, s.ca.policy());
      REQUIRE(g.write_client_hello());
      CHECK_FALSE(g.read_server_hello(ByteView(p.server_hello).first(n), kNow));
    }
  }
}

TEST_CASE("low-order ephemeral keys are refused") {
  Setup s;
  NoiseResponder r(s.server_static, s.chain);
  Bytes hello = {0x12, 0x22, 0x0a, 0x20};
  hello.resize(36, 0);  // all-zero public key: X25519 output would be zero
  REQUIRE(r.read_client_hello(hello));
  CHECK(code_of(r.write_server_hello()) == "weak_key");
}
