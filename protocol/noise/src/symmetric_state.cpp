#include "symmetric_state.hpp"

#include "nonce.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace wa::noise {
namespace {

constexpr char kProtocolName[] = "Noise_XX_25519_AESGCM_SHA256\0\0\0\0";
static_assert(sizeof(kProtocolName) == 33, "protocol name must be exactly 32 bytes plus the terminator");


}  // namespace

SymmetricState::SymmetricState() {
  std::memcpy(h_.data(), kProtocolName, h_.size());
  ck_ = h_;
  k_ = h_;
}

SymmetricState::~SymmetricState() {
  secure_wipe(h_.data(), h_.size());
  secure_wipe(ck_.data(), ck_.size());
  secure_wipe(k_.data(), k_.size());
}

void SymmetricState::mix_hash(ByteView data) { h_ = crypto::sha256_concat(h_, data); }

void SymmetricState::mix_key(ByteView input_key_material) {
  Bytes okm = crypto::hkdf_sha256(input_key_material, ck_, ByteView{}, 64);
  std::copy_n(okm.begin(), 32, ck_.begin());
  std::copy_n(okm.begin() + 32, 32, k_.begin());
  secure_wipe(okm);
  n_ = 0;
}

Result<Bytes> SymmetricState::encrypt_and_hash(ByteView plaintext) {
  if (n_ == std::numeric_limits<uint32_t>::max()) return fail("nonce_exhausted", "handshake nonce exhausted");
  auto iv = nonce_for(n_++);
  auto ct = crypto::aes_gcm_encrypt(k_, iv, h_, plaintext);
  if (!ct) return ct;
  mix_hash(*ct);
  return ct;
}

Result<Bytes> SymmetricState::decrypt_and_hash(ByteView ciphertext) {
  if (n_ == std::numeric_limits<uint32_t>::max()) return fail("nonce_exhausted", "handshake nonce exhausted");
  auto iv = nonce_for(n_++);
  auto pt = crypto::aes_gcm_decrypt(k_, iv, h_, ciphertext);
  if (!pt) return pt;
  mix_hash(ciphertext);
  return pt;
}

void SymmetricState::split(crypto::Key32& first, crypto::Key32& second) const {
  Bytes okm = crypto::hkdf_sha256(ByteView{}, ck_, ByteView{}, 64);
  std::copy_n(okm.begin(), 32, first.begin());
  std::copy_n(okm.begin() + 32, 32, second.begin());
  secure_wipe(okm);
}

}  // namespace wa::noise
