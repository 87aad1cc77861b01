#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "helpers.hpp"
#include "wa/binary/codec.hpp"
#include "wa/binary/frame.hpp"
#include "wa/binary/tokens.hpp"

using namespace wa;
using namespace wa::binary;
using wa::binary::test::hex;
using wa::binary::test::Rng;

namespace {

Bytes enc(const Node& n) {
  auto r = encode(n);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return *r;
}

Node dec(const Bytes& b) {
  auto r = decode(b);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return *r;
}

// The bytes a single attribute value encodes to (inside <a k=value/>).
Bytes value_bytes(const std::string& v) {
  Bytes b = enc(Node("a", {{"k", v}}));
  // F8 03 <tag "a" = FC 01 61> <key "k" = FC 01 6B> value...
  REQUIRE(b.size() > 8);
  return Bytes(b.begin() + 8, b.end());
}

std::string error_code(const Bytes& b) {
  auto r = decode(b);
  REQUIRE_FALSE(r.has_value());
  return r.error().code;
}

}  // namespace

TEST_CASE("worked examples of the reference encoder (with flag byte)") {
  Node ping("iq", {{"id", "1"}, {"type", "get"}, {"xmlns", "w:p"}, {"to", "@s.whatsapp.net"}}, Children{Node("ping")});
  auto p = encode_frame_payload(ping);
  REQUIRE(p);
  CHECK(to_hex(*p) == to_hex(hex("00 F8 0A 19 08 55 04 29 16 57 11 FA 00 03 F8 01 F8 01 56")));

  Node e("enc", {{"v", "2"}, {"type", "pkmsg"}}, Bytes{1, 2, 3});
  auto pe = encode_frame_payload(e);
  REQUIRE(pe);
  CHECK(to_hex(*pe) == to_hex(hex("00 F8 06 1D 51 45 04 53 FC 03 01 02 03")));

  auto px = encode_frame_payload(Node("xmlstreamend"));
  REQUIRE(px);
  CHECK(to_hex(*px) == "00f80102");

  for (const Node* n : {&ping, &e}) {
    auto back = decode_frame_payload(*encode_frame_payload(*n));
    REQUIRE(back);
    CHECK(*back == *n);
  }
}

TEST_CASE("packed strings (nibble and hex)") {
  CHECK(to_hex(value_bytes("1234567")) == "ff841234567f");
  CHECK(to_hex(value_bytes("ABCDEF0")) == "fb84abcdef0f");
  CHECK(to_hex(value_bytes("9182")) == "ff029182");
  CHECK(to_hex(value_bytes("-.9")) == "ff82ab9f");
  // Lowercase hex is not packable: raw.
  CHECK(to_hex(value_bytes("abcdef0")) == "fc07" + to_hex(as_bytes("abcdef0")));
  // 127 characters pack, 128 do not.
  std::string n127(127, '7');
  Bytes b = value_bytes(n127);
  CHECK(b[0] == tag::kNibble8);
  CHECK(b[1] == (64 | 0x80));
  CHECK(value_bytes(n127 + "7")[0] == tag::kBinary8);
  // Tokens win over packing ("1" is a token).
  CHECK(to_hex(value_bytes("1")) == "55");
  for (const std::string& s : std::vector<std::string>{"1234567", "ABCDEF0", "9182", "-.9", n127, "0.1-2"}) {
    Node n("a", {{"k", s}});
    CHECK(dec(enc(n)) == n);
  }
}

TEST_CASE("jid wire forms") {
  CHECK(to_hex(enc(Node("user", {{"jid", "123456@lid"}}))) == to_hex(hex("F8 03 0E 0C FA FF 03 12 34 56 76")));
  CHECK(to_hex(value_bytes("123456:7@lid")) == to_hex(hex("F7 01 07 FF 03 12 34 56")));
  CHECK(to_hex(value_bytes("@s.whatsapp.net")) == "fa0003");
  CHECK(to_hex(value_bytes("123:0@s.whatsapp.net")) == "f70000ff82123f");
  CHECK(to_hex(value_bytes("123:2@hosted")) == "f78002ff82123f");
  CHECK(to_hex(value_bytes("123:2@hosted.lid")) == "f78102ff82123f");
  CHECK(to_hex(value_bytes("123@g.us")) == "faff82123f1c");
  CHECK(to_hex(value_bytes("123_5:2@s.whatsapp.net")) == "f70502ff82123f");
  CHECK(to_hex(value_bytes("1000001:300@msgr")) == "f6ff841000001f012c" + to_hex(value_bytes("msgr")));
  CHECK(to_hex(value_bytes("7-4242:2@interop")) == "f5ff0242420002000" "7" + to_hex(value_bytes("interop")));

  struct Case {
    const char* in;
    const char* out;  // decoded string form
  };
  for (auto c : {Case{"123456@lid", "123456@lid"}, Case{"123456:7@lid", "123456:7@lid"},
                 Case{"@s.whatsapp.net", "@s.whatsapp.net"}, Case{"123:0@s.whatsapp.net", "123@s.whatsapp.net"},
                 Case{"123:2@hosted", "123:2@hosted"}, Case{"123@hosted.lid", "123@hosted.lid"},
                 Case{"status@broadcast", "status@broadcast"}, Case{"123_5:2@s.whatsapp.net", "123_5:2@s.whatsapp.net"},
                 Case{"123_5:0@s.whatsapp.net", "123_5:0@s.whatsapp.net"}, Case{"100:300@msgr", "100:300@msgr"},
                 Case{"100:0@msgr", "100:0@msgr"}, Case{"7-42:2@interop", "7-42:2@interop"},
                 Case{"hello world@example", "hello world@example"}}) {
    INFO(c.in);
    Node got = dec(enc(Node("a", {{"k", c.in}})));
    CHECK(got.attr_or("k", "?") == c.out);
  }
}

TEST_CASE("jid-like strings the reference encoder would mangle are written raw") {
  for (const std::string s : {"a@b@c", "123_5@s.whatsapp.net", "123:300@s.whatsapp.net", "123:1@g.us", "123:05@lid",
                              "123:@s.whatsapp.net", "123@", "123_1:1@s.whatsapp.net", "123_5:1@lid", "1:2:3@lid",
                              "42:2@interop", "constructor", "__proto__"}) {
    INFO(s);
    Bytes v = value_bytes(s);
    CHECK(v[0] == tag::kBinary8);
    CHECK(dec(enc(Node("a", {{"k", s}}))).attr_or("k", "?") == s);
  }
}

TEST_CASE("every length and list tag") {
  for (std::size_t len : {std::size_t{0}, std::size_t{255}, std::size_t{256}, std::size_t{(1u << 20) - 1}, std::size_t{1u << 20}}) {
    INFO(len);
    Node n("media", {}, Bytes(len, 0xAB));
    Bytes b = enc(n);
    const uint8_t expect_tag = len < 256 ? tag::kBinary8 : len < (1u << 20) ? tag::kBinary20 : tag::kBinary32;
    CHECK(b[3] == expect_tag);
    CHECK(dec(b) == n);
  }
  const Bytes b20 = enc(Node("m", {}, Bytes(256, 0)));
  CHECK(to_hex(Bytes(b20.begin(), b20.begin() + 8)) == "f802fc016dfd0001");
  const Bytes b32 = enc(Node("m", {}, Bytes(1u << 20, 0)));
  CHECK(to_hex(Bytes(b32.begin(), b32.begin() + 10)) == "f802fc016dfe00100000");

  for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{256}, std::size_t{1000}}) {
    INFO(count);
    Node n("list", {}, Children(count, Node("item")));
    Bytes b = enc(n);
    const uint8_t expect = count == 0 ? tag::kListEmpty : count < 256 ? tag::kList8 : tag::kList16;
    CHECK(b[3] == expect);  // F8 02 <token "list"> <children list>
    Node back = dec(b);
    CHECK(back == n);
    CHECK(back.children().size() == count);
  }
  // Many attributes push the node header itself to LIST_16.
  Node many("x");
  for (int i = 0; i < 200; ++i) many.attrs.emplace_back("k" + std::to_string(i), "v");
  Bytes b = enc(many);
  CHECK(b[0] == tag::kList16);
  CHECK(dec(b) == many);
}

TEST_CASE("double-byte dictionaries") {
  for (uint8_t d = 0; d < 4; ++d) {
    const std::string s(tokens::double_byte(d, 7));
    Bytes v = value_bytes(s);
    REQUIRE(v.size() == 2);
    CHECK(v[0] == tag::kDictionary0 + d);
    CHECK(v[1] == 7);
    CHECK(dec(enc(Node("a", {{"k", s}}))).attr_or("k", "?") == s);
  }
}

TEST_CASE("empty values and content kinds") {
  CHECK(to_hex(value_bytes("")) == "fc00");
  Node empty_attr("a", {{"k", ""}});
  CHECK(dec(enc(empty_attr)) == empty_attr);

  // String content goes through the string encoder: tokens and JIDs come back
  // as strings, anything written raw comes back as bytes (the wire cannot tell).
  Node tok("a", {}, std::string("s.whatsapp.net"));
  CHECK(to_hex(enc(tok)) == "f802fc016103");
  CHECK(dec(enc(tok)) == tok);
  Node jid("a", {}, std::string("123@lid"));
  CHECK(dec(enc(jid)) == jid);
  Node raw("a", {}, std::string("hello"));
  Node raw_back = dec(enc(raw));
  REQUIRE(raw_back.bytes());
  CHECK(raw_back.content_chars() == "hello");

  Node no_children("a", {}, Children{});
  CHECK(to_hex(enc(no_children)) == "f802fc016100");
  CHECK(dec(enc(no_children)) == no_children);
  CHECK(to_hex(enc(Node("a"))) == "f801fc0161");
}

TEST_CASE("node accessors") {
  Node n("iq", {{"id", "1"}, {"type", "result"}},
         Children{Node("device", {{"jid", "1@s.whatsapp.net"}}), Node("other"), Node("device", {{"jid", "2@s.whatsapp.net"}})});
  CHECK(n.attr("id") == "1");
  CHECK_FALSE(n.attr("nope").has_value());
  CHECK(n.attr_or("nope", "d") == "d");
  n.set_attr("type", "error");
  n.set_attr("new", "x");
  CHECK(n.attr("type") == "error");
  CHECK(n.attrs.back().first == "new");
  REQUIRE(n.child("device"));
  CHECK(n.child("device")->attr("jid") == "1@s.whatsapp.net");
  CHECK(n.child("missing") == nullptr);
  CHECK(n.children("device").size() == 2);
  CHECK(n.children().size() == 3);
  CHECK(Node("x", {}, Bytes{1}).children().empty());
  CHECK(Node("x", {}, Bytes{'h', 'i'}).content_chars() == "hi");
}

TEST_CASE("encoder refuses what it cannot express") {
  CHECK(encode(Node("")).error().code == "bad_node");
  CHECK(encode(Node("a", {{"k", "1"}, {"k", "2"}})).error().code == "duplicate_attr");
  CHECK(encode(Node("a", {}, Children{Node("")})).error().code == "bad_node");
  CHECK(encode(Node("a", {}, Children(70000, Node("b")))).error().code == "too_large");
  Node deep("d");
  for (int i = 0; i < 100; ++i) deep = Node("d", {}, Children{deep});
  CHECK(encode(deep).error().code == "too_deep");
  Limits lots{200};
  CHECK(encode(deep, lots).has_value());
  // A failed encode_to leaves the output as it was.
  Bytes out{1, 2, 3};
  CHECK_FALSE(encode_to(deep, out));
  CHECK(out == Bytes{1, 2, 3});
}

TEST_CASE("malformed input gives typed errors") {
  CHECK(error_code({}) == "truncated");
  CHECK(error_code(hex("00")) == "bad_node");             // empty list header
  CHECK(error_code(hex("F8 01 00")) == "bad_node");       // empty tag
  CHECK(error_code(hex("19")) == "bad_tag");              // not a list
  CHECK(error_code(hex("F8 01 F0")) == "bad_token");      // unassigned tag 240
  CHECK(error_code(hex("F8 01 F8 01")) == "bad_tag");     // list where a string goes
  CHECK(error_code(hex("F8 01 FF 01 C0")) == "bad_packed");  // nibble 12
  CHECK(error_code(hex("F8 01 FF 01 F1")) == "bad_packed");  // NUL nibble inside the string
  CHECK(error_code(hex("F8 01 FF 80")) == "bad_packed");     // odd flag, no bytes
  CHECK(error_code(hex("F8 01 FF 05 12")) == "truncated");
  CHECK(error_code(hex("F8 01 FC 05 61")) == "truncated");
  CHECK(error_code(hex("F8 01 FE FF FF FF FF 61")) == "truncated");  // 4 GB announced
  CHECK(error_code(hex("F8 02 19 F9 FF FF")) == "truncated");        // 65535 children announced
  CHECK(error_code(hex("F9 FF FF 19")) == "truncated");              // 32767 attributes announced
  CHECK(error_code(hex("F8 03 19 0C FA FA 00 03 03")) == "bad_jid"); // jid inside a jid
  CHECK(error_code(hex("F8 03 19 0C FA 00 00")) == "bad_jid");       // jid pair without server
  CHECK(error_code(hex("F8 03 19 0C FA FC 03 31 3A 32 03")) == "bad_jid");  // ':' in a jid user
  CHECK(error_code(hex("F8 05 19 08 55 08 55")) == "duplicate_attr");
  CHECK(error_code(hex("F8 01 19 00")) == "trailing_bytes");
  CHECK(error_code(hex("F8 02 19 F8 01 F8 01")) == "truncated");

  // Deep nesting stops at the limit instead of exhausting the stack.
  Bytes deep;
  for (int i = 0; i < 10000; ++i) deep.insert(deep.end(), {tag::kList8, 2, 0x19, tag::kList8, 1});
  CHECK(error_code(deep) == "too_deep");

  // Duplicate keys are found in large attribute lists too.
  Node many("x");
  for (int i = 0; i < 40; ++i) many.attrs.emplace_back("k" + std::to_string(i), "v");
  CHECK(decode(enc(many)).has_value());
  many.attrs.emplace_back("k7", "w");
  CHECK(encode(many).error().code == "duplicate_attr");  // the sorted path (> 16 attributes)
  // Spliced by hand: the encoder refuses duplicates too.
  Bytes dup = enc(Node("x", {{"k7", "v"}, {"k8", "w"}}));
  const std::string k8 = to_hex(as_bytes("k8"));
  const std::string k7 = to_hex(as_bytes("k7"));
  std::string h = to_hex(dup);
  h.replace(h.find(k8), k8.size(), k7);
  CHECK(error_code(*from_hex(h)) == "duplicate_attr");
}

TEST_CASE("the item budget bounds memory per decode") {
  Limits small;
  small.max_items = 10;
  Bytes wide = enc(Node("list", {}, Children(20, Node("item"))));
  auto r = decode(wide, small);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "too_large");
  Node attrs("x");
  for (int i = 0; i < 12; ++i) attrs.attrs.emplace_back("k" + std::to_string(i), "v");
  CHECK(decode(enc(attrs), small).error().code == "too_large");
  CHECK(decode(enc(Node("list", {}, Children(9, Node("item")))), small).has_value());  // exactly 10 items
}

TEST_CASE("every truncation of a valid encoding fails cleanly") {
  Node n("message", {{"id", "3EB0ABCDEF"}, {"to", "123:4@lid"}, {"from", "@s.whatsapp.net"}, {"x", "7-42:2@interop"}},
         Children{Node("enc", {{"v", "2"}, {"type", "pkmsg"}}, Bytes(300, 9)), Node("y", {{"f", "100:3@msgr"}}, std::string("1.2-3"))});
  Bytes b = enc(n);
  CHECK(dec(b) == n);
  for (std::size_t len = 0; len < b.size(); ++len) {
    auto r = decode(ByteView(b.data(), len));
    CHECK_FALSE(r.has_value());
  }
}

namespace {

std::string random_string(Rng& rng) {
  switch (rng.below(9)) {
    case 0: return std::string(tokens::single(static_cast<uint8_t>(1 + rng.below(235))));
    case 1: return std::string(tokens::double_byte(static_cast<uint8_t>(rng.below(4)), static_cast<uint8_t>(rng.below(256))));
    case 2: return std::to_string(rng.next() % 100000000000ull);
    case 3: return "3EB0" + std::to_string(rng.below(1000000)) + "ABCDEF";
    case 4: return std::to_string(rng.below(100000)) + ":" + std::to_string(1 + rng.below(255)) + "@lid";
    case 5: return std::to_string(rng.below(100000)) + "@s.whatsapp.net";
    case 6: return "";
    case 7: return "x" + std::string(rng.below(300), 'y');
    default: return "hello world " + std::to_string(rng.below(100));
  }
}

Node random_node(Rng& rng, int depth) {
  Node n(random_string(rng));
  if (n.tag.empty()) n.tag = "t";
  const uint32_t nattrs = rng.below(5);
  for (uint32_t i = 0; i < nattrs; ++i) n.set_attr("k" + std::to_string(i) + random_string(rng), random_string(rng));
  switch (rng.below(4)) {
    case 0: break;
    case 1: n.content = Bytes(rng.below(400), static_cast<uint8_t>(rng.below(256))); break;
    case 2:
      if (depth < 4) {
        Children c;
        const uint32_t nc = rng.below(4);
        for (uint32_t i = 0; i < nc; ++i) c.push_back(random_node(rng, depth + 1));
        n.content = std::move(c);
      }
      break;
    default: n.content = Bytes{}; break;
  }
  return n;
}

}  // namespace

TEST_CASE("random nodes survive encode -> decode -> encode byte for byte") {
  Rng rng(0x5eed);
  for (int i = 0; i < 2000; ++i) {
    Node n = random_node(rng, 0);
    Bytes b = enc(n);
    Node back = dec(b);
    CHECK(enc(back) == b);
    CHECK(back == n);  // no raw string content here, so nothing turns into bytes
  }
}
