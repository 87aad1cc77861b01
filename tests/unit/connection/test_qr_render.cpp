// wactl's QR renderers: the PNG decodes back to the same modules, and the
// terminal form has two module rows per line.
#include <doctest/doctest.h>

#include <zlib.h>

#include "qr_render.hpp"

using wa::Bytes;

namespace {
uint32_t u32(const Bytes& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}
}  // namespace

TEST_CASE("QR matrix for a pairing string, and its PNG decodes to the same modules") {
  std::string text = "https://wa.me/settings/linked_devices#2@" + std::string(80, 'A') + ",x,y,z,1";
  auto m = wactl::encode_qr(text);
  REQUIRE(m);
  CHECK(m->size >= 21);
  CHECK((m->size - 17) % 4 == 0);
  // Finder pattern corners are dark.
  CHECK(m->at(0, 0));
  CHECK(m->at(m->size - 1, 0));
  CHECK(m->at(0, m->size - 1));

  const int scale = 3, quiet = 4;
  auto png = wactl::render_png(*m, scale, quiet);
  REQUIRE(png);
  const Bytes& p = *png;
  REQUIRE(p.size() > 33);
  CHECK(Bytes(p.begin(), p.begin() + 8) == Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
  CHECK(std::string(p.begin() + 12, p.begin() + 16) == "IHDR");
  uint32_t w = u32(p, 16), h = u32(p, 20);
  CHECK(w == static_cast<uint32_t>((m->size + 2 * quiet) * scale));
  CHECK(h == w);
  // IHDR CRC.
  CHECK(u32(p, 29) == static_cast<uint32_t>(crc32(0, p.data() + 12, 17)));
  size_t idat = 33;
  REQUIRE(std::string(p.begin() + static_cast<long>(idat) + 4, p.begin() + static_cast<long>(idat) + 8) == "IDAT");
  uint32_t len = u32(p, idat);
  Bytes raw(static_cast<size_t>(h) * (w + 1));
  uLongf raw_len = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_len, p.data() + idat + 8, len) == Z_OK);
  REQUIRE(raw_len == raw.size());
  for (int y = 0; y < m->size; ++y) {
    for (int x = 0; x < m->size; ++x) {
      size_t py = static_cast<size_t>((y + quiet) * scale + 1), px = static_cast<size_t>((x + quiet) * scale + 1);
      uint8_t v = raw[py * (w + 1) + 1 + px];
      CHECK(v == (m->at(x, y) ? 0 : 255));
    }
  }
  CHECK(std::string(p.end() - 8, p.end() - 4) == "IEND");
}

TEST_CASE("terminal rendering: half blocks, quiet zone, inversion") {
  auto m = wactl::encode_qr("hello");
  REQUIRE(m);
  std::string t = wactl::render_utf8(*m, false, 2);
  size_t lines = 0;
  for (char c : t) lines += c == '\n';
  CHECK(lines == static_cast<size_t>((m->size + 4 + 1) / 2));
  // The quiet zone is light: drawn as full blocks in the default mode.
  CHECK(t.rfind("\u2588\u2588", 0) == 0);
  std::string inv = wactl::render_utf8(*m, true, 2);
  CHECK(inv.rfind("  ", 0) == 0);
  CHECK(inv != t);
}
