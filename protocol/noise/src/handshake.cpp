#include "wa/noise/handshake.hpp"

#include <algorithm>
#include <string>

#include "symmetric_state.hpp"
#include "wa/proto/handshake.pb.h"

namespace wa::noise {
namespace {

using wa::proto::HandshakeMessage;

// A handshake message is a few hundred bytes; anything near the frame limit is
// hostile. The cap also keeps protobuf's int sizes safe.
constexpr size_t kMaxHandshakeMessage = 256 * 1024;
constexpr size_t kKeyLen = 32;
constexpr size_t kTagLen = 16;
constexpr size_t kEncryptedKeyLen = kKeyLen + kTagLen;

Result<HandshakeMessage> parse_message(ByteView payload) {
  if (payload.empty()) return fail("handshake_truncated", "empty handshake message");
  if (payload.size() > kMaxHandshakeMessage) return fail("handshake_too_large", "handshake message too large");
  HandshakeMessage msg;
  if (!msg.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail("handshake_malformed", "handshake message does not parse");
  }
  return msg;
}

std::string str(ByteView b) { return std::string(as_chars(b)); }

crypto::Key32 key_from(const std::string& s) {
  crypto::Key32 k{};
  std::copy_n(s.begin(), std::min(s.size(), k.size()), k.begin());
  return k;
}

Result<TransportCipher> make_transport(SymmetricState& ss, bool initiator) {
  crypto::Key32 first{};
  crypto::Key32 second{};
  ss.split(first, second);
  // The client writes with the first half, the server with the second.
  auto t = initiator ? TransportCipher::create(first, second) : TransportCipher::create(second, first);
  secure_wipe(first.data(), first.size());
  secure_wipe(second.data(), second.size());
  return t;
}

Status mix_dh(SymmetricState& ss, const crypto::Key32& priv, ByteView pub) {
  auto shared = crypto::x25519(priv, pub);
  if (!shared) return fail(shared.error().code, shared.error().message);
  ss.mix_key(*shared);
  secure_wipe(shared->data(), shared->size());
  return {};
}

Error decrypt_error(const Error& e, const char* what) {
  return Error{e.code == "auth_failed" ? "handshake_decrypt_failed" : e.code, std::string("cannot decrypt ") + what};
}

}  // namespace

// ---------------- initiator (client) ----------------

NoiseInitiator::NoiseInitiator(const crypto::KeyPair& static_key, CertPolicy policy)
    : ss_(std::make_unique<SymmetricState>()), static_key_(static_key), policy_(policy) {}
NoiseInitiator::~NoiseInitiator() = default;
NoiseInitiator::NoiseInitiator(NoiseInitiator&&) noexcept = default;
NoiseInitiator& NoiseInitiator::operator=(NoiseInitiator&&) noexcept = default;

Result<Bytes> NoiseInitiator::write_client_hello() {
  if (step_ != Step::hello) return fail("bad_state", "client hello already written");
  ephemeral_ = crypto::generate_keypair();
  ss_->mix_hash(kWaHeader);
  ss_->mix_hash(ephemeral_.pub);
  HandshakeMessage msg;
  msg.mutable_clienthello()->set_ephemeral(str(ephemeral_.pub));
  step_ = Step::server_hello;
  return to_bytes(msg.SerializeAsString());
}

Status NoiseInitiator::read_server_hello(ByteView payload, uint64_t now_unix) {
  if (step_ != Step::server_hello) return fail("bad_state", "not expecting a server hello");
  step_ = Step::failed;  // until every check below has passed
  auto msg = parse_message(payload);
  if (!msg) return fail(msg.error().code, msg.error().message);
  if (!msg->has_serverhello()) return fail("handshake_unexpected", "expected a server hello");
  const auto& sh = msg->serverhello();
  if (sh.ephemeral().size() != kKeyLen) return fail("handshake_bad_length", "server ephemeral is not 32 bytes");
  if (sh.static_().size() != kEncryptedKeyLen) {
    return fail("handshake_bad_length", "encrypted server static is not 48 bytes");
  }
  if (sh.payload().size() < kTagLen) return fail("handshake_bad_length", "server payload shorter than a tag");

  server_ephemeral_ = key_from(sh.ephemeral());
  ss_->mix_hash(server_ephemeral_);
  if (auto st = mix_dh(*ss_, ephemeral_.priv, server_ephemeral_); !st) return st;
  auto server_static = ss_->decrypt_and_hash(as_bytes(sh.static_()));
  if (!server_static) return Unexpected<Error>{decrypt_error(server_static.error(), "server static key")};
  server_static_ = key_from(std::string(as_chars(*server_static)));
  if (auto st = mix_dh(*ss_, ephemeral_.priv, server_static_); !st) return st;
  auto chain = ss_->decrypt_and_hash(as_bytes(sh.payload()));
  if (!chain) return Unexpected<Error>{decrypt_error(chain.error(), "certificate chain")};
  if (auto st = verify_cert_chain(*chain, server_static_, policy_, now_unix); !st) return st;
  step_ = Step::finish;
  return {};
}

Result<Bytes> NoiseInitiator::write_client_finish(ByteView client_payload) {
  if (step_ != Step::finish) return fail("bad_state", "not ready to write client finish");
  step_ = Step::failed;
  auto enc_static = ss_->encrypt_and_hash(static_key_.pub);
  if (!enc_static) return enc_static;
  if (auto st = mix_dh(*ss_, static_key_.priv, server_ephemeral_); !st) return fail(st.error().code, st.error().message);
  auto enc_payload = ss_->encrypt_and_hash(client_payload);
  if (!enc_payload) return enc_payload;
  HandshakeMessage msg;
  msg.mutable_clientfinish()->set_static_(str(*enc_static));
  msg.mutable_clientfinish()->set_payload(str(*enc_payload));
  step_ = Step::split;
  return to_bytes(msg.SerializeAsString());
}

Result<TransportCipher> NoiseInitiator::split() {
  if (step_ != Step::split) return fail("bad_state", "handshake not complete");
  step_ = Step::done;
  return make_transport(*ss_, true);
}

// ---------------- responder (server) ----------------

NoiseResponder::NoiseResponder(const crypto::KeyPair& static_key, Bytes cert_chain)
    : ss_(std::make_unique<SymmetricState>()), static_key_(static_key), cert_chain_(std::move(cert_chain)) {}
NoiseResponder::~NoiseResponder() = default;
NoiseResponder::NoiseResponder(NoiseResponder&&) noexcept = default;
NoiseResponder& NoiseResponder::operator=(NoiseResponder&&) noexcept = default;

Status NoiseResponder::read_client_hello(ByteView payload) {
  if (step_ != Step::hello) return fail("bad_state", "client hello already read");
  step_ = Step::failed;
  auto msg = parse_message(payload);
  if (!msg) return fail(msg.error().code, msg.error().message);
  if (!msg->has_clienthello()) return fail("handshake_unexpected", "expected a client hello");
  const auto& ch = msg->clienthello();
  if (ch.ephemeral().size() != kKeyLen) return fail("handshake_bad_length", "client ephemeral is not 32 bytes");
  client_ephemeral_ = key_from(ch.ephemeral());
  ss_->mix_hash(kWaHeader);
  ss_->mix_hash(client_ephemeral_);
  step_ = Step::server_hello;
  return {};
}

Result<Bytes> NoiseResponder::write_server_hello() {
  if (step_ != Step::server_hello) return fail("bad_state", "not ready to write server hello");
  step_ = Step::failed;
  ephemeral_ = crypto::generate_keypair();
  ss_->mix_hash(ephemeral_.pub);
  if (auto st = mix_dh(*ss_, ephemeral_.priv, client_ephemeral_); !st) return fail(st.error().code, st.error().message);
  auto enc_static = ss_->encrypt_and_hash(static_key_.pub);
  if (!enc_static) return enc_static;
  if (auto st = mix_dh(*ss_, static_key_.priv, client_ephemeral_); !st) return fail(st.error().code, st.error().message);
  auto enc_chain = ss_->encrypt_and_hash(cert_chain_);
  if (!enc_chain) return enc_chain;
  HandshakeMessage msg;
  auto* sh = msg.mutable_serverhello();
  sh->set_ephemeral(str(ephemeral_.pub));
  sh->set_static_(str(*enc_static));
  sh->set_payload(str(*enc_chain));
  step_ = Step::finish;
  return to_bytes(msg.SerializeAsString());
}

Result<Bytes> NoiseResponder::read_client_finish(ByteView payload) {
  if (step_ != Step::finish) return fail("bad_state", "not expecting a client finish");
  step_ = Step::failed;
  auto msg = parse_message(payload);
  if (!msg) return fail(msg.error().code, msg.error().message);
  if (!msg->has_clientfinish()) return fail("handshake_unexpected", "expected a client finish");
  const auto& cf = msg->clientfinish();
  if (cf.static_().size() != kEncryptedKeyLen) {
    return fail("handshake_bad_length", "encrypted client static is not 48 bytes");
  }
  if (cf.payload().size() < kTagLen) return fail("handshake_bad_length", "client payload shorter than a tag");
  auto client_static = ss_->decrypt_and_hash(as_bytes(cf.static_()));
  if (!client_static) return Unexpected<Error>{decrypt_error(client_static.error(), "client static key")};
  client_static_ = key_from(std::string(as_chars(*client_static)));
  if (auto st = mix_dh(*ss_, ephemeral_.priv, client_static_); !st) return fail(st.error().code, st.error().message);
  auto client_payload = ss_->decrypt_and_hash(as_bytes(cf.payload()));
  if (!client_payload) return Unexpected<Error>{decrypt_error(client_payload.error(), "client payload")};
  step_ = Step::split;
  return client_payload;
}

Result<TransportCipher> NoiseResponder::split() {
  if (step_ != Step::split) return fail("bad_state", "handshake not complete");
  step_ = Step::done;
  return make_transport(*ss_, false);
}

}  // namespace wa::noise
