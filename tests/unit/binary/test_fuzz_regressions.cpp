// Inputs the fuzzers found; each must keep decoding to an error (or to a
// node that re-encodes to itself).
#include <doctest/doctest.h>

#include "wa/binary/codec.hpp"

TEST_CASE("fuzz regression: INTEROP_JID/FB_JID with a foreign server are refused") {
  // An INTEROP_JID naming s.whatsapp.net decoded to "248-:0@s.whatsapp.net",
  // which re-encodes as an AD_JID and decodes to another string.
  auto bytes = wa::from_hex("f805f500000000f803e4c6f76005001e").value();
  auto n = wa::binary::decode(bytes);
  REQUIRE_FALSE(n.has_value());
  CHECK(n.error().code == "bad_jid");
}
