// The client's byte pipeline fed hostile server bytes from the first frame
// on: framing, ServerHello parsing, certificate checks. Any input must end
// in on_fail or a wait for more bytes, never a crash.
#include <cstddef>
#include <cstdint>

#include "handshake.hpp"

using namespace wa;
using namespace wa::connection;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::KeyPair noise_key = crypto::generate_keypair();
  bool failed = false;
  NoiseSession::Callbacks cb;
  cb.write = [](Bytes) {};
  cb.on_node = [](binary::Node) {};
  cb.on_fail = [&](const Error&) { failed = true; };
  NoiseSession s(noise_key, noise::CertPolicy{}, Bytes{1, 2, 3}, ByteView{}, std::move(cb), [] { return uint64_t{1}; });
  if (!s.start()) return 0;
  // Split the input in two chunks to exercise reassembly.
  size_t half = size / 2;
  s.feed(ByteView(data, half));
  s.feed(ByteView(data + half, size - half));
  if (failed && s.send(binary::Node("iq"))) __builtin_trap();  // a failed session must not send
  return 0;
}
