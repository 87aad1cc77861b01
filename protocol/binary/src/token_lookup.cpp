#include <algorithm>
#include <cstring>

#include "wa/binary/tokens.hpp"

namespace wa::binary::tokens {
namespace {

// Open-addressing table over both dictionaries, built once. Every string the
// encoder writes is looked up here first, so it must be cheap for misses too:
// a length pre-check rejects most long strings before hashing.
constexpr std::size_t kSlots = 4096;  // power of two, load factor ~0.3
constexpr std::size_t kMask = kSlots - 1;

// O(1) in the string length: two overlapping 4-byte loads (or three bytes
// for short strings) plus the length. Probing resolves collisions, so the
// hash only needs to spread the ~1260 tokens well enough.
uint32_t load32(const char* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

uint32_t hash(std::string_view s) noexcept {
  const std::size_t n = s.size();
  const char* p = s.data();
  uint64_t v;
  if (n >= 4) {
    v = uint64_t{load32(p)} << 32 | load32(p + n - 4);
  } else {
    v = uint64_t{static_cast<uint8_t>(p[0])} << 16 | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
        static_cast<uint8_t>(p[n - 1]);
  }
  uint64_t h = (v ^ (n * 0x165667B19E3779F9ull)) * 0x9E3779B97F4A7C15ull;
  return static_cast<uint32_t>(h >> 32);
}

// Slot value 0 = empty; 1..235 = single-byte index; (dict+1) << 8 | index = double.
std::string_view resolve(uint16_t code) noexcept {
  if (code < 256) return kSingleByte[code];
  return kDoubleByte[(code >> 8) - 1][code & 0xFF];
}

struct Table {
  std::array<uint16_t, kSlots> slots{};
  std::size_t max_len = 0;

  void insert(std::string_view s, uint16_t code) {
    max_len = std::max(max_len, s.size());
    for (std::size_t i = hash(s) & kMask;; i = (i + 1) & kMask) {
      if (slots[i] == 0) {
        slots[i] = code;
        return;
      }
    }
  }

  Table() {
    for (std::size_t i = 1; i < kSingleByteCount; ++i) insert(kSingleByte[i], static_cast<uint16_t>(i));
    for (std::size_t d = 0; d < kDoubleByteDicts; ++d) {
      for (std::size_t j = 0; j < kDoubleByteDictSize; ++j) {
        insert(kDoubleByte[d][j], static_cast<uint16_t>((d + 1) << 8 | j));
      }
    }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

std::optional<Token> find(std::string_view s) noexcept {
  const Table& t = table();
  if (s.empty() || s.size() > t.max_len) return std::nullopt;
  for (std::size_t i = hash(s) & kMask;; i = (i + 1) & kMask) {
    uint16_t code = t.slots[i];
    if (code == 0) return std::nullopt;
    if (resolve(code) == s) {
      if (code < 256) return Token{-1, static_cast<uint8_t>(code)};
      return Token{static_cast<int8_t>((code >> 8) - 1), static_cast<uint8_t>(code & 0xFF)};
    }
  }
}

std::string_view single(uint8_t index) noexcept {
  return index < kSingleByteCount ? kSingleByte[index] : std::string_view{};
}

std::string_view double_byte(uint8_t dict, uint8_t index) noexcept {
  return dict < kDoubleByteDicts ? kDoubleByte[dict][index] : std::string_view{};
}

}  // namespace wa::binary::tokens
