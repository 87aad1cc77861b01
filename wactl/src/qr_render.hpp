// Renders a QR code for `wactl pair` (and wa-http's qr.svg, as library wa_qr_render): UTF-8 half blocks for a terminal (two
// module rows per text line) or a PNG file. The QR text holds pairing
// secrets: callers never log it, and PNG files are written 0600.
#pragma once

#include <string>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wactl {

// Modules of the QR symbol for `text` (true = dark), square, no quiet zone.
struct QrMatrix {
  int size = 0;
  std::vector<bool> dark;  // size * size, row-major
  bool at(int x, int y) const { return x >= 0 && y >= 0 && x < size && y < size && dark[static_cast<size_t>(y * size + x)]; }
};
wa::Result<QrMatrix> encode_qr(const std::string& text);

// Light modules are drawn as blocks (like `qrencode -t UTF8`), which reads
// as dark-on-light on the usual light-on-dark terminal; invert for the other.
std::string render_utf8(const QrMatrix& qr, bool invert = false, int quiet = 2);

// An SVG image (one path of dark modules), for wa-http's qr.svg.
std::string render_svg(const QrMatrix& qr, int quiet = 4);

// 8-bit grayscale PNG, `scale` pixels per module, `quiet` modules of margin.
wa::Result<wa::Bytes> render_png(const QrMatrix& qr, int scale = 8, int quiet = 4);

}  // namespace wactl
