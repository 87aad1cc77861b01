// The AES-GCM nonce both Noise phases use: 8 zero bytes, then the 32-bit
// counter big-endian (handshake counter and transport counters alike).
#pragma once

#include <array>
#include <cstdint>

namespace wa::noise {

inline std::array<uint8_t, 12> nonce_for(uint32_t n) {
  std::array<uint8_t, 12> iv{};
  iv[8] = static_cast<uint8_t>(n >> 24);
  iv[9] = static_cast<uint8_t>(n >> 16);
  iv[10] = static_cast<uint8_t>(n >> 8);
  iv[11] = static_cast<uint8_t>(n);
  return iv;
}

}  // namespace wa::noise
