#include <protocol.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <session_record.h>
#include <session_state.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "record_keys.hpp"
#include "session_impl.hpp"
#include "wa/log.hpp"

namespace wa::signal {
namespace {

using detail::Buffer;
using detail::out;
using detail::Ref;

struct CipherFree {
  void operator()(session_cipher* c) const noexcept { session_cipher_free(c); }
};
using Cipher = std::unique_ptr<session_cipher, CipherFree>;
struct BuilderFree {
  void operator()(session_builder* b) const noexcept { session_builder_free(b); }
};
using Builder = std::unique_ptr<session_builder, BuilderFree>;

// Accepts raw 32-byte keys (WhatsApp wire form) and 0x05-prefixed ones.
Result<Ref<ec_public_key>> decode_public(signal_context* ctx, ByteView key, std::string_view what) {
  Bytes k;
  if (key.size() == 32) {
    k.reserve(33);
    k.push_back(0x05);
    k.insert(k.end(), key.begin(), key.end());
  } else if (key.size() == 33 && key[0] == 0x05) {
    k.assign(key.begin(), key.end());
  } else {
    return fail("invalid_key", std::string(what) + " must be 32 bytes (or 33 with the 0x05 prefix)");
  }
  Ref<ec_public_key> pub;
  if (curve_decode_point(out(pub), k.data(), k.size(), ctx) != SG_SUCCESS)
    return fail("invalid_key", std::string(what) + " is not a valid key");
  return pub;
}

Result<Bytes> serialize_public_raw(const ec_public_key* key) {
  Buffer buf;
  if (ec_public_key_serialize(out(buf), key) != SG_SUCCESS) return fail("out_of_memory", "serialize key");
  if (signal_buffer_len(buf.get()) != 33) return fail("invalid_key", "unexpected key encoding");
  const uint8_t* p = signal_buffer_const_data(buf.get());
  return Bytes(p + 1, p + 33);
}

Result<Cipher> make_cipher(SignalSession::Impl& im, const signal_protocol_address& sa) {
  Cipher cipher;
  int rc = session_cipher_create(out(cipher), im.bridge->raw(), &sa, im.ctx->raw());
  if (rc != SG_SUCCESS) return im.failure(rc, "session_cipher_create");
  return cipher;
}

// libsignal-protocol-c checks the contact's identity only while building a
// session; Signal's rule (and ours) is that sending to, or reading from, an
// identity that no longer matches the trusted one fails. Returns no_session
// when there is nothing to check.
// The identity key the current state of `addr`'s record talks to (32 bytes),
// read from the stored bytes; libsignal parses the record where they are not
// of the usual shape. Empty: no session.
// The keys of `addr`'s stored record (all empty: no record); nullopt when
// its bytes are not of the usual shape and libsignal must parse them.
Result<std::optional<detail::RecordKeys>> stored_keys(SignalSession::Impl& im, const Address& addr) {
  auto stored = im.bridge->session_record(addr);
  if (!stored) return Unexpected<Error>{stored.error()};
  if (!**stored) return std::optional<detail::RecordKeys>(detail::RecordKeys{});
  return detail::read_record_keys(***stored);
}

Result<Bytes> session_identity(SignalSession::Impl& im, const Address& addr, const signal_protocol_address& sa) {
  auto keys = stored_keys(im, addr);
  if (!keys) return Unexpected<Error>{keys.error()};
  if (*keys) {
    const Bytes& k = (*keys)->remote_identity;
    if (k.empty()) return Bytes{};
    if (k.size() == 33 && k[0] == 0x05) return Bytes(k.begin() + 1, k.end());
  }
  Ref<session_record> record;
  int rc = signal_protocol_session_load_session(im.bridge->raw(), out(record), &sa);
  if (rc < 0) return im.failure(rc, "load session");
  session_state* state = record ? session_record_get_state(record.get()) : nullptr;
  const ec_public_key* remote = state ? session_state_get_remote_identity_key(state) : nullptr;
  if (!remote || session_record_is_fresh(record.get())) return Bytes{};
  return serialize_public_raw(remote);
}

Status check_session_identity(SignalSession::Impl& im, const Address& addr, const signal_protocol_address& sa) {
  auto raw = session_identity(im, addr, sa);
  if (!raw) return Unexpected<Error>{raw.error()};
  if (raw->empty()) return fail("no_session", "no session with " + addr.name);
  auto status = im.store.check_identity(addr, *raw);
  if (!status) return Unexpected<Error>{status.error()};
  switch (*status) {
    case store::IdentityStatus::match:
      return {};
    case store::IdentityStatus::first_use: {
      // The session predates the identity row (e.g. it was removed): the
      // session's key is the one we have been talking to, re-record it.
      auto saved = im.store.save_identity(addr, *raw);
      if (!saved) return Unexpected<Error>{saved.error()};
      return {};
    }
    case store::IdentityStatus::changed:
      break;
  }
  return fail("identity_changed", "the identity key of " + addr.name + " changed (not trusted until accepted)");
}

// The alice base key identifies a session state within a record.
Bytes base_key_of(const session_state* state) {
  ec_public_key* key = state ? session_state_get_alice_base_key(state) : nullptr;
  if (!key) return {};
  Buffer buf;
  if (ec_public_key_serialize(out(buf), key) != SG_SUCCESS) return {};
  return detail::to_bytes(buf.get());
}

struct StateKeys {
  Bytes current;
  std::vector<Bytes> previous;
};

// Read from the stored bytes (a record stored is never fresh); libsignal
// parses the record only where they are not of the usual shape.
Result<StateKeys> state_keys(SignalSession::Impl& im, const Address& addr, const signal_protocol_address& sa) {
  auto keys = stored_keys(im, addr);
  if (!keys) return Unexpected<Error>{keys.error()};
  if (*keys) return StateKeys{std::move((*keys)->current_base), std::move((*keys)->previous_bases)};
  Ref<session_record> record;
  int rc = signal_protocol_session_load_session(im.bridge->raw(), out(record), &sa);
  if (rc < 0) return im.failure(rc, "load session");
  StateKeys k;
  if (!record) return k;
  if (!session_record_is_fresh(record.get())) k.current = base_key_of(session_record_get_state(record.get()));
  for (auto* n = session_record_get_previous_states_head(record.get()); n; n = session_record_get_previous_states_next(n))
    k.previous.push_back(base_key_of(session_record_get_previous_states_element(n)));
  return k;
}

// libsignal makes an archived state that decrypted a message current again,
// so the replies would go out on the old session. The peer has moved on to
// the newest one (Baileys encrypts only on its open session and may have
// deleted the old one when it asked us to re-send): an archived state stays
// archived - it only reads what was in flight on it. A state built by this
// very message (a new pkmsg) is the new current one, as libsignal made it.
Status keep_current_state(SignalSession::Impl& im, const signal_protocol_address& sa, const StateKeys& before) {
  // Only a state archived before the message can have been promoted by it:
  // with none (the usual record), there is nothing to look at again.
  if (before.current.empty() || before.previous.empty()) return {};
  Ref<session_record> record;
  int rc = signal_protocol_session_load_session(im.bridge->raw(), out(record), &sa);
  if (rc < 0) return im.failure(rc, "load session");
  if (!record || session_record_is_fresh(record.get())) return {};
  Bytes now = base_key_of(session_record_get_state(record.get()));
  if (now == before.current) return {};
  if (std::find(before.previous.begin(), before.previous.end(), now) == before.previous.end()) return {};
  for (auto* n = session_record_get_previous_states_head(record.get()); n; n = session_record_get_previous_states_next(n)) {
    session_state* state = session_record_get_previous_states_element(n);
    if (base_key_of(state) != before.current) continue;
    signal_type_ref(reinterpret_cast<signal_type_base*>(state));
    Ref<session_state> hold(state);  // the list's reference goes with its node
    session_record_get_previous_states_remove(record.get(), n);
    rc = session_record_promote_state(record.get(), state);
    if (rc < 0) return im.failure(rc, "keep the current session state");
    rc = signal_protocol_session_store_session(im.bridge->raw(), &sa, record.get());
    if (rc < 0) return im.failure(rc, "store session");
    return {};
  }
  return {};
}

Result<Bytes> plaintext_of(const Buffer& plain) { return detail::to_bytes(plain.get()); }

}  // namespace

bool signal_transactions_disabled() noexcept {
  static const bool disabled = [] {
    const char* v = std::getenv("WA_TEST_DISABLE_SIGNAL_TXN");
    bool off = v && std::strcmp(v, "1") == 0;
    if (off) WA_WARN("WA_TEST_DISABLE_SIGNAL_TXN=1: Signal operations run WITHOUT transactions (test only)");
    return off;
  }();
  return disabled;
}

std::string_view enc_type(MessageType t) noexcept { return t == MessageType::pkmsg ? "pkmsg" : "msg"; }

SignalSession::SignalSession(Token, std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SignalSession::~SignalSession() = default;

Result<std::unique_ptr<SignalSession>> SignalSession::create(store::Store& st) {
  auto ctx = SignalContext::create();
  if (!ctx) return Unexpected<Error>{ctx.error()};
  auto bridge = detail::StoreBridge::create(st, **ctx);
  if (!bridge) return Unexpected<Error>{bridge.error()};
  auto impl = std::make_unique<Impl>(Impl{st, std::move(*ctx), std::move(*bridge)});
  return std::make_unique<SignalSession>(Token{}, std::move(impl));
}

Result<bool> SignalSession::has_session(const Address& addr) {
  std::lock_guard<std::recursive_mutex> lock(impl_->ctx->mutex());
  return impl_->store.contains_session(addr);
}

namespace {

// Builds a session from `b` over whatever record `sa` has: libsignal's
// session_builder_process_pre_key_bundle archives a record's current state
// into its previous states (decrypt still tries those) before the new state
// takes its place, and refuses an identity that is not trusted.
Status build_from_bundle(SignalSession::Impl& im, const signal_protocol_address& sa, const PreKeyBundle& b) {
  signal_context* ctx = im.ctx->raw();
  auto identity = decode_public(ctx, b.identity_key, "identity key");
  if (!identity) return Unexpected<Error>{identity.error()};
  auto spk = decode_public(ctx, b.signed_prekey_pub, "signed prekey");
  if (!spk) return Unexpected<Error>{spk.error()};
  if (b.signed_prekey_signature.size() != 64) return fail("invalid_key", "signed prekey signature must be 64 bytes");
  Ref<ec_public_key> prekey;
  if (b.prekey_id) {
    auto pk = decode_public(ctx, b.prekey_pub, "prekey");
    if (!pk) return Unexpected<Error>{pk.error()};
    prekey = std::move(*pk);
  }
  if (b.device_id > static_cast<uint32_t>(INT32_MAX)) return fail("invalid_argument", "device id out of range");

  Ref<session_pre_key_bundle> bundle;
  int rc = session_pre_key_bundle_create(out(bundle), b.registration_id, static_cast<int>(b.device_id),
                                         b.prekey_id.value_or(0), prekey.get(), b.signed_prekey_id, spk->get(),
                                         b.signed_prekey_signature.data(), b.signed_prekey_signature.size(),
                                         identity->get());
  if (rc != SG_SUCCESS) return im.failure(rc, "bundle");
  Builder builder;
  rc = session_builder_create(out(builder), im.bridge->raw(), &sa, ctx);
  if (rc != SG_SUCCESS) return im.failure(rc, "session_builder_create");
  // Verifies the signed prekey's signature and trusts the identity (TOFU).
  rc = session_builder_process_pre_key_bundle(builder.get(), bundle.get());
  if (rc != SG_SUCCESS) return im.failure(rc, "process bundle");
  return {};
}

}  // namespace

Result<bool> SignalSession::process_bundle(const Address& to, const PreKeyBundle& b) {
  auto sa = to_signal_address(to);
  if (!sa) return Unexpected<Error>{sa.error()};
  // The session state it creates is re-derivable (a new bundle): normal.
  return impl_->run<bool>(store::Durability::normal, [&]() -> Result<bool> {
    auto& im = *impl_;
    auto exists = im.store.contains_session(to);
    if (!exists) return Unexpected<Error>{exists.error()};
    if (*exists) return false;
    WA_TRY(build_from_bundle(im, *sa, b));
    return true;
  });
}

Status SignalSession::replace_session(const Address& to, const PreKeyBundle& b) {
  auto sa = to_signal_address(to);
  if (!sa) return Unexpected<Error>{sa.error()};
  // normal, as process_bundle: the caller's encrypt that follows commits durably.
  auto r = impl_->run<Unit>(store::Durability::normal, [&]() -> Result<Unit> {
    WA_TRY(build_from_bundle(*impl_, *sa, b));
    return Unit{};
  });
  if (!r) return Unexpected<Error>{r.error()};
  return {};
}

Result<Ciphertext> SignalSession::encrypt(const Address& to, ByteView plaintext) {
  auto sa = to_signal_address(to);
  if (!sa) return Unexpected<Error>{sa.error()};
  // full: the ciphertext leaves right after this commit. Were the ratchet
  // step lost to a power cut, the next message would reuse its message key.
  return impl_->run<Ciphertext>(store::Durability::full, [&]() -> Result<Ciphertext> {
    auto& im = *impl_;
    if (auto s = check_session_identity(im, to, *sa); !s) return Unexpected<Error>{s.error()};
    auto cipher = make_cipher(im, *sa);
    if (!cipher) return Unexpected<Error>{cipher.error()};
    Ref<ciphertext_message> msg;
    static const uint8_t empty = 0;
    int rc = session_cipher_encrypt(cipher->get(), plaintext.empty() ? &empty : plaintext.data(), plaintext.size(),
                                    out(msg));
    if (rc != SG_SUCCESS) return im.failure(rc, "encrypt");
    Ciphertext ct;
    switch (ciphertext_message_get_type(msg.get())) {
      case CIPHERTEXT_PREKEY_TYPE:
        ct.type = MessageType::pkmsg;
        break;
      case CIPHERTEXT_SIGNAL_TYPE:
        ct.type = MessageType::msg;
        break;
      default:
        return fail("signal_error", "unexpected ciphertext type");
    }
    ct.data = detail::to_bytes(ciphertext_message_get_serialized(msg.get()));
    return ct;
  });
}

Result<Bytes> SignalSession::decrypt_pkmsg(const Address& from, ByteView message) {
  auto sa = to_signal_address(from);
  if (!sa) return Unexpected<Error>{sa.error()};
  // normal: a lost receive step is re-derived from the next message. Callers
  // that ack to the server wrap this and the inbox write in a full transaction.
  return impl_->run<Bytes>(store::Durability::normal, [&]() -> Result<Bytes> {
    auto& im = *impl_;
    if (message.empty()) return fail("invalid_message", "empty pkmsg");
    Ref<pre_key_signal_message> msg;
    int rc = pre_key_signal_message_deserialize(out(msg), message.data(), message.size(), im.ctx->raw());
    if (rc != SG_SUCCESS) return im.failure(rc, "parse pkmsg");
    auto before = state_keys(im, from, *sa);
    if (!before) return Unexpected<Error>{before.error()};
    auto cipher = make_cipher(im, *sa);
    if (!cipher) return Unexpected<Error>{cipher.error()};
    Buffer plain;
    // Checks the sender's identity (TOFU), consumes the one-time prekey.
    rc = session_cipher_decrypt_pre_key_signal_message(cipher->get(), msg.get(), nullptr, out(plain));
    if (rc != SG_SUCCESS) return im.failure(rc, "decrypt pkmsg");
    WA_TRY(keep_current_state(im, *sa, *before));
    return plaintext_of(plain);
  });
}

Result<Bytes> SignalSession::decrypt_msg(const Address& from, ByteView message) {
  auto sa = to_signal_address(from);
  if (!sa) return Unexpected<Error>{sa.error()};
  return impl_->run<Bytes>(store::Durability::normal, [&]() -> Result<Bytes> {
    auto& im = *impl_;
    if (message.empty()) return fail("invalid_message", "empty msg");
    Ref<signal_message> msg;
    int rc = signal_message_deserialize(out(msg), message.data(), message.size(), im.ctx->raw());
    if (rc != SG_SUCCESS) return im.failure(rc, "parse msg");
    if (auto s = check_session_identity(im, from, *sa); !s) return Unexpected<Error>{s.error()};
    auto before = state_keys(im, from, *sa);
    if (!before) return Unexpected<Error>{before.error()};
    auto cipher = make_cipher(im, *sa);
    if (!cipher) return Unexpected<Error>{cipher.error()};
    Buffer plain;
    rc = session_cipher_decrypt_signal_message(cipher->get(), msg.get(), nullptr, out(plain));
    if (rc != SG_SUCCESS) return im.failure(rc, "decrypt msg");
    WA_TRY(keep_current_state(im, *sa, *before));
    return plaintext_of(plain);
  });
}

Status SignalSession::accept_identity(const Address& addr, ByteView identity_key) {
  Bytes raw;
  if (identity_key.size() == 33 && identity_key[0] == 0x05)
    raw.assign(identity_key.begin() + 1, identity_key.end());
  else if (identity_key.size() == 32)
    raw.assign(identity_key.begin(), identity_key.end());
  else
    return fail("invalid_key", "identity key must be 32 bytes (or 33 with the 0x05 prefix)");
  auto r = impl_->run<Unit>(store::Durability::full, [&]() -> Result<Unit> {
    auto& st = impl_->store;
    if (auto s = st.replace_identity(addr, raw); !s) return Unexpected<Error>{s.error()};
    auto d = st.delete_session(addr);
    if (!d) return Unexpected<Error>{d.error()};
    return Unit{};
  });
  if (!r) return Unexpected<Error>{r.error()};
  return {};
}

}  // namespace wa::signal
