// The wa-probe answer line: a Probe survives the trip, and whatever else a
// crashed or hostile decoder prints is a clear error, never a throw.
#include <doctest/doctest.h>

#include "wa/media/media.hpp"

using namespace wa;

TEST_CASE("probe answer: a probe and an error round-trip through the line") {
  media::Probe p;
  p.mimetype = "audio/ogg; codecs=opus";
  p.kind = media::Kind::voice;
  p.seconds = 3;
  p.waveform = Bytes(64, 42);
  p.jpeg_thumbnail = Bytes{0xff, 0xd8, 0xff};
  auto back = media::parse_probe_answer(media::probe_answer(p));
  REQUIRE(back.has_value());
  CHECK(back->mimetype == p.mimetype);
  CHECK(back->kind == media::Kind::voice);
  CHECK(back->seconds == 3);
  CHECK(back->waveform == p.waveform);
  CHECK(back->jpeg_thumbnail == p.jpeg_thumbnail);
  auto err = media::parse_probe_answer(media::probe_answer(fail("unsupported_media", "not an image")));
  CHECK(err.error().code == "unsupported_media");
  CHECK(err.error().message == "not an image");
}

TEST_CASE("probe answer: garbage, wrong types, huge values and odd codes are unsupported_media") {
  for (const char* line : {"", "not json", "[]", "{}", R"({"probe": 1})", R"({"probe": {}})",
                           R"({"probe": {"mimetype": "image/jpeg"}})",
                           R"({"probe": {"mimetype": "image/jpeg", "kind": "hologram"}})",
                           R"({"probe": {"mimetype": "image/jpeg", "kind": "image", "width": -1}})",
                           R"({"probe": {"mimetype": "image/jpeg", "kind": "image", "width": 99999999999}})",
                           R"({"probe": {"mimetype": "image/jpeg", "kind": "image", "jpeg_thumbnail": "%%%"}})",
                           R"({"probe": {"mimetype": "image/jpeg", "kind": "image", "waveform": 7}})",
                           R"({"error": "boom"})"}) {
    CAPTURE(line);
    auto r = media::parse_probe_answer(line);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "unsupported_media");
  }
  // The child cannot make us report a store failure or anything else.
  CHECK(media::parse_probe_answer(R"({"error": {"code": "db_corrupt", "message": "x"}})").error().code ==
        "unsupported_media");
  CHECK(media::parse_probe_answer(R"({"error": {"code": "file_error", "message": "x"}})").error().code == "file_error");
}
