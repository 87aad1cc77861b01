// Byte strings and their text forms (hex, base64) shared by every layer.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wa {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes concat(std::initializer_list<ByteView> parts);

std::string to_hex(ByteView b);  // lowercase
std::optional<Bytes> from_hex(std::string_view s);  // accepts both cases; nullopt on odd length/bad digit
std::string to_base64(ByteView b);  // standard alphabet, padded
std::optional<Bytes> from_base64(std::string_view s);  // standard alphabet, padding optional

// Overwrite memory that held a secret; the compiler may not elide it.
void secure_wipe(void* p, size_t n) noexcept;
inline void secure_wipe(Bytes& b) noexcept { secure_wipe(b.data(), b.size()); }

}  // namespace wa
