// One internal link's decoder (chosen at build time) on arbitrary bytes. An
// input starting with '{' is also read as JSON text and sent through CBOR,
// so the fuzzer reaches well-formed messages with wrong fields quickly.
// A decoded message must re-encode and decode again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wa/ipc/codec.hpp"
#include "wa/ipc/links.hpp"

namespace {

auto decode(wa::ByteView b) {
#if defined(WA_FUZZ_LINK_from_worker)
  return wa::ipc::link::decode_from_worker(b);
#elif defined(WA_FUZZ_LINK_from_supervisor)
  return wa::ipc::link::decode_from_supervisor(b);
#elif defined(WA_FUZZ_LINK_from_sender)
  return wa::ipc::link::decode_from_sender(b);
#else
  return wa::ipc::link::decode_from_connection(b);
#endif
}

void check(wa::ByteView b) {
  auto m = decode(b);
  if (!m) {
    if (m.error().code != "bad_message") std::abort();
    return;
  }
  (void)wa::ipc::dump_json(m->raw);
  if (!decode(wa::ipc::to_cbor(m->raw))) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wa::ByteView in(data, size);
  check(in);
  if (size > 0 && data[0] == '{') {
    if (auto j = wa::ipc::parse_json_text(in)) check(wa::ipc::to_cbor(*j));
  }
  return 0;
}
