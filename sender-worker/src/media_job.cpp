// Media jobs of a conversation's sender (docs/ARCHITECTURE.md, "Media"):
// the file is streamed from disk to the media host and back, never held in
// memory; the Signal message that names it is sent only after the upload.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "job.hpp"
#include "probe_child.hpp"
#include "wa/bytes.hpp"
#include "wa/contract/deadlines.hpp"
#include "wa/crypto_random.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/fs.hpp"
#include "wa/log.hpp"
#include "wa/media/media.hpp"
#include "wa/message/id.hpp"
#include "wa/message/media.hpp"
#include "wa/store/store.hpp"

namespace wa::sender {

namespace {

using Clock = std::chrono::steady_clock;

// The media_conn answer, shared by the profile's senders through the store
// until its ttl runs out (both reference clients cache it the same way).
constexpr std::string_view kMediaConnCred = "media_conn";
// How often a transfer tells the worker it is alive (well inside its
// liveness deadline).
constexpr auto kProgressEvery = std::chrono::seconds(2);
// The largest file WhatsApp takes (documents: 2 GB).
constexpr uint64_t kMaxMediaBytes = uint64_t{2} << 30;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Error codes of the media library that mean the local file, not the store.
Error file_side(Error e) {
  if (e.code == "io_error") e.code = "file_error";
  return e;
}

json conn_to_json(const media::MediaConn& c) {
  json hosts = json::array();
  for (const auto& h : c.hosts) hosts.push_back({{"hostname", h.hostname}, {"fallback", h.fallback}});
  return json{{"auth", c.auth},         {"ttl_s", c.ttl_s},
              {"auth_ttl_s", c.auth_ttl_s}, {"fetched_at", c.fetched_at},
              {"max_content_bytes", c.max_content_bytes}, {"hosts", hosts}};
}

std::optional<media::MediaConn> conn_from_json(const json& j) {
  if (!j.is_object() || !j.contains("hosts") || !j["hosts"].is_array()) return std::nullopt;
  media::MediaConn c;
  c.auth = j.value("auth", "");
  c.ttl_s = j.value("ttl_s", int64_t{0});
  c.auth_ttl_s = j.value("auth_ttl_s", int64_t{0});
  c.fetched_at = j.value("fetched_at", int64_t{0});
  c.max_content_bytes = j.value("max_content_bytes", uint64_t{0});
  for (const auto& h : j["hosts"])
    if (h.is_object() && h.contains("hostname") && h["hostname"].is_string())
      c.hosts.push_back({h["hostname"].get<std::string>(), h.value("fallback", false)});
  return c;
}

// The cached media_conn when fresh, else a new one from the server.
Result<media::MediaConn> media_conn(store::Store& st, const QueryFn& query, bool refresh) {
  const int64_t now = unix_now();
  if (!refresh) {
    auto raw = st.get_credential(kMediaConnCred);
    if (!raw) return Unexpected<Error>{raw.error()};
    if (*raw) {
      json j = json::parse(as_chars(**raw), nullptr, false);
      if (auto c = conn_from_json(j); c && c->fresh(now)) return *c;
    }
  }
  message::Transport net = query_transport(query);
  auto answer = net.iq(media::build_media_conn_iq(random_hex(8)));
  if (!answer) return Unexpected<Error>{answer.error()};
  auto c = media::parse_media_conn(*answer);
  if (!c) return Unexpected<Error>{c.error()};
  c->fetched_at = now;
  std::string text = conn_to_json(*c).dump();
  if (auto put = st.put_credential(kMediaConnCred, as_bytes(text)); !put)
    WA_WARN("media_conn not cached: %s", put.error().code.c_str());
  return c;
}

// Heartbeats and the transfer's own deadline: the curl callback asks this
// between chunks.
struct TransferClock {
  const QueryFn& query;
  Clock::time_point deadline;
  Clock::time_point next_beat = Clock::now() + kProgressEvery;
  bool timed_out = false;
  bool worker_gone = false;

  bool cancelled() {
    const auto now = Clock::now();
    if (now >= deadline) return timed_out = true;
    if (now >= next_beat) {
      next_beat = now + kProgressEvery;
      if (!query({{"what", "progress"}})) return worker_gone = true;
    }
    return false;
  }
};

media::HttpOptions http_options(const json& payload, TransferClock& clock) {
  media::HttpOptions http;
  http.ca_file = payload.value("ca_file", "");
  http.cancelled = [&clock] { return clock.cancelled(); };
  return http;
}

Error transfer_error(const Error& e, const TransferClock& clock) {
  if (e.code == "cancelled" && clock.timed_out)
    return Error{"timeout", "the media transfer did not finish within senders.transfer_timeout_ms: nothing was sent"};
  if (e.code == "cancelled" && clock.worker_gone) return Error{"not_connected", "the connection worker went away"};
  return file_side(e);
}

Clock::time_point deadline_of(const json& payload) {
  const int64_t ms = payload.value("transfer_timeout_ms", int64_t{300000});
  return Clock::now() + std::chrono::milliseconds(ms > 0 ? ms : 300000);
}

// An open file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

json run_media_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                   uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  const std::string path = payload.value("path", "");
  std::vector<std::string> roots;
  if (payload.contains("roots") && payload["roots"].is_array())
    for (const auto& r : payload["roots"])
      if (r.is_string()) roots.push_back(r.get<std::string>());

  // The file we read is the one we checked: opened once, its real path
  // checked through the descriptor, and read through /proc/self/fd after.
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (file.fd < 0) return failed_done(job, Error{"file_error", "cannot open " + path});
  const std::string fd_path = "/proc/self/fd/" + std::to_string(file.fd);
  {
    auto real = fs::resolve_under(fd_path, roots, true);
    if (!real) return failed_done(job, real.error());
  }
  struct stat sb {};
  if (::fstat(file.fd, &sb) != 0 || !S_ISREG(sb.st_mode))
    return failed_done(job, Error{"file_error", path + " is not a regular file"});
  if (static_cast<uint64_t>(sb.st_size) > kMaxMediaBytes)
    return failed_done(job, Error{"too_large", "media files are limited to 2 GiB"});

  std::optional<media::Kind> forced;
  if (payload.contains("type") && payload["type"].is_string()) {
    forced = media::kind_from_name(payload["type"].get<std::string>());
    if (!forced) return failed_done(job, Error{"bad_request", "unknown media type"});
  }
  auto probe = probe_in_child(file.fd, forced);
  if (!probe) return failed_done(job, file_side(probe.error()));
  const media::Kind kind = forced.value_or(probe->kind);

  TransferClock clock{query, deadline_of(payload)};
  media::HttpOptions http = http_options(payload, clock);
  Bytes key = media::random_media_key();
  auto hashes = media::hash_file(fd_path, key, kind);
  if (!hashes) return failed_done(job, file_side(hashes.error()));

  // A refused upload is tried once more with a fresh media_conn (its auth
  // may have expired, or the hosts changed), as Baileys does.
  Result<media::Uploaded> up = fail("upload_failed", "no upload attempted");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = media_conn(st, query, attempt > 0);
    if (!conn) return failed_done(job, conn.error());
    if (conn->max_content_bytes != 0 && hashes->enc_length > conn->max_content_bytes)
      return failed_done(job, Error{"too_large", "the media host takes at most " +
                                                     std::to_string(conn->max_content_bytes) + " bytes"});
    up = media::upload_file(*conn, kind, fd_path, key, *hashes, http);
    if (up || up.error().code != "upload_failed") break;
  }
  if (!up) {
    secure_wipe(key);
    return failed_done(job, transfer_error(up.error(), clock));
  }

  message::MediaFields f;
  f.kind = std::string(media::kind_name(kind));
  f.mimetype = probe->mimetype;
  // A voice note is Opus in Ogg, and WhatsApp's players want it said.
  if (kind == media::Kind::voice && f.mimetype.rfind("audio/ogg", 0) == 0) f.mimetype = "audio/ogg; codecs=opus";
  f.caption = payload.value("caption", "");
  f.filename = payload.value("filename", "");
  if (f.filename.empty() && kind == media::Kind::document) f.filename = path.substr(path.find_last_of('/') + 1);
  f.url = up->url;
  f.direct_path = up->direct_path;
  f.size = hashes->file_length;
  f.width = probe->width;
  f.height = probe->height;
  f.seconds = probe->seconds;
  f.pages = probe->pages;
  f.animated = probe->animated;
  f.media_key_timestamp = unix_now();
  f.media_key = std::move(key);
  f.file_sha256 = hashes->file_sha256;
  f.file_enc_sha256 = hashes->file_enc_sha256;
  f.thumbnail = probe->jpeg_thumbnail;
  f.waveform = probe->waveform;

  proto::ContextInfo ci;
  const bool quoted = payload.contains("quoted_id");
  if (quoted)
    if (auto q = add_quote(st, *to, payload, ci); !q) return failed_done(job, q.error());
  auto serialized = message::build_media_message(f, quoted ? &ci : nullptr);
  secure_wipe(f.media_key);
  if (!serialized) return failed_done(job, serialized.error());
  json described{{"type", f.kind}, {"mimetype", f.mimetype}, {"size", f.size}, {"sha256", to_hex(f.file_sha256)}};
  if (f.width) described["width"] = f.width;
  if (f.height) described["height"] = f.height;
  if (f.seconds) described["seconds"] = f.seconds;
  if (f.pages) described["pages"] = f.pages;
  return send_built(st, sig, query, job, *to, std::move(*serialized), json{{"media", described}});
}

json run_download_job(store::Store& st, const QueryFn& query, uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  const std::string id = payload.value("id", "");
  const std::string chat = payload.value("chat", "");
  const std::string out = payload.value("out", "");
  if (id.empty() || chat.empty() || out.empty()) return failed_done(job, Error{"bad_request", "incomplete download job"});
  auto ref = st.media_get(id, chat);
  if (!ref) return failed_done(job, ref.error());
  if (!*ref) return failed_done(job, Error{"not_media", "no received media message " + id});
  auto f = message::find_media((*ref)->message);
  if (!f) return failed_done(job, Error{"not_media", "message " + id + " holds no media"});
  auto kind = media::kind_from_name(f->kind);
  if (!kind) return failed_done(job, Error{"not_media", "unknown media kind"});

  media::DownloadRequest req;
  req.direct_path = f->direct_path;
  req.kind = *kind;
  req.media_key = f->media_key;
  req.expected.file_sha256 = f->file_sha256;
  req.expected.file_enc_sha256 = f->file_enc_sha256;
  req.expected.file_length = f->size;
  auto conn = media_conn(st, query, false);
  if (conn)
    for (const auto& h : conn->hosts) req.hosts.push_back(h.hostname);
  // The host the sender uploaded to, as Baileys downloads from it — but only
  // a WhatsApp one: the url is the sender's word, and a download must not be
  // steerable to any host on the internet (or the local network).
  if (const auto& url = f->url; url.rfind("https://", 0) == 0) {
    std::string host = url.substr(8, url.find('/', 8) - 8);
    const std::string_view suffix = ".whatsapp.net";
    const bool whatsapp = host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                          host.find_first_of("@:") == std::string::npos;
    if (whatsapp && std::find(req.hosts.begin(), req.hosts.end(), host) == req.hosts.end()) req.hosts.push_back(host);
  }
  if (req.direct_path.empty() && !f->url.empty()) {
    const size_t slash = f->url.find('/', 8);
    if (slash != std::string::npos) req.direct_path = f->url.substr(slash);
  }
  if (req.hosts.empty()) return failed_done(job, conn ? Error{"download_failed", "no media host known"} : conn.error());

  TransferClock clock{query, deadline_of(payload)};
  media::HttpOptions http = http_options(payload, clock);
  auto st_down = media::download_file(req, out, http);
  secure_wipe(req.media_key);
  secure_wipe(f->media_key);
  if (!st_down) return failed_done(job, transfer_error(st_down.error(), clock));
  json result{{"id", id}, {"chat", chat}, {"path", out}, {"size", f->size}, {"mimetype", f->mimetype}};
  return json{{ipc::msg::kOp, ipc::msg::kDone}, {"job", job}, {"ok", true}, {"result", std::move(result)}};
}

}  // namespace wa::sender
