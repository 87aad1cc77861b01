// Media: the crypto, the media host's HTTP and the content probing behind
// sending and receiving images, video, audio, voice notes, documents and
// stickers (docs/PROTOCOL.md §12.3). Pure library: no processes, no sockets of
// the account (the media_conn IQ is built and parsed here, sent by callers).
//
// Files are streamed: no function here holds a whole file in memory; the
// peak is a few buffers of kChunk bytes whatever the file's size.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::media {

// The read / write unit of every streaming step.
inline constexpr size_t kChunk = 64 * 1024;
inline constexpr size_t kMediaKeyBytes = 32;
inline constexpr size_t kMacBytes = 10;

// What a user sends. voice is an audio message with ptt=true.
enum class Kind { image, video, audio, voice, document, sticker };

std::optional<Kind> kind_from_name(std::string_view name);  // "image", ..., "voice" (also "ptt")
std::string_view kind_name(Kind k);
// HKDF info of the media keys: "WhatsApp Image Keys" (image, sticker),
// "WhatsApp Video Keys", "WhatsApp Audio Keys" (audio, voice), "WhatsApp Document Keys".
std::string_view hkdf_info(Kind k);
// The upload path: /mms/image (image, sticker), /mms/video, /mms/audio (audio, voice), /mms/document.
std::string_view upload_path(Kind k);
// The mms-type of a download URL: image, video, audio, document, sticker.
std::string_view mms_type(Kind k);
// The <enc mediatype> attribute: image, video, audio, ptt, document, sticker.
std::string_view enc_mediatype(Kind k);

// HKDF-SHA256(media_key, no salt, info, 112) split as iv[0:16],
// cipher_key[16:48], mac_key[48:80] (ref_key[80:112] unused). Wiped on destruction.
struct Keys {
  std::array<uint8_t, 16> iv{};
  std::array<uint8_t, 32> cipher_key{};
  std::array<uint8_t, 32> mac_key{};
  ~Keys();
};
// Errors: bad_key (not 32 bytes).
Result<Keys> expand(ByteView media_key, Kind k);
Bytes random_media_key();

// The four facts a media message carries about its file.
struct FileHashes {
  Bytes file_sha256;      // SHA-256 of the plaintext
  Bytes file_enc_sha256;  // SHA-256 of the upload body (ciphertext || 10-byte MAC)
  uint64_t file_length = 0;  // plaintext bytes
  uint64_t enc_length = 0;   // upload body bytes
};

// Upload body = AES-256-CBC/PKCS7(cipher_key, iv, plain) || HMAC-SHA256(mac_key, iv || ct)[0:10].
// Streaming: update() any number of times, then finish(); each appends to `out`.
class Encryptor {
 public:
  static Result<Encryptor> create(ByteView media_key, Kind k);
  Encryptor(Encryptor&&) noexcept;
  Encryptor& operator=(Encryptor&&) noexcept;
  ~Encryptor();
  Status update(ByteView plain, Bytes& out);
  // Appends the last block and the MAC; then hashes() is complete.
  Status finish(Bytes& out);
  const FileHashes& hashes() const;

 private:
  struct Impl;
  explicit Encryptor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The reverse, checking as it goes: the running SHA-256 of the body and of
// the plaintext and the MAC are compared at finish(). The last 10 bytes seen
// are held back as the MAC. Errors at finish: media_corrupt (length, MAC,
// fileEncSha256 or fileSha256 mismatch, bad padding).
class Decryptor {
 public:
  // expected: file_sha256 and file_enc_sha256 as the message carries them
  // (an empty one is not checked).
  static Result<Decryptor> create(ByteView media_key, Kind k, FileHashes expected);
  Decryptor(Decryptor&&) noexcept;
  Decryptor& operator=(Decryptor&&) noexcept;
  ~Decryptor();
  Status update(ByteView body, Bytes& out);
  Status finish(Bytes& out);

 private:
  struct Impl;
  explicit Decryptor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whole-buffer forms (tests, small thumbnails).
Result<Bytes> encrypt(ByteView media_key, Kind k, ByteView plain, FileHashes* hashes = nullptr);
Result<Bytes> decrypt(ByteView media_key, Kind k, ByteView body, const FileHashes& expected);

// Pass 1 of an upload: the hashes of the file's upload body under media_key,
// read in kChunk pieces. Errors: io_error (cannot read).
Result<FileHashes> hash_file(const std::string& path, ByteView media_key, Kind k);

// ---- the media_conn IQ (docs/PROTOCOL.md §12.3) ----

struct MediaHost {
  std::string hostname;  // may carry ":port"
  bool fallback = false;
  uint64_t max_content_bytes = 0;  // the host's maxContentLengthBytes; 0: not announced
};
struct MediaConn {
  std::string auth;
  int64_t ttl_s = 0;
  int64_t auth_ttl_s = 0;
  int64_t fetched_at = 0;  // unix seconds, set by the caller
  uint64_t max_content_bytes = 0;  // 0: not announced; else the smallest limit announced
  std::vector<MediaHost> hosts;  // primary first (type="fallback" hosts after the others)
  bool fresh(int64_t now) const { return !hosts.empty() && now < fetched_at + ttl_s; }
};
// <iq xmlns="w:m" type="set" to="@s.whatsapp.net" id=ID><media_conn/></iq>
binary::Node build_media_conn_iq(const std::string& id);
// The answer's <media_conn auth ttl auth_ttl max_buckets><host hostname/>...
// Lenient like Baileys: auth, ttl and one host with a hostname are required,
// the rest optional (hosts without a hostname are skipped).
// Errors: bad_stanza (an iq error, no hosts, auth or ttl missing).
Result<MediaConn> parse_media_conn(const binary::Node& iq_result);

// ---- HTTP (libcurl; docs/ARCHITECTURE.md "Media" says why curl) ----

struct HttpOptions {
  std::string ca_file;             // extra trust anchors (the local server's CA); empty: system store only
  long connect_timeout_ms = 10000;
  // A transfer slower than low_speed_bytes/s for low_speed_time_s is cut.
  long low_speed_bytes = 1024;
  long low_speed_time_s = 30;
  // Checked between chunks: true cancels the transfer (error "cancelled").
  std::function<bool()> cancelled;
};

struct Uploaded {
  std::string url;
  std::string direct_path;
};
// Pass 2: POST https://HOST/mms/<type>/<TOKEN>?auth=AUTH&token=TOKEN with
// the upload body encrypted on the fly from `path` (TOKEN = unpadded
// base64url of expected.file_enc_sha256); each host of conn in order, the
// next one after a network error or 5xx. The file is re-hashed while it is
// sent; a change since pass 1 cancels (error "file_changed").
// Errors: upload_failed (every host failed; the message says why),
// too_large (413, or bigger than the host's announced limit), file_changed,
// io_error, cancelled.
Result<Uploaded> upload_file(const MediaConn& conn, Kind k, const std::string& path, ByteView media_key,
                             const FileHashes& expected, const HttpOptions& http);

// GET https://HOST<direct_path>&hash=<b64url(enc sha)>&mms-type=<type>&__wa-mms=
// from each host in order, decrypting and verifying into `out_path`: the
// bytes go to a temporary file beside it (0600), which is fsynced and renamed
// over out_path only when every check passed; on any error nothing is left.
// Errors: media_expired (403/404/410: the media retry flow), media_corrupt,
// download_failed (network, 5xx on every host), io_error, cancelled.
struct DownloadRequest {
  std::vector<std::string> hosts;  // hostnames (":port" allowed), in order
  std::string direct_path;
  Kind kind = Kind::document;
  Bytes media_key;
  FileHashes expected;  // file_sha256, file_enc_sha256, file_length
};
Status download_file(const DownloadRequest& req, const std::string& out_path, const HttpOptions& http);

// ---- media retry (docs/PROTOCOL.md §12.3) ----

// <receipt id=MSG to=OWN_PN type="server-error"><encrypt><enc_p/><enc_iv/></encrypt>
//   <rmr jid=CHAT from_me=".." [participant=SENDER]/></receipt>
// enc_p = AES-256-GCM(HKDF(media_key, "WhatsApp Media Retry Notification", 32),
//                     iv12, aad=msg id, ServerErrorReceipt{stanzaId}).
// `to` is own_pn without its device (as Baileys' jidNormalizedUser); an empty
// participant is left out. Errors: bad_key, bad_jid.
Result<binary::Node> build_retry_receipt(const std::string& msg_id, const std::string& own_pn, const std::string& chat,
                                         bool from_me, const std::string& participant, ByteView media_key);
struct RetryAnswer {
  std::string msg_id;
  std::string direct_path;  // set when result == 1 (SUCCESS)
  int result = 0;           // MediaRetryNotification.ResultType
  int error_code = 0;       // <error code>: the phone could not help
};
// <notification type="mediaretry" id=MSG><rmr/><encrypt>...</encrypt>|<error code/></notification>
// Errors: bad_stanza, media_corrupt (GCM check failed).
Result<RetryAnswer> parse_retry_notification(const binary::Node& n, ByteView media_key);
// The phone's side (the local server's emulated phone, and tests). An empty
// direct_path reports NOT_FOUND. The node carries id and type="mediaretry";
// the sender adds from/t. Errors: bad_key.
Result<binary::Node> build_retry_notification(const std::string& msg_id, const std::string& chat, bool from_me,
                                              const std::string& participant, const std::string& direct_path,
                                              ByteView media_key);
// The phone could not help: <notification ...><rmr/><error code=CODE/></notification>.
binary::Node build_retry_error_notification(const std::string& msg_id, const std::string& chat, bool from_me,
                                            const std::string& participant, int code);
// The retry key: HKDF-SHA256(media_key, no salt, "WhatsApp Media Retry Notification", 32).
// Errors: bad_key.
Result<Bytes> retry_key(ByteView media_key);

// ---- probing (libmagic, libvips, FFmpeg) ----

struct Probe {
  std::string mimetype;           // libmagic's, e.g. "image/jpeg", "audio/ogg; codecs=opus"
  Kind kind = Kind::document;     // what the content suggests
  uint32_t width = 0, height = 0; // images, video, stickers
  uint32_t seconds = 0;           // audio, voice, video
  uint32_t pages = 0;             // PDF documents, when the page count is known
  bool animated = false;          // stickers
  Bytes jpeg_thumbnail;           // images and video: a small JPEG (32 px wide, as Baileys)
  Bytes waveform;                 // voice: 64 values 0..100
};
// Reads what the kind needs (headers; one frame of video; the audio samples
// of a voice note). `forced` overrides the detected kind. Errors:
// unsupported_media (the content cannot be the kind asked for), io_error.
Result<Probe> probe_file(const std::string& path, std::optional<Kind> forced);
// wa_media_probe (libmagic, libvips, FFmpeg) links probe_file; everything
// else runs it in the wa-probe process and reads its answer: one line of
// JSON, {"probe": {...}} or {"error": {"code", "message"}}.
std::string probe_answer(const Result<Probe>& p);
Result<Probe> parse_probe_answer(std::string_view line);

}  // namespace wa::media
