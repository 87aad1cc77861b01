// libFuzzer: every parser reachable from the network during the handshake.
// The first input byte picks the entry point:
//   0: responder reads a ClientHello
//   1: initiator (after its ClientHello) reads a ServerHello
//   2: responder (after a real ServerHello) reads a ClientFinish
//   3: certificate chain verification on raw (already decrypted) bytes
//   4: transport decrypt of a frame (zero key: a hit is possible, not a bug)
// None may crash, leak or accept garbage; acceptance in modes 1-3 would need
// forged AEAD tags or signatures, so it is treated as a bug.
#include <cstdlib>

#include "wa/noise/handshake.hpp"

using namespace wa;

namespace {

struct Fixture {
  noise::CertAuthority ca = noise::CertAuthority::generate(1'760'000'000, 86400);
  crypto::KeyPair server = crypto::generate_keypair();
  crypto::KeyPair client = crypto::generate_keypair();
  Bytes chain = ca.issue_chain(server.pub, 9);
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Fixture& f = fixture();
  const uint8_t mode = data[0] % 5;
  const ByteView in(data + 1, size - 1);
  switch (mode) {
    case 0: {
      noise::NoiseResponder r(f.server, f.chain);
      if (r.read_client_hello(in)) (void)r.write_server_hello();
      break;
    }
    case 1: {
      noise::NoiseInitiator c(f.client, f.ca.policy());
      (void)c.write_client_hello();
      if (c.read_server_hello(in, 1'760'000'000)) std::abort();
      break;
    }
    case 2: {
      noise::NoiseInitiator c(f.client, f.ca.policy());
      noise::NoiseResponder r(f.server, f.chain);
      auto hello = c.write_client_hello();
      if (!hello || !r.read_client_hello(*hello) || !r.write_server_hello()) std::abort();
      if (r.read_client_finish(in)) std::abort();
      break;
    }
    case 3: {
      (void)noise::verify_cert_chain(in, f.server.pub, f.ca.policy(), 1'760'000'000);
      break;
    }
    default: {
      crypto::Key32 k{};
      auto t = noise::TransportCipher::create(k, k);
      if (t) (void)t->decrypt(in);
      break;
    }
  }
  return 0;
}
