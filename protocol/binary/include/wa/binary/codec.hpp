// Binary node encoder and decoder (WABinary, dictionary version 3).
//
// The encoder matches the reference client's (Baileys) byte for byte for every
// node whose strings survive its encoding; where Baileys would lose
// information (malformed JID-like strings, msgr/interop device JIDs) we write a
// lossless form instead, listed at the top of codec.cpp (docs/PROTOCOL.md §4).
//
// The decoder treats its input as hostile: every read is bounds-checked,
// lengths are checked against the remaining input before anything is
// allocated, nesting depth is limited, and every failure is a wa::Error with a
// stable code ("truncated", "bad_tag", "bad_token", "bad_packed", "bad_jid",
// "bad_node", "too_deep", "too_large", "duplicate_attr", "trailing_bytes").
#pragma once

#include <cstddef>
#include <cstdint>

#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::binary {

namespace tag {
inline constexpr uint8_t kListEmpty = 0;
inline constexpr uint8_t kDictionary0 = 236;
inline constexpr uint8_t kDictionary3 = 239;
inline constexpr uint8_t kInteropJid = 245;
inline constexpr uint8_t kFbJid = 246;
inline constexpr uint8_t kAdJid = 247;
inline constexpr uint8_t kList8 = 248;
inline constexpr uint8_t kList16 = 249;
inline constexpr uint8_t kJidPair = 250;
inline constexpr uint8_t kHex8 = 251;
inline constexpr uint8_t kBinary8 = 252;
inline constexpr uint8_t kBinary20 = 253;
inline constexpr uint8_t kBinary32 = 254;
inline constexpr uint8_t kNibble8 = 255;
inline constexpr std::size_t kPackedMax = 127;
}  // namespace tag

struct Limits {
  std::size_t max_depth = 64;  // nested child lists (a stanza rarely goes past 6)
  // Nodes + attributes in one decode. A node costs ~100 bytes of memory but
  // only 3 bytes of input, so without this a 16 MB frame could cost 500 MB.
  std::size_t max_items = 1'000'000;
};

// Appends the encoding of `node` (without the transport flag byte) to `out`.
// Fails on an empty tag, more than 65535 children/attributes, a string or
// byte content of 2^32 bytes or more, or nesting beyond limits.max_depth.
Status encode_to(const Node& node, Bytes& out, const Limits& limits = {});
Result<Bytes> encode(const Node& node, const Limits& limits = {});

// Decodes exactly one node filling the whole buffer (no flag byte).
Result<Node> decode(ByteView data, const Limits& limits = {});

}  // namespace wa::binary
