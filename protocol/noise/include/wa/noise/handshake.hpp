// WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake in both roles, as pure
// state machines over frame payloads (the bytes inside one 3-byte-length
// frame). Framing and the intro header on the wire belong to the frame layer;
// the header is only mixed into the handshake hash here.
//
// Client:  write_client_hello -> read_server_hello -> write_client_finish -> split
// Server:  read_client_hello -> write_server_hello -> read_client_finish -> split
// Calling a step out of order fails with "bad_state"; any failure leaves the
// object failed (every later call fails with "bad_state").
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/noise/cert.hpp"
#include "wa/noise/transport.hpp"
#include "wa/result.hpp"

namespace wa::noise {

// "WA", protocol byte 6, dictionary version 3: the Noise prologue.
inline constexpr std::array<uint8_t, 4> kWaHeader = {0x57, 0x41, 0x06, 0x03};

class SymmetricState;

class NoiseInitiator {
 public:
  // static_key: the client's long-term "noise key".
  NoiseInitiator(const crypto::KeyPair& static_key, CertPolicy policy);
  ~NoiseInitiator();
  NoiseInitiator(NoiseInitiator&&) noexcept;
  NoiseInitiator& operator=(NoiseInitiator&&) noexcept;

  // HandshakeMessage{clientHello{ephemeral}}.
  Result<Bytes> write_client_hello();
  // Parses ServerHello, decrypts the server static key and the certificate
  // chain, and verifies the chain at now_unix (cert_* errors, see cert.hpp).
  Status read_server_hello(ByteView payload, uint64_t now_unix);
  // HandshakeMessage{clientFinish{static, payload}} carrying client_payload
  // (a serialized ClientPayload) encrypted.
  Result<Bytes> write_client_finish(ByteView client_payload);
  // Transport keys; the handshake object is spent afterwards.
  Result<TransportCipher> split();

  const crypto::Key32& server_static() const { return server_static_; }

 private:
  enum class Step { hello, server_hello, finish, split, done, failed };
  std::unique_ptr<SymmetricState> ss_;
  crypto::KeyPair static_key_;
  crypto::KeyPair ephemeral_;
  CertPolicy policy_;
  crypto::Key32 server_ephemeral_{};
  crypto::Key32 server_static_{};
  Step step_ = Step::hello;
};

class NoiseResponder {
 public:
  // static_key: the server's static key; cert_chain: serialized CertChain whose
  // leaf key is static_key.pub.
  NoiseResponder(const crypto::KeyPair& static_key, Bytes cert_chain);
  ~NoiseResponder();
  NoiseResponder(NoiseResponder&&) noexcept;
  NoiseResponder& operator=(NoiseResponder&&) noexcept;

  Status read_client_hello(ByteView payload);
  // HandshakeMessage{serverHello{ephemeral, static, payload}}.
  Result<Bytes> write_server_hello();
  // Returns the decrypted ClientPayload bytes; client_static() is then set.
  Result<Bytes> read_client_finish(ByteView payload);
  Result<TransportCipher> split();

  const crypto::Key32& client_static() const { return client_static_; }

 private:
  enum class Step { hello, server_hello, finish, split, done, failed };
  std::unique_ptr<SymmetricState> ss_;
  crypto::KeyPair static_key_;
  crypto::KeyPair ephemeral_;
  Bytes cert_chain_;
  crypto::Key32 client_ephemeral_{};
  crypto::Key32 client_static_{};
  Step step_ = Step::hello;
};

}  // namespace wa::noise
