// The media world of the local server, without I/O: the media_conn answer,
// upload auth tokens, upload paths and their file-hash token, direct paths,
// Range headers, the blob registry (what the HTTPS host in media_host.cpp
// serves) and the emulated phone's side of a media retry. The server never
// sees media keys, except the phone emulation (the test hands it the key its
// real counterpart would have decrypted from its copy of the message).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::testserver::media {

// ---- media_conn -----------------------------------------------------------

struct HostEntry {
  std::string hostname;  // HOST:PORT (clients put https:// in front)
  std::string type;      // "primary" | "fallback"
};

// <media_conn auth ttl auth_ttl max_buckets><host hostname type/>...</media_conn>
// whatsmeow refuses an answer without any of the four attributes.
binary::Node media_conn_node(const std::string& auth, uint64_t ttl, uint64_t auth_ttl, int max_buckets,
                             const std::vector<HostEntry>& hosts);

// ---- upload requests --------------------------------------------------------

// URL-safe base64, with or without '=' padding.
std::string b64url(ByteView b, bool pad);

// The upload TOKEN is b64url(SHA-256(body)); whatsmeow keeps the padding,
// Baileys strips it: both are accepted.
bool token_matches(std::string_view token, const std::array<uint8_t, 32>& body_sha256);
// The query's token= and the path's token name the same hash (padding, raw
// or percent-encoded, aside).
bool same_token(std::string_view a, std::string_view b);

struct UploadTarget {
  std::string type;   // image, video, audio, document, ... as in the path
  std::string token;  // the path's last segment
  bool newsletter = false;  // /newsletter/newsletter-<type>/<token> (unencrypted)
};

// "/mms/<type>/<token>" or "/newsletter/newsletter-<type>/<token>"; nullopt
// for other paths and unknown types.
std::optional<UploadTarget> parse_upload_path(std::string_view path);

// The direct path without its query ("/v/t62.7118-24/x.enc?ccb=..&oh=.." -> "/v/t62.7118-24/x.enc").
std::string_view path_of(std::string_view direct_path);

// A fresh direct path, as the real host shapes it:
// /v/t62.7118-24/<random>.enc?ccb=11-4&oh=<random>&oe=<HEX expiry>
std::string new_direct_path(uint64_t expires_unix);

// ---- Range ------------------------------------------------------------------

struct ByteRange {
  uint64_t first = 0, last = 0;  // inclusive
};
enum class RangeKind { none, single, unsatisfiable };
// A "Range: bytes=a-b" header (also a-, -n) against a body of `size` bytes.
// Anything else (several ranges, other units, garbage) is ignored: the
// whole body is served (RFC 9110 allows that).
RangeKind parse_range(std::string_view header, uint64_t size, ByteRange& out);

// ---- blobs and auth -----------------------------------------------------------

enum class BlobState { live, expired };

struct Blob {
  std::string file;      // under the store's directory
  uint64_t size = 0;
  BlobState state = BlobState::live;
  std::string type;      // upload type (image, ...)
  std::string phone;     // uploader's account
  std::string direct_path;  // with its query, as the upload answered
  uint64_t created = 0;
};

struct RetryKey {
  Bytes media_key;
  std::string path;  // the blob's path (path_of(direct_path))
};

// Upload auth tokens (per account, random, valid for auth_ttl), the blobs by
// path, and the media keys the test gave the emulated phones. Loop thread only.
class Store {
 public:
  explicit Store(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  std::string issue_auth(const std::string& phone, uint64_t now, uint64_t ttl);
  // The account an auth token belongs to; nullopt if unknown or expired.
  std::optional<std::string> check_auth(std::string_view auth, uint64_t now) const;

  // A new blob file name under dir() (not yet existing).
  std::string new_file_name();
  void add(const std::string& path, Blob b) { blobs_[path] = std::move(b); }
  Blob* find(std::string_view path);
  std::map<std::string, Blob, std::less<>>& blobs() { return blobs_; }
  std::string file_path(const Blob& b) const { return dir_ + "/" + b.file; }

  void set_retry_key(const std::string& msg_id, RetryKey k) { retry_keys_[msg_id] = std::move(k); }
  const RetryKey* retry_key(const std::string& msg_id) const;

 private:
  std::string dir_;
  struct Auth {
    std::string phone;
    uint64_t expires = 0;
  };
  std::map<std::string, Auth, std::less<>> auths_;
  std::map<std::string, Blob, std::less<>> blobs_;
  std::map<std::string, RetryKey> retry_keys_;
};

// ---- media retry (the phone's side) -------------------------------------------

// HKDF-SHA256(mediaKey, no salt, "WhatsApp Media Retry Notification", 32).
Bytes retry_key(ByteView media_key);

struct Sealed {
  Bytes ciphertext;  // AES-256-GCM ciphertext || tag
  Bytes iv;          // 12 bytes
};

// The client's <encrypt> of a server-error receipt: ServerErrorReceipt
// sealed under the retry key with the message id as AAD. Returns its
// stanzaId; an error if it does not open.
Result<std::string> open_server_error_receipt(ByteView media_key, const std::string& msg_id, ByteView ciphertext,
                                              ByteView iv);

enum class RetryResult { general_error = 0, success = 1, not_found = 2, decryption_error = 3 };

// MediaRetryNotification{stanzaId, directPath, result} sealed for the
// requester (fresh 12-byte iv, AAD = msg id).
Result<Sealed> seal_retry_notification(ByteView media_key, const std::string& msg_id, const std::string& direct_path,
                                       RetryResult result);

// <notification type="mediaretry" id from t><rmr .../> + <encrypt> or <error code/>.
// rmr: the request's <rmr> (jid, from_me, participant), copied.
binary::Node mediaretry_notification(const std::string& msg_id, const std::string& from, uint64_t t,
                                     const binary::Node& rmr, const std::optional<Sealed>& sealed, int error_code);

}  // namespace wa::testserver::media
