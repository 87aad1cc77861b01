#include "qr_render.hpp"

#include <qrencode.h>
#include <zlib.h>

#include <memory>

namespace wactl {

wa::Result<QrMatrix> encode_qr(const std::string& text) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1), &QRcode_free);
  if (!code) return wa::fail("qr_failed", "cannot encode the QR code");
  QrMatrix m;
  m.size = code->width;
  m.dark.resize(static_cast<size_t>(m.size) * static_cast<size_t>(m.size));
  for (size_t i = 0; i < m.dark.size(); ++i) m.dark[i] = (code->data[i] & 1) != 0;
  return m;
}

std::string render_utf8(const QrMatrix& qr, bool invert, int quiet) {
  // Each character cell shows two module rows: upper and lower half.
  static const char* const kCells[4] = {" ", "\u2584", "\u2580", "\u2588"};  // none, lower, upper, both
  std::string out;
  int lo = -quiet, hi = qr.size + quiet;
  for (int y = lo; y < hi; y += 2) {
    for (int x = lo; x < hi; ++x) {
      bool top = qr.at(x, y) == invert;  // "lit" = light module unless inverted
      bool bottom = y + 1 < hi ? (qr.at(x, y + 1) == invert) : false;
      out += kCells[(top ? 2 : 0) | (bottom ? 1 : 0)];
    }
    out += '\n';
  }
  return out;
}

namespace {

void put_u32(wa::Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void chunk(wa::Bytes& out, const char* type, const wa::Bytes& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  uLong crc = crc32(0L, out.data() + start, static_cast<uInt>(out.size() - start));
  put_u32(out, static_cast<uint32_t>(crc));
}

}  // namespace

std::string render_svg(const QrMatrix& qr, int quiet) {
  const int n = qr.size + 2 * quiet;
  std::string d;
  for (int y = 0; y < qr.size; ++y)
    for (int x = 0; x < qr.size; ++x)
      if (qr.at(x, y)) d += "M" + std::to_string(x + quiet) + " " + std::to_string(y + quiet) + "h1v1h-1z";
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(n) + " " + std::to_string(n) +
         "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"" +
         d + "\"/></svg>\n";
}

wa::Result<wa::Bytes> render_png(const QrMatrix& qr, int scale, int quiet) {
  if (scale < 1 || scale > 64 || quiet < 0 || quiet > 16) return wa::fail("bad_request", "bad PNG scale");
  const int modules = qr.size + 2 * quiet;
  const auto px = static_cast<uint32_t>(modules * scale);
  wa::Bytes raw;
  raw.reserve(static_cast<size_t>(px) * (px + 1));
  for (uint32_t y = 0; y < px; ++y) {
    raw.push_back(0);  // filter: none
    int my = static_cast<int>(y) / scale - quiet;
    for (uint32_t x = 0; x < px; ++x) {
      int mx = static_cast<int>(x) / scale - quiet;
      raw.push_back(qr.at(mx, my) ? 0x00 : 0xFF);
    }
  }
  uLongf bound = compressBound(static_cast<uLong>(raw.size()));
  wa::Bytes z(bound);
  if (compress2(z.data(), &bound, raw.data(), static_cast<uLong>(raw.size()), 9) != Z_OK)
    return wa::fail("png_failed", "cannot compress the image");
  z.resize(bound);

  wa::Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  wa::Bytes ihdr;
  put_u32(ihdr, px);
  put_u32(ihdr, px);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // 8-bit grayscale, deflate, no filter variants, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  return png;
}

}  // namespace wactl
