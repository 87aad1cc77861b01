#include <doctest/doctest.h>

#include <string>

#include "wa/binary/tokens.hpp"

using namespace wa::binary;

TEST_CASE("token anchors of dictionary version 3") {
  CHECK(tokens::single(1) == "xmlstreamstart");
  CHECK(tokens::single(2) == "xmlstreamend");
  CHECK(tokens::single(3) == "s.whatsapp.net");
  CHECK(tokens::single(25) == "iq");
  CHECK(tokens::single(118) == "lid");
  CHECK(tokens::single(157) == "stream:error");
  CHECK(tokens::double_byte(0, 0) == "read-self");
  CHECK(tokens::single(0).empty());
  CHECK(tokens::single(236).empty());
  CHECK(tokens::double_byte(4, 0).empty());
}

TEST_CASE("every token maps back to its own code") {
  for (std::size_t i = 1; i < tokens::kSingleByteCount; ++i) {
    auto t = tokens::find(tokens::kSingleByte[i]);
    REQUIRE(t.has_value());
    CHECK(t->dict == -1);
    CHECK(t->index == i);
  }
  for (std::size_t d = 0; d < tokens::kDoubleByteDicts; ++d) {
    for (std::size_t j = 0; j < tokens::kDoubleByteDictSize; ++j) {
      auto t = tokens::find(tokens::kDoubleByte[d][j]);
      REQUIRE(t.has_value());
      CHECK(t->dict == static_cast<int>(d));
      CHECK(t->index == j);
    }
  }
}

TEST_CASE("non-tokens are not found") {
  CHECK_FALSE(tokens::find("").has_value());
  CHECK_FALSE(tokens::find("ib").has_value());
  CHECK_FALSE(tokens::find("c.us").has_value());
  CHECK_FALSE(tokens::find("pair-success").has_value());
  CHECK_FALSE(tokens::find("constructor").has_value());
  CHECK_FALSE(tokens::find(std::string(1000, 'a')).has_value());
  CHECK_FALSE(tokens::find("iq ").has_value());
}
