// Pipe framing and helpers shared by the race driver and its peers.
// Frame: 4-byte big-endian length, then that many bytes (capped).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "wa/bytes.hpp"

namespace race {

inline constexpr uint32_t kMaxFrame = 1 << 20;

inline bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

inline bool read_all(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

inline bool write_frame(int fd, wa::ByteView payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  uint8_t hdr[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
                    static_cast<uint8_t>(n)};
  return write_all(fd, hdr, 4) && write_all(fd, payload.data(), payload.size());
}

// nullopt on EOF, error or an oversized length (never allocated).
inline std::optional<wa::Bytes> read_frame(int fd) {
  uint8_t hdr[4];
  if (!read_all(fd, hdr, 4)) return std::nullopt;
  uint32_t n = (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) | hdr[3];
  if (n > kMaxFrame) return std::nullopt;
  wa::Bytes b(n);
  if (n && !read_all(fd, b.data(), n)) return std::nullopt;
  return b;
}

// The jitter the test is about: random delays that shift which process
// gets where first. Not synchronisation.
class Jitter {
 public:
  explicit Jitter(uint64_t seed) : rng_(seed) {}
  void sleep_up_to_us(int max_us) {
    std::uniform_int_distribution<int> d(0, max_us);
    std::this_thread::sleep_for(std::chrono::microseconds(d(rng_)));
  }

 private:
  std::mt19937_64 rng_;
};

// Error codes that mean the ratchet itself went wrong (vs. the store or the harness).
inline bool is_crypto_failure(const std::string& code) {
  return code == "duplicate_message" || code == "bad_mac" || code == "invalid_message" || code == "no_session" ||
         code == "invalid_key_id" || code == "invalid_key" || code == "signal_error" || code == "plaintext_mismatch";
}

}  // namespace race
