#include "handshake.hpp"

#include <chrono>

namespace wa::connection {

NoiseSession::NoiseSession(const crypto::KeyPair& noise_key, noise::CertPolicy policy, Bytes client_payload,
                           ByteView routing_info, Callbacks cb, std::function<uint64_t()> now_unix)
    : initiator_(noise_key, policy), payload_(std::move(client_payload)),
      routing_info_(routing_info.begin(), routing_info.end()), cb_(std::move(cb)), now_(std::move(now_unix)) {
  if (!now_) {
    now_ = [] {
      return static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    };
  }
}

Status NoiseSession::start() {
  if (state_ != State::idle) return fail("bad_state", "session already started");
  auto intro = binary::make_intro(routing_info_);
  if (!intro) return Unexpected<Error>{intro.error()};
  auto hello = initiator_.write_client_hello();
  if (!hello) return Unexpected<Error>{hello.error()};
  Bytes out = std::move(*intro);
  WA_TRY(binary::append_frame(out, *hello));
  state_ = State::awaiting_server_hello;
  cb_.write(std::move(out));
  return {};
}

void NoiseSession::fail_with(Error e) {
  if (state_ == State::failed) return;
  state_ = State::failed;
  secure_wipe(payload_);
  if (cb_.on_fail) cb_.on_fail(e);
}

void NoiseSession::feed(ByteView chunk) {
  if (state_ == State::failed || state_ == State::idle) return;
  splitter_.feed(chunk);
  while (state_ != State::failed) {
    auto frame = splitter_.next();
    if (!frame) return fail_with(frame.error());
    if (!*frame) return;
    if (auto st = on_frame(std::move(**frame)); !st) return fail_with(st.error());
  }
}

Status NoiseSession::on_frame(Bytes frame) {
  if (state_ == State::awaiting_server_hello) {
    WA_TRY(initiator_.read_server_hello(frame, now_()));
    auto finish = initiator_.write_client_finish(payload_);
    secure_wipe(payload_);
    if (!finish) return Unexpected<Error>{finish.error()};
    auto transport = initiator_.split();
    if (!transport) return Unexpected<Error>{transport.error()};
    transport_.emplace(std::move(*transport));
    auto out = binary::make_frame(*finish);
    if (!out) return Unexpected<Error>{out.error()};
    state_ = State::open;
    cb_.write(std::move(*out));
    if (cb_.on_open) cb_.on_open();
    return {};
  }
  auto plain = transport_->decrypt(frame);
  if (!plain) return Unexpected<Error>{plain.error()};
  auto node = binary::decode_frame_payload(*plain);
  if (!node) return fail("bad_frame", "undecodable node from the server: " + node.error().code);
  if (cb_.on_node) cb_.on_node(std::move(*node));
  return {};
}

Status NoiseSession::send(const binary::Node& node) {
  if (state_ != State::open) return fail("not_connected", "the connection is not open");
  auto plain = binary::encode_frame_payload(node);
  if (!plain) return Unexpected<Error>{plain.error()};
  auto enc = transport_->encrypt(*plain);
  if (!enc) return Unexpected<Error>{enc.error()};
  auto out = binary::make_frame(*enc);
  if (!out) return Unexpected<Error>{out.error()};
  cb_.write(std::move(*out));
  return {};
}

}  // namespace wa::connection
