#include <doctest/doctest.h>

#include "wa/crypto/link_code.hpp"

using namespace wa;

TEST_CASE("link-code key wrap round-trips only under the same code") {
  auto kp = crypto::generate_keypair();
  Bytes wrapped = crypto::link_code_wrap("ABCD2345", kp.pub);
  REQUIRE(wrapped.size() == crypto::kLinkCodeWrappedSize);
  auto back = crypto::link_code_unwrap("ABCD2345", wrapped);
  REQUIRE(back.has_value());
  CHECK(*back == kp.pub);
  auto other = crypto::link_code_unwrap("ABCD2346", wrapped);
  REQUIRE(other.has_value());  // CTR has no integrity: a wrong code yields another key
  CHECK(*other != kp.pub);
  CHECK(crypto::link_code_unwrap("ABCD2345", ByteView(wrapped).first(79)).error().code == "bad_wrapped_key");
}
