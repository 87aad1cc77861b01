// wa-testserver's media host as a process: media_conn over the chat socket,
// then real HTTPS (libcurl, trusting DIR/media-ca.pem) for uploads and
// downloads, the admin faults, the throttle beside a live chat socket, a
// 200 MB streamed upload, and the emulated phone's media retry.
#include <curl/curl.h>
#include <openssl/evp.h>
#include <strings.h>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "load_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using namespace wa::loadclient;
using test_support::Server;
using binary::Node;
using namespace std::chrono_literals;

namespace {

struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlInit() { curl_global_cleanup(); }
} g_curl_init;

std::string b64url(ByteView b, bool pad) {
  std::string s = to_base64(b);
  for (char& ch : s) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
  if (!pad)
    while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

struct Resp {
  long status = 0;
  std::string body;
  std::string content_range;
  std::string error;  // transport failure
};

size_t on_write(char* p, size_t, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, n);
  return n;
}

size_t on_header(char* p, size_t, size_t n, void* ud) {
  std::string h(p, n);
  if (h.size() > 14 && strncasecmp(h.c_str(), "content-range:", 14) == 0) {
    auto v = h.substr(14);
    while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
    *static_cast<std::string*>(ud) = v;
  }
  return n;
}

struct Request {
  std::string url;
  std::string method = "GET";  // GET | HEAD | POST
  std::string body;            // POST body (unless file)
  std::string file;            // POST body streamed from this file
  uint64_t file_size = 0;
  std::string range;
  long timeout_ms = 120000;
  curl_off_t max_send_speed = 0;  // bytes/s, 0: unlimited
  // Ask before sending the body: a refusal then comes before it, instead of
  // racing the body (a server that answers early and closes makes the
  // client's send fail with a reset before it reads the answer).
  bool expect_continue = false;
};

size_t on_read(char* p, size_t sz, size_t n, void* ud) { return std::fread(p, sz, n, static_cast<std::FILE*>(ud)) * sz; }

Resp http(const std::string& cacert, const Request& rq) {
  Resp r;
  CURL* c = curl_easy_init();
  REQUIRE(c);
  curl_slist* hdrs = nullptr;
  hdrs = curl_slist_append(hdrs, "Origin: https://web.whatsapp.com");
  hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
  if (rq.expect_continue) hdrs = curl_slist_append(hdrs, "Expect: 100-continue");
  curl_easy_setopt(c, CURLOPT_URL, rq.url.c_str());
  curl_easy_setopt(c, CURLOPT_CAINFO, cacert.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.content_range);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq.timeout_ms);
  if (rq.max_send_speed) curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, rq.max_send_speed);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  std::FILE* f = nullptr;
  if (rq.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (rq.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (!rq.file.empty()) {
      f = std::fopen(rq.file.c_str(), "rb");
      REQUIRE(f);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, f);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.file_size));
    } else {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.body.size()));
    }
  }
  if (!rq.range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, rq.range.c_str());
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  if (f) std::fclose(f);
  return r;
}

Resp get(const std::string& ca, const std::string& url, const std::string& range = "") {
  Request rq;
  rq.url = url;
  rq.range = range;
  return http(ca, rq);
}
Resp head(const std::string& ca, const std::string& url) {
  Request rq;
  rq.url = url;
  rq.method = "HEAD";
  return http(ca, rq);
}
Resp post(const std::string& ca, const std::string& url, const std::string& body) {
  Request rq;
  rq.url = url;
  rq.method = "POST";
  rq.body = body;
  return http(ca, rq);
}

struct MediaConn {
  std::string auth;
  std::string host;  // HOST:PORT of the primary host (ours)
  Node node;
};

MediaConn media_conn(WaConn& c, const std::string& id = "mc1") {
  c.send(Node("iq", {{"id", id}, {"xmlns", "w:m"}, {"type", "set"}, {"to", "@s.whatsapp.net"}},
              binary::Children{Node("media_conn")}));
  Node r = c.recv_tag("iq", 10000);
  REQUIRE(r.attr_or("type", "") == "result");
  REQUIRE(r.attr_or("id", "") == id);
  const Node* mc = r.child("media_conn");
  REQUIRE(mc);
  const Node* host = nullptr;
  for (const Node* h : mc->children("host"))
    if (h->attr_or("type", "") == "primary") host = h;
  REQUIRE(host);
  return {std::string(mc->attr_or("auth", "")), std::string(host->attr_or("hostname", "")), *mc};
}

std::string token_of(const std::string& body, bool pad = false) { return b64url(crypto::sha256(as_bytes(body)), pad); }

std::string upload_url(const MediaConn& m, const std::string& type, const std::string& token, const std::string& auth) {
  return "https://" + m.host + "/mms/" + type + "/" + token + "?auth=" + auth + "&token=" + token;
}

struct Uploaded {
  std::string url, direct_path;
};

Uploaded upload_ok(const std::string& ca, const MediaConn& m, const std::string& body, const std::string& type = "image") {
  auto r = post(ca, upload_url(m, type, token_of(body), m.auth), body);
  REQUIRE_MESSAGE(r.status == 200, (r.body + r.error));
  auto j = nlohmann::json::parse(r.body);
  return {j.at("url").get<std::string>(), j.at("direct_path").get<std::string>()};
}

std::string random_body(size_t n) {
  auto b = crypto::random_bytes(n);
  return std::string(b.begin(), b.end());
}

uint64_t rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

struct World {
  test::TempDir dir;
  Server s;
  Creds a;
  WaConn ca;
  std::string cacert;
  explicit World(std::vector<std::string> extra = {})
      : s(dir.path(), std::move(extra)), a(pair_device(s.env(), "155901")), ca(login(s.env(), a)),
        cacert(dir.path() + "/media-ca.pem") {}
  nlohmann::json ok(const nlohmann::json& req) {
    auto r = s.admin(req);
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
    return r["result"];
  }
};

}  // namespace

TEST_CASE("media host: media_conn names it, an upload downloads byte for byte, with Range and HEAD") {
  World w({"--media-fallback-host", "127.0.0.1:9"});
  auto m = media_conn(w.ca);
  // Every attribute whatsmeow requires, our host first, then the fallback.
  for (const char* k : {"auth", "ttl", "auth_ttl", "max_buckets"}) CHECK_MESSAGE(!m.node.attr_or(k, "").empty(), k);
  auto hosts = m.node.children("host");
  REQUIRE(hosts.size() == 2);
  std::string port = std::to_string(w.ok({{"cmd", "status"}})["media_port"].get<int>());
  CHECK(hosts[0]->attr_or("hostname", "") == "127.0.0.1:" + port);
  CHECK(hosts[1]->attr_or("hostname", "") == "127.0.0.1:9");
  CHECK(hosts[1]->attr_or("type", "") == "fallback");
  std::ifstream pf(w.dir.path() + "/media-port");
  std::string file_port;
  pf >> file_port;
  CHECK(file_port == port);

  std::string body = random_body(300000);
  auto up = upload_ok(w.cacert, m, body);
  CHECK(up.direct_path.rfind("/v/t62.7118-24/", 0) == 0);
  CHECK(up.url == "https://127.0.0.1:" + port + up.direct_path);
  // whatsmeow's download URL: extra query parameters are ignored.
  auto d = get(w.cacert, "https://" + m.host + up.direct_path + "&hash=" + token_of(body) + "&mms-type=image&__wa-mms=");
  CHECK(d.status == 200);
  CHECK(d.body == body);
  auto d2 = get(w.cacert, up.url);  // Baileys: the url field
  CHECK(d2.body == body);
  // A padded token (whatsmeow keeps '=', its query encoder writes %3D) is the same token.
  std::string body2 = random_body(1000);
  std::string padded = token_of(body2, true);
  REQUIRE(padded.back() == '=');
  auto r = post(w.cacert,
                "https://" + m.host + "/mms/document/" + padded + "?auth=" + m.auth + "&token=" +
                    padded.substr(0, padded.size() - 1) + "%3D",
                body2);
  CHECK_MESSAGE(r.status == 200, r.body);
  // HEAD of an unknown path: the status, no body.
  auto hd404 = head(w.cacert, "https://" + m.host + "/v/t62.7118-24/none.enc");
  CHECK(hd404.status == 404);
  CHECK(hd404.body.empty());

  auto part = get(w.cacert, up.url, "1000-1999");
  CHECK(part.status == 206);
  CHECK(part.body == body.substr(1000, 1000));
  CHECK(part.content_range == "bytes 1000-1999/300000");
  CHECK(get(w.cacert, up.url, "299990-").body == body.substr(299990));
  CHECK(get(w.cacert, up.url, "400000-").status == 416);
  auto hd = head(w.cacert, up.url);
  CHECK(hd.status == 200);
  CHECK(hd.body.empty());
  CHECK(get(w.cacert, "https://" + m.host + "/v/t62.7118-24/nothing.enc").status == 404);

  auto st = w.ok({{"cmd", "status"}})["media"]["counters"];
  CHECK(st["uploads"] == 2);
  CHECK(st["bytes_in"] == 301000);
  CHECK(st["not_found"] == 2);
}

TEST_CASE("media host: uploads need a live auth token (401) and the body's hash (400)") {
  World w({"--media-auth-ttl", "2", "--media-fallback-host", "127.0.0.1:9", "--media-fallback-first"});
  auto m = media_conn(w.ca);
  CHECK(m.node.attr_or("auth_ttl", "") == "2");
  CHECK(m.node.attr_or("ttl", "") == "2");
  // --media-fallback-first: the (dead) fallback is listed before our host.
  auto hosts = m.node.children("host");
  REQUIRE(hosts.size() == 2);
  CHECK(hosts[0]->attr_or("type", "") == "fallback");
  CHECK(hosts[1]->attr_or("hostname", "") == m.host);
  std::string body = random_body(5000);
  std::string t = token_of(body);
  CHECK(post(w.cacert, "https://" + m.host + "/mms/image/" + t + "?token=" + t, body).status == 401);
  CHECK(post(w.cacert, upload_url(m, "image", t, "bogus"), body).status == 401);
  // A large body is refused before it is sent (Expect: 100-continue).
  std::string big = random_body(3 << 20);
  CHECK(post(w.cacert, upload_url(m, "image", token_of(big), "bogus"), big).status == 401);
  CHECK(post(w.cacert, upload_url(m, "image", token_of("other"), m.auth), body).status == 400);
  CHECK(post(w.cacert, upload_url(m, "nonsense", t, m.auth), body).status == 404);
  CHECK(post(w.cacert, upload_url(m, "image", t, m.auth), body).status == 200);
  // The token expires after auth_ttl (2 s): wait for the server to refuse it.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  long status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = post(w.cacert, upload_url(m, "image", t, m.auth), body).status;
    if (status == 200) std::this_thread::sleep_for(100ms);
  }
  CHECK(status == 401);
  // A fresh media_conn works again.
  auto m2 = media_conn(w.ca, "mc2");
  CHECK(m2.auth != m.auth);
  CHECK(post(w.cacert, upload_url(m2, "image", t, m2.auth), body).status == 200);
  CHECK(w.ok({{"cmd", "status"}})["media"]["counters"]["refused"] == 6);
}

TEST_CASE("media host: size limit 413, refused uploads 503, expiry 410, corruption") {
  World w({"--media-max-bytes", "100000"});
  auto m = media_conn(w.ca);
  std::string big = random_body(100001);
  Request over;
  over.url = upload_url(m, "image", token_of(big), m.auth);
  over.method = "POST";
  over.body = big;
  over.expect_continue = true;
  CHECK(http(w.cacert, over).status == 413);
  std::string body = random_body(100000);
  auto up = upload_ok(w.cacert, m, body);

  w.ok({{"cmd", "media-refuse-uploads"}, {"on", true}});
  CHECK(post(w.cacert, upload_url(m, "video", token_of(body), m.auth), body).status == 503);
  w.ok({{"cmd", "media-refuse-uploads"}, {"on", false}});
  auto up2 = upload_ok(w.cacert, m, body, "video");

  w.ok({{"cmd", "media-corrupt"}, {"path", up2.direct_path}});
  auto d = get(w.cacert, up2.url);
  CHECK(d.status == 200);
  REQUIRE(d.body.size() == body.size());
  size_t diffs = 0;
  for (size_t i = 0; i < body.size(); ++i) diffs += d.body[i] != body[i];
  CHECK(diffs == 1);

  CHECK(w.ok({{"cmd", "media-expire"}, {"path", up.url}})["expired"] == 1);
  CHECK(get(w.cacert, up.url).status == 410);
  CHECK(get(w.cacert, up2.url).status == 200);
  auto list = w.ok({{"cmd", "media-list"}})["blobs"];
  REQUIRE(list.size() == 2);
  for (const auto& b : list) {
    CHECK(b["size"] == 100000);
    CHECK(b["state"] == (b["direct_path"] == up.direct_path ? "expired" : "live"));
  }
  CHECK(w.ok({{"cmd", "media-expire"}, {"path", "all"}})["expired"] == 1);
  CHECK(get(w.cacert, up2.url).status == 410);
  CHECK(w.ok({{"cmd", "status"}})["media"]["counters"]["expired_hits"] == 2);
  CHECK_FALSE(w.s.admin({{"cmd", "media-corrupt"}, {"path", "/v/t62.7118-24/unknown.enc"}}).value("ok", true));

  // An upload cut off midway leaves no file behind and stores nothing.
  std::string part = random_body(90000);
  Request cut;
  cut.url = upload_url(m, "image", token_of(part), m.auth);
  cut.method = "POST";
  cut.body = part;
  cut.max_send_speed = 20000;
  cut.timeout_ms = 1000;
  CHECK(http(w.cacert, cut).status == 0);
  auto leftovers = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(w.dir.path() + "/media"))
      n += e.path().extension() == ".part";
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (leftovers() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  CHECK(leftovers() == 0);
  CHECK(w.ok({{"cmd", "media-list"}})["blobs"].size() == 2);
}

TEST_CASE("media host: a throttled transfer does not stall the chat socket") {
  World w;
  auto m = media_conn(w.ca);
  std::string body = random_body(600000);
  auto up = upload_ok(w.cacert, m, body);
  w.ok({{"cmd", "media-slow"}, {"bytes_per_sec", 200000}});

  std::atomic<bool> done{false};
  Resp d;
  auto t0 = std::chrono::steady_clock::now();
  std::thread dl([&] {
    d = get(w.cacert, up.url);
    done = true;
  });
  // Wait until the download is under way on the server, then ping over the chat socket.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (w.ok({{"cmd", "status"}})["media"]["counters"]["bytes_out"].get<uint64_t>() == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  auto p0 = std::chrono::steady_clock::now();
  w.ca.send(Node("iq", {{"id", "ping1"}, {"xmlns", "w:p"}, {"type", "get"}, {"to", "@s.whatsapp.net"}}));
  Node pong = w.ca.recv_tag("iq", 10000);
  auto ping_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - p0).count();
  CHECK(pong.attr_or("id", "") == "ping1");
  CHECK_FALSE(done.load());  // answered while the download still runs
  CHECK(ping_ms < 500);
  dl.join();
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(d.status == 200);
  CHECK(d.body == body);
  CHECK(took >= 2s);  // 600 kB at 200 kB/s

  // Uploads are throttled too.
  std::string body2 = random_body(400000);
  auto u0 = std::chrono::steady_clock::now();
  auto ur = post(w.cacert, upload_url(m, "image", token_of(body2), m.auth), body2);
  CHECK_MESSAGE(ur.status == 200, (ur.body + ur.error));
  CHECK(std::chrono::steady_clock::now() - u0 >= 1500ms);
  w.ok({{"cmd", "media-slow"}, {"bytes_per_sec", 0}});
  auto f0 = std::chrono::steady_clock::now();
  CHECK(get(w.cacert, up.url).body == body);
  CHECK(std::chrono::steady_clock::now() - f0 < 1500ms);
}

TEST_CASE("media host: a 200 MB upload is streamed to disk, not held in memory") {
  World w;
  auto m = media_conn(w.ca);
  const uint64_t size = 200ull << 20;
  std::string file = w.dir.path() + "/big.bin";
  std::string token;
  {
    // Written once (and hashed on the way): the client streams it from disk.
    std::ofstream f(file, std::ios::binary);
    Bytes chunk = crypto::random_bytes(1 << 20);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    for (uint64_t i = 0; i < size / chunk.size(); ++i) {
      chunk[0] = static_cast<uint8_t>(i);
      f.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
      EVP_DigestUpdate(ctx, chunk.data(), chunk.size());
    }
    std::array<uint8_t, 32> sha{};
    EVP_DigestFinal_ex(ctx, sha.data(), nullptr);
    EVP_MD_CTX_free(ctx);
    token = b64url(sha, false);
  }
  uint64_t before = rss_kb(w.s.pid());
  REQUIRE(before > 0);
  std::atomic<bool> done{false};
  uint64_t peak = before;
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak, rss_kb(w.s.pid()));
      std::this_thread::sleep_for(20ms);
    }
  });
  Request rq;
  rq.url = upload_url(m, "video", token, m.auth);
  rq.method = "POST";
  rq.file = file;
  rq.file_size = size;
  auto r = http(w.cacert, rq);
  done = true;
  sampler.join();
  peak = std::max(peak, rss_kb(w.s.pid()));
  CHECK_MESSAGE(r.status == 200, (r.body + r.error));
  MESSAGE("server RSS before " << before << " kB, peak " << peak << " kB");
  CHECK(peak - before < 100u * 1024);
  auto list = w.ok({{"cmd", "media-list"}})["blobs"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["size"] == size);
  std::filesystem::remove(file);
}

TEST_CASE("media retry: the emulated phone re-uploads under a new direct path, or answers error 2") {
  World w;
  auto b = pair_device(w.s.env(), "155902");
  auto cb = login(w.s.env(), b);
  auto m = media_conn(w.ca);
  std::string body = random_body(50000);
  auto up = upload_ok(w.cacert, m, body);
  w.ok({{"cmd", "media-expire"}, {"path", up.direct_path}});
  REQUIRE(get(w.cacert, up.url).status == 410);

  Bytes media_key = crypto::random_bytes(32);
  std::string msg_id = "3EB0MEDIA0001";
  w.ok({{"cmd", "media-retry-key"}, {"id", msg_id}, {"media_key", to_base64(media_key)}, {"path", up.direct_path}});

  // The receiver asks its own phone number (as Baileys and whatsmeow do).
  Bytes retry_key = crypto::hkdf_sha256(media_key, {}, as_bytes("WhatsApp Media Retry Notification"), 32);
  auto retry_receipt = [&](const std::string& id) {
    wa::proto::ServerErrorReceipt ser;
    ser.set_stanzaid(id);
    Bytes iv = crypto::random_bytes(12);
    std::string plain = ser.SerializeAsString();
    auto ct = crypto::aes_gcm_encrypt(retry_key, iv, as_bytes(id), as_bytes(plain));
    REQUIRE(ct);
    Node r("receipt", {{"id", id}, {"to", b.phone + "@s.whatsapp.net"}, {"type", "server-error"}});
    r.content = binary::Children{
        Node("encrypt", {}, binary::Children{Node("enc_p", {}, *ct), Node("enc_iv", {}, iv)}),
        Node("rmr", {{"jid", w.a.phone + "@s.whatsapp.net"}, {"from_me", "false"}})};
    return r;
  };
  cb.send(retry_receipt(msg_id));
  Node ack = cb.recv_tag("ack", 10000);
  CHECK(ack.attr_or("class", "") == "receipt");
  CHECK(ack.attr_or("id", "") == msg_id);
  Node n = cb.recv_tag("notification", 10000);
  CHECK(n.attr_or("type", "") == "mediaretry");
  CHECK(n.attr_or("id", "") == msg_id);
  CHECK(!n.attr_or("t", "").empty());
  const Node* rmr = n.child("rmr");
  REQUIRE(rmr);
  CHECK(rmr->attr_or("jid", "") == w.a.phone + "@s.whatsapp.net");
  CHECK(rmr->attr_or("from_me", "") == "false");
  const Node* enc = n.child("encrypt");
  REQUIRE(enc);
  REQUIRE(enc->child("enc_p"));
  REQUIRE(enc->child("enc_iv"));
  auto plain = crypto::aes_gcm_decrypt(retry_key, *enc->child("enc_iv")->bytes(), as_bytes(msg_id),
                                       *enc->child("enc_p")->bytes());
  REQUIRE(plain);
  wa::proto::MediaRetryNotification mrn;
  REQUIRE(mrn.ParseFromArray(plain->data(), static_cast<int>(plain->size())));
  CHECK(mrn.stanzaid() == msg_id);
  CHECK(mrn.result() == wa::proto::MediaRetryNotification::SUCCESS);
  REQUIRE(mrn.has_directpath());
  CHECK(mrn.directpath() != up.direct_path);
  auto d = get(w.cacert, "https://" + m.host + mrn.directpath());
  CHECK(d.status == 200);
  CHECK(d.body == body);
  CHECK(get(w.cacert, up.url).status == 410);  // the old path stays gone
  cb.send(Node("ack", {{"class", "notification"}, {"id", msg_id}, {"type", "mediaretry"}}));

  // A message the phone knows nothing of: <error code="2"/>.
  cb.send(retry_receipt("3EB0MEDIA0002"));
  Node n2 = cb.recv_tag("notification", 10000);
  CHECK(n2.attr_or("id", "") == "3EB0MEDIA0002");
  REQUIRE(n2.child("error"));
  CHECK(n2.child("error")->attr_or("code", "") == "2");
  CHECK(n2.child("encrypt") == nullptr);
  auto st = w.ok({{"cmd", "status"}})["media"]["counters"];
  CHECK(st["retries"] == 2);
  CHECK(st["retries_served"] == 1);
  CHECK(st["retries_failed"] == 1);
}

TEST_CASE("media messages: type=media with enc mediatype is relayed unchanged") {
  World w;
  auto b = pair_device(w.s.env(), "155903");
  auto cb = login(w.s.env(), b);
  Node msg("message", {{"id", "MEDIA1"}, {"to", b.phone + "@s.whatsapp.net"}, {"type", "media"}});
  Bytes body{9, 8, 7};
  msg.content = binary::Children{Node("participants", {}, binary::Children{Node(
      "to", {{"jid", b.jid}}, binary::Children{Node("enc", {{"v", "2"}, {"type", "msg"}, {"mediatype", "image"}}, body)})})};
  w.ca.send(msg);
  Node ack = w.ca.recv_tag("ack", 10000);
  CHECK(ack.attr_or("error", "") == "");
  Node got = cb.recv_tag("message", 10000);
  CHECK(got.attr_or("type", "") == "media");
  const Node* enc = got.child("enc");
  REQUIRE(enc);
  CHECK(enc->attr_or("mediatype", "") == "image");
  REQUIRE(enc->bytes());
  CHECK(*enc->bytes() == body);
}
