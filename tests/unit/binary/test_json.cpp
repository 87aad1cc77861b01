#include <doctest/doctest.h>

#include "wa/binary/codec.hpp"
#include "wa/binary/json.hpp"

using namespace wa;
using namespace wa::binary;

TEST_CASE("node json shape") {
  Node n("iq", {{"type", "get"}, {"id", "1"}, {"to", "@s.whatsapp.net"}},
         Children{Node("ping"), Node("b", {}, Bytes{0xAB, 0x01}), Node("s", {}, std::string("text"))});
  CHECK(to_json_text(n) ==
        R"({"tag":"iq","attrs":{"type":"get","id":"1","to":"@s.whatsapp.net"},"content":[)"
        R"({"tag":"ping","attrs":{},"content":null},{"tag":"b","attrs":{},"content":{"bytes":"ab01"}},)"
        R"({"tag":"s","attrs":{},"content":"text"}]})");
  auto back = from_json_text(to_json_text(n));
  REQUIRE(back);
  CHECK(*back == n);
  CHECK(from_json_text(R"({"tag":"x"})")->attrs.empty());
  CHECK(to_json_text(Node("x", {}, Children{})) == R"({"tag":"x","attrs":{},"content":[]})");
}

TEST_CASE("attribute order is kept") {
  auto n = from_json_text(R"({"tag":"a","attrs":{"z":"1","a":"2","m":"3"}})");
  REQUIRE(n);
  REQUIRE(n->attrs.size() == 3);
  CHECK(n->attrs[0].first == "z");
  CHECK(n->attrs[2].first == "m");
}

TEST_CASE("bad json is rejected with a path") {
  auto msg = [](const char* text) {
    auto r = from_json_text(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "bad_json");
    return r.error().message;
  };
  CHECK(msg("not json") == "not valid JSON");
  CHECK(msg("[]") == "$: node must be an object");
  CHECK(msg(R"({"attrs":{}})") == "$: node has no tag");
  CHECK(msg(R"({"tag":""})") == "$: tag must be a non-empty string");
  CHECK(msg(R"({"tag":"a","attrs":{"k":1}})") == "$: attribute 'k' must be a string");
  CHECK(msg(R"({"tag":"a","content":{"bytes":"abc"}})") == "$: content bytes are not valid hex");
  CHECK(msg(R"({"tag":"a","content":{"hex":"ab"}})").find("bytes") != std::string::npos);
  CHECK(msg(R"({"tag":"a","content":5})").find("content must be") != std::string::npos);
  CHECK(msg(R"({"tag":"a","content":[{"tag":"b"},{"tag":"c","extra":1}]})") == "$.content[1]: unknown key 'extra'");
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += R"({"tag":"d","content":[)";
  CHECK(msg(deep.c_str()) == "$: nesting too deep");
}

TEST_CASE("non-UTF-8 strings are shown, not thrown") {
  Node n("a", {{"k", std::string("\xff\xfe", 2)}});
  CHECK(to_json_text(n).find("\xef\xbf\xbd") != std::string::npos);
}
