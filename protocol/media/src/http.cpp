// HTTPS to the media hosts with libcurl's easy API. Uploads stream the file
// through an Encryptor (pass 2 of two: pass 1, hash_file, gave the token and
// the Content-Length); downloads stream through a Decryptor into a private
// temporary file that becomes out_path only after every check passed.
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "libcurl.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/media/media.hpp"

namespace wa::media {

namespace {

constexpr size_t kMaxAnswerBytes = 64 * 1024;  // an upload answer is a small JSON object

struct CurlFree {
  void operator()(CURL* c) const noexcept { curl::api().curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const noexcept { curl::api().curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, CurlFree>;
using Slist = std::unique_ptr<curl_slist, SlistFree>;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string b64url(ByteView b, bool pad) {
  std::string s = to_base64(b);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  if (!pad) {
    while (!s.empty() && s.back() == '=') s.pop_back();
  }
  return s;
}

std::string errno_text() { return std::strerror(errno); }

// Adds the trust anchors of ca_file to the context's store, which libcurl has
// already filled with the system's: the extra CA never replaces them.
CURLcode add_ca_file(CURL*, void* ssl_ctx, void* userp) {
  const auto* file = static_cast<const std::string*>(userp);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (!store || X509_STORE_load_file(store, file->c_str()) != 1) return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

int on_progress(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* http = static_cast<const HttpOptions*>(userp);
  return http->cancelled && http->cancelled() ? 1 : 0;
}

// What every transfer shares: HTTPS only, peer and host always verified,
// no redirects, the timeouts of HttpOptions.
Status setup(CURL* c, const std::string& url, curl_slist* headers, const HttpOptions& http, char* errbuf) {
  const curl::LibCurl& cu = curl::api();
  bool ok = true;
  auto set = [&](CURLcode r) { ok = ok && r == CURLE_OK; };
  set(cu.curl_easy_setopt(c, CURLOPT_URL, url.c_str()));
  set(cu.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https"));
  set(cu.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L));
  set(cu.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L));
  set(cu.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L));
  set(cu.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L));
  set(cu.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, http.connect_timeout_ms));
  set(cu.curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, http.low_speed_bytes));
  set(cu.curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, http.low_speed_time_s));
  set(cu.curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers));
  set(cu.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf));
  set(cu.curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress));
  set(cu.curl_easy_setopt(c, CURLOPT_XFERINFODATA, &http));
  set(cu.curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L));
  if (!http.ca_file.empty()) {
    set(cu.curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, &add_ca_file));
    set(cu.curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &http.ca_file));
  }
  if (!ok) return fail("io_error", "libcurl refused an option");
  return {};
}

std::string curl_reason(CURLcode rc, const char* errbuf) {
  return errbuf[0] ? std::string(errbuf) : std::string(curl::api().curl_easy_strerror(rc));
}

// ---- upload ----

struct UploadState {
  int fd = -1;
  const std::string* path = nullptr;
  const FileHashes* expected = nullptr;
  const HttpOptions* http = nullptr;
  std::optional<Encryptor> enc;
  Bytes pending;   // encrypted bytes not yet handed to curl
  size_t pending_at = 0;
  Bytes buf;       // plaintext read buffer
  uint64_t produced = 0;
  bool eof = false;
  std::optional<Error> error;  // why we aborted (file_changed, io_error, cancelled)
  std::string answer;
};

// Refills `pending` from the file; at the end checks the re-hashed body
// against pass 1 before its last bytes leave.
bool refill(UploadState& s) {
  s.pending.clear();
  s.pending_at = 0;
  while (s.pending.empty() && !s.eof) {
    const ssize_t n = ::read(s.fd, s.buf.data(), s.buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      s.error = Error{"io_error", "cannot read " + *s.path + ": " + errno_text()};
      return false;
    }
    if (n == 0) {
      s.eof = true;
      if (auto st = s.enc->finish(s.pending); !st) {
        s.error = st.error();
        return false;
      }
      const FileHashes& h = s.enc->hashes();
      if (h.file_enc_sha256 != s.expected->file_enc_sha256 || h.enc_length != s.expected->enc_length ||
          (!s.expected->file_sha256.empty() && h.file_sha256 != s.expected->file_sha256)) {
        s.error = Error{"file_changed", *s.path + " changed since it was hashed"};
        return false;
      }
    } else if (auto st = s.enc->update(ByteView(s.buf.data(), static_cast<size_t>(n)), s.pending); !st) {
      s.error = st.error();
      return false;
    }
    s.produced += s.pending.size();
    if (s.produced > s.expected->enc_length) {
      s.error = Error{"file_changed", *s.path + " grew since it was hashed"};
      return false;
    }
  }
  return true;
}

size_t on_upload_read(char* dest, size_t size, size_t nitems, void* userp) {
  auto& s = *static_cast<UploadState*>(userp);
  if (s.http->cancelled && s.http->cancelled()) {
    s.error = Error{"cancelled", "upload cancelled"};
    return CURL_READFUNC_ABORT;
  }
  if (s.pending_at == s.pending.size() && !refill(s)) return CURL_READFUNC_ABORT;
  const size_t n = std::min(size * nitems, s.pending.size() - s.pending_at);
  std::memcpy(dest, s.pending.data() + s.pending_at, n);
  s.pending_at += n;
  return n;
}

size_t on_upload_answer(char* data, size_t size, size_t nmemb, void* userp) {
  auto& s = *static_cast<UploadState*>(userp);
  const size_t n = size * nmemb;
  if (s.answer.size() + n > kMaxAnswerBytes) return 0;  // not an upload answer: abort
  s.answer.append(data, n);
  return n;
}

std::optional<std::string> json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// ---- download ----

// A private temporary file beside the target, unlinked unless committed.
class TempFile {
 public:
  ~TempFile() {
    fd_.reset();
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  Status open(const std::string& target) {
    std::string tmpl = target + ".part-XXXXXX";
    const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);  // mode 0600
    if (fd < 0) return fail("io_error", "cannot create a file beside " + target + ": " + errno_text());
    fd_.reset(fd);
    path_ = tmpl;
    return {};
  }
  int fd() const { return fd_.get(); }
  Status rewind() {
    if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0) {
      return fail("io_error", "cannot reset " + path_ + ": " + errno_text());
    }
    return {};
  }
  Status commit(const std::string& target) {
    if (::fsync(fd_.get()) != 0) return fail("io_error", "fsync " + path_ + ": " + errno_text());
    if (::close(fd_.release()) != 0) return fail("io_error", "close " + path_ + ": " + errno_text());
    if (::rename(path_.c_str(), target.c_str()) != 0) return fail("io_error", "rename to " + target + ": " + errno_text());
    path_.clear();
    // The rename itself is durable once the directory is synced.
    const auto slash = target.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : target.substr(0, slash));
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.get() >= 0) (void)::fsync(d.get());
    return {};
  }

 private:
  Fd fd_;
  std::string path_;
};

struct DownloadState {
  std::optional<Decryptor> dec;
  int fd = -1;
  uint64_t received = 0;
  uint64_t max_body = 0;  // 0: unknown
  Bytes out;
  std::optional<Error> error;
};

Status write_all(int fd, const Bytes& b) {
  size_t off = 0;
  while (off < b.size()) {
    const ssize_t n = ::write(fd, b.data() + off, b.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("io_error", "cannot write the download: " + errno_text());
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

size_t on_download_data(char* data, size_t size, size_t nmemb, void* userp) {
  auto& s = *static_cast<DownloadState*>(userp);
  const size_t n = size * nmemb;
  s.received += n;
  if (s.max_body != 0 && s.received > s.max_body) {
    s.error = Error{"media_corrupt", "the media host sent more than the file's length"};
    return 0;
  }
  s.out.clear();
  if (auto st = s.dec->update(ByteView(reinterpret_cast<const uint8_t*>(data), n), s.out); !st) {
    s.error = st.error();
    return 0;
  }
  if (auto st = write_all(s.fd, s.out); !st) {
    s.error = st.error();
    return 0;
  }
  return n;
}

}  // namespace

Result<Uploaded> upload_file(const MediaConn& conn, Kind k, const std::string& path, ByteView media_key,
                             const FileHashes& expected, const HttpOptions& http) {
  auto lib = curl::load("upload_failed");
  if (!lib) return Unexpected<Error>{lib.error()};
  const curl::LibCurl& cu = **lib;
  if (expected.file_enc_sha256.size() != 32 || expected.enc_length == 0) {
    return fail("upload_failed", "the upload needs the hashes of pass 1");
  }
  if (conn.max_content_bytes != 0 && expected.enc_length > conn.max_content_bytes) {
    return fail("too_large", "the media host accepts at most " + std::to_string(conn.max_content_bytes) + " bytes");
  }
  if (conn.hosts.empty()) return fail("upload_failed", "no media host");
  const std::string token = b64url(expected.file_enc_sha256, false);
  Slist headers;
  for (const char* h : {"Origin: https://web.whatsapp.com", "Content-Type: application/octet-stream", "Expect:"}) {
    curl_slist* l = cu.curl_slist_append(headers.get(), h);
    if (!l) return fail("upload_failed", "out of memory");
    (void)headers.release();
    headers.reset(l);
  }
  std::string reasons;
  for (const MediaHost& host : conn.hosts) {
    if (host.max_content_bytes != 0 && expected.enc_length > host.max_content_bytes) {
      reasons += host.hostname + ": over its size limit; ";
      continue;
    }
    Easy c(cu.curl_easy_init());
    if (!c) return fail("upload_failed", "libcurl handle");
    char* esc = cu.curl_easy_escape(c.get(), conn.auth.data(), static_cast<int>(conn.auth.size()));
    if (!esc) return fail("upload_failed", "out of memory");
    const std::string auth(esc);
    cu.curl_free(esc);
    const std::string url =
        "https://" + host.hostname + std::string(upload_path(k)) + "/" + token + "?auth=" + auth + "&token=" + token;

    UploadState s;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return fail("io_error", "cannot open " + path + ": " + errno_text());
    auto enc = Encryptor::create(media_key, k);
    if (!enc) return Unexpected<Error>{enc.error()};
    s.enc.emplace(std::move(*enc));
    s.fd = fd.get();
    s.path = &path;
    s.expected = &expected;
    s.http = &http;
    s.buf.resize(kChunk);

    char errbuf[CURL_ERROR_SIZE] = {0};
    WA_TRY(setup(c.get(), url, headers.get(), http, errbuf));
    bool ok = true;
    auto set = [&](CURLcode r) { ok = ok && r == CURLE_OK; };
    set(cu.curl_easy_setopt(c.get(), CURLOPT_POST, 1L));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(expected.enc_length)));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, &on_upload_read));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_READDATA, &s));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &on_upload_answer));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &s));
    if (!ok) return fail("upload_failed", "libcurl refused an option");

    const CURLcode rc = cu.curl_easy_perform(c.get());
    if (s.error) return Unexpected<Error>{*s.error};  // file_changed, io_error, cancelled: no other host helps
    if (rc == CURLE_ABORTED_BY_CALLBACK) return fail("cancelled", "upload cancelled");
    if (rc != CURLE_OK) {
      reasons += host.hostname + ": " + curl_reason(rc, errbuf) + "; ";
      continue;
    }
    long status = 0;
    cu.curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status == 413) return fail("too_large", host.hostname + " refused the size (413)");
    if (status < 200 || status > 299) {
      reasons += host.hostname + ": HTTP " + std::to_string(status) + "; ";
      continue;
    }
    const auto j = nlohmann::json::parse(s.answer, nullptr, /*allow_exceptions=*/false);
    Uploaded up;
    if (j.is_object()) {
      up.url = json_string(j, "url").value_or("");
      up.direct_path = json_string(j, "direct_path").value_or("");
    }
    if (up.direct_path.empty() && up.url.rfind("https://", 0) == 0) {
      // Only a url: its path and query are the direct path.
      const auto slash = up.url.find('/', 8);
      if (slash != std::string::npos) up.direct_path = up.url.substr(slash);
    }
    if (up.direct_path.empty() || up.direct_path[0] != '/') {
      reasons += host.hostname + ": answer without a direct_path; ";
      continue;
    }
    return up;
  }
  return fail("upload_failed", "every media host failed: " + reasons);
}

Status download_file(const DownloadRequest& req, const std::string& out_path, const HttpOptions& http) {
  auto lib = curl::load("download_failed");
  if (!lib) return Unexpected<Error>{lib.error()};
  const curl::LibCurl& cu = **lib;
  if (req.hosts.empty()) return fail("download_failed", "no media host");
  if (req.direct_path.empty() || req.direct_path[0] != '/') return fail("download_failed", "bad direct path");
  if (req.expected.file_enc_sha256.size() != 32) return fail("download_failed", "the message has no fileEncSha256");
  if (req.media_key.size() != kMediaKeyBytes) return fail("bad_key", "a media key has 32 bytes");
  TempFile tmp;
  WA_TRY(tmp.open(out_path));
  Slist headers(cu.curl_slist_append(nullptr, "Origin: https://web.whatsapp.com"));
  if (!headers) return fail("download_failed", "out of memory");
  const std::string query = std::string(req.direct_path.find('?') == std::string::npos ? "?" : "&") +
                            "hash=" + b64url(req.expected.file_enc_sha256, true) +
                            "&mms-type=" + std::string(mms_type(req.kind)) + "&__wa-mms=";
  std::string reasons;
  for (const std::string& host : req.hosts) {
    WA_TRY(tmp.rewind());
    DownloadState s;
    auto dec = Decryptor::create(req.media_key, req.kind, req.expected);
    if (!dec) return Unexpected<Error>{dec.error()};
    s.dec.emplace(std::move(*dec));
    s.fd = tmp.fd();
    if (req.expected.file_length != 0) s.max_body = (req.expected.file_length / 16 + 1) * 16 + kMacBytes;
    s.out.reserve(kChunk + 16);

    Easy c(cu.curl_easy_init());
    if (!c) return fail("download_failed", "libcurl handle");
    char errbuf[CURL_ERROR_SIZE] = {0};
    WA_TRY(setup(c.get(), "https://" + host + req.direct_path + query, headers.get(), http, errbuf));
    bool ok = true;
    auto set = [&](CURLcode r) { ok = ok && r == CURLE_OK; };
    set(cu.curl_easy_setopt(c.get(), CURLOPT_HTTPGET, 1L));
    // A 4xx/5xx body is an error page, not ciphertext: never decrypt it.
    set(cu.curl_easy_setopt(c.get(), CURLOPT_FAILONERROR, 1L));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &on_download_data));
    set(cu.curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &s));
    if (!ok) return fail("download_failed", "libcurl refused an option");

    const CURLcode rc = cu.curl_easy_perform(c.get());
    if (s.error) return Unexpected<Error>{*s.error};
    if (rc == CURLE_ABORTED_BY_CALLBACK) return fail("cancelled", "download cancelled");
    long status = 0;
    cu.curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status == 403 || status == 404 || status == 410) {
      return fail("media_expired", host + " no longer has the file (HTTP " + std::to_string(status) + ")");
    }
    if (rc != CURLE_OK) {
      reasons += host + ": " + curl_reason(rc, errbuf) + "; ";
      continue;
    }
    if (status < 200 || status > 299) {
      reasons += host + ": HTTP " + std::to_string(status) + "; ";
      continue;
    }
    s.out.clear();
    WA_TRY(s.dec->finish(s.out));
    WA_TRY(write_all(tmp.fd(), s.out));
    return tmp.commit(out_path);
  }
  return fail("download_failed", "every media host failed: " + reasons);
}

}  // namespace wa::media
