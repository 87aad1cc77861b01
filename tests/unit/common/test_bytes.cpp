#include <doctest/doctest.h>

#include "wa/bytes.hpp"

using namespace wa;

TEST_CASE("hex round trip and rejects") {
  Bytes b{0x00, 0x7f, 0xab, 0xff};
  CHECK(to_hex(b) == "007fabff");
  CHECK(from_hex("007FABff").value() == b);
  CHECK_FALSE(from_hex("abc").has_value());
  CHECK_FALSE(from_hex("zz").has_value());
}

TEST_CASE("base64 matches RFC 4648 vectors") {
  CHECK(to_base64(as_bytes("")) == "");
  CHECK(to_base64(as_bytes("f")) == "Zg==");
  CHECK(to_base64(as_bytes("fo")) == "Zm8=");
  CHECK(to_base64(as_bytes("foo")) == "Zm9v");
  CHECK(to_base64(as_bytes("foobar")) == "Zm9vYmFy");
  CHECK(from_base64("Zm9vYmE=").value() == to_bytes("fooba"));
  CHECK(from_base64("Zm9vYmE").value() == to_bytes("fooba"));
  CHECK_FALSE(from_base64("Zm9v*").has_value());
  CHECK_FALSE(from_base64("Z").has_value());
}
