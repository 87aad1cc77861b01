// probe_file on fixtures made at test time with the ffmpeg CLI. Thumbnails
// are checked with a JPEG header reader of the test's own.
#include <doctest/doctest.h>
#include <vips/vips.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "must.hpp"
#include "temp_dir.hpp"
#include "wa/media/media.hpp"

using namespace wa;
using namespace wa::media;
using wa::test::must;

namespace {

void ffmpeg(const std::string& args) {
  const std::string cmd = "ffmpeg -nostdin -v error -y " + args + " >/dev/null 2>&1";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
}

// Width and height from a JPEG's SOFn segment; {0,0} if it is not a JPEG.
std::pair<int, int> jpeg_size(const Bytes& j) {
  if (j.size() < 4 || j[0] != 0xFF || j[1] != 0xD8) return {0, 0};
  size_t i = 2;
  while (i + 9 < j.size()) {
    if (j[i] != 0xFF) return {0, 0};
    const uint8_t marker = j[i + 1];
    const size_t len = (size_t{j[i + 2]} << 8) | j[i + 3];
    if (marker >= 0xC0 && marker <= 0xC3) {
      return {(j[i + 7] << 8) | j[i + 8], (j[i + 5] << 8) | j[i + 6]};
    }
    i += 2 + len;
  }
  return {0, 0};
}

std::string code_of(const Result<Probe>& r) { return r ? "ok" : r.error().code; }

void write_text(const std::string& path, const std::string& s) { std::ofstream(path) << s; }

}  // namespace

TEST_CASE("probe an image: size and a 32 px JPEG thumbnail") {
  wa::test::TempDir d;
  ffmpeg("-f lavfi -i testsrc=size=640x480 -frames:v 1 " + d.file("a.jpg"));
  auto p = must(probe_file(d.file("a.jpg"), std::nullopt));
  CHECK(p.mimetype == "image/jpeg");
  CHECK(p.kind == Kind::image);
  CHECK(p.width == 640);
  CHECK(p.height == 480);
  CHECK(jpeg_size(p.jpeg_thumbnail) == std::pair{32, 24});
  CHECK(p.waveform.empty());

  // A tall PNG keeps its aspect: 32 wide, not fitted into 32x32.
  ffmpeg("-f lavfi -i testsrc=size=100x300 -frames:v 1 " + d.file("tall.png"));
  auto t = must(probe_file(d.file("tall.png"), Kind::image));
  CHECK(t.mimetype == "image/png");
  CHECK(t.width == 100);
  CHECK(t.height == 300);
  CHECK(jpeg_size(t.jpeg_thumbnail) == std::pair{32, 96});
}

TEST_CASE("probe stickers: WebP only, animated when it has frames") {
  wa::test::TempDir d;
  ffmpeg("-f lavfi -i testsrc=size=512x512 -frames:v 1 -c:v libwebp " + d.file("s.webp"));
  ffmpeg("-f lavfi -i testsrc=size=512x512:rate=5 -t 1 -c:v libwebp_anim -loop 0 " + d.file("a.webp"));
  auto still = must(probe_file(d.file("s.webp"), Kind::sticker));
  CHECK(still.kind == Kind::sticker);
  CHECK(still.mimetype == "image/webp");
  CHECK(still.width == 512);
  CHECK(still.height == 512);
  CHECK_FALSE(still.animated);
  auto anim = must(probe_file(d.file("a.webp"), Kind::sticker));
  CHECK(anim.animated);
  CHECK(anim.width == 512);
  CHECK(anim.height == 512);
  // Not forced: a WebP is an image.
  CHECK(must(probe_file(d.file("s.webp"), std::nullopt)).kind == Kind::image);
  // A PNG is no sticker.
  ffmpeg("-f lavfi -i testsrc=size=64x64 -frames:v 1 " + d.file("p.png"));
  CHECK(code_of(probe_file(d.file("p.png"), Kind::sticker)) == "unsupported_media");
}

TEST_CASE("probe a video: size, seconds and a first-frame thumbnail") {
  wa::test::TempDir d;
  ffmpeg("-f lavfi -i testsrc=size=320x240:rate=10 -t 2 -pix_fmt yuv420p -c:v libx264 " + d.file("v.mp4"));
  auto p = must(probe_file(d.file("v.mp4"), std::nullopt));
  CHECK(p.mimetype == "video/mp4");
  CHECK(p.kind == Kind::video);
  CHECK(p.width == 320);
  CHECK(p.height == 240);
  CHECK(p.seconds == 2);
  CHECK(jpeg_size(p.jpeg_thumbnail) == std::pair{32, 24});
}

TEST_CASE("probe audio and a voice note's waveform") {
  wa::test::TempDir d;
  // A 440 Hz tone whose amplitude grows linearly over 3 s.
  ffmpeg("-f lavfi -i \"aevalsrc=exprs='sin(440*2*PI*t)*t/3':d=3\" -c:a libopus " + d.file("v.ogg"));
  auto a = must(probe_file(d.file("v.ogg"), std::nullopt));
  CHECK(a.kind == Kind::audio);
  CHECK(a.mimetype == "audio/ogg; codecs=opus");
  CHECK(a.seconds == 3);
  CHECK(a.waveform.empty());

  auto v = must(probe_file(d.file("v.ogg"), Kind::voice));
  CHECK(v.kind == Kind::voice);
  CHECK(v.seconds == 3);
  REQUIRE(v.waveform.size() == 64);
  CHECK(*std::max_element(v.waveform.begin(), v.waveform.end()) == 100);
  CHECK(v.waveform[0] < 10);
  CHECK(v.waveform[63] > 90);
  CHECK(v.waveform[16] < v.waveform[48]);
  for (uint8_t x : v.waveform) CHECK(x <= 100);

  // Silence: a flat zero waveform, not a division by zero.
  ffmpeg("-f lavfi -i anullsrc=r=48000:cl=mono -t 1 -c:a libopus " + d.file("silence.ogg"));
  auto s = must(probe_file(d.file("silence.ogg"), Kind::voice));
  REQUIRE(s.waveform.size() == 64);
  CHECK(std::all_of(s.waveform.begin(), s.waveform.end(), [](uint8_t x) { return x == 0; }));
}

TEST_CASE("probe refuses content that cannot be the forced kind") {
  wa::test::TempDir d;
  write_text(d.file("t.txt"), "just some text, not a picture\n");
  CHECK(code_of(probe_file(d.file("t.txt"), Kind::image)) == "unsupported_media");
  CHECK(code_of(probe_file(d.file("t.txt"), Kind::video)) == "unsupported_media");
  CHECK(code_of(probe_file(d.file("t.txt"), Kind::voice)) == "unsupported_media");
  CHECK(code_of(probe_file(d.file("t.txt"), Kind::audio)) == "unsupported_media");
  CHECK(code_of(probe_file(d.file("t.txt"), Kind::sticker)) == "unsupported_media");
  auto doc = must(probe_file(d.file("t.txt"), std::nullopt));
  CHECK(doc.kind == Kind::document);
  CHECK(doc.mimetype == "text/plain");
  CHECK(must(probe_file(d.file("t.txt"), Kind::document)).kind == Kind::document);
  // A broken JPEG (the header, then garbage) is detected as an image but
  // does not decode: sent as a document, refused when forced.
  {
    std::ofstream f(d.file("broken.jpg"), std::ios::binary);
    const unsigned char head[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00};
    f.write(reinterpret_cast<const char*>(head), sizeof head);
    f << "garbage garbage garbage";
  }
  auto broken = must(probe_file(d.file("broken.jpg"), std::nullopt));
  CHECK(broken.kind == Kind::document);
  CHECK(code_of(probe_file(d.file("broken.jpg"), Kind::image)) == "unsupported_media");
  CHECK(code_of(probe_file(d.file("missing"), std::nullopt)) == "io_error");
  CHECK(code_of(probe_file(d.path(), std::nullopt)) == "io_error");
}

TEST_CASE("probe a PDF document") {
  wa::test::TempDir d;
  // A two-page PDF written by hand (readers rebuild the xref table).
  write_text(d.file("two.pdf"),
             "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
             "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n"
             "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj\n"
             "4 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj\n"
             "trailer << /Root 1 0 R /Size 5 >>\n%%EOF\n");
  auto p = must(probe_file(d.file("two.pdf"), std::nullopt));
  CHECK(p.kind == Kind::document);
  CHECK(p.mimetype == "application/pdf");
  // The page count is optional: libvips without a PDF loader gives 0.
  if (vips_type_find("VipsOperation", "pdfload") != 0) {
    CHECK(p.pages == 2);
  } else {
    CHECK(p.pages == 0);
  }
}
