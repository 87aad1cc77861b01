#include "media.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "wa/crypto/crypto.hpp"
#include "wa/proto/message.pb.h"

namespace wa::testserver::media {

using binary::Node;

namespace {

// The upload types the reference clients use under /mms/ (Baileys maps
// sticker and link thumbnails to image, history to md-app-state; whatsmeow
// has md-msg-hist, thumbnail-link and sticker-pack of its own).
constexpr std::string_view kMmsTypes[] = {"image",          "video",        "audio",         "document",
                                          "sticker",        "gif",          "ptt",           "ptv",
                                          "md-msg-hist",    "md-app-state", "thumbnail-link", "sticker-pack",
                                          "thumbnail-image", "thumbnail-video", "thumbnail-document"};
constexpr std::string_view kNewsletterTypes[] = {"image", "video", "audio", "document", "sticker", "thumbnail-link"};

bool known(std::span<const std::string_view> list, std::string_view t) {
  return std::find(list.begin(), list.end(), t) != list.end();
}

// Trailing '=' padding, also percent-encoded (whatsmeow's query encoder
// writes token=...%3D).
std::string_view strip_padding(std::string_view s) {
  for (;;) {
    if (!s.empty() && s.back() == '=') s.remove_suffix(1);
    else if (s.size() >= 3 && s[s.size() - 3] == '%' && s[s.size() - 2] == '3' && (s.back() == 'D' || s.back() == 'd'))
      s.remove_suffix(3);
    else return s;
  }
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string random_token(size_t bytes) { return b64url(crypto::random_bytes(bytes), false); }

constexpr std::string_view kRetryInfo = "WhatsApp Media Retry Notification";

}  // namespace

Node media_conn_node(const std::string& auth, uint64_t ttl, uint64_t auth_ttl, int max_buckets,
                     const std::vector<HostEntry>& hosts) {
  binary::Children children;
  for (const auto& h : hosts) children.push_back(Node("host", {{"hostname", h.hostname}, {"type", h.type}}));
  return Node("media_conn",
              {{"auth", auth}, {"ttl", std::to_string(ttl)}, {"auth_ttl", std::to_string(auth_ttl)},
               {"max_buckets", std::to_string(max_buckets)}},
              std::move(children));
}

std::string b64url(ByteView b, bool pad) {
  std::string s = to_base64(b);
  for (char& ch : s) {
    if (ch == '+') ch = '-';
    else if (ch == '/') ch = '_';
  }
  if (!pad) s = std::string(strip_padding(s));
  return s;
}

bool token_matches(std::string_view token, const std::array<uint8_t, 32>& sha) {
  return strip_padding(token) == b64url(sha, false);
}

bool same_token(std::string_view a, std::string_view b) { return strip_padding(a) == strip_padding(b); }

std::optional<UploadTarget> parse_upload_path(std::string_view path) {
  UploadTarget t;
  std::string_view rest;
  if (path.starts_with("/mms/")) {
    rest = path.substr(5);
  } else if (path.starts_with("/newsletter/newsletter-")) {
    rest = path.substr(23);
    t.newsletter = true;
  } else {
    return std::nullopt;
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  t.type = std::string(rest.substr(0, slash));
  t.token = std::string(rest.substr(slash + 1));
  if (t.token.empty() || t.token.find('/') != std::string::npos) return std::nullopt;
  if (!known(t.newsletter ? std::span<const std::string_view>(kNewsletterTypes) : std::span<const std::string_view>(kMmsTypes),
             t.type))
    return std::nullopt;
  return t;
}

std::string_view path_of(std::string_view direct_path) { return direct_path.substr(0, direct_path.find('?')); }

std::string new_direct_path(uint64_t expires_unix) {
  char oe[32];
  std::snprintf(oe, sizeof oe, "%llX", static_cast<unsigned long long>(expires_unix));
  return "/v/t62.7118-24/" + to_hex(crypto::random_bytes(16)) + ".enc?ccb=11-4&oh=" + random_token(24) + "&oe=" + oe;
}

RangeKind parse_range(std::string_view h, uint64_t size, ByteRange& out) {
  if (!h.starts_with("bytes=")) return RangeKind::none;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return RangeKind::none;
  auto dash = h.find('-');
  if (dash == std::string_view::npos) return RangeKind::none;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // the last n bytes
    uint64_t n = 0;
    if (!parse_u64(b, n)) return RangeKind::none;
    if (n == 0 || size == 0) return RangeKind::unsatisfiable;
    out = {size - std::min(n, size), size - 1};
    return RangeKind::single;
  }
  if (!parse_u64(a, first)) return RangeKind::none;
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else {
    if (!parse_u64(b, last) || last < first) return RangeKind::none;
    if (size > 0) last = std::min(last, size - 1);
  }
  if (first >= size) return RangeKind::unsatisfiable;
  out = {first, last};
  return RangeKind::single;
}

std::string Store::issue_auth(const std::string& phone, uint64_t now, uint64_t ttl) {
  for (auto it = auths_.begin(); it != auths_.end();) it = it->second.expires <= now ? auths_.erase(it) : std::next(it);
  std::string token = random_token(24);
  auths_[token] = Auth{phone, now + ttl};
  return token;
}

std::optional<std::string> Store::check_auth(std::string_view auth, uint64_t now) const {
  auto it = auths_.find(auth);
  if (it == auths_.end() || it->second.expires <= now) return std::nullopt;
  return it->second.phone;
}

std::string Store::new_file_name() { return to_hex(crypto::random_bytes(16)) + ".enc"; }

Blob* Store::find(std::string_view path) {
  auto it = blobs_.find(path);
  return it == blobs_.end() ? nullptr : &it->second;
}

const RetryKey* Store::retry_key(const std::string& msg_id) const {
  auto it = retry_keys_.find(msg_id);
  return it == retry_keys_.end() ? nullptr : &it->second;
}

Bytes retry_key(ByteView media_key) { return crypto::hkdf_sha256(media_key, {}, as_bytes(kRetryInfo), 32); }

Result<std::string> open_server_error_receipt(ByteView media_key, const std::string& msg_id, ByteView ciphertext,
                                              ByteView iv) {
  if (iv.size() != 12) return fail("bad_request", "enc_iv must be 12 bytes");
  auto plain = crypto::aes_gcm_decrypt(retry_key(media_key), iv, as_bytes(msg_id), ciphertext);
  if (!plain) return Unexpected<Error>{plain.error()};
  wa::proto::ServerErrorReceipt r;
  if (!r.ParseFromArray(plain->data(), static_cast<int>(plain->size())))
    return fail("bad_request", "not a ServerErrorReceipt");
  return r.stanzaid();
}

Result<Sealed> seal_retry_notification(ByteView media_key, const std::string& msg_id, const std::string& direct_path,
                                       RetryResult result) {
  wa::proto::MediaRetryNotification n;
  n.set_stanzaid(msg_id);
  if (!direct_path.empty()) n.set_directpath(direct_path);
  n.set_result(static_cast<wa::proto::MediaRetryNotification::ResultType>(static_cast<int>(result)));
  std::string plain = n.SerializeAsString();
  Sealed s;
  s.iv = crypto::random_bytes(12);
  auto ct = crypto::aes_gcm_encrypt(retry_key(media_key), s.iv, as_bytes(msg_id), as_bytes(plain));
  if (!ct) return Unexpected<Error>{ct.error()};
  s.ciphertext = std::move(*ct);
  return s;
}

Node mediaretry_notification(const std::string& msg_id, const std::string& from, uint64_t t, const Node& rmr,
                             const std::optional<Sealed>& sealed, int error_code) {
  Node out_rmr("rmr");
  for (const char* k : {"jid", "from_me", "participant"})
    if (auto v = rmr.attr(k)) out_rmr.set_attr(k, std::string(*v));
  binary::Children children{std::move(out_rmr)};
  if (sealed) {
    children.push_back(Node("encrypt", {}, binary::Children{Node("enc_p", {}, sealed->ciphertext), Node("enc_iv", {}, sealed->iv)}));
  } else {
    children.push_back(Node("error", {{"code", std::to_string(error_code)}}));
  }
  return Node("notification", {{"from", from}, {"type", "mediaretry"}, {"id", msg_id}, {"t", std::to_string(t)}},
              std::move(children));
}

}  // namespace wa::testserver::media
