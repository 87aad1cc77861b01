// The server's media side on the chat connection and the admin socket: the
// media_conn IQ (host list + upload auth), the emulated phone's answer to a
// media retry (server-error receipt), and the media admin commands. The HTTPS
// host itself is media_host.cpp; the pure pieces are media.cpp.
#include <filesystem>

#include "server.hpp"
#include "stanza.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"

namespace wa::testserver {

using binary::Node;
using json = admin::json;

namespace {

constexpr int kMaxBuckets = 12;
constexpr int kNotOnPhone = 2;  // <error code="2"/>: the phone no longer has the file

// A direct path as a test may pass it: with or without its query, or the
// whole URL an upload answered.
std::string blob_path(std::string s) {
  if (s.starts_with("https://") || s.starts_with("http://")) {
    auto slash = s.find('/', s.find("//") + 2);
    s = slash == std::string::npos ? std::string() : s.substr(slash);
  }
  return std::string(media::path_of(s));
}

const char* state_name(media::BlobState s) { return s == media::BlobState::live ? "live" : "expired"; }

}  // namespace

Status Server::start_media() {
  std::string dir = opts_.state_dir + "/media";
  WA_TRY(fs::ensure_private_dir(dir));
  // The blob registry lives for one run: files of an earlier run are unknown.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) std::filesystem::remove_all(e.path(), ec);
  auto tls = media::ensure_tls(opts_.state_dir);
  if (!tls) return Unexpected<Error>{tls.error()};
  media_store_ = std::make_unique<media::Store>(dir);
  media::HostOptions ho;
  ho.host = opts_.host;
  ho.port = opts_.media_port;
  ho.max_bytes = opts_.media_max_bytes;
  auto host = media::MediaHost::listen(loop_, ho, *tls, *media_store_);
  if (!host) return Unexpected<Error>{host.error()};
  media_ = std::move(*host);
  return {};
}

Node Server::iq_media_conn(Conn& c, const Node& iq) {
  if (!iq.child("media_conn")) return error_for(iq, 400, "bad-request");
  if (!media_) return error_for(iq, 503, "service-unavailable");
  uint64_t ttl = opts_.media_auth_ttl;
  std::string auth = media_store_->issue_auth(c.addr.phone, now_unix(), ttl);
  std::vector<media::HostEntry> hosts{{opts_.host + ":" + std::to_string(media_->port()), "primary"}};
  if (!opts_.media_fallback_host.empty()) {
    media::HostEntry fb{opts_.media_fallback_host, "fallback"};
    if (opts_.media_fallback_first) hosts.insert(hosts.begin(), fb);
    else hosts.push_back(fb);
  }
  Node reply = result_for(iq);
  reply.content = binary::Children{media::media_conn_node(auth, ttl, ttl, kMaxBuckets, hosts)};
  return reply;
}

void Server::on_media_retry(Conn& c, const Node& r) {
  ++counters_.media_retries;
  std::string id(r.attr_or("id", ""));
  Node ack("ack", {{"class", "receipt"}, {"id", id}, {"from", std::string(r.attr_or("to", kServerJid))},
                   {"type", "server-error"}});
  send(c, ack);
  const Node* rmr = r.child("rmr");
  if (id.empty() || !rmr || !media_store_) {
    ++counters_.media_retries_failed;
    return;  // nothing the phone could answer
  }
  // The phone looks the message up in its copy: it knows the media key (the
  // test told us, media-retry-key) and still has the file's bytes.
  std::optional<media::Sealed> sealed;
  bool served = false;
  const media::RetryKey* key = media_store_->retry_key(id);
  media::Blob* old = key ? media_store_->find(key->path) : nullptr;
  if (key && old) {
    auto result = media::RetryResult::success;
    if (const Node* enc = r.child("encrypt")) {
      const Node* p = enc->child("enc_p");
      const Node* iv = enc->child("enc_iv");
      auto opened = p && iv && p->bytes() && iv->bytes()
                        ? media::open_server_error_receipt(key->media_key, id, *p->bytes(), *iv->bytes())
                        : Result<std::string>(fail("bad_request", "encrypt without enc_p/enc_iv"));
      if (!opened || *opened != id) result = media::RetryResult::decryption_error;
    }
    std::string new_dp;
    if (result == media::RetryResult::success) {
      // Re-uploaded: the same bytes under a new direct path; the old one stays gone.
      media::Blob fresh = *old;
      fresh.file = media_store_->new_file_name();
      fresh.state = media::BlobState::live;
      fresh.created = now_unix();
      fresh.direct_path = media::new_direct_path(now_unix() + 30ull * 24 * 3600);
      std::error_code ec;
      std::filesystem::copy_file(media_store_->file_path(*old), media_store_->file_path(fresh), ec);
      if (ec) {
        result = media::RetryResult::general_error;
      } else {
        new_dp = fresh.direct_path;
        media_store_->add(std::string(media::path_of(new_dp)), std::move(fresh));
      }
    }
    auto s = media::seal_retry_notification(key->media_key, id, new_dp, result);
    if (s) sealed = std::move(*s);
    served = s && result == media::RetryResult::success;
  }
  Node n = media::mediaretry_notification(id, pn_jid(c.addr.phone, 0), now_unix(), *rmr, sealed, kNotOnPhone);
  ++(served ? counters_.media_retries_served : counters_.media_retries_failed);
  deliver({c.addr, std::move(n)});
}

json Server::media_status() const {
  if (!media_) return json::object();
  const auto& m = media_->counters();
  size_t blobs = media_store_ ? media_store_->blobs().size() : 0;
  return {{"port", media_->port()},
          {"origin", media_->origin()},
          {"fallback_host", opts_.media_fallback_host},
          {"max_bytes", opts_.media_max_bytes},
          {"auth_ttl", opts_.media_auth_ttl},
          {"refuse_uploads", media_->refuse_uploads()},
          {"slow_bytes_per_sec", media_->rate()},
          {"blobs", blobs},
          {"transfers", media_->transfers()},
          {"counters",
           {{"uploads", m.uploads}, {"downloads", m.downloads}, {"bytes_in", m.bytes_in}, {"bytes_out", m.bytes_out},
            {"refused", m.refused}, {"expired_hits", m.expired_hits}, {"not_found", m.not_found},
            {"retries", counters_.media_retries}, {"retries_served", counters_.media_retries_served},
            {"retries_failed", counters_.media_retries_failed}}}};
}

json Server::admin_media_expire(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  if (!media_store_) return ipc::error_reply("no_media", "the media host is not running");
  std::string p = req.value("path", "");
  size_t n = 0;
  if (p == "all") {
    for (auto& [path, b] : media_store_->blobs()) {
      (void)path;
      if (b.state == media::BlobState::live) ++n;
      b.state = media::BlobState::expired;
    }
    return ipc::ok_reply({{"expired", n}});
  }
  media::Blob* b = media_store_->find(blob_path(p));
  if (!b) return ipc::error_reply("unknown_media", "no blob with this direct path");
  // The bytes stay on disk: they are what the sender's phone still has.
  b->state = media::BlobState::expired;
  return ipc::ok_reply({{"expired", 1}});
}

json Server::admin_media_corrupt(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  if (!media_store_) return ipc::error_reply("no_media", "the media host is not running");
  media::Blob* b = media_store_->find(blob_path(req.value("path", "")));
  if (!b) return ipc::error_reply("unknown_media", "no blob with this direct path");
  if (b->size == 0) return ipc::error_reply("empty_media", "the blob has no byte to flip");
  uint64_t off = b->size / 2;
  std::string file = media_store_->file_path(*b);
  std::FILE* f = std::fopen(file.c_str(), "r+b");
  if (!f) return ipc::error_reply("io_error", "cannot open the blob");
  int ch = std::fseek(f, static_cast<long>(off), SEEK_SET) == 0 ? std::fgetc(f) : EOF;
  bool ok = ch != EOF && std::fseek(f, static_cast<long>(off), SEEK_SET) == 0 && std::fputc(ch ^ 0xff, f) != EOF;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return ipc::error_reply("io_error", "cannot rewrite the blob");
  return ipc::ok_reply({{"offset", off}});
}

json Server::admin_media_refuse_uploads(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  if (!media_) return ipc::error_reply("no_media", "the media host is not running");
  if (!req.contains("on") || !req["on"].is_boolean()) return ipc::error_reply("bad_request", "on must be true or false");
  media_->set_refuse_uploads(req["on"].get<bool>());
  return ipc::ok_reply({{"refuse_uploads", media_->refuse_uploads()}});
}

json Server::admin_media_slow(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  if (!media_) return ipc::error_reply("no_media", "the media host is not running");
  if (!req.contains("bytes_per_sec") || !req["bytes_per_sec"].is_number_unsigned())
    return ipc::error_reply("bad_request", "bytes_per_sec must be a number (0: off)");
  media_->set_rate(req["bytes_per_sec"].get<uint64_t>());
  return ipc::ok_reply({{"slow_bytes_per_sec", media_->rate()}});
}

json Server::admin_media_list(const json&, std::shared_ptr<ipc::PendingRequest>&) {
  json blobs = json::array();
  if (media_store_) {
    for (const auto& [path, b] : media_store_->blobs())
      blobs.push_back({{"path", path}, {"direct_path", b.direct_path}, {"size", b.size}, {"state", state_name(b.state)},
                       {"type", b.type}, {"phone", b.phone}, {"created", b.created}});
  }
  return ipc::ok_reply({{"blobs", blobs}});
}

json Server::admin_media_retry_key(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  if (!media_store_) return ipc::error_reply("no_media", "the media host is not running");
  std::string id = req.value("id", "");
  if (id.empty()) return ipc::error_reply("bad_request", "id (the message id) is required");
  auto key = from_base64(req.value("media_key", ""));
  if (!key || key->size() != 32) return ipc::error_reply("bad_request", "media_key must be 32 bytes in base64");
  std::string path = blob_path(req.value("path", ""));
  if (!media_store_->find(path)) return ipc::error_reply("unknown_media", "no blob with this direct path");
  media_store_->set_retry_key(id, media::RetryKey{std::move(*key), path});
  return ipc::ok_reply({{"id", id}, {"path", path}});
}

}  // namespace wa::testserver
