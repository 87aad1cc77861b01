// The media kinds' wire names and the media key expansion.
#include <algorithm>

#include "wa/crypto/crypto.hpp"
#include "wa/media/media.hpp"

namespace wa::media {

std::optional<Kind> kind_from_name(std::string_view name) {
  if (name == "image") return Kind::image;
  if (name == "video") return Kind::video;
  if (name == "audio") return Kind::audio;
  if (name == "voice" || name == "ptt") return Kind::voice;
  if (name == "document") return Kind::document;
  if (name == "sticker") return Kind::sticker;
  return std::nullopt;
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::image: return "image";
    case Kind::video: return "video";
    case Kind::audio: return "audio";
    case Kind::voice: return "voice";
    case Kind::document: return "document";
    case Kind::sticker: return "sticker";
  }
  return "document";
}

std::string_view hkdf_info(Kind k) {
  switch (k) {
    case Kind::image:
    case Kind::sticker: return "WhatsApp Image Keys";
    case Kind::video: return "WhatsApp Video Keys";
    case Kind::audio:
    case Kind::voice: return "WhatsApp Audio Keys";
    case Kind::document: return "WhatsApp Document Keys";
  }
  return "WhatsApp Document Keys";
}

std::string_view upload_path(Kind k) {
  switch (k) {
    case Kind::image:
    case Kind::sticker: return "/mms/image";
    case Kind::video: return "/mms/video";
    case Kind::audio:
    case Kind::voice: return "/mms/audio";
    case Kind::document: return "/mms/document";
  }
  return "/mms/document";
}

std::string_view mms_type(Kind k) {
  switch (k) {
    case Kind::image: return "image";
    case Kind::video: return "video";
    case Kind::audio:
    case Kind::voice: return "audio";
    case Kind::document: return "document";
    case Kind::sticker: return "sticker";
  }
  return "document";
}

std::string_view enc_mediatype(Kind k) {
  switch (k) {
    case Kind::image: return "image";
    case Kind::video: return "video";
    case Kind::audio: return "audio";
    case Kind::voice: return "ptt";
    case Kind::document: return "document";
    case Kind::sticker: return "sticker";
  }
  return "document";
}

Keys::~Keys() {
  secure_wipe(iv.data(), iv.size());
  secure_wipe(cipher_key.data(), cipher_key.size());
  secure_wipe(mac_key.data(), mac_key.size());
}

Result<Keys> expand(ByteView media_key, Kind k) {
  if (media_key.size() != kMediaKeyBytes) return fail("bad_key", "a media key has 32 bytes");
  Bytes out = crypto::hkdf_sha256(media_key, {}, as_bytes(hkdf_info(k)), 112);
  if (out.size() != 112) {
    secure_wipe(out);
    return fail("bad_key", "key expansion failed");
  }
  Keys keys;
  std::copy_n(out.begin(), 16, keys.iv.begin());
  std::copy_n(out.begin() + 16, 32, keys.cipher_key.begin());
  std::copy_n(out.begin() + 48, 32, keys.mac_key.begin());
  secure_wipe(out);
  return keys;
}

Bytes random_media_key() { return crypto::random_bytes(kMediaKeyBytes); }

}  // namespace wa::media
