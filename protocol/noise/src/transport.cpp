#include "wa/noise/transport.hpp"

#include "nonce.hpp"

#include <limits>

namespace wa::noise {
namespace {

constexpr uint64_t kMaxFrames = uint64_t{std::numeric_limits<uint32_t>::max()} + 1;

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
  auto out = write_.encrypt(nonce_for(static_cast<uint32_t>(write_counter_)), ByteView{}, plaintext);
  if (out) ++write_counter_;
  return out;
}

Result<Bytes> TransportCipher::decrypt(ByteView ciphertext) {
  if (broken_) return fail("transport_broken", "transport cipher failed earlier");
  if (read_counter_ >= kMaxFrames) return fail("nonce_exhausted", "2^32 frames received; reconnect");
  auto out = read_.decrypt(nonce_for(static_cast<uint32_t>(read_counter_)), ByteView{}, ciphertext);
  if (!out) {
    broken_ = true;
    return out;
  }
  ++read_counter_;
  return out;
}

}  // namespace wa::noise
