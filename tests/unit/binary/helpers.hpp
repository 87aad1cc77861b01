// Small helpers shared by the binary unit tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "wa/bytes.hpp"

namespace wa::binary::test {

// "F8 0A 19" -> bytes; spaces and '|' are ignored.
inline Bytes hex(std::string_view spaced) {
  std::string compact;
  for (char c : spaced) {
    if (c != ' ' && c != '|') compact += c;
  }
  auto b = from_hex(compact);
  REQUIRE(b.has_value());
  return *b;
}

// Deterministic xorshift PRNG: test inputs must be reproducible.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed ? seed : 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
};

}  // namespace wa::binary::test
