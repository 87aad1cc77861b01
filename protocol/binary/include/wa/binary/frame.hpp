// Transport framing under the Noise layer, and the plaintext layer above it.
//
//   first client message: [ED 00 01 L2 L1 L0 routing_info] 57 41 06 03 | frame...
//   frame:                3-byte big-endian length | payload
//   transport plaintext:  flag byte | node bytes (flag & 0x02: zlib-compressed)
//
// A websocket message may hold several frames or part of one, so incoming
// bytes go through a FrameSplitter. Sizes are capped before anything is
// buffered or inflated: a peer announcing a 16 MB frame or sending a zip bomb
// gets a typed error, not our memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "wa/binary/codec.hpp"
#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::binary {

inline constexpr std::array<uint8_t, 4> kIntroHeader = {0x57, 0x41, 0x06, 0x03};  // 'W' 'A' 6 3
inline constexpr std::size_t kMaxFramePayload = (1u << 24) - 1;  // what 3 length bytes can say
inline constexpr std::size_t kMaxRoutingInfo = (1u << 24) - 1;

// The client's intro: the optional "ED" routing prefix (24-bit length, as
// Baileys writes it) followed by the 4-byte WA header. Fails only when
// routing_info does not fit 24 bits.
Result<Bytes> make_intro(ByteView routing_info = {});

// Appends one frame (3-byte length + payload).
Status append_frame(Bytes& out, ByteView payload);
Result<Bytes> make_frame(ByteView payload);

// Server side: the intro at the start of the first client bytes.
struct Intro {
  Bytes routing_info;     // empty when there was no ED prefix
  std::size_t size = 0;   // bytes taken by the intro (prefix + header)
};
// nullopt: more bytes are needed; error: not a WA intro ("bad_intro") or a
// routing prefix longer than max_routing_info ("too_large").
Result<std::optional<Intro>> parse_intro(ByteView data, std::size_t max_routing_info = 4096);

struct SplitterOptions {
  std::size_t max_frame = kMaxFramePayload;  // larger announced frames are an error
  bool expect_intro = false;                 // server side: strip the client's intro first
  std::size_t max_routing_info = 4096;
};

// Reassembles frames from arbitrary chunks. Errors are sticky: once the
// stream is bad (oversized frame, bad intro) every later call fails too, and
// the connection should be closed.
class FrameSplitter {
 public:
  explicit FrameSplitter(SplitterOptions options = {}) : options_(options) {}

  void feed(ByteView chunk);
  // The next complete frame payload; nullopt when more bytes are needed.
  Result<std::optional<Bytes>> next();

  // Valid once the intro has been consumed (expect_intro only).
  const std::optional<Intro>& intro() const noexcept { return intro_; }
  std::size_t buffered() const noexcept { return buf_.size() - start_; }

 private:
  SplitterOptions options_;
  Bytes buf_;
  std::size_t start_ = 0;
  std::optional<Intro> intro_;
  std::optional<Error> error_;
};

// ---- transport plaintext (after Noise decryption) ----

inline constexpr uint8_t kFlagCompressed = 0x02;

struct PayloadLimits {
  std::size_t max_inflated = 16u << 20;  // a compressed payload may not inflate past this
  Limits node;
};

// 0x00 flag byte + encoded node (clients never compress what they send).
Result<Bytes> encode_frame_payload(const Node& node);
// Same, zlib-compressed with flag 0x02 (what a server may send).
Result<Bytes> encode_frame_payload_compressed(const Node& node);
// Flag byte, optional inflate (capped), then exactly one node.
Result<Node> decode_frame_payload(ByteView payload, const PayloadLimits& limits = {});

// zlib (RFC 1950) helpers; inflate fails with "too_large" past max_out bytes
// and with "bad_zlib" on a corrupt or truncated stream.
Result<Bytes> zlib_deflate(ByteView in);
Result<Bytes> zlib_inflate(ByteView in, std::size_t max_out);

}  // namespace wa::binary
