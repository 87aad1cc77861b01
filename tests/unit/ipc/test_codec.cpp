// The parsers of bytes from other processes never throw: every hostile
// input is an error value with a clear code.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "wa/ipc/codec.hpp"
#include "wa/ipc/fields.hpp"

using wa::ipc::json;
using namespace std::string_view_literals;

namespace {

wa::Result<json> parse(std::string_view text) { return wa::ipc::parse_json_text(wa::as_bytes(text)); }

std::string code_of(std::string_view text) {
  auto r = parse(text);
  return r ? "ok" : r.error().code;
}

wa::Result<json> cbor(const wa::Bytes& b) { return wa::ipc::from_cbor(b); }

}  // namespace

TEST_CASE("json text: numbers out of range are bad_request, not an exception") {
  for (std::string_view t : {"1e400"sv, "-1e400"sv, "[1e309]"sv, "{\"since\":1e400}"sv}) {
    auto r = parse(t);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "bad_request");
    CHECK(r.error().message.find("out of range") != std::string::npos);
  }
  auto digits = parse("{\"since\":" + std::string(400, '9') + "}");
  REQUIRE_FALSE(digits.has_value());
  CHECK(digits.error().code == "bad_request");
  // Large but finite numbers are values (validation decides about them).
  CHECK(code_of("1e300") == "ok");
  CHECK(code_of("18446744073709551615") == "ok");
  CHECK(code_of(std::string(30, '9')) == "ok");
}

TEST_CASE("json text: a NUL byte anywhere is refused") {
  auto r = parse("{\"cmd\":\"ping\"}\0xyz"sv);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "bad_request");
  CHECK(r.error().message.find("NUL") != std::string::npos);
  CHECK(r.error().message.find("byte 14") != std::string::npos);
  CHECK(code_of("{\"cmd\":\"ping\"}\0"sv) == "bad_request");
  CHECK(code_of("\0"sv) == "bad_request");
  CHECK(code_of("{\"cmd\":\"pi\0ng\"}"sv) == "bad_request");
  // Escaped, a NUL is an ordinary character of a string.
  auto escaped = parse(R"({"text":"a\u0000b"})");
  REQUIRE(escaped.has_value());
  CHECK((*escaped)["text"].get<std::string>() == std::string("a\0b", 3));
}

TEST_CASE("json text: nesting is limited") {
  const size_t max = wa::ipc::kMaxJsonDepth;
  CHECK(code_of(std::string(max, '[') + std::string(max, ']')) == "ok");
  auto deep = parse(std::string(max + 1, '[') + std::string(max + 1, ']'));
  REQUIRE_FALSE(deep.has_value());
  CHECK(deep.error().code == "bad_request");
  CHECK(deep.error().message.find("nested") != std::string::npos);
  CHECK(code_of(std::string(200000, '[')) == "bad_request");
  std::string objects;
  for (size_t i = 0; i <= max; ++i) objects += "{\"a\":";
  objects += "1" + std::string(max + 1, '}');
  CHECK(code_of(objects) == "bad_request");
}

TEST_CASE("json text: syntax errors name the position, not the content") {
  auto r = parse("{\"secret\": nope}");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "bad_request");
  CHECK(r.error().message.find("nope") == std::string::npos);
  CHECK(r.error().message.find("secret") == std::string::npos);
  CHECK(code_of("") == "bad_request");
  CHECK(code_of("{} {}") == "bad_request");
  CHECK(code_of("\"\xff\"") == "bad_request");  // not UTF-8
  CHECK(code_of(R"({"cmd":"ping"})") == "ok");
}

TEST_CASE("cbor: hostile headers and nesting are bad_message, not an exception or a stack overflow") {
  // An array claiming 2^64-1 items: the stock builder throws out_of_range 408.
  CHECK_FALSE(cbor({0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).has_value());
  CHECK_FALSE(cbor({0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).has_value());
  // Strings and byte strings claiming more than there is.
  CHECK_FALSE(cbor({0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a'}).has_value());
  CHECK_FALSE(cbor({0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).has_value());
  // 100,000 nested one-element arrays: nlohmann's reader recurses per level.
  wa::Bytes deep(100000, 0x81);
  deep.push_back(0xf6);
  auto r = cbor(deep);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "bad_message");
  CHECK(r.error().message.find("nested") != std::string::npos);
  // Indefinite-length nesting too.
  wa::Bytes indef(100000, 0x9f);
  CHECK_FALSE(cbor(indef).has_value());
  // Truncated, trailing bytes, a tag, a non-string map key.
  CHECK_FALSE(cbor({0xa1, 0x61, 't'}).has_value());
  CHECK_FALSE(cbor({0xf6, 0xf6}).has_value());
  CHECK_FALSE(cbor({0xc1, 0x00}).has_value());
  CHECK_FALSE(cbor({0xa1, 0x01, 0x02}).has_value());
  CHECK_FALSE(cbor({}).has_value());
  // What we send comes back.
  json m{{"t", "event"}, {"event", {{"type", "x"}, {"n", -5}, {"bin", json::binary({1, 2, 3})}}}};
  auto back = cbor(wa::ipc::to_cbor(m));
  REQUIRE(back.has_value());
  CHECK(*back == m);
}

TEST_CASE("fields: typed reads never throw") {
  json m = json::parse(R"({"s":"x","b":true,"i":-3,"u":18446744073709551615,"f":1.5,"o":{"k":1},"n":null})");
  CHECK(wa::ipc::field<std::string>(m, "s").value() == "x");
  CHECK_FALSE(wa::ipc::field<std::string>(m, "i").has_value());
  CHECK_FALSE(wa::ipc::field<std::string>(m, "missing").has_value());
  CHECK(wa::ipc::field<std::string>(m, "missing").error().code == "bad_message");
  CHECK(wa::ipc::field<std::string>(m, "missing").error().message.find("'missing'") != std::string::npos);
  CHECK(wa::ipc::field<bool>(m, "b").value());
  CHECK_FALSE(wa::ipc::field<bool>(m, "s").has_value());
  CHECK(wa::ipc::field<int64_t>(m, "i").value() == -3);
  CHECK_FALSE(wa::ipc::field<uint64_t>(m, "i").has_value());  // negative
  CHECK(wa::ipc::field<uint64_t>(m, "u").value() == UINT64_MAX);
  CHECK_FALSE(wa::ipc::field<int64_t>(m, "u").has_value());  // out of range
  CHECK_FALSE(wa::ipc::field<int>(m, "u").has_value());
  CHECK_FALSE(wa::ipc::field<int64_t>(m, "f").has_value());  // not whole
  CHECK_FALSE(wa::ipc::field<json::binary_t>(m, "s").has_value());
  CHECK(wa::ipc::field_or<int>(m, "missing", 7).value() == 7);
  CHECK(wa::ipc::field_or<int>(m, "n", 7).value() == 7);
  CHECK_FALSE(wa::ipc::field_or<int>(m, "s", 7).has_value());  // present but wrong: an error
  CHECK(wa::ipc::object_field(m, "o").value()["k"] == 1);
  CHECK_FALSE(wa::ipc::object_field(m, "s").has_value());
  CHECK_FALSE(wa::ipc::object_field(m, "missing").has_value());
  CHECK(wa::ipc::object_field(m, "missing", false).value().empty());
  // Not an object at all.
  CHECK_FALSE(wa::ipc::field<std::string>(json::array(), "s").has_value());
  CHECK_FALSE(wa::ipc::field<int>(json("text"), "s").has_value());
}
