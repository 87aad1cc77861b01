// Test peer for the Baileys interop scripts: plays the SERVER side of the noise
// handshake (our NoiseResponder) over stdin/stdout, one hex line per message.
//
//   peer -> "ROOT <hex>"            test root public key (the client must trust it)
//   node -> "<hex>"                 bytes from Baileys' encodeFrame (intro + frame)
//   peer -> "FRAME <hex>"           one length-prefixed frame for Baileys' decodeFrame
//   peer -> "PAYLOAD <hex>" / "CLIENT_STATIC <hex>"   after ClientFinish
//   after that each node line is one encrypted transport frame; the peer prints
//   "RECV <hex plaintext>" and echoes the plaintext back encrypted as a FRAME.
//   Any failure: "ERROR <code> <message>" and exit 1.
//
// --tamper-cert flips one bit of the leaf certificate's signature, so a client
// that really verifies the chain must refuse it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>

#include "wa/noise/handshake.hpp"

using namespace wa;

namespace {

[[noreturn]] void die(const std::string& code, const std::string& msg) {
  std::cout << "ERROR " << code << ' ' << msg << std::endl;
  std::exit(1);
}

Bytes read_hex_line() {
  std::string line;
  if (!std::getline(std::cin, line)) die("eof", "input closed");
  auto b = from_hex(line);
  if (!b) die("bad_hex", "input is not hex");
  return *b;
}

void send_frame(ByteView payload) {
  Bytes framed = {static_cast<uint8_t>(payload.size() >> 16), static_cast<uint8_t>(payload.size() >> 8),
                  static_cast<uint8_t>(payload.size())};
  framed.insert(framed.end(), payload.begin(), payload.end());
  std::cout << "FRAME " << to_hex(framed) << std::endl;
}

// Splits one 3-byte-length frame (optionally preceded by the intro header).
Bytes unframe(ByteView in, bool expect_intro) {
  if (expect_intro) {
    if (in.size() < 4 || !std::equal(noise::kWaHeader.begin(), noise::kWaHeader.end(), in.begin())) {
      die("bad_intro", "missing WA intro header");
    }
    in = in.subspan(4);
  }
  if (in.size() < 3) die("truncated", "frame header");
  const size_t len = (size_t{in[0]} << 16) | (size_t{in[1]} << 8) | size_t{in[2]};
  if (in.size() != 3 + len) die("bad_frame", "frame length mismatch");
  return Bytes(in.begin() + 3, in.end());
}

}  // namespace

int main(int argc, char** argv) {
  const bool tamper = argc > 1 && std::string(argv[1]) == "--tamper-cert";
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  const noise::CertAuthority ca = noise::CertAuthority::generate(now, 3600);
  const crypto::KeyPair server_static = crypto::generate_keypair();
  Bytes chain;
  if (tamper) {
    noise::CertDetails inter{ca.intermediate_serial, noise::kWaRootSerial,
                             Bytes(ca.intermediate.pub.begin(), ca.intermediate.pub.end()), ca.not_before, ca.not_after};
    noise::CertDetails leaf{7, ca.intermediate_serial, Bytes(server_static.pub.begin(), server_static.pub.end()),
                            ca.not_before, ca.not_after};
    Bytes leaf_cert = noise::make_certificate(leaf, ca.intermediate.priv);
    leaf_cert.back() ^= 0x01;  // signature is the last field of the certificate
    chain = noise::make_cert_chain(leaf_cert, noise::make_certificate(inter, ca.root.priv));
  } else {
    chain = ca.issue_chain(server_static.pub, 7);
  }
  std::cout << "ROOT " << to_hex(ca.root.pub) << std::endl;

  noise::NoiseResponder responder(server_static, chain);
  if (auto st = responder.read_client_hello(unframe(read_hex_line(), true)); !st) {
    die(st.error().code, st.error().message);
  }
  auto hello = responder.write_server_hello();
  if (!hello) die(hello.error().code, hello.error().message);
  send_frame(*hello);

  auto payload = responder.read_client_finish(unframe(read_hex_line(), false));
  if (!payload) die(payload.error().code, payload.error().message);
  std::cout << "PAYLOAD " << to_hex(*payload) << std::endl;
  std::cout << "CLIENT_STATIC " << to_hex(responder.client_static()) << std::endl;
  auto transport = responder.split();
  if (!transport) die(transport.error().code, transport.error().message);

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "END") return 0;
    auto in = from_hex(line);
    if (!in) die("bad_hex", "input is not hex");
    auto plain = transport->decrypt(unframe(*in, false));
    if (!plain) die(plain.error().code, plain.error().message);
    std::cout << "RECV " << to_hex(*plain) << std::endl;
    auto out = transport->encrypt(*plain);
    if (!out) die(out.error().code, out.error().message);
    send_frame(*out);
  }
  return 0;
}
