// The HTTPS media host (the local mmg.whatsapp.net): libwebsockets on the
// server's libuv loop, its own lws context on its own port, TLS with the
// per-state-dir test CA (media_tls.hpp).
//
//   POST /mms/<type>/<token>?auth=..&token=..   upload (streamed to a file as it arrives)
//   GET|HEAD <direct_path>                       download (Range: one range -> 206)
//
// Faults for tests: refused uploads (503), a throttle for both directions
// (timers and writeable callbacks: the chat sockets on the same loop keep
// working), expiry (410) and corruption live on the blobs (media.hpp Store).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "media.hpp"
#include "media_tls.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/result.hpp"

struct lws_context;
struct lws;

namespace wa::testserver::media {

struct HostOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  uint64_t max_bytes = 2ull << 30;  // larger uploads answer 413
  uint64_t retention_s = 30ull * 24 * 3600;  // the direct path's oe (nothing expires by itself)
};

struct HostCounters {
  uint64_t uploads = 0, downloads = 0, bytes_in = 0, bytes_out = 0;
  uint64_t refused = 0;       // uploads answered 4xx/5xx
  uint64_t expired_hits = 0;  // downloads answered 410
  uint64_t not_found = 0;     // downloads answered 404
};

class MediaHost {
 public:
  static Result<std::unique_ptr<MediaHost>> listen(uv_loop_t* loop, const HostOptions& opts, const TlsFiles& tls,
                                                   Store& store);
  ~MediaHost();
  MediaHost(const MediaHost&) = delete;
  MediaHost& operator=(const MediaHost&) = delete;

  int port() const { return port_; }
  // "https://HOST:PORT": what upload answers put in front of direct paths.
  std::string origin() const;
  void stop();

  void set_refuse_uploads(bool on) { refuse_uploads_ = on; }
  bool refuse_uploads() const { return refuse_uploads_; }
  // Bytes per second for each transfer, both directions; 0: unthrottled.
  void set_rate(uint64_t bytes_per_sec);
  uint64_t rate() const { return rate_; }
  const HostCounters& counters() const { return counters_; }
  size_t transfers() const { return reqs_.size(); }

  // lws entry point (public for the C callback table).
  int on_lws(lws* wsi, int reason, void* in, size_t len);

 private:
  struct Request {
    enum class Kind { none, upload, download, respond } kind = Kind::none;
    // the answer
    int status = 0;
    std::string content_type;
    std::string body;
    std::string content_range;
    bool headers_sent = false;
    bool close_after = false;  // the request body was not read: close, do not parse it as a request
    // upload
    int fd = -1;
    std::string tmp_path;
    uint64_t expected = 0, received = 0;
    void* sha = nullptr;  // EVP_MD_CTX
    UploadTarget target;
    std::string phone;
    int reject = 0;  // != 0: the body is read and dropped, then this status answers
    // download
    int file_fd = -1;
    uint64_t off = 0, end = 0;
    bool head = false;
    // throttle: bytes moved since t0 (reset when the rate changes)
    std::chrono::steady_clock::time_point t0;
    uint64_t moved = 0;
    uint64_t epoch = 0;
    bool paused = false;
    uint64_t want = 0;  // bytes the paused transfer waits to move
  };

  MediaHost(uv_loop_t* loop, HostOptions opts, Store& store);
  void reset(Request& r, bool keep_upload = false);
  int on_http(lws* wsi, Request& r);
  int start_upload(lws* wsi, Request& r);
  int on_body(lws* wsi, Request& r, const uint8_t* data, size_t len);
  int on_body_done(lws* wsi, Request& r);
  int start_download(lws* wsi, Request& r, const std::string& path, bool head);
  int on_writeable(lws* wsi, Request& r);
  void answer(lws* wsi, Request& r, int status, std::string body, const char* content_type = "application/json");
  void refuse(lws* wsi, Request& r, int status, const std::string& why);
  bool within_budget(Request& r, uint64_t n);
  void pause(lws* wsi, Request& r, uint64_t want);
  void tick();

  uv_loop_t* loop_;
  HostOptions opts_;
  Store& store_;
  lws_context* ctx_ = nullptr;
  int port_ = 0;
  std::map<lws*, Request> reqs_;
  HostCounters counters_;
  bool refuse_uploads_ = false;
  uint64_t rate_ = 0;
  uint64_t rate_epoch_ = 0;
  std::unique_ptr<ipc::Timer> tick_;
  bool stopping_ = false;
};

}  // namespace wa::testserver::media
