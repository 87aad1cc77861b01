#include "store_bridge.hpp"

#include <algorithm>
#include <climits>
#include <string>

#include "signal_ptr.hpp"

namespace wa::signal::detail {
namespace {

StoreBridge& bridge(void* user_data) { return *static_cast<StoreBridge*>(user_data); }

std::optional<store::Address> to_address(const signal_protocol_address* a) {
  if (!a || (!a->name && a->name_len) || a->device_id < 0) return std::nullopt;
  return store::Address{std::string(a->name ? a->name : "", a->name_len), static_cast<uint32_t>(a->device_id)};
}

// libsignal serialises Curve25519 public keys as 0x05 || 32 bytes; the store keeps 32.
std::optional<ByteView> strip_key_type(const uint8_t* data, size_t len) {
  if (!data || len != 33 || data[0] != 0x05) return std::nullopt;
  return ByteView(data + 1, 32);
}

Bytes with_key_type(const Bytes& pub32) {
  Bytes out;
  out.reserve(33);
  out.push_back(0x05);
  out.insert(out.end(), pub32.begin(), pub32.end());
  return out;
}

int buffer_out(signal_buffer** out, ByteView data) {
  static const uint8_t empty = 0;
  signal_buffer* b = signal_buffer_create(data.empty() ? &empty : data.data(), data.size());
  if (!b) return SG_ERR_NOMEM;
  *out = b;
  return SG_SUCCESS;
}

// Store failures are remembered for the caller and surface to the library
// as a generic failure, which aborts the operation (and its transaction).
template <class T>
int store_failed(StoreBridge& b, const Result<T>& r) {
  b.note_store_error(r.error());
  return SG_ERR_UNKNOWN;
}

int corrupt(StoreBridge& b, const char* what) {
  b.note_store_error(Error{"db_corrupt", what});
  return SG_ERR_UNKNOWN;
}

// Keys in the store -> libsignal key pair.
Ref<ec_key_pair> make_key_pair(signal_context* ctx, const Bytes& pub32, const Bytes& priv32) {
  if (pub32.size() != 32 || priv32.size() != 32) return nullptr;
  Bytes pub33 = with_key_type(pub32);
  Ref<ec_public_key> pub;
  Ref<ec_private_key> priv;
  if (curve_decode_point(out(pub), pub33.data(), pub33.size(), ctx) != SG_SUCCESS) return nullptr;
  if (curve_decode_private_point(out(priv), priv32.data(), priv32.size(), ctx) != SG_SUCCESS) return nullptr;
  Ref<ec_key_pair> pair;
  if (ec_key_pair_create(out(pair), pub.get(), priv.get()) != SG_SUCCESS) return nullptr;
  return pair;
}

// libsignal key pair -> (32-byte public, 32-byte private).
bool split_key_pair(const ec_key_pair* pair, Bytes& pub32, Bytes& priv32) {
  if (!pair) return false;
  Buffer pub, priv;
  if (ec_public_key_serialize(out(pub), ec_key_pair_get_public(pair)) != SG_SUCCESS) return false;
  if (ec_private_key_serialize(out(priv), ec_key_pair_get_private(pair)) != SG_SUCCESS) return false;
  auto stripped = strip_key_type(signal_buffer_const_data(pub.get()), signal_buffer_len(pub.get()));
  if (!stripped || signal_buffer_len(priv.get()) != 32) return false;
  pub32.assign(stripped->begin(), stripped->end());
  priv32 = to_bytes(priv.get());
  return true;
}

// ------------------------------------------------------------------ sessions

int load_session(signal_buffer** record, signal_buffer** /*user_record*/, const signal_protocol_address* address,
                 void* ud) {
  auto& b = bridge(ud);
  auto addr = to_address(address);
  if (!addr) return SG_ERR_INVAL;
  auto stored = b.session_record(*addr);
  if (!stored) return SG_ERR_UNKNOWN;  // noted for error_for
  if (!**stored) return 0;
  int rc = buffer_out(record, ***stored);
  return rc == SG_SUCCESS ? 1 : rc;
}

// Must hand back an allocated list even when there are no sessions: the
// library dereferences it.
int get_sub_device_sessions(signal_int_list** sessions, const char* name, size_t name_len, void* ud) {
  auto& b = bridge(ud);
  if (!name && name_len) return SG_ERR_INVAL;
  auto r = b.store().session_devices(std::string_view(name ? name : "", name_len));
  if (!r) return store_failed(b, r);
  signal_int_list* list = signal_int_list_alloc();
  if (!list) return SG_ERR_NOMEM;
  for (uint32_t d : *r) {
    if (d > static_cast<uint32_t>(INT_MAX) || signal_int_list_push_back(list, static_cast<int>(d)) != 0) {
      signal_int_list_free(list);
      return SG_ERR_NOMEM;
    }
  }
  *sessions = list;
  return static_cast<int>(signal_int_list_size(list));
}

int store_session(const signal_protocol_address* address, uint8_t* record, size_t record_len, uint8_t*, size_t,
                  void* ud) {
  auto& b = bridge(ud);
  auto addr = to_address(address);
  if (!addr || (!record && record_len)) return SG_ERR_INVAL;
  auto r = b.store().store_session(*addr, ByteView(record, record_len));
  if (!r) {
    b.forget_session();
    return store_failed(b, r);
  }
  b.cache_session(*addr, Bytes(record, record + record_len));
  return SG_SUCCESS;
}

int contains_session(const signal_protocol_address* address, void* ud) {
  auto& b = bridge(ud);
  auto addr = to_address(address);
  if (!addr) return SG_ERR_INVAL;
  auto r = b.store().contains_session(*addr);
  if (!r) return store_failed(b, r);
  return *r ? 1 : 0;
}

int delete_session(const signal_protocol_address* address, void* ud) {
  auto& b = bridge(ud);
  auto addr = to_address(address);
  if (!addr) return SG_ERR_INVAL;
  b.forget_session();
  auto r = b.store().delete_session(*addr);
  if (!r) return store_failed(b, r);
  return *r ? 1 : 0;
}

int delete_all_sessions(const char* name, size_t name_len, void* ud) {
  auto& b = bridge(ud);
  if (!name && name_len) return SG_ERR_INVAL;
  b.forget_session();
  auto r = b.store().delete_all_sessions(std::string_view(name ? name : "", name_len));
  if (!r) return store_failed(b, r);
  return static_cast<int>(std::min<size_t>(*r, INT_MAX));
}

// ------------------------------------------------------------------ prekeys

int load_pre_key(signal_buffer** record, uint32_t id, void* ud) {
  auto& b = bridge(ud);
  auto r = b.store().load_prekey(id);
  if (!r) return store_failed(b, r);
  if (!*r) return SG_ERR_INVALID_KEY_ID;
  auto pair = make_key_pair(b.ctx(), (*r)->pub, (*r)->priv);
  if (!pair) return corrupt(b, "stored prekey is not a valid key pair");
  Ref<session_pre_key> key;
  if (session_pre_key_create(out(key), id, pair.get()) != SG_SUCCESS) return SG_ERR_NOMEM;
  Buffer serialized;
  if (session_pre_key_serialize(out(serialized), key.get()) != SG_SUCCESS) return SG_ERR_NOMEM;
  *record = serialized.release();
  return SG_SUCCESS;
}

int store_pre_key(uint32_t id, uint8_t* record, size_t record_len, void* ud) {
  auto& b = bridge(ud);
  Ref<session_pre_key> key;
  if (!record || session_pre_key_deserialize(out(key), record, record_len, b.ctx()) != SG_SUCCESS) return SG_ERR_INVAL;
  store::PreKey pk;
  pk.id = id;
  if (!split_key_pair(session_pre_key_get_key_pair(key.get()), pk.pub, pk.priv)) return SG_ERR_INVALID_KEY;
  auto r = b.store().store_prekey(pk);
  secure_wipe(pk.priv);
  return r ? SG_SUCCESS : store_failed(b, r);
}

int contains_pre_key(uint32_t id, void* ud) {
  auto& b = bridge(ud);
  auto r = b.store().contains_prekey(id);
  if (!r) return store_failed(b, r);
  return *r ? 1 : 0;
}

int remove_pre_key(uint32_t id, void* ud) {
  auto& b = bridge(ud);
  auto r = b.store().remove_prekey(id);
  return r ? SG_SUCCESS : store_failed(b, r);
}

// ------------------------------------------------------------------ signed prekeys

int load_signed_pre_key(signal_buffer** record, uint32_t id, void* ud) {
  auto& b = bridge(ud);
  auto r = b.store().load_signed_prekey(id);
  if (!r) return store_failed(b, r);
  if (!*r) return SG_ERR_INVALID_KEY_ID;
  const store::SignedPreKey& k = **r;
  auto pair = make_key_pair(b.ctx(), k.pub, k.priv);
  if (!pair || k.signature.size() != 64) return corrupt(b, "stored signed prekey is malformed");
  Ref<session_signed_pre_key> key;
  if (session_signed_pre_key_create(out(key), id, static_cast<uint64_t>(k.timestamp), pair.get(), k.signature.data(),
                                    k.signature.size()) != SG_SUCCESS)
    return SG_ERR_NOMEM;
  Buffer serialized;
  if (session_signed_pre_key_serialize(out(serialized), key.get()) != SG_SUCCESS) return SG_ERR_NOMEM;
  *record = serialized.release();
  return SG_SUCCESS;
}

int store_signed_pre_key(uint32_t id, uint8_t* record, size_t record_len, void* ud) {
  auto& b = bridge(ud);
  Ref<session_signed_pre_key> key;
  if (!record || session_signed_pre_key_deserialize(out(key), record, record_len, b.ctx()) != SG_SUCCESS)
    return SG_ERR_INVAL;
  store::SignedPreKey sk;
  sk.id = id;
  if (!split_key_pair(session_signed_pre_key_get_key_pair(key.get()), sk.pub, sk.priv)) return SG_ERR_INVALID_KEY;
  const uint8_t* sig = session_signed_pre_key_get_signature(key.get());
  sk.signature.assign(sig, sig + session_signed_pre_key_get_signature_len(key.get()));
  sk.timestamp = static_cast<int64_t>(session_signed_pre_key_get_timestamp(key.get()));
  auto r = b.store().store_signed_prekey(sk);
  secure_wipe(sk.priv);
  return r ? SG_SUCCESS : store_failed(b, r);
}

int contains_signed_pre_key(uint32_t id, void* ud) {
  auto& b = bridge(ud);
  auto r = b.store().contains_signed_prekey(id);
  if (!r) return store_failed(b, r);
  return *r ? 1 : 0;
}

int remove_signed_pre_key(uint32_t id, void* ud) {
  auto& b = bridge(ud);
  auto r = b.store().remove_signed_prekey(id);
  return r ? SG_SUCCESS : store_failed(b, r);
}

// ------------------------------------------------------------------ identity

int get_identity_key_pair(signal_buffer** public_data, signal_buffer** private_data, void* ud) {
  auto& b = bridge(ud);
  auto pub = b.store().get_credential(store::cred::identity_pub);
  if (!pub) return store_failed(b, pub);
  auto priv = b.store().get_credential(store::cred::identity_priv);
  if (!priv) return store_failed(b, priv);
  if (!*pub || !*priv) {
    b.note_store_error(Error{"no_identity", "the identity key pair has not been generated"});
    return SG_ERR_UNKNOWN;
  }
  if ((*pub)->size() != 32 || (*priv)->size() != 32) {
    secure_wipe(**priv);
    return corrupt(b, "stored identity key pair is malformed");
  }
  Bytes pub33 = with_key_type(**pub);
  Buffer p, q;
  if (buffer_out(out(p), pub33) != SG_SUCCESS || buffer_out(out(q), **priv) != SG_SUCCESS) {
    secure_wipe(**priv);
    return SG_ERR_NOMEM;
  }
  secure_wipe(**priv);
  *public_data = p.release();
  *private_data = q.release();
  return SG_SUCCESS;
}

int get_local_registration_id(void* ud, uint32_t* registration_id) {
  auto& b = bridge(ud);
  auto r = b.store().get_credential(store::cred::registration_id);
  if (!r) return store_failed(b, r);
  if (!*r) {
    b.note_store_error(Error{"no_identity", "the registration id has not been generated"});
    return SG_ERR_UNKNOWN;
  }
  auto id = store::decode_u32(**r);
  if (!id) return corrupt(b, "stored registration id is malformed");
  *registration_id = *id;
  return SG_SUCCESS;
}

int save_identity(const signal_protocol_address* address, uint8_t* key_data, size_t key_len, void* ud) {
  auto& b = bridge(ud);
  auto addr = to_address(address);
  if (!addr) return SG_ERR_INVAL;
  if (!key_data) {
    auto r = b.store().delete_identity(*addr);
    return r ? SG_SUCCESS : store_failed(b, r);
  }
  auto key = strip_key_type(key_data, key_len);
  if (!key) return SG_ERR_INVALID_KEY;
  if (b.known_trusted(*addr, *key)) return SG_SUCCESS;  // stored, equal: nothing to write
  auto r = b.store().save_identity(*addr, *key);
  if (!r) return store_failed(b, r);
  // Only reachable if the library saved a key it did not check first:
  // never replace a known identity behind the user's back.
  if (*r == store::IdentityStatus::changed) {
    b.note_identity_changed();
    return SG_ERR_UNTRUSTED_IDENTITY;
  }
  return SG_SUCCESS;
}

// Trust on first use: unknown or equal keys are trusted, a different key is
// not (the caller gets `identity_changed` and decides via accept_identity).
int is_trusted_identity(const signal_protocol_address* address, uint8_t* key_data, size_t key_len, void* ud) {
  auto& b = bridge(ud);
  auto addr = to_address(address);
  if (!addr) return SG_ERR_INVAL;
  auto key = strip_key_type(key_data, key_len);
  if (!key) return SG_ERR_INVALID_KEY;
  auto r = b.store().check_identity(*addr, *key);
  if (!r) return store_failed(b, r);
  if (*r == store::IdentityStatus::changed) {
    b.note_identity_changed();
    return 0;
  }
  if (*r == store::IdentityStatus::match) b.note_trusted(*addr, *key);
  return 1;
}

// ------------------------------------------------------------------ sender keys

std::optional<std::pair<std::string_view, store::Address>> to_sender(const signal_protocol_sender_key_name* n) {
  if (!n || (!n->group_id && n->group_id_len)) return std::nullopt;
  auto addr = to_address(&n->sender);
  if (!addr) return std::nullopt;
  return std::make_pair(std::string_view(n->group_id ? n->group_id : "", n->group_id_len), std::move(*addr));
}

int store_sender_key(const signal_protocol_sender_key_name* name, uint8_t* record, size_t record_len, uint8_t*, size_t,
                     void* ud) {
  auto& b = bridge(ud);
  auto s = to_sender(name);
  if (!s || (!record && record_len)) return SG_ERR_INVAL;
  auto r = b.store().store_sender_key(s->first, s->second, ByteView(record, record_len));
  return r ? SG_SUCCESS : store_failed(b, r);
}

int load_sender_key(signal_buffer** record, signal_buffer**, const signal_protocol_sender_key_name* name, void* ud) {
  auto& b = bridge(ud);
  auto s = to_sender(name);
  if (!s) return SG_ERR_INVAL;
  auto r = b.store().load_sender_key(s->first, s->second);
  if (!r) return store_failed(b, r);
  if (!*r) return 0;
  int rc = buffer_out(record, **r);
  return rc == SG_SUCCESS ? 1 : rc;
}

}  // namespace

Result<std::unique_ptr<StoreBridge>> StoreBridge::create(store::Store& st, SignalContext& ctx) {
  auto self = std::make_unique<StoreBridge>(Token{}, st, ctx);
  if (signal_protocol_store_context_create(&self->store_ctx_, ctx.raw()) != SG_SUCCESS || !self->store_ctx_)
    return fail("signal_error", "cannot create the store context");
  void* ud = self.get();
  signal_protocol_session_store sessions{.load_session_func = load_session,
                                         .get_sub_device_sessions_func = get_sub_device_sessions,
                                         .store_session_func = store_session,
                                         .contains_session_func = contains_session,
                                         .delete_session_func = delete_session,
                                         .delete_all_sessions_func = delete_all_sessions,
                                         .destroy_func = nullptr,
                                         .user_data = ud};
  signal_protocol_pre_key_store prekeys{.load_pre_key = load_pre_key,
                                        .store_pre_key = store_pre_key,
                                        .contains_pre_key = contains_pre_key,
                                        .remove_pre_key = remove_pre_key,
                                        .destroy_func = nullptr,
                                        .user_data = ud};
  signal_protocol_signed_pre_key_store signed_prekeys{.load_signed_pre_key = load_signed_pre_key,
                                                      .store_signed_pre_key = store_signed_pre_key,
                                                      .contains_signed_pre_key = contains_signed_pre_key,
                                                      .remove_signed_pre_key = remove_signed_pre_key,
                                                      .destroy_func = nullptr,
                                                      .user_data = ud};
  signal_protocol_identity_key_store identities{.get_identity_key_pair = get_identity_key_pair,
                                                .get_local_registration_id = get_local_registration_id,
                                                .save_identity = save_identity,
                                                .is_trusted_identity = is_trusted_identity,
                                                .destroy_func = nullptr,
                                                .user_data = ud};
  signal_protocol_sender_key_store sender_keys{.store_sender_key = store_sender_key,
                                               .load_sender_key = load_sender_key,
                                               .destroy_func = nullptr,
                                               .user_data = ud};
  auto* sc = self->store_ctx_;
  if (signal_protocol_store_context_set_session_store(sc, &sessions) != SG_SUCCESS ||
      signal_protocol_store_context_set_pre_key_store(sc, &prekeys) != SG_SUCCESS ||
      signal_protocol_store_context_set_signed_pre_key_store(sc, &signed_prekeys) != SG_SUCCESS ||
      signal_protocol_store_context_set_identity_key_store(sc, &identities) != SG_SUCCESS ||
      signal_protocol_store_context_set_sender_key_store(sc, &sender_keys) != SG_SUCCESS)
    return fail("signal_error", "cannot install the store callbacks");
  return self;
}

StoreBridge::~StoreBridge() {
  if (store_ctx_) signal_protocol_store_context_destroy(store_ctx_);
}

Error StoreBridge::error_for(int rc, std::string_view op) const {
  if (identity_changed_)
    return Error{"identity_changed",
                 std::string(op) + ": the contact's identity key changed (not trusted until accepted)"};
  if (store_error_) return *store_error_;
  return sg_error(rc, op);
}

Error sg_error(int rc, std::string_view op) {
  std::string code;
  switch (rc) {
    case SG_ERR_NOMEM:
      code = "out_of_memory";
      break;
    case SG_ERR_INVAL:
      code = "invalid_argument";
      break;
    case SG_ERR_DUPLICATE_MESSAGE:
      code = "duplicate_message";
      break;
    case SG_ERR_INVALID_KEY:
      code = "invalid_key";
      break;
    case SG_ERR_INVALID_KEY_ID:
      code = "invalid_key_id";
      break;
    case SG_ERR_INVALID_MAC:
      code = "bad_mac";
      break;
    case SG_ERR_INVALID_MESSAGE:
      code = "invalid_message";
      break;
    case SG_ERR_INVALID_VERSION:
      code = "invalid_version";
      break;
    case SG_ERR_LEGACY_MESSAGE:
      code = "legacy_message";
      break;
    case SG_ERR_NO_SESSION:
      code = "no_session";
      break;
    case SG_ERR_STALE_KEY_EXCHANGE:
      code = "stale_key_exchange";
      break;
    case SG_ERR_UNTRUSTED_IDENTITY:
      code = "identity_changed";
      break;
    case SG_ERR_VRF_SIG_VERIF_FAILED:
      code = "bad_signature";
      break;
    case SG_ERR_INVALID_PROTO_BUF:
      code = "invalid_message";
      break;
    default:
      code = "signal_error";
      break;
  }
  return Error{std::move(code), std::string(op) + " failed (libsignal " + std::to_string(rc) + ")"};
}

}  // namespace wa::signal::detail
