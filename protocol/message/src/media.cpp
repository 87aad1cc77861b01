#include "wa/message/media.hpp"

#include "wa/proto/message.pb.h"

namespace wa::message {

namespace {

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string text_of(const Bytes& b) { return std::string(b.begin(), b.end()); }

// The fields every media sub-message shares.
template <class M>
void common(const M& m, MediaFields& f) {
  f.mimetype = m.mimetype();
  f.url = m.url();
  f.direct_path = m.directpath();
  f.size = m.filelength();
  f.media_key = bytes_of(m.mediakey());
  f.file_sha256 = bytes_of(m.filesha256());
  f.file_enc_sha256 = bytes_of(m.fileencsha256());
  f.media_key_timestamp = m.mediakeytimestamp();
  if (m.has_contextinfo() && m.contextinfo().has_stanzaid()) f.quoted_id = m.contextinfo().stanzaid();
}

template <class M>
void put_common(const MediaFields& f, const proto::ContextInfo* ci, M& m) {
  m.set_mimetype(f.mimetype);
  if (!f.url.empty()) m.set_url(f.url);
  m.set_directpath(f.direct_path);
  m.set_filelength(f.size);
  m.set_mediakey(text_of(f.media_key));
  m.set_filesha256(text_of(f.file_sha256));
  m.set_fileencsha256(text_of(f.file_enc_sha256));
  m.set_mediakeytimestamp(f.media_key_timestamp);
  if (ci) *m.mutable_contextinfo() = *ci;
}


}  // namespace

// The FutureProof envelopes a message's content can sit in (disappearing
// chats, view-once, captioned documents), innermost last. At most kMaxEnvelopes
// levels are opened, so a hostile nesting cannot walk far.
template <class M>
const proto::Message::FutureProofMessage* envelope_of(const M& m) {
  if (m.has_ephemeralmessage() && m.ephemeralmessage().has_message()) return &m.ephemeralmessage();
  if (m.has_viewoncemessage() && m.viewoncemessage().has_message()) return &m.viewoncemessage();
  if (m.has_viewoncemessagev2() && m.viewoncemessagev2().has_message()) return &m.viewoncemessagev2();
  if (m.has_viewoncemessagev2extension() && m.viewoncemessagev2extension().has_message())
    return &m.viewoncemessagev2extension();
  if (m.has_documentwithcaptionmessage() && m.documentwithcaptionmessage().has_message())
    return &m.documentwithcaptionmessage();
  return nullptr;
}

constexpr int kMaxEnvelopes = 5;

// One walk for both constnesses: the envelopes are the same fields.
template <class M>
M& content_of(M& m) {
  M* cur = &m;
  for (int depth = 0; depth < kMaxEnvelopes; ++depth) {
    const auto* env = envelope_of(*cur);
    if (!env) break;
    cur = const_cast<M*>(&env->message());
  }
  return *cur;
}

bool is_view_once(const proto::Message& m) {
  const proto::Message* cur = &m;
  for (int depth = 0; depth < kMaxEnvelopes; ++depth) {
    if (cur->has_viewoncemessage() || cur->has_viewoncemessagev2() || cur->has_viewoncemessagev2extension())
      return true;
    const auto* env = envelope_of(*cur);
    if (!env) break;
    cur = &env->message();
  }
  return false;
}

const proto::Message& media_content(const proto::Message& m) { return content_of(m); }
proto::Message& media_content(proto::Message& m) { return content_of(m); }

std::string media_kind(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  // Only media a download could use counts (as find_media).
  auto usable = [](const auto& x) { return !x.mediakey().empty() && !(x.directpath().empty() && x.url().empty()); };
  if (m.has_imagemessage()) return usable(m.imagemessage()) ? "image" : "";
  if (m.has_videomessage() || m.has_ptvmessage())
    return usable(m.has_videomessage() ? m.videomessage() : m.ptvmessage()) ? "video" : "";
  if (m.has_audiomessage()) return usable(m.audiomessage()) ? (m.audiomessage().ptt() ? "voice" : "audio") : "";
  if (m.has_documentmessage()) return usable(m.documentmessage()) ? "document" : "";
  if (m.has_stickermessage()) return usable(m.stickermessage()) ? "sticker" : "";
  return "";
}

std::optional<MediaFields> find_media(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  MediaFields f;
  f.view_once = is_view_once(outer);
  if (m.has_imagemessage()) {
    const auto& x = m.imagemessage();
    f.kind = "image";
    common(x, f);
    f.caption = x.caption();
    f.width = x.width();
    f.height = x.height();
    f.thumbnail = bytes_of(x.jpegthumbnail());
    f.view_once = f.view_once || x.viewonce();
  } else if (m.has_videomessage() || m.has_ptvmessage()) {
    const auto& x = m.has_videomessage() ? m.videomessage() : m.ptvmessage();
    f.kind = "video";
    common(x, f);
    f.caption = x.caption();
    f.width = x.width();
    f.height = x.height();
    f.seconds = x.seconds();
    f.gif = x.gifplayback();
    f.thumbnail = bytes_of(x.jpegthumbnail());
    f.view_once = f.view_once || x.viewonce();
  } else if (m.has_audiomessage()) {
    const auto& x = m.audiomessage();
    f.kind = x.ptt() ? "voice" : "audio";
    common(x, f);
    f.seconds = x.seconds();
    f.waveform = bytes_of(x.waveform());
    f.view_once = f.view_once || x.viewonce();
  } else if (m.has_documentmessage()) {
    const auto& x = m.documentmessage();
    f.kind = "document";
    common(x, f);
    f.caption = x.caption();
    f.filename = x.filename();
    f.pages = x.pagecount();
    f.thumbnail = bytes_of(x.jpegthumbnail());
  } else if (m.has_stickermessage()) {
    const auto& x = m.stickermessage();
    f.kind = "sticker";
    common(x, f);
    f.width = x.width();
    f.height = x.height();
    f.animated = x.isanimated();
    f.thumbnail = bytes_of(x.pngthumbnail());
  } else {
    return std::nullopt;
  }
  if (f.media_key.empty() || (f.direct_path.empty() && f.url.empty())) return std::nullopt;
  return f;
}

std::optional<MediaFields> find_media(ByteView serialized) {
  proto::Message m;
  if (!m.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) return std::nullopt;
  return find_media(m);
}

Result<Bytes> build_media_message(const MediaFields& f, const proto::ContextInfo* ci) {
  proto::Message m;
  if (f.kind == "image") {
    auto* x = m.mutable_imagemessage();
    put_common(f, ci, *x);
    if (!f.caption.empty()) x->set_caption(f.caption);
    if (f.width) x->set_width(f.width);
    if (f.height) x->set_height(f.height);
    if (!f.thumbnail.empty()) x->set_jpegthumbnail(text_of(f.thumbnail));
  } else if (f.kind == "video") {
    auto* x = m.mutable_videomessage();
    put_common(f, ci, *x);
    if (!f.caption.empty()) x->set_caption(f.caption);
    if (f.width) x->set_width(f.width);
    if (f.height) x->set_height(f.height);
    x->set_seconds(f.seconds);
    if (f.gif) x->set_gifplayback(true);
    if (!f.thumbnail.empty()) x->set_jpegthumbnail(text_of(f.thumbnail));
  } else if (f.kind == "audio" || f.kind == "voice") {
    auto* x = m.mutable_audiomessage();
    put_common(f, ci, *x);
    x->set_seconds(f.seconds);
    x->set_ptt(f.kind == "voice");
    if (!f.waveform.empty()) x->set_waveform(text_of(f.waveform));
  } else if (f.kind == "document") {
    proto::Message doc;
    auto* x = doc.mutable_documentmessage();
    put_common(f, ci, *x);
    x->set_filename(f.filename);
    x->set_title(f.filename);
    if (f.pages) x->set_pagecount(f.pages);
    if (!f.thumbnail.empty()) x->set_jpegthumbnail(text_of(f.thumbnail));
    if (f.caption.empty()) {
      m = std::move(doc);
    } else {
      x->set_caption(f.caption);
      *m.mutable_documentwithcaptionmessage()->mutable_message() = std::move(doc);
    }
  } else if (f.kind == "sticker") {
    auto* x = m.mutable_stickermessage();
    put_common(f, ci, *x);
    if (f.width) x->set_width(f.width);
    if (f.height) x->set_height(f.height);
    if (f.animated) x->set_isanimated(true);
  } else {
    return fail("bad_request", "unknown media kind '" + f.kind + "'");
  }
  std::string out = m.SerializeAsString();
  Bytes b(out.begin(), out.end());
  secure_wipe(out.data(), out.size());
  return b;
}

Result<Bytes> with_direct_path(ByteView serialized, const std::string& direct_path) {
  proto::Message m;
  if (!m.ParseFromArray(serialized.data(), static_cast<int>(serialized.size())))
    return fail("bad_message", "stored media message does not parse");
  proto::Message* cur = &media_content(m);
  if (cur->has_imagemessage()) {
    cur->mutable_imagemessage()->set_directpath(direct_path);
  } else if (cur->has_videomessage()) {
    cur->mutable_videomessage()->set_directpath(direct_path);
  } else if (cur->has_ptvmessage()) {
    cur->mutable_ptvmessage()->set_directpath(direct_path);
  } else if (cur->has_audiomessage()) {
    cur->mutable_audiomessage()->set_directpath(direct_path);
  } else if (cur->has_documentmessage()) {
    cur->mutable_documentmessage()->set_directpath(direct_path);
  } else if (cur->has_stickermessage()) {
    cur->mutable_stickermessage()->set_directpath(direct_path);
  } else {
    return fail("bad_message", "stored message holds no media");
  }
  std::string out = m.SerializeAsString();
  Bytes b(out.begin(), out.end());
  secure_wipe(out.data(), out.size());
  return b;
}

}  // namespace wa::message
