// Small pieces every stanza handler of the server uses: the server's JID,
// IQ replies, big-endian ids and the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"

namespace wa::testserver {

inline constexpr const char* kServerJid = "@s.whatsapp.net";

inline uint64_t now_unix() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Key ids (3 bytes) and registration ids (4 bytes) travel big-endian.
inline Bytes be(uint32_t v, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

inline std::optional<uint32_t> from_be(const Bytes* b, size_t max_len) {
  if (!b || b->empty() || b->size() > max_len) return std::nullopt;
  uint32_t v = 0;
  for (uint8_t x : *b) v = (v << 8) | x;
  return v;
}

inline binary::Node result_for(const binary::Node& iq) {
  return binary::Node("iq", {{"id", std::string(iq.attr_or("id", ""))}, {"type", "result"},
                             {"from", std::string(iq.attr_or("to", kServerJid))}});
}

inline binary::Node error_for(const binary::Node& iq, int code, const std::string& text) {
  binary::Node r("iq", {{"id", std::string(iq.attr_or("id", ""))}, {"type", "error"},
                        {"from", std::string(iq.attr_or("to", kServerJid))}});
  r.content = binary::Children{binary::Node("error", {{"code", std::to_string(code)}, {"text", text}})};
  return r;
}

inline binary::Node bytes_node(std::string tag, Bytes b) { return binary::Node(std::move(tag), {}, std::move(b)); }

}  // namespace wa::testserver
