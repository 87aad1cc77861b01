// Token dictionaries of the binary node format (dictionary version 3).
// Frequent strings travel as one byte (single-byte dictionary) or two bytes
// (DICTIONARY_0..3 + index); both ends must hold the very same lists, which is
// why the data is generated from the reference client (scripts/gen_tokens.mjs).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace wa::binary::tokens {

inline constexpr std::size_t kSingleByteCount = 236;  // index 0 is "" and never emitted
inline constexpr std::size_t kDoubleByteDicts = 4;
inline constexpr std::size_t kDoubleByteDictSize = 256;
inline constexpr uint8_t kDictionaryVersion = 3;

extern const std::array<std::string_view, kSingleByteCount> kSingleByte;
extern const std::array<std::array<std::string_view, kDoubleByteDictSize>, kDoubleByteDicts> kDoubleByte;

struct Token {
  // dict < 0: single-byte token `index`; otherwise DICTIONARY_<dict> + `index`.
  int8_t dict = -1;
  uint8_t index = 0;
};

// String -> token; nullopt for strings in neither dictionary (and for "").
std::optional<Token> find(std::string_view s) noexcept;

// Token -> string; empty for index 0 / out-of-range values.
std::string_view single(uint8_t index) noexcept;
std::string_view double_byte(uint8_t dict, uint8_t index) noexcept;

}  // namespace wa::binary::tokens
