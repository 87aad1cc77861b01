// One connection's byte pipeline above the websocket: intro + Noise XX
// handshake with certificate-chain verification, then encrypted frames that
// carry binary nodes. Transport-agnostic (bytes in, bytes out), so the whole
// client side is unit-tested against an in-process NoiseResponder.
//
// Any failure is final for this connection (a corrupt or hostile stream
// cannot be resynchronised): `on_fail` fires once and later input is ignored.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "wa/binary/frame.hpp"
#include "wa/binary/node.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/noise/transport.hpp"

namespace wa::connection {

class NoiseSession {
 public:
  struct Callbacks {
    std::function<void(Bytes)> write;               // bytes for the websocket
    std::function<void()> on_open;                  // handshake done, nodes may flow
    std::function<void(binary::Node)> on_node;      // one decoded incoming node
    std::function<void(const Error&)> on_fail;      // the connection must be closed
  };
  // now_unix: clock for the certificate validity check (injectable for tests).
  NoiseSession(const crypto::KeyPair& noise_key, noise::CertPolicy policy, Bytes client_payload,
               ByteView routing_info, Callbacks cb, std::function<uint64_t()> now_unix = {});

  // Writes the intro and ClientHello.
  Status start();
  // Bytes received from the websocket (any chunking).
  void feed(ByteView chunk);
  // Encrypts and writes one node; fails before the handshake finished.
  Status send(const binary::Node& node);

  bool open() const noexcept { return state_ == State::open; }
  bool failed() const noexcept { return state_ == State::failed; }
  uint64_t frames_received() const noexcept { return transport_ ? transport_->frames_received() : 0; }

 private:
  enum class State { idle, awaiting_server_hello, open, failed };
  void fail_with(Error e);
  Status on_frame(Bytes frame);

  noise::NoiseInitiator initiator_;
  Bytes payload_;
  Bytes routing_info_;
  Callbacks cb_;
  std::function<uint64_t()> now_;
  binary::FrameSplitter splitter_;
  std::optional<noise::TransportCipher> transport_;
  State state_ = State::idle;
};

}  // namespace wa::connection
