#include "wa/message/id.hpp"

#include <array>

#include "wa/crypto/crypto.hpp"

namespace wa::message {

std::string generate_message_id(std::string_view own_user, int64_t unix_seconds) {
  Bytes pre;
  pre.reserve(8 + own_user.size() + 5 + 16);
  auto t = static_cast<uint64_t>(unix_seconds);
  for (int i = 7; i >= 0; --i) pre.push_back(static_cast<uint8_t>(t >> (8 * i)));
  pre.insert(pre.end(), own_user.begin(), own_user.end());
  constexpr std::string_view legacy = "@c.us";
  pre.insert(pre.end(), legacy.begin(), legacy.end());
  Bytes rnd = crypto::random_bytes(16);
  pre.insert(pre.end(), rnd.begin(), rnd.end());
  auto digest = crypto::sha256(pre);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string id = "3EB0";
  for (size_t i = 0; i < 9; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 0x0F];
  }
  return id;
}

bool plausible_message_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

Bytes pad_with(ByteView plaintext, uint8_t n) {
  Bytes out;
  out.reserve(plaintext.size() + n);
  out.assign(plaintext.begin(), plaintext.end());
  out.insert(out.end(), n, n);
  return out;
}

Bytes pad(ByteView plaintext) {
  std::array<uint8_t, 1> r{};
  crypto::random_bytes(r);
  return pad_with(plaintext, static_cast<uint8_t>((r[0] & 0x0F) + 1));
}

Result<Bytes> unpad(ByteView padded) {
  if (padded.empty()) return fail("bad_padding", "empty plaintext");
  size_t n = padded.back();
  if (n == 0 || n > padded.size()) return fail("bad_padding", "padding length out of range");
  return Bytes(padded.begin(), padded.end() - static_cast<std::ptrdiff_t>(n));
}

}  // namespace wa::message
