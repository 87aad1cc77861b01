// The media part of a message: what a send writes, what a receive reads
// (the field numbers are Baileys' WAProto's), and the stanza's media type.
#include <doctest/doctest.h>

#include "wa/message/media.hpp"
#include "wa/message/reaction.hpp"
#include "wa/message/send.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;

namespace {

message::MediaFields sample(const std::string& kind) {
  message::MediaFields f;
  f.kind = kind;
  f.mimetype = "application/octet-stream";
  f.direct_path = "/v/t62.7118-24/abc.enc?ccb=11-4";
  f.url = "https://mmg.whatsapp.net/v/t62.7118-24/abc.enc?ccb=11-4";
  f.size = 12345;
  f.media_key = Bytes(32, 7);
  f.file_sha256 = Bytes(32, 1);
  f.file_enc_sha256 = Bytes(32, 2);
  f.media_key_timestamp = 1700000000;
  return f;
}

}  // namespace

TEST_CASE("media message: each kind round-trips through its own field with the stanza's media type") {
  const std::vector<std::pair<std::string, std::string>> kinds{{"image", "image"},       {"video", "video"},
                                                               {"audio", "audio"},       {"voice", "ptt"},
                                                               {"document", "document"}, {"sticker", "sticker"}};
  for (const auto& entry : kinds) {
    const std::string& kind = entry.first;
    const std::string& mediatype = entry.second;
    CAPTURE(kind);
    auto f = sample(kind);
    f.width = 640;
    f.height = 480;
    f.seconds = 7;
    f.filename = "report.pdf";
    auto bytes = message::build_media_message(f, nullptr);
    REQUIRE(bytes.has_value());
    CHECK(message::media_type_of(*bytes) == mediatype);
    auto back = message::find_media(*bytes);
    REQUIRE(back.has_value());
    CHECK(back->kind == kind);
    CHECK(back->media_key == f.media_key);
    CHECK(back->file_sha256 == f.file_sha256);
    CHECK(back->file_enc_sha256 == f.file_enc_sha256);
    CHECK(back->direct_path == f.direct_path);
    CHECK(back->size == 12345u);
    CHECK(back->media_key_timestamp == 1700000000);
  }
}

TEST_CASE("media message: field numbers as WhatsApp's (audio ptt=6, document fileName=8, caption in the wrapper)") {
  auto voice = sample("voice");
  voice.waveform = Bytes(64, 50);
  auto vb = message::build_media_message(voice, nullptr);
  REQUIRE(vb.has_value());
  proto::Message m;
  REQUIRE(m.ParseFromArray(vb->data(), static_cast<int>(vb->size())));
  REQUIRE(m.has_audiomessage());
  CHECK(m.audiomessage().ptt());
  CHECK(m.audiomessage().waveform().size() == 64);

  auto doc = sample("document");
  doc.filename = "a.pdf";
  doc.caption = "the report";
  auto db = message::build_media_message(doc, nullptr);
  REQUIRE(db.has_value());
  proto::Message d;
  REQUIRE(d.ParseFromArray(db->data(), static_cast<int>(db->size())));
  CHECK_FALSE(d.has_documentmessage());
  REQUIRE(d.has_documentwithcaptionmessage());
  CHECK(d.documentwithcaptionmessage().message().documentmessage().filename() == "a.pdf");
  CHECK(d.documentwithcaptionmessage().message().documentmessage().caption() == "the report");
  CHECK(message::media_type_of(*db) == "document");
  auto back = message::find_media(*db);
  REQUIRE(back.has_value());
  CHECK(back->caption == "the report");
  CHECK(back->filename == "a.pdf");
}

TEST_CASE("media message: a quote, a view-once wrapper, a new direct path") {
  proto::ContextInfo ci;
  ci.set_stanzaid("QUOTED1");
  auto bytes = message::build_media_message(sample("image"), &ci);
  REQUIRE(bytes.has_value());
  CHECK(message::find_media(*bytes)->quoted_id == "QUOTED1");

  proto::Message inner;
  REQUIRE(inner.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())));
  proto::Message wrapped;
  *wrapped.mutable_viewoncemessage()->mutable_message() = inner;
  std::string w = wrapped.SerializeAsString();
  auto vo = message::find_media(as_bytes(w));
  REQUIRE(vo.has_value());
  CHECK(vo->view_once);
  CHECK(message::media_type_of(as_bytes(w)) == "image");

  auto moved = message::with_direct_path(as_bytes(w), "/v/new-path.enc");
  REQUIRE(moved.has_value());
  CHECK(message::find_media(*moved)->direct_path == "/v/new-path.enc");
}

TEST_CASE("media message: text, unknown kinds, keyless media and garbage are not media") {
  proto::Message t;
  t.mutable_extendedtextmessage()->set_text("hi");
  std::string ts = t.SerializeAsString();
  CHECK_FALSE(message::find_media(as_bytes(ts)).has_value());
  CHECK(message::media_type_of(as_bytes(ts)).empty());
  CHECK_FALSE(message::with_direct_path(as_bytes(ts), "/x").has_value());
  CHECK(message::build_media_message(sample("hologram"), nullptr).error().code == "bad_request");
  auto keyless = sample("image");
  keyless.media_key.clear();
  auto kb = message::build_media_message(keyless, nullptr);
  REQUIRE(kb.has_value());
  CHECK_FALSE(message::find_media(*kb).has_value());
  const Bytes garbage{0xff, 0xff, 0xff};
  CHECK_FALSE(message::find_media(garbage).has_value());
  CHECK(message::media_type_of(garbage).empty());
}

TEST_CASE("reaction: the key as Baileys writes it, an empty emoji to remove, the stanza typed reaction") {
  message::TargetKey t{"123@g.us", false, "MSG1", "456@lid"};
  auto bytes = message::build_reaction(t, "👍", 1700000000123);
  REQUIRE(bytes.has_value());
  proto::Message m;
  REQUIRE(m.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())));
  REQUIRE(m.has_reactionmessage());
  CHECK(m.reactionmessage().key().remotejid() == "123@g.us");
  CHECK(m.reactionmessage().key().id() == "MSG1");
  CHECK(m.reactionmessage().key().participant() == "456@lid");
  CHECK_FALSE(m.reactionmessage().key().fromme());
  CHECK(m.reactionmessage().sendertimestampms() == 1700000000123);
  auto back = message::find_reaction(*bytes);
  REQUIRE(back.has_value());
  CHECK(back->emoji == "👍");
  CHECK(back->target.id == "MSG1");
  auto removed = message::build_reaction(t, "", 1);
  REQUIRE(removed.has_value());
  CHECK(message::find_reaction(*removed)->emoji.empty());
  CHECK(message::media_type_of(*bytes).empty());
  CHECK(message::build_reaction(message::TargetKey{"1@s.whatsapp.net", true, "", ""}, "x", 1).error().code ==
        "bad_request");
  CHECK(message::build_reaction(t, std::string(65, 'x'), 1).error().code == "bad_request");
}
