#include "wa/noise/transport.hpp"

#include <limits>

namespace wa::noise {
namespace {

constexpr uint64_t kMaxFrames = uint64_t{std::numeric_limits<uint32_t>::max()} + 1;

std::array<uint8_t, 12> iv_for(uint64_t counter) {
  std::array<uint8_t, 12> iv{};
  const auto n = static_cast<uint32_t>(counter);
  iv[8] = static_cast<uint8_t>(n >> 24);
  iv[9] = static_cast<uint8_t>(n >> 16);
  iv[10] = static_cast<uint8_t>(n >> 8);
  iv[11] = static_cast<uint8_t>(n);
  return iv;
}

}  // namespace

Result<TransportCipher> TransportCipher::create(ByteView write_key32, ByteView read_key32) {
  auto w = crypto::AesGcmKey::create(write_key32);
  if (!w) return fail(w.error().code, w.error().message);
  auto r = crypto::AesGcmKey::create(read_key32);
  if (!r) return fail(r.error().code, r.error().message);
  TransportCipher t;
  t.write_ = std::move(*w);
  t.read_ = std::move(*r);
  return t;
}

Result<Bytes> TransportCipher::encrypt(ByteView plaintext) {
  if (broken_) return fail("transport_broken", "transport cipher failed earlier");
  if (write_counter_ >= kMaxFrames) return fail("nonce_exhausted", "2^32 frames sent; reconnect");
  auto out = write_.encrypt(iv_for(write_counter_), ByteView{}, plaintext);
  if (out) ++write_counter_;
  return out;
}

Result<Bytes> TransportCipher::decrypt(ByteView ciphertext) {
  if (broken_) return fail("transport_broken", "transport cipher failed earlier");
  if (read_counter_ >= kMaxFrames) return fail("nonce_exhausted", "2^32 frames received; reconnect");
  auto out = read_.decrypt(iv_for(read_counter_), ByteView{}, ciphertext);
  if (!out) {
    broken_ = true;
    return out;
  }
  ++read_counter_;
  return out;
}

}  // namespace wa::noise
