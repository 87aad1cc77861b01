// Frame splitter fuzzing: the first byte picks options and a chunking pattern,
// the rest is the stream. Frames must come out intact, in order, and never
// larger than the configured maximum.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wa/binary/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wa::binary;
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  SplitterOptions opt;
  opt.max_frame = (mode & 1) ? 64 : 4096;
  opt.expect_intro = (mode & 2) != 0;
  opt.max_routing_info = 32;
  FrameSplitter splitter(opt);
  const size_t chunk = 1 + (mode >> 2);
  std::size_t total = 0;
  for (size_t i = 1; i < size; i += chunk) {
    const size_t n = (size - i < chunk) ? size - i : chunk;
    splitter.feed(wa::ByteView(data + i, n));
    for (;;) {
      auto r = splitter.next();
      if (!r || !*r) break;
      if ((*r)->size() > opt.max_frame) std::abort();
      total += 3 + (*r)->size();
    }
  }
  if (total > size) std::abort();
  (void)parse_intro(wa::ByteView(data, size));
  return 0;
}
