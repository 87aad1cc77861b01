// The client's byte pipeline (intro, Noise, certificate chain, frames,
// nodes) against the project's responder, in process.
#include <doctest/doctest.h>

#include <optional>
#include <vector>

#include "handshake.hpp"
#include "wa/binary/codec.hpp"

using namespace wa;
using namespace wa::connection;
using wa::binary::Node;

namespace {

constexpr uint64_t kNow = 1'760'000'000;

// A minimal server: strips the intro, answers the hello, reads the finish.
struct FakeServer {
  noise::CertAuthority ca = noise::CertAuthority::generate(kNow, 86400);
  crypto::KeyPair static_key = crypto::generate_keypair();
  std::optional<noise::NoiseResponder> responder;
  std::optional<noise::TransportCipher> transport;
  binary::FrameSplitter splitter{binary::SplitterOptions{binary::kMaxFramePayload, true, 4096}};
  Bytes client_payload;
  std::vector<Node> received;

  FakeServer() { responder.emplace(static_key, ca.issue_chain(static_key.pub, 7)); }

  // Consumes client bytes; returns what the server sends back.
  Bytes on_client_bytes(ByteView b) {
    Bytes out;
    splitter.feed(b);
    for (;;) {
      auto f = splitter.next();
      REQUIRE(f);
      if (!*f) break;
      handle(**f, out);
    }
    return out;
  }
  int step = 0;
  void handle(const Bytes& frame, Bytes& out) {
    if (step == 0) {
      REQUIRE(responder->read_client_hello(frame));
      auto sh = responder->write_server_hello();
      REQUIRE(sh);
      REQUIRE(binary::append_frame(out, *sh));
      step = 1;
    } else if (step == 1) {
      auto p = responder->read_client_finish(frame);
      REQUIRE(p);
      client_payload = *p;
      auto t = responder->split();
      REQUIRE(t);
      transport.emplace(std::move(*t));
      step = 2;
    } else {
      auto plain = transport->decrypt(frame);
      REQUIRE(plain);
      auto n = binary::decode_frame_payload(*plain);
      REQUIRE(n);
      received.push_back(*n);
    }
  }
  Bytes frame_node(const Node& n) {
    auto plain = binary::encode_frame_payload(n);
    REQUIRE(plain);
    auto enc = transport->encrypt(*plain);
    REQUIRE(enc);
    auto f = binary::make_frame(*enc);
    REQUIRE(f);
    return *f;
  }
};

struct Harness {
  FakeServer server;
  crypto::KeyPair noise_key = crypto::generate_keypair();
  std::vector<Node> nodes;
  std::optional<Error> failure;
  bool opened = false;
  Bytes to_client;  // server bytes not yet fed
  std::unique_ptr<NoiseSession> session;

  explicit Harness(std::optional<crypto::Key32> root = std::nullopt, uint64_t now = kNow, Bytes routing = {}) {
    noise::CertPolicy policy{root.value_or(server.ca.root.pub), noise::kWaRootSerial};
    NoiseSession::Callbacks cb;
    cb.write = [this](Bytes b) {
      Bytes reply = server.on_client_bytes(b);
      to_client.insert(to_client.end(), reply.begin(), reply.end());
    };
    cb.on_open = [this] { opened = true; };
    cb.on_node = [this](Node n) { nodes.push_back(std::move(n)); };
    cb.on_fail = [this](const Error& e) { failure = e; };
    session = std::make_unique<NoiseSession>(noise_key, policy, to_bytes("payload!"), routing, std::move(cb),
                                             [now] { return now; });
  }
  void pump() {
    while (!to_client.empty()) {
      Bytes b = std::exchange(to_client, {});
      session->feed(b);
    }
  }
};

}  // namespace

TEST_CASE("client handshake against the responder, then nodes both ways") {
  Harness h;
  REQUIRE(h.session->start());
  h.pump();
  REQUIRE(h.opened);
  CHECK_FALSE(h.failure);
  CHECK(h.server.client_payload == to_bytes("payload!"));
  CHECK(h.server.responder->client_static() == h.noise_key.pub);

  REQUIRE(h.session->send(Node("iq", {{"id", "1"}, {"type", "get"}})));
  REQUIRE(h.server.received.size() == 1);
  CHECK(h.server.received[0].attr_or("id", "") == "1");

  // Two frames in one chunk, then one frame split byte by byte.
  Bytes two = h.server.frame_node(Node("success", {{"t", "1"}}));
  Bytes second = h.server.frame_node(Node("ib"));
  two.insert(two.end(), second.begin(), second.end());
  h.session->feed(two);
  Bytes third = h.server.frame_node(Node("iq", {{"id", "x"}}));
  for (uint8_t byte : third) h.session->feed(ByteView(&byte, 1));
  REQUIRE(h.nodes.size() == 3);
  CHECK(h.nodes[0].tag == "success");
  CHECK(h.nodes[1].tag == "ib");
  CHECK(h.nodes[2].attr_or("id", "") == "x");
}

TEST_CASE("the first client bytes are the intro and the client hello") {
  Harness h;
  Bytes first;
  h.session = std::make_unique<NoiseSession>(h.noise_key, noise::CertPolicy{}, Bytes{}, ByteView{},
                                             NoiseSession::Callbacks{[&](Bytes b) { first = b; }, {}, {}, {}});
  REQUIRE(h.session->start());
  REQUIRE(first.size() == 4 + 3 + 36);
  CHECK(Bytes(first.begin(), first.begin() + 9) == Bytes{0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x24, 0x12, 0x22});
}

TEST_CASE("a server under another root is refused with cert_untrusted_root") {
  Harness h(crypto::generate_keypair().pub);
  REQUIRE(h.session->start());
  h.pump();
  CHECK_FALSE(h.opened);
  REQUIRE(h.failure);
  CHECK(h.failure->code == "cert_untrusted_root");
  CHECK(h.session->failed());
}

TEST_CASE("an expired server certificate is refused") {
  Harness h(std::nullopt, kNow + 10 * 86400);
  REQUIRE(h.session->start());
  h.pump();
  REQUIRE(h.failure);
  CHECK(h.failure->code == "cert_expired");
}

TEST_CASE("a corrupt transport frame fails the session once, later input ignored") {
  Harness h;
  REQUIRE(h.session->start());
  h.pump();
  REQUIRE(h.opened);
  Bytes f = h.server.frame_node(Node("iq"));
  f.back() ^= 1;
  h.session->feed(f);
  REQUIRE(h.failure);
  CHECK(h.failure->code == "auth_failed");
  h.failure.reset();
  h.session->feed(h.server.frame_node(Node("iq")));
  CHECK_FALSE(h.failure);
  CHECK(h.nodes.empty());
  CHECK_FALSE(h.session->send(Node("iq")));
}

TEST_CASE("an undecodable node is a bad_frame failure, not a crash") {
  Harness h;
  REQUIRE(h.session->start());
  h.pump();
  auto enc = h.server.transport->encrypt(Bytes{0x00, 0xF8, 0x05, 0x19});  // list of 5, truncated
  REQUIRE(enc);
  auto f = binary::make_frame(*enc);
  REQUIRE(f);
  h.session->feed(*f);
  REQUIRE(h.failure);
  CHECK(h.failure->code == "bad_frame");
}

TEST_CASE("sending before the handshake fails with not_connected") {
  Harness h;
  CHECK(h.session->send(Node("iq")).error().code == "not_connected");
}

TEST_CASE("stored routing info goes in front of the intro as the ED prefix") {
  Harness h(std::nullopt, kNow, Bytes{9, 8, 7});
  REQUIRE(h.session->start());
  h.pump();
  REQUIRE(h.opened);
  REQUIRE(h.server.splitter.intro());
  CHECK(h.server.splitter.intro()->routing_info == Bytes{9, 8, 7});
}
