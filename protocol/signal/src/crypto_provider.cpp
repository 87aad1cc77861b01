#include "wa/signal/crypto_provider.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <memory>
#include <vector>

#include "wa/crypto/crypto.hpp"

namespace wa::signal {
namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
struct MacFree {
  void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Fetched once: EVP_MAC_fetch is a provider lookup, too slow for every HMAC.
EVP_MAC* hmac_algorithm() {
  static const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  return mac.get();
}

int random_cb(uint8_t* data, size_t len, void*) {
  if (len) wa::crypto::random_bytes(std::span<uint8_t>(data, len));
  return SG_SUCCESS;
}

// An HMAC context with its digest already chosen. Naming the digest in
// EVP_MAC_init makes OpenSSL fetch it from the provider (a lookup under a
// lock) on every call; a decrypt makes several HMACs, so each starts as a
// copy of this one instead. One per thread: the original is never shared.
EVP_MAC_CTX* hmac_sha256_template() {
  thread_local const MacCtx tmpl = [] {
    EVP_MAC* mac = hmac_algorithm();
    MacCtx ctx(mac ? EVP_MAC_CTX_new(mac) : nullptr);
    if (!ctx) return ctx;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    // Keyed (with an empty key) so the copies start from a complete state.
    static const uint8_t none = 0;
    if (EVP_MAC_init(ctx.get(), &none, 0, params) != 1) ctx.reset();
    return ctx;
  }();
  return tmpl.get();
}

// An HMAC in progress, as libsignal holds it: init, updates, one final,
// cleanup - never an update after the final (it starts a new HMAC instead).
struct Hmac {
  MacCtx ctx;
  bool finished = false;
};

// Contexts of finished HMACs, kept for this thread's next ones: a decrypt
// or encrypt makes several, and a copy of the template plus a free for each
// was ~4 % of the receive path's CPU; re-keying each with the empty key as it
// finished was ~3 % more. A kept context still holds state derived from its
// last key, so the pool is emptied (OpenSSL cleanses what it frees) when the
// Signal operation ends, or the batch of them (CryptoBatch).
constexpr size_t kHmacPoolMax = 8;
std::vector<MacCtx>& hmac_pool() {
  thread_local std::vector<MacCtx> pool;
  return pool;
}
thread_local int open_batches = 0;

int hmac_init_cb(void** hmac_context, const uint8_t* key, size_t key_len, void*) {
  auto h = std::make_unique<Hmac>();
  if (auto& pool = hmac_pool(); !pool.empty()) {
    h->ctx = std::move(pool.back());
    pool.pop_back();
  } else {
    EVP_MAC_CTX* tmpl = hmac_sha256_template();
    if (!tmpl) return SG_ERR_UNKNOWN;
    h->ctx.reset(EVP_MAC_CTX_dup(tmpl));
    if (!h->ctx) return SG_ERR_NOMEM;
  }
  // A null key means "keep the previous key" to OpenSSL; an empty key must
  // still be a real (zero-length) key.
  static const uint8_t empty = 0;
  if (EVP_MAC_init(h->ctx.get(), key_len ? key : &empty, key_len, nullptr) != 1) return SG_ERR_UNKNOWN;
  *hmac_context = h.release();
  return SG_SUCCESS;
}

int hmac_update_cb(void* hmac_context, const uint8_t* data, size_t data_len, void*) {
  auto* h = static_cast<Hmac*>(hmac_context);
  // After the final the state is spent: fail rather than hash on from it.
  if (h->finished) return SG_ERR_UNKNOWN;
  if (data_len == 0) return SG_SUCCESS;
  return EVP_MAC_update(h->ctx.get(), data, data_len) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
}

int hmac_final_cb(void* hmac_context, signal_buffer** output, void*) {
  auto* h = static_cast<Hmac*>(hmac_context);
  if (h->finished) return SG_ERR_UNKNOWN;
  uint8_t md[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_final(h->ctx.get(), md, &len, sizeof md) != 1) return SG_ERR_UNKNOWN;
  h->finished = true;
  signal_buffer* buf = signal_buffer_create(md, len);
  wa::secure_wipe(md, sizeof md);
  if (!buf) return SG_ERR_NOMEM;
  *output = buf;
  return SG_SUCCESS;
}

void hmac_cleanup_cb(void* hmac_context, void*) {
  std::unique_ptr<Hmac> h(static_cast<Hmac*>(hmac_context));
  if (!h || !h->ctx) return;
  auto& pool = hmac_pool();
  if (pool.size() < kHmacPoolMax) pool.push_back(std::move(h->ctx));
  // Otherwise freed here (OpenSSL cleanses it).
}

int sha512_init_cb(void** digest_context, void*) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return SG_ERR_NOMEM;
  if (EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) != 1) return SG_ERR_UNKNOWN;
  *digest_context = ctx.release();
  return SG_SUCCESS;
}

int sha512_update_cb(void* digest_context, const uint8_t* data, size_t data_len, void*) {
  if (data_len == 0) return SG_SUCCESS;
  return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(digest_context), data, data_len) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
}

int sha512_final_cb(void* digest_context, signal_buffer** output, void*) {
  auto* ctx = static_cast<EVP_MD_CTX*>(digest_context);
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) return SG_ERR_UNKNOWN;
  // The library hashes again with the same context after final (fingerprint
  // iterations). A finalised EVP context would silently produce wrong
  // digests, so start it over here.
  if (EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) != 1) return SG_ERR_UNKNOWN;
  signal_buffer* buf = signal_buffer_create(md, len);
  if (!buf) return SG_ERR_NOMEM;
  *output = buf;
  return SG_SUCCESS;
}

void sha512_cleanup_cb(void* digest_context, void*) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(digest_context)); }

const EVP_CIPHER* pick_cipher(int cipher, size_t key_len) {
  if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
    switch (key_len) {
      case 16:
        return EVP_aes_128_cbc();
      case 24:
        return EVP_aes_192_cbc();
      case 32:
        return EVP_aes_256_cbc();
      default:
        return nullptr;
    }
  }
  if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
    switch (key_len) {
      case 16:
        return EVP_aes_128_ctr();
      case 24:
        return EVP_aes_192_ctr();
      case 32:
        return EVP_aes_256_ctr();
      default:
        return nullptr;
    }
  }
  return nullptr;
}

// One EVP path for every mode and key size the library may ask for
// (wa_crypto's one-shot helpers are AES-256 only).
int aes_cb(bool encrypt, signal_buffer** output, int cipher, const uint8_t* key, size_t key_len, const uint8_t* iv,
           size_t iv_len, const uint8_t* in, size_t in_len) {
  const EVP_CIPHER* evp = pick_cipher(cipher, key_len);
  if (!evp || iv_len != 16) return SG_ERR_INVAL;
  if (in_len > static_cast<size_t>(INT_MAX) - 32) return SG_ERR_INVAL;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return SG_ERR_NOMEM;
  if (EVP_CipherInit_ex(ctx.get(), evp, nullptr, key, iv, encrypt ? 1 : 0) != 1) return SG_ERR_UNKNOWN;
  EVP_CIPHER_CTX_set_padding(ctx.get(), cipher == SG_CIPHER_AES_CBC_PKCS5 ? 1 : 0);
  signal_buffer* raw = signal_buffer_alloc(in_len + 16);
  if (!raw) return SG_ERR_NOMEM;
  std::unique_ptr<signal_buffer, void (*)(signal_buffer*)> buf(raw, signal_buffer_bzero_free);
  uint8_t* out = signal_buffer_data(raw);
  int n1 = 0, n2 = 0;
  static const uint8_t empty = 0;
  if (EVP_CipherUpdate(ctx.get(), out, &n1, in_len ? in : &empty, static_cast<int>(in_len)) != 1) return SG_ERR_UNKNOWN;
  // CBC decryption with bad padding fails here: reported, never truncated.
  if (EVP_CipherFinal_ex(ctx.get(), out + n1, &n2) != 1) return SG_ERR_UNKNOWN;
  size_t total = static_cast<size_t>(n1) + static_cast<size_t>(n2);
  signal_buffer* result = signal_buffer_create(out, total);
  if (!result) return SG_ERR_NOMEM;
  *output = result;
  return SG_SUCCESS;
}

int encrypt_cb(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len, const uint8_t* iv, size_t iv_len,
               const uint8_t* plaintext, size_t plaintext_len, void*) {
  return aes_cb(true, output, cipher, key, key_len, iv, iv_len, plaintext, plaintext_len);
}

int decrypt_cb(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len, const uint8_t* iv, size_t iv_len,
               const uint8_t* ciphertext, size_t ciphertext_len, void*) {
  return aes_cb(false, output, cipher, key, key_len, iv, iv_len, ciphertext, ciphertext_len);
}

}  // namespace

const signal_crypto_provider& crypto_provider() {
  static const signal_crypto_provider provider = {
      .random_func = random_cb,
      .hmac_sha256_init_func = hmac_init_cb,
      .hmac_sha256_update_func = hmac_update_cb,
      .hmac_sha256_final_func = hmac_final_cb,
      .hmac_sha256_cleanup_func = hmac_cleanup_cb,
      .sha512_digest_init_func = sha512_init_cb,
      .sha512_digest_update_func = sha512_update_cb,
      .sha512_digest_final_func = sha512_final_cb,
      .sha512_digest_cleanup_func = sha512_cleanup_cb,
      .encrypt_func = encrypt_cb,
      .decrypt_func = decrypt_cb,
      .user_data = nullptr,
  };
  return provider;
}

CryptoBatch::CryptoBatch() noexcept { ++open_batches; }
CryptoBatch::~CryptoBatch() {
  --open_batches;
  release_crypto_scratch();
}

void release_crypto_scratch() noexcept {
  if (open_batches == 0) hmac_pool().clear();
}

size_t kept_hmac_contexts() noexcept { return hmac_pool().size(); }

}  // namespace wa::signal
