// Every node handler of the connection layer on hostile server stanzas:
// pair-device refs, pair-success verification, link-code notifications and
// the close policy must return errors, never crash or over-read.
#include <cstddef>
#include <cstdint>

#include "close_policy.hpp"
#include "pair.hpp"
#include "pair_code.hpp"
#include "wa/binary/codec.hpp"

using namespace wa;
using namespace wa::connection;

namespace {
const Credentials& creds() {
  static const Credentials c = [] {
    Credentials x;
    x.noise = crypto::generate_keypair();
    x.identity = crypto::generate_keypair();
    x.adv_secret = Bytes(32, 7);
    return x;
  }();
  return c;
}
const PairCodeRequest& request() {
  static const PairCodeRequest r = [] {
    PairCodeRequest x;
    x.code = "ABCDEFGH";
    x.ephemeral = crypto::generate_keypair();
    x.phone_jid = "1555@s.whatsapp.net";
    return x;
  }();
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto node = binary::decode(ByteView(data, size));
  if (!node) return 0;
  (void)pair_device_refs(*node);
  (void)verify_pair_success(*node, creds());
  (void)classify_stream_error(*node);
  (void)classify_failure(*node);
  // companion_finish runs PBKDF2 (2^17 rounds) only after the shape checks;
  // keep the fuzzer fast by offering it only well-shaped candidates.
  if (size < 512) (void)companion_finish(*node, request(), creds());
  return 0;
}
