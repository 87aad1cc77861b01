// The control request path exactly as the supervisor runs it: the size
// check, the JSON parse, validation; and the client's check of a reply.
// Nothing may throw or crash, and every refusal carries a code.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wa/contract/commands.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "wa/ipc/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wa::ByteView in(data, size);
  if (size > wa::ipc::kControlRequestMax) return 0;  // answered too_large before parsing
  auto parsed = wa::ipc::parse_json_text(in);
  if (!parsed) {
    if (parsed.error().code.empty()) std::abort();
    return 0;
  }
  auto cmd = wa::contract::validate_request(*parsed);
  if (!cmd && cmd.error().code.empty()) std::abort();
  // What the supervisor would send back, and the client's reading of it.
  (void)wa::ipc::dump_json(*parsed);
  (void)wa::ipc::check_reply(*parsed);
  // A value that parsed must survive the link encoding both ways.
  if (!wa::ipc::from_cbor(wa::ipc::to_cbor(*parsed))) std::abort();
  return 0;
}
