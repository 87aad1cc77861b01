#include "media_host.hpp"

#include <fcntl.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <strings.h>
#include <nlohmann/json.hpp>

#include "stanza.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/log.hpp"

namespace wa::testserver::media {

namespace {

constexpr size_t kChunk = 64u << 10;     // one download write
constexpr uint64_t kTickMs = 20;         // throttle timer
constexpr unsigned kTimeoutS = 120;      // lws: idle body / writes

int trampoline(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* ctx = lws_get_context(wsi);
  auto* self = ctx ? static_cast<MediaHost*>(lws_context_user(ctx)) : nullptr;
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return self->on_lws(wsi, static_cast<int>(reason), in, len);
}

const lws_protocols kProtocols[] = {
    {"wa-media", trampoline, 0, 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::string header(lws* wsi, lws_token_indexes h) {
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return {};
  std::string s(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi, s.data(), n + 1, h) < 0) return {};
  s.resize(static_cast<size_t>(n));
  return s;
}

std::string urlarg(lws* wsi, const char* name) {
  char buf[512];
  const char* v = lws_get_urlarg_by_name(wsi, name, buf, sizeof buf);
  return v ? std::string(v) : std::string();
}

const char* reason_text(int status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 410: return "gone";
    case 411: return "length required";
    case 413: return "payload too large";
    case 416: return "range not satisfiable";
    case 500: return "internal error";
    case 503: return "service unavailable";
    default: return "error";
  }
}

}  // namespace

MediaHost::MediaHost(uv_loop_t* loop, HostOptions opts, Store& store) : loop_(loop), opts_(std::move(opts)), store_(store) {}

MediaHost::~MediaHost() { stop(); }

Result<std::unique_ptr<MediaHost>> MediaHost::listen(uv_loop_t* loop, const HostOptions& opts, const TlsFiles& tls,
                                                     Store& store) {
  std::unique_ptr<MediaHost> h(new MediaHost(loop, opts, store));
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  void* loops[1] = {loop};
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.foreign_loops = loops;
  info.port = opts.port;
  info.iface = h->opts_.host.c_str();
  info.protocols = kProtocols;
  info.user = h.get();
  info.count_threads = 1;
  info.vhost_name = "media";
  info.ssl_cert_filepath = tls.leaf_cert.c_str();
  info.ssl_private_key_filepath = tls.leaf_key.c_str();
  // HTTP/1.1 only: one request per connection at a time keeps body flow
  // control (the throttle) simple, and every client speaks it.
  info.alpn = "http/1.1";
  info.pt_serv_buf_size = 64 * 1024;
  info.max_http_header_data = 8192;  // long download URLs with their extra query
  info.timeout_secs = kTimeoutS;
  info.keepalive_timeout = 30;
  h->ctx_ = lws_create_context(&info);
  if (!h->ctx_)
    return fail("listen_failed", "media host cannot listen on " + opts.host + ":" + std::to_string(opts.port));
  auto* vh = lws_get_vhost_by_name(h->ctx_, "media");
  h->port_ = vh ? lws_get_vhost_listen_port(vh) : opts.port;
  h->tick_ = std::make_unique<ipc::Timer>(loop);
  return h;
}

std::string MediaHost::origin() const { return "https://" + opts_.host + ":" + std::to_string(port_); }

void MediaHost::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (tick_) tick_->stop();
  if (ctx_) {
    lws_context_destroy(ctx_);
    ctx_ = nullptr;
  }
  for (auto& [w, r] : reqs_) {
    (void)w;
    reset(r);
  }
  reqs_.clear();
}

void MediaHost::set_rate(uint64_t bps) {
  rate_ = bps;
  ++rate_epoch_;
  if (bps == 0) tick();  // resume whatever waits
}

void MediaHost::reset(Request& r, bool keep_upload) {
  if (r.fd >= 0) ::close(r.fd);
  if (!keep_upload && !r.tmp_path.empty()) ::unlink(r.tmp_path.c_str());
  if (r.file_fd >= 0) ::close(r.file_fd);
  if (r.sha) EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(r.sha));
  r = Request{};
}

int MediaHost::on_lws(lws* wsi, int reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_HTTP: {
      Request& r = reqs_[wsi];
      reset(r);
      if (stopping_) return -1;
      return on_http(wsi, r);
    }
    case LWS_CALLBACK_HTTP_BODY: {
      auto it = reqs_.find(wsi);
      if (it == reqs_.end()) return -1;
      return on_body(wsi, it->second, static_cast<const uint8_t*>(in), len);
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      auto it = reqs_.find(wsi);
      if (it == reqs_.end()) return -1;
      return on_body_done(wsi, it->second);
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
      auto it = reqs_.find(wsi);
      if (it == reqs_.end()) return 0;
      return on_writeable(wsi, it->second);
    }
    case LWS_CALLBACK_CLOSED_HTTP: {
      auto it = reqs_.find(wsi);
      if (it != reqs_.end()) {
        reset(it->second);  // an upload cut off midway leaves no file behind
        reqs_.erase(it);
      }
      return 0;
    }
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), nullptr, in, len);
}

int MediaHost::on_http(lws* wsi, Request& r) {
  if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) return start_upload(wsi, r);
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
    return start_download(wsi, r, header(wsi, WSI_TOKEN_GET_URI), false);
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0)
    return start_download(wsi, r, header(wsi, WSI_TOKEN_HEAD_URI), true);
  r.close_after = true;
  answer(wsi, r, 405, R"({"error":"method not allowed"})");
  return 0;
}

void MediaHost::answer(lws* wsi, Request& r, int status, std::string body, const char* content_type) {
  r.kind = Request::Kind::respond;
  r.status = status;
  r.body = std::move(body);
  r.content_type = content_type;
  lws_callback_on_writable(wsi);
}

void MediaHost::refuse(lws* wsi, Request& r, int status, const std::string& why) {
  ++counters_.refused;
  WA_DEBUG("media upload refused: %d %s", status, why.c_str());
  nlohmann::json j{{"error", reason_text(status)}, {"detail", why}};
  answer(wsi, r, status, j.dump());
}

int MediaHost::start_upload(lws* wsi, Request& r) {
  r.kind = Request::Kind::upload;
  std::string path = header(wsi, WSI_TOKEN_POST_URI);
  std::string cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  uint64_t expected = 0;
  bool has_length = !cl.empty() && std::all_of(cl.begin(), cl.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
                    cl.size() < 20;
  if (has_length) expected = std::stoull(cl);
  r.expected = expected;
  if (!has_length) {
    // No length: we cannot tell where the body ends; answer and close.
    r.close_after = true;
    refuse(wsi, r, 411, "Content-Length required");
    return 0;
  }
  if (expected > opts_.max_bytes) {
    // Not read at all: a client that sent Expect: 100-continue never sends it.
    r.close_after = true;
    refuse(wsi, r, 413, "larger than " + std::to_string(opts_.max_bytes) + " bytes");
    return 0;
  }
  // The other refusals are answered once the body was read (and dropped),
  // so the client is not reset midway and sees the status.
  auto target = parse_upload_path(path);
  auto phone = store_.check_auth(urlarg(wsi, "auth="), now_unix());
  if (!target) r.reject = 404;
  else if (!phone) r.reject = 401;
  else if (refuse_uploads_) r.reject = 503;
  if (r.reject == 0) {
    r.target = *target;
    r.phone = *phone;
    std::string q = urlarg(wsi, "token=");
    if (!q.empty() && !same_token(q, target->token)) r.reject = 400;  // the query's token names the path's
  }
  if (r.reject == 0) {
    r.tmp_path = store_.dir() + "/upload-" + store_.new_file_name() + ".part";
    r.fd = ::open(r.tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r.fd < 0) {
      r.tmp_path.clear();
      r.reject = 500;
    } else {
      auto* ctx = EVP_MD_CTX_new();
      r.sha = ctx;
      if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) r.reject = 500;
    }
  }
  r.t0 = std::chrono::steady_clock::now();
  r.epoch = rate_epoch_;
  if (expected == 0) return on_body_done(wsi, r);
  // curl and other clients ask before sending a large body; lws does not
  // answer for us. Refused: the final status now (the body never comes,
  // the connection closes after it). Accepted: 100 Continue.
  std::string expect = header(wsi, WSI_TOKEN_HTTP_EXPECT);
  if (expect.size() == 12 && strncasecmp(expect.c_str(), "100-continue", 12) == 0) {
    if (r.reject != 0) {
      int status = r.reject;
      reset(r);
      r.close_after = true;
      refuse(wsi, r, status, "refused before the body");
      return 0;
    }
    static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    unsigned char buf[LWS_PRE + sizeof kContinue];
    std::memcpy(buf + LWS_PRE, kContinue, sizeof kContinue - 1);
    if (lws_write(wsi, buf + LWS_PRE, sizeof kContinue - 1, LWS_WRITE_RAW) < static_cast<int>(sizeof kContinue - 1))
      return -1;
  }
  return 0;
}

int MediaHost::on_body(lws* wsi, Request& r, const uint8_t* data, size_t len) {
  if (r.kind != Request::Kind::upload) return 0;  // a refused upload's body: dropped
  r.received += len;
  counters_.bytes_in += len;
  if (r.received > r.expected || r.received > opts_.max_bytes) {
    r.reject = 413;
  }
  if (r.reject == 0) {
    // Straight to the file: a 200 MB upload must not sit in memory.
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::write(r.fd, data + done, len - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        r.reject = 500;  // disk full or the like: the client is told, nothing is stored
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (r.reject == 0) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(r.sha), data, len);
  }
  // The last chunk never pauses: lws holds the body's completion back while
  // reading is off.
  if (rate_ != 0 && r.received < r.expected) {
    r.moved += len;
    if (!within_budget(r, 0)) {
      lws_rx_flow_control(wsi, 0);
      pause(wsi, r, 0);
    }
  }
  return 0;
}

int MediaHost::on_body_done(lws* wsi, Request& r) {
  if (r.kind != Request::Kind::upload) return 0;
  if (r.reject != 0) {
    int status = r.reject;
    reset(r);
    refuse(wsi, r, status,
           status == 401 ? "unknown or expired auth" : status == 404 ? "not an upload path" : status == 503 ? "uploads refused" : "");
    return 0;
  }
  std::array<uint8_t, 32> sha{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(r.sha), sha.data(), &n);
  if (!token_matches(r.target.token, sha)) {
    reset(r);
    refuse(wsi, r, 400, "token is not the body's SHA-256");
    return 0;
  }
  ::close(r.fd);
  r.fd = -1;
  std::string file = store_.new_file_name();
  if (::rename(r.tmp_path.c_str(), (store_.dir() + "/" + file).c_str()) != 0) {
    reset(r);
    refuse(wsi, r, 500, "cannot store the upload");
    return 0;
  }
  r.tmp_path.clear();
  uint64_t now = now_unix();
  std::string dp = new_direct_path(now + opts_.retention_s);
  Blob b;
  b.file = file;
  b.size = r.received;
  b.type = r.target.type;
  b.phone = r.phone;
  b.direct_path = dp;
  b.created = now;
  store_.add(std::string(path_of(dp)), std::move(b));
  ++counters_.uploads;
  nlohmann::json j{{"url", origin() + dp}, {"direct_path", dp}};
  if (r.target.newsletter) j["handle"] = b64url(crypto::random_bytes(16), false);
  reset(r);
  answer(wsi, r, 200, j.dump());
  return 0;
}

int MediaHost::start_download(lws* wsi, Request& r, const std::string& path, bool head) {
  r.head = head;  // error answers to a HEAD carry no body either
  Blob* b = store_.find(path);
  if (!b) {
    ++counters_.not_found;
    answer(wsi, r, 404, R"({"error":"not found"})");
    return 0;
  }
  if (b->state == BlobState::expired) {
    ++counters_.expired_hits;
    answer(wsi, r, 410, R"({"error":"gone"})");
    return 0;
  }
  int fd = ::open(store_.file_path(*b).c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    answer(wsi, r, 500, R"({"error":"blob unreadable"})");
    return 0;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  ByteRange range;
  switch (parse_range(header(wsi, WSI_TOKEN_HTTP_RANGE), size, range)) {
    case RangeKind::unsatisfiable:
      ::close(fd);
      r.content_range = "bytes */" + std::to_string(size);
      answer(wsi, r, 416, R"({"error":"range not satisfiable"})");
      return 0;
    case RangeKind::single:
      r.status = 206;
      r.off = range.first;
      r.end = range.last + 1;
      r.content_range = "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" + std::to_string(size);
      break;
    case RangeKind::none:
      r.status = 200;
      r.off = 0;
      r.end = size;
      break;
  }
  r.kind = Request::Kind::download;
  r.file_fd = fd;
  r.content_type = "application/octet-stream";
  r.t0 = std::chrono::steady_clock::now();
  r.epoch = rate_epoch_;
  ++counters_.downloads;
  lws_callback_on_writable(wsi);
  return 0;
}

int MediaHost::on_writeable(lws* wsi, Request& r) {
  if (r.kind != Request::Kind::respond && r.kind != Request::Kind::download) return 0;
  if (r.paused) return 0;
  auto finish = [&]() -> int {
    bool close = r.close_after;
    reset(r);
    if (close) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  };
  if (!r.headers_sent) {
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    uint64_t length = r.kind == Request::Kind::respond ? r.body.size() : r.end - r.off;
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(r.status), r.content_type.c_str(), length, &p, end))
      return -1;
    if (r.kind == Request::Kind::download &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCEPT_RANGES, reinterpret_cast<const unsigned char*>("bytes"), 5,
                                     &p, end))
      return -1;
    if (!r.content_range.empty() &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_RANGE,
                                     reinterpret_cast<const unsigned char*>(r.content_range.data()),
                                     static_cast<int>(r.content_range.size()), &p, end))
      return -1;
    if (r.close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, reinterpret_cast<const unsigned char*>("close"), 5, &p, end))
      return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    r.headers_sent = true;
    if (r.head || length == 0) return finish();
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (r.kind == Request::Kind::respond) {
    std::vector<unsigned char> buf(LWS_PRE + r.body.size());
    std::memcpy(buf.data() + LWS_PRE, r.body.data(), r.body.size());
    if (lws_write(wsi, buf.data() + LWS_PRE, r.body.size(), LWS_WRITE_HTTP_FINAL) < static_cast<int>(r.body.size()))
      return -1;
    return finish();
  }
  uint64_t n = std::min<uint64_t>(r.end - r.off, kChunk);
  if (rate_ != 0) {
    // Small steps, so a slow rate still moves bytes steadily.
    n = std::min<uint64_t>(n, std::max<uint64_t>(1024, rate_ / 20));
    if (!within_budget(r, n)) {
      pause(wsi, r, n);
      return 0;
    }
    r.moved += n;
  }
  std::vector<unsigned char> buf(LWS_PRE + n);
  ssize_t got = ::pread(r.file_fd, buf.data() + LWS_PRE, n, static_cast<off_t>(r.off));
  if (got != static_cast<ssize_t>(n)) return -1;  // the blob shrank under us: cut the download
  bool last = r.off + n == r.end;
  if (lws_write(wsi, buf.data() + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < static_cast<int>(n)) return -1;
  r.off += n;
  counters_.bytes_out += n;
  if (last) return finish();
  lws_callback_on_writable(wsi);
  return 0;
}

bool MediaHost::within_budget(Request& r, uint64_t n) {
  if (rate_ == 0) return true;
  auto now = std::chrono::steady_clock::now();
  if (r.epoch != rate_epoch_) {
    r.epoch = rate_epoch_;
    r.t0 = now;
    r.moved = 0;
  }
  auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - r.t0).count());
  // A small burst (one step) so a transfer starts at once.
  uint64_t allowed = rate_ * ms / 1000 + std::max<uint64_t>(1024, rate_ / 20);
  return r.moved + n <= allowed;
}

void MediaHost::pause(lws* wsi, Request& r, uint64_t want) {
  (void)wsi;
  r.paused = true;
  r.want = want;
  if (!tick_->active()) tick_->start_repeat(kTickMs, [this] { tick(); });
}

void MediaHost::tick() {
  bool waiting = false;
  for (auto& [wsi, r] : reqs_) {
    if (!r.paused) continue;
    if (rate_ != 0 && !within_budget(r, r.want)) {
      waiting = true;
      continue;
    }
    r.paused = false;
    if (r.kind == Request::Kind::download) lws_callback_on_writable(wsi);
    else lws_rx_flow_control(wsi, 1);
  }
  if (!waiting && tick_) tick_->stop();
}

}  // namespace wa::testserver::media
