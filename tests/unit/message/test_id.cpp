#include <doctest/doctest.h>

#include <set>

#include "profile.hpp"
#include "wa/message/id.hpp"

using namespace wa;
using namespace wa::message;

TEST_CASE("message ids: 3EB0 + 18 uppercase hex, unique") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = generate_message_id("5511999999999", 1700000000);
    REQUIRE(id.size() == 22);
    CHECK(id.rfind("3EB0", 0) == 0);
    for (char c : id.substr(4)) CHECK(((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')));
    CHECK(plausible_message_id(id));
    seen.insert(id);
  }
  CHECK(seen.size() == 200);  // the random part makes equal inputs differ
}

TEST_CASE("plausible_message_id rejects empty, long and control characters") {
  CHECK_FALSE(plausible_message_id(""));
  CHECK_FALSE(plausible_message_id(std::string(129, 'A')));
  CHECK_FALSE(plausible_message_id("AB CD"));
  CHECK_FALSE(plausible_message_id(std::string("AB\0CD", 5)));
  CHECK(plausible_message_id("ABCDEF0123"));
}

TEST_CASE("padding: 1..16 bytes of value N, unpad inverts it") {
  Bytes msg = to_bytes("hello");
  std::set<size_t> lengths;
  for (int i = 0; i < 400; ++i) {
    Bytes p = pad(msg);
    size_t n = p.size() - msg.size();
    REQUIRE(n >= 1);
    REQUIRE(n <= 16);
    for (size_t k = msg.size(); k < p.size(); ++k) CHECK(p[k] == n);
    lengths.insert(n);
    CHECK(test::must(unpad(p)) == msg);
  }
  CHECK(lengths.size() > 8);  // the amount really varies
  CHECK(pad_with(to_bytes("ab"), 3) == Bytes{'a', 'b', 3, 3, 3});
}

TEST_CASE("unpad is bounds-checked") {
  CHECK(unpad(Bytes{}).error().code == "bad_padding");
  CHECK(unpad(Bytes{'a', 0}).error().code == "bad_padding");
  CHECK(unpad(Bytes{'a', 3}).error().code == "bad_padding");
  CHECK(test::must(unpad(Bytes{2, 2})).empty());
  CHECK(test::must(unpad(Bytes{'x', 1})) == Bytes{'x'});
}
