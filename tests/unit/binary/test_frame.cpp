#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "wa/binary/frame.hpp"

using namespace wa;
using namespace wa::binary;
using wa::binary::test::hex;

namespace {

// Drains every complete frame; fails the test on a splitter error.
std::vector<Bytes> drain(FrameSplitter& s) {
  std::vector<Bytes> out;
  for (;;) {
    auto r = s.next();
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    if (!*r) return out;
    out.push_back(std::move(**r));
  }
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("intro header with and without the ED routing prefix") {
  CHECK(to_hex(*make_intro()) == "57410603");
  Bytes routing{0x08, 0x02, 0x08, 0x05};
  CHECK(to_hex(*make_intro(routing)) == "4544000100000408020805" "57410603");
  Bytes big(0x012345, 0x11);
  Bytes intro = *make_intro(big);
  CHECK(to_hex(Bytes(intro.begin(), intro.begin() + 7)) == "45440001012345");
  CHECK(intro.size() == 7 + big.size() + 4);
}

TEST_CASE("frames are 3-byte big-endian length prefixed") {
  CHECK(to_hex(*make_frame(Bytes{1, 2, 3})) == "000003010203");
  CHECK(to_hex(*make_frame(Bytes{})) == "000000");
  Bytes big(0x010203, 0);
  Bytes f = *make_frame(big);
  CHECK(to_hex(Bytes(f.begin(), f.begin() + 3)) == "010203");
  CHECK(make_frame(Bytes(kMaxFramePayload + 1, 0)).error().code == "too_large");
}

TEST_CASE("splitter handles partial and multiple frames per message") {
  Bytes stream = concat({*make_frame(Bytes{1}), *make_frame(Bytes{}), *make_frame(Bytes(300, 7)), *make_frame(Bytes{9, 9})});

  SUBCASE("all at once") {
    FrameSplitter s;
    s.feed(stream);
    auto frames = drain(s);
    REQUIRE(frames.size() == 4);
    CHECK(frames[0] == Bytes{1});
    CHECK(frames[1].empty());
    CHECK(frames[2] == Bytes(300, 7));
    CHECK(frames[3] == Bytes{9, 9});
    CHECK(s.buffered() == 0);
  }
  SUBCASE("one byte at a time") {
    FrameSplitter s;
    std::vector<Bytes> frames;
    for (uint8_t b : stream) {
      s.feed(ByteView(&b, 1));
      for (Bytes& f : drain(s)) frames.push_back(std::move(f));
    }
    REQUIRE(frames.size() == 4);
    CHECK(frames[2] == Bytes(300, 7));
  }
  SUBCASE("odd chunk sizes") {
    for (std::size_t chunk = 2; chunk < 20; ++chunk) {
      FrameSplitter s;
      std::size_t got = 0;
      for (std::size_t i = 0; i < stream.size(); i += chunk) {
        s.feed(ByteView(stream).subspan(i, std::min(chunk, stream.size() - i)));
        got += drain(s).size();
      }
      CHECK(got == 4);
    }
  }
}

TEST_CASE("splitter rejects frames above the configured maximum, stickily") {
  FrameSplitter s(SplitterOptions{.max_frame = 100});
  s.feed(*make_frame(Bytes(100, 1)));
  CHECK(drain(s).size() == 1);
  s.feed(hex("00 00 65"));  // announces 101 bytes: refused before they arrive
  auto r = s.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "frame_too_large");
  s.feed(*make_frame(Bytes{1}));
  CHECK_FALSE(s.next().has_value());
}

TEST_CASE("server side strips the intro, with or without ED prefix") {
  Bytes routing{0xAA, 0xBB, 0xCC};
  Bytes first = concat({*make_intro(routing), *make_frame(Bytes{1, 2}), *make_frame(Bytes{3})});
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{8}, first.size()}) {
    FrameSplitter s(SplitterOptions{.expect_intro = true});
    std::vector<Bytes> frames;
    for (std::size_t i = 0; i < first.size(); i += chunk) {
      s.feed(ByteView(first).subspan(i, std::min(chunk, first.size() - i)));
      for (Bytes& f : drain(s)) frames.push_back(std::move(f));
    }
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == Bytes{1, 2});
    REQUIRE(s.intro().has_value());
    CHECK(s.intro()->routing_info == routing);
  }

  FrameSplitter plain(SplitterOptions{.expect_intro = true});
  plain.feed(concat({*make_intro(), *make_frame(Bytes{5})}));
  auto frames = drain(plain);
  REQUIRE(frames.size() == 1);
  CHECK(plain.intro()->routing_info.empty());
}

TEST_CASE("bad intros are refused") {
  auto code = [](const Bytes& b) {
    auto r = parse_intro(b);
    REQUIRE_FALSE(r.has_value());
    return r.error().code;
  };
  CHECK(code(hex("57 41 05 03")) == "bad_intro");       // wrong protocol version
  CHECK(code(hex("57 42")) == "bad_intro");             // fails as soon as a byte is wrong
  CHECK(code(hex("45 45")) == "bad_intro");
  CHECK(code(hex("45 44 00 02 00 00 00")) == "bad_intro");
  CHECK(code(hex("45 44 00 01 01 00 00")) == "too_large");
  CHECK(code(hex("45 44 00 01 00 00 01 AA 57 41 06 04")) == "bad_intro");
  CHECK(code(hex("00 00 03")) == "bad_intro");
  // Incomplete but so far valid: wait for more.
  for (const char* partial : {"", "57", "57 41 06", "45", "45 44 00 01 00", "45 44 00 01 00 00 02 AA"}) {
    auto r = parse_intro(hex(partial));
    REQUIRE(r.has_value());
    CHECK_FALSE(r->has_value());
  }
  FrameSplitter s(SplitterOptions{.expect_intro = true});
  s.feed(hex("47 45 54 20"));  // "GET " - not a WA client
  CHECK(s.next().error().code == "bad_intro");
}

TEST_CASE("transport payloads: flag byte and compression") {
  Node n("message", {{"id", "ABC"}, {"from", "123@s.whatsapp.net"}}, Bytes(2000, 'z'));
  auto plain = encode_frame_payload(n);
  REQUIRE(plain);
  CHECK((*plain)[0] == 0x00);
  CHECK(*decode_frame_payload(*plain) == n);

  auto packed = encode_frame_payload_compressed(n);
  REQUIRE(packed);
  CHECK((*packed)[0] == kFlagCompressed);
  CHECK(packed->size() < plain->size());
  CHECK(*decode_frame_payload(*packed) == n);

  CHECK(decode_frame_payload(Bytes{}).error().code == "truncated");
  CHECK(decode_frame_payload(Bytes{0x00}).error().code == "truncated");
  CHECK(decode_frame_payload(Bytes{0x02, 1, 2, 3}).error().code == "bad_zlib");
  Bytes cut(packed->begin(), packed->begin() + static_cast<std::ptrdiff_t>(packed->size() / 2));
  CHECK(decode_frame_payload(cut).error().code == "bad_zlib");
}

TEST_CASE("a zip bomb hits the inflate cap") {
  Bytes zeros(8u << 20, 0);
  auto bomb = zlib_deflate(zeros);
  REQUIRE(bomb);
  CHECK(bomb->size() < 10000);  // 8 MiB in a few KiB
  Bytes payload(1 + bomb->size(), kFlagCompressed);
  std::copy(bomb->begin(), bomb->end(), payload.begin() + 1);
  PayloadLimits limits;
  limits.max_inflated = 1u << 20;
  auto r = decode_frame_payload(payload, limits);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "too_large");

  // Exactly at the cap is fine; one byte above is not.
  auto exact = zlib_inflate(*zlib_deflate(Bytes(4096, 1)), 4096);
  REQUIRE(exact);
  CHECK(exact->size() == 4096);
  CHECK(zlib_inflate(*zlib_deflate(Bytes(4097, 1)), 4096).error().code == "too_large");
  CHECK(zlib_inflate(*zlib_deflate(Bytes{}), 0).has_value());
}
