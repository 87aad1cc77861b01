// OpenSSL 3 EVP implementation of wa/crypto/crypto.hpp. Only non-deprecated
// interfaces: EVP_MD for digests, EVP_MAC for HMAC, EVP_KDF for HKDF/PBKDF2,
// EVP_CIPHER for AES and EVP_PKEY for X25519.
#include "wa/crypto/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace wa::crypto {
namespace {

// RAII for every OpenSSL handle used below.
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); } };
struct MacFree { void operator()(EVP_MAC* p) const noexcept { EVP_MAC_free(p); } };
struct MacCtxFree { void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); } };
struct KdfFree { void operator()(EVP_KDF* p) const noexcept { EVP_KDF_free(p); } };
struct KdfCtxFree { void operator()(EVP_KDF_CTX* p) const noexcept { EVP_KDF_CTX_free(p); } };
struct CipherFree { void operator()(EVP_CIPHER* p) const noexcept { EVP_CIPHER_free(p); } };
struct CipherCtxFree { void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); } };
struct MdFree { void operator()(EVP_MD* p) const noexcept { EVP_MD_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); } };

using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, KdfCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// Algorithm fetches are costly (provider lookup under a lock); do each once.
// The fetched objects are immutable and safe to share between threads.
[[noreturn]] void die(const char* what) noexcept {
  // Only reached when the OpenSSL default provider itself is missing: the
  // process cannot do anything safely, and continuing would be worse.
  std::fprintf(stderr, "wa_crypto: fatal: %s\n", what);
  std::abort();
}

const EVP_MD* md_sha256() {
  static const std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (!md) die("SHA256 unavailable");
  return md.get();
}
const EVP_MD* md_sha512() {
  static const std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "SHA512", nullptr));
  if (!md) die("SHA512 unavailable");
  return md.get();
}
const EVP_MD* md_md5() {
  static const std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "MD5", nullptr));
  if (!md) die("MD5 unavailable");
  return md.get();
}
EVP_MAC* mac_hmac() {
  static const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) die("HMAC unavailable");
  return mac.get();
}
EVP_KDF* kdf_hkdf() {
  static const std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) die("HKDF unavailable");
  return kdf.get();
}
EVP_KDF* kdf_pbkdf2() {
  static const std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "PBKDF2", nullptr));
  if (!kdf) die("PBKDF2 unavailable");
  return kdf.get();
}
const EVP_CIPHER* cipher(const char* name) {
  // Three fixed names; a tiny static table keeps each fetch single.
  static const std::unique_ptr<EVP_CIPHER, CipherFree> gcm(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  static const std::unique_ptr<EVP_CIPHER, CipherFree> cbc(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr));
  static const std::unique_ptr<EVP_CIPHER, CipherFree> ctr(EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr));
  const EVP_CIPHER* c = nullptr;
  if (std::strcmp(name, "gcm") == 0) c = gcm.get();
  else if (std::strcmp(name, "cbc") == 0) c = cbc.get();
  else c = ctr.get();
  if (c == nullptr) die("AES unavailable");
  return c;
}

// OpenSSL takes non-const void* for octet params it only reads, and treats a
// null pointer as "not set" even with length 0: point empty inputs here.
uint8_t g_empty_byte = 0;
void* param_ptr(ByteView b) {
  return b.empty() ? static_cast<void*>(&g_empty_byte) : const_cast<uint8_t*>(b.data());
}

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, ByteView data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N) {
    die("digest failed");
  }
  return out;
}

// EVP lengths are int; refuse larger inputs instead of truncating.
bool fits_int(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

void random_bytes(std::span<uint8_t> out) {
  size_t off = 0;
  while (off < out.size()) {
    const size_t chunk = std::min<size_t>(out.size() - off, INT_MAX);
    if (RAND_bytes(out.data() + off, static_cast<int>(chunk)) != 1) die("RAND_bytes failed");
    off += chunk;
  }
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  random_bytes(std::span<uint8_t>(b));
  return b;
}

uint32_t random_u32() {
  std::array<uint8_t, 4> b{};
  random_bytes(b);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

std::array<uint8_t, 32> sha256(ByteView data) { return digest<32>(md_sha256(), data); }
std::array<uint8_t, 64> sha512(ByteView data) { return digest<64>(md_sha512(), data); }
std::array<uint8_t, 16> md5(ByteView data) { return digest<16>(md_md5(), data); }

std::string participant_hash(std::vector<std::string> device_jids) {
  std::sort(device_jids.begin(), device_jids.end());
  std::string all;
  for (const auto& j : device_jids) all += j;
  return "2:" + to_base64(sha256(as_bytes(all))).substr(0, 6);
}

std::array<uint8_t, 32> sha256_concat(ByteView a, ByteView b) {
  MdCtx ctx(EVP_MD_CTX_new());
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != 32) {
    die("sha256 failed");
  }
  return out;
}

std::array<uint8_t, 32> hmac_sha256(ByteView key, ByteView data) {
  MacCtx ctx(EVP_MAC_CTX_new(mac_hmac()));
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  std::array<uint8_t, 32> out{};
  size_t len = 0;
  const unsigned char* k = key.empty() ? &g_empty_byte : key.data();
  if (!ctx || EVP_MAC_init(ctx.get(), k, key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != 32) {
    die("HMAC-SHA256 failed");
  }
  return out;
}

Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, size_t length) {
  // RFC 5869 caps the output at 255 hash blocks; callers ask for <= 112 bytes.
  if (length == 0 || length > 255 * 32) return {};
  static const std::array<uint8_t, 32> zero_salt{};
  const ByteView s = salt.empty() ? ByteView(zero_salt) : salt;
  KdfCtx ctx(EVP_KDF_CTX_new(kdf_hkdf()));
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, param_ptr(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, param_ptr(s), s.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, param_ptr(info), info.size()),
      OSSL_PARAM_construct_end(),
  };
  Bytes out(length);
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) die("HKDF failed");
  return out;
}

Bytes pbkdf2_sha256(ByteView password, ByteView salt, uint32_t iterations, size_t length) {
  if (length == 0 || iterations == 0) return {};
  KdfCtx ctx(EVP_KDF_CTX_new(kdf_pbkdf2()));
  char digest_name[] = "SHA256";
  uint64_t iter = iterations;
  // PKCS#5 mode: the SP 800-132 minimums (salt >= 16 bytes, >= 1000 rounds)
  // would reject the protocol's own parameters (link-code pairing, RFC vectors).
  int pkcs5 = 1;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, param_ptr(password), password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, param_ptr(salt), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5),
      OSSL_PARAM_construct_end(),
  };
  Bytes out(length);
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) die("PBKDF2 failed");
  return out;
}

// ---- AES ----

Result<Bytes> aes_gcm_encrypt(ByteView key32, ByteView iv12, ByteView aad, ByteView plaintext) {
  if (key32.size() != 32) return fail("bad_key", "AES-256-GCM key must be 32 bytes");
  if (iv12.size() != 12) return fail("bad_iv", "AES-GCM iv must be 12 bytes");
  if (!fits_int(plaintext.size()) || !fits_int(aad.size())) return fail("too_large", "input too large");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), cipher("gcm"), key32.data(), iv12.data(), nullptr) != 1) {
    return fail("crypto_error", "AES-GCM init failed");
  }
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return fail("crypto_error", "AES-GCM aad failed");
  }
  Bytes out(plaintext.size() + 16);
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1) {
      return fail("crypto_error", "AES-GCM encrypt failed");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) return fail("crypto_error", "AES-GCM final failed");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, out.data() + total) != 1) {
    return fail("crypto_error", "AES-GCM tag failed");
  }
  out.resize(static_cast<size_t>(total) + 16);
  return out;
}

Result<Bytes> aes_gcm_decrypt(ByteView key32, ByteView iv12, ByteView aad, ByteView ciphertext_and_tag) {
  if (key32.size() != 32) return fail("bad_key", "AES-256-GCM key must be 32 bytes");
  if (iv12.size() != 12) return fail("bad_iv", "AES-GCM iv must be 12 bytes");
  if (ciphertext_and_tag.size() < 16) return fail("truncated", "AES-GCM input shorter than its tag");
  if (!fits_int(ciphertext_and_tag.size()) || !fits_int(aad.size())) return fail("too_large", "input too large");
  const size_t ct_len = ciphertext_and_tag.size() - 16;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), cipher("gcm"), key32.data(), iv12.data(), nullptr) != 1) {
    return fail("crypto_error", "AES-GCM init failed");
  }
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return fail("crypto_error", "AES-GCM aad failed");
  }
  Bytes out(ct_len);
  int total = 0;
  if (ct_len > 0) {
    if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, ciphertext_and_tag.data(), static_cast<int>(ct_len)) != 1) {
      return fail("crypto_error", "AES-GCM decrypt failed");
    }
    total = len;
  }
  // The tag buffer is only read; OpenSSL's ctrl signature is not const-correct.
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16,
                          const_cast<uint8_t*>(ciphertext_and_tag.data() + ct_len)) != 1) {
    return fail("crypto_error", "AES-GCM set tag failed");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    secure_wipe(out);  // never hand out unauthenticated plaintext
    return fail("auth_failed", "AES-GCM tag mismatch");
  }
  out.resize(static_cast<size_t>(total + len));
  return out;
}

namespace {
Result<Bytes> aes_stream(const char* mode, bool encrypt, bool padding, ByteView key32, ByteView iv16, ByteView in) {
  if (key32.size() != 32) return fail("bad_key", "AES-256 key must be 32 bytes");
  if (iv16.size() != 16) return fail("bad_iv", "AES iv must be 16 bytes");
  if (!fits_int(in.size() + 16)) return fail("too_large", "input too large");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex2(ctx.get(), cipher(mode), key32.data(), iv16.data(), encrypt ? 1 : 0, nullptr) != 1) {
    return fail("crypto_error", "AES init failed");
  }
  EVP_CIPHER_CTX_set_padding(ctx.get(), padding ? 1 : 0);
  Bytes out(in.size() + 16);
  int len = 0;
  int total = 0;
  if (!in.empty()) {
    if (EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())) != 1) {
      return fail("crypto_error", "AES update failed");
    }
    total = len;
  }
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    secure_wipe(out);
    return fail(encrypt ? "crypto_error" : "bad_padding", "AES final failed (bad length or padding)");
  }
  total += len;
  out.resize(static_cast<size_t>(total));
  return out;
}
}  // namespace

Result<Bytes> aes_cbc_encrypt(ByteView key32, ByteView iv16, ByteView plaintext) {
  return aes_stream("cbc", true, true, key32, iv16, plaintext);
}
Result<Bytes> aes_cbc_decrypt(ByteView key32, ByteView iv16, ByteView ciphertext) {
  if (ciphertext.empty() || ciphertext.size() % 16 != 0) {
    return fail("bad_length", "AES-CBC ciphertext must be a non-empty multiple of 16 bytes");
  }
  return aes_stream("cbc", false, true, key32, iv16, ciphertext);
}
Result<Bytes> aes_ctr(ByteView key32, ByteView iv16, ByteView data) {
  return aes_stream("ctr", true, false, key32, iv16, data);
}

// ---- AesGcmKey: one expanded key, many messages ----

struct AesGcmKey::Impl {
  CipherCtx enc;
  CipherCtx dec;
};

AesGcmKey::AesGcmKey() = default;
AesGcmKey::~AesGcmKey() = default;
AesGcmKey::AesGcmKey(AesGcmKey&&) noexcept = default;
AesGcmKey& AesGcmKey::operator=(AesGcmKey&&) noexcept = default;

Result<AesGcmKey> AesGcmKey::create(ByteView key32) {
  if (key32.size() != 32) return fail("bad_key", "AES-256-GCM key must be 32 bytes");
  AesGcmKey k;
  k.impl_ = std::make_unique<Impl>();
  k.impl_->enc.reset(EVP_CIPHER_CTX_new());
  k.impl_->dec.reset(EVP_CIPHER_CTX_new());
  if (!k.impl_->enc || !k.impl_->dec ||
      EVP_EncryptInit_ex2(k.impl_->enc.get(), cipher("gcm"), key32.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(k.impl_->dec.get(), cipher("gcm"), key32.data(), nullptr, nullptr) != 1) {
    return fail("crypto_error", "AES-GCM key setup failed");
  }
  return k;
}

Result<Bytes> AesGcmKey::encrypt(ByteView iv12, ByteView aad, ByteView plaintext) const {
  if (!impl_) return fail("bad_key", "AES-GCM key not initialised");
  if (iv12.size() != 12) return fail("bad_iv", "AES-GCM iv must be 12 bytes");
  if (!fits_int(plaintext.size()) || !fits_int(aad.size())) return fail("too_large", "input too large");
  EVP_CIPHER_CTX* ctx = impl_->enc.get();
  // Re-init with only the iv keeps the expanded key schedule.
  if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, iv12.data(), nullptr) != 1) {
    return fail("crypto_error", "AES-GCM init failed");
  }
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return fail("crypto_error", "AES-GCM aad failed");
  }
  Bytes out(plaintext.size() + 16);
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1) {
      return fail("crypto_error", "AES-GCM encrypt failed");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx, out.data() + total, &len) != 1) return fail("crypto_error", "AES-GCM final failed");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.data() + total) != 1) {
    return fail("crypto_error", "AES-GCM tag failed");
  }
  out.resize(static_cast<size_t>(total) + 16);
  return out;
}

Result<Bytes> AesGcmKey::decrypt(ByteView iv12, ByteView aad, ByteView ciphertext_and_tag) const {
  if (!impl_) return fail("bad_key", "AES-GCM key not initialised");
  if (iv12.size() != 12) return fail("bad_iv", "AES-GCM iv must be 12 bytes");
  if (ciphertext_and_tag.size() < 16) return fail("truncated", "AES-GCM input shorter than its tag");
  if (!fits_int(ciphertext_and_tag.size()) || !fits_int(aad.size())) return fail("too_large", "input too large");
  const size_t ct_len = ciphertext_and_tag.size() - 16;
  EVP_CIPHER_CTX* ctx = impl_->dec.get();
  if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, iv12.data(), nullptr) != 1) {
    return fail("crypto_error", "AES-GCM init failed");
  }
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return fail("crypto_error", "AES-GCM aad failed");
  }
  Bytes out(ct_len);
  int total = 0;
  if (ct_len > 0) {
    if (EVP_DecryptUpdate(ctx, out.data(), &len, ciphertext_and_tag.data(), static_cast<int>(ct_len)) != 1) {
      return fail("crypto_error", "AES-GCM decrypt failed");
    }
    total = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<uint8_t*>(ciphertext_and_tag.data() + ct_len)) != 1) {
    return fail("crypto_error", "AES-GCM set tag failed");
  }
  if (EVP_DecryptFinal_ex(ctx, out.data() + total, &len) != 1) {
    secure_wipe(out);
    return fail("auth_failed", "AES-GCM tag mismatch");
  }
  out.resize(static_cast<size_t>(total + len));
  return out;
}

// ---- X25519 ----

KeyPair::~KeyPair() { secure_wipe(priv.data(), priv.size()); }

KeyPair generate_keypair() {
  Key32 priv{};
  random_bytes(priv);
  KeyPair kp = keypair_from_private(priv);
  secure_wipe(priv.data(), priv.size());
  return kp;
}

KeyPair keypair_from_private(const Key32& priv) {
  KeyPair kp;
  kp.priv = priv;
  // Clamp as Signal does, so the stored key is the exact scalar used by both
  // X25519 and XEdDSA (the latter does not clamp by itself).
  kp.priv[0] &= 248;
  kp.priv[31] &= 127;
  kp.priv[31] |= 64;
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, kp.priv.data(), kp.priv.size()));
  size_t len = kp.pub.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), kp.pub.data(), &len) != 1 || len != 32) {
    die("X25519 public key derivation failed");
  }
  return kp;
}

Result<Key32> x25519(const Key32& priv, ByteView peer_pub32) {
  if (peer_pub32.size() != 32) return fail("bad_key", "X25519 public key must be 32 bytes");
  Pkey own(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()));
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_pub32.data(), peer_pub32.size()));
  if (!own || !peer) return fail("bad_key", "X25519 key rejected");
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own.get(), nullptr));
  Key32 out{};
  size_t len = out.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return fail("crypto_error", "X25519 init failed");
  }
  // OpenSSL refuses (and we double-check) the all-zero result of a
  // low-order peer point: it would make the "shared" secret public.
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != 32) {
    return fail("weak_key", "X25519 produced no shared secret (low-order point)");
  }
  static const Key32 zero{};
  if (CRYPTO_memcmp(out.data(), zero.data(), out.size()) == 0) {
    return fail("weak_key", "X25519 shared secret is all zero");
  }
  return out;
}

bool equal_ct(ByteView a, ByteView b) {
  return a.size() == b.size() && (a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace wa::crypto
