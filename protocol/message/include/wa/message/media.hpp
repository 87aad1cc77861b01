// The media part of a message (docs/PROTOCOL.md §12.3): read from a received
// message and written for a send. Kinds are named as wa::media::kind_name
// spells them ("image", "video", "audio", "voice", "document", "sticker") so
// this layer needs no media library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::proto {
class Message;
class ContextInfo;
}  // namespace wa::proto

namespace wa::message {

struct MediaFields {
  std::string kind;
  std::string mimetype;
  std::string caption;
  std::string filename;   // documents
  std::string url;
  std::string direct_path;
  uint64_t size = 0;      // plaintext bytes (fileLength)
  uint32_t width = 0, height = 0, seconds = 0, pages = 0;
  bool animated = false;  // stickers
  bool gif = false;       // video played as a gif
  bool view_once = false;
  int64_t media_key_timestamp = 0;
  Bytes media_key, file_sha256, file_enc_sha256;  // secret / integrity: never in events
  Bytes thumbnail;  // JPEG (PNG for stickers)
  Bytes waveform;   // voice notes: 64 values 0..100
  std::string quoted_id;  // contextInfo.stanzaId
};

// The message inside its envelopes (disappearing-chat, view-once and
// captioned-document; at most five levels), or `m` itself: where the content
// of a message is, media or not.
const proto::Message& media_content(const proto::Message& m);
proto::Message& media_content(proto::Message& m);

// The media of a message, unwrapped from its view-once and captioned-document
// envelopes; nullopt for a message without media (or without a media key and
// a path to fetch it from: nothing a download could use).
std::optional<MediaFields> find_media(const proto::Message& m);
// find_media's kind alone ("" when find_media finds none), without copying
// the media's fields: what content_type asks of every message.
std::string media_kind(const proto::Message& m);
std::optional<MediaFields> find_media(ByteView serialized);

// The message that carries `f` (a captioned document goes in
// documentWithCaptionMessage, as WhatsApp sends it). `ci` (may be null): the
// quote. Fails "bad_request" on an unknown kind.
Result<Bytes> build_media_message(const MediaFields& f, const proto::ContextInfo* ci);

// The serialized message with the media's direct path replaced (after a
// media retry gave a new one). Fails "bad_message" when it holds no media.
Result<Bytes> with_direct_path(ByteView serialized, const std::string& direct_path);

}  // namespace wa::message
