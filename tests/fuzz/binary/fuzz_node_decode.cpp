// Decoder fuzzing: arbitrary bytes must give a node or a typed error, and any
// node we accept must re-encode and decode to the same node.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "wa/binary/codec.hpp"
#include "wa/binary/frame.hpp"
#include "wa/binary/json.hpp"

namespace {

// Equal up to what the wire cannot keep apart: a string content that is not a
// token/packed/JID is written raw and reads back as bytes with the same chars.
bool same(const wa::binary::Node& a, const wa::binary::Node& b) {
  if (a.tag != b.tag || a.attrs != b.attrs || a.has_content() != b.has_content()) return false;
  const auto ac = a.children();
  const auto bc = b.children();
  if (std::holds_alternative<wa::binary::Children>(a.content) != std::holds_alternative<wa::binary::Children>(b.content)) return false;
  if (std::holds_alternative<wa::binary::Children>(a.content)) {
    if (ac.size() != bc.size()) return false;
    for (std::size_t i = 0; i < ac.size(); ++i) {
      if (!same(ac[i], bc[i])) return false;
    }
    return true;
  }
  return a.content_chars() == b.content_chars();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wa::binary;
  wa::ByteView in(data, size);
  auto node = decode(in);
  if (node) {
    auto again = encode(*node);
    if (!again) std::abort();  // whatever we decode, we can encode
    auto back = decode(*again);
    if (!back || !same(*back, *node)) std::abort();
    (void)to_json_text(*node);
  }
  // The transport layer too, including the compressed path (small inflate cap).
  PayloadLimits limits;
  limits.max_inflated = 1 << 20;
  (void)decode_frame_payload(in, limits);
  return 0;
}
