// Media parsers of outside bytes: the media_conn answer and the mediaretry
// notification (decoded nodes), and the streaming decryptor on an arbitrary
// body cut into two pieces.
#include <cstddef>
#include <cstdint>

#include "wa/binary/codec.hpp"
#include "wa/media/media.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wa::ByteView in(data, size);
  static const wa::Bytes key(32, 7);
  if (auto dec = wa::media::Decryptor::create(key, wa::media::Kind::image, {})) {
    const size_t cut = size ? data[0] % (size + 1) : 0;
    wa::Bytes out;
    if (dec->update(in.first(cut), out) && dec->update(in.subspan(cut), out)) (void)dec->finish(out);
  }
  auto node = wa::binary::decode(in);
  if (!node) return 0;
  (void)wa::media::parse_media_conn(*node);
  (void)wa::media::parse_retry_notification(*node, key);
  return 0;
}
