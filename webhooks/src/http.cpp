#include "http.hpp"

#include <curl/curl.h>

#include "wa/build_info.hpp"
#include "wa/log.hpp"

namespace wa::webhooks {

struct HttpClient::Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  Callback cb;
  char error[CURL_ERROR_SIZE] = {};
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
};

// One watched socket. The poll handle is freed in its close callback.
struct HttpClient::Socket {
  uv_poll_t poll{};
  HttpClient* client = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;
};

namespace {

// The receiver's answer is not ours to keep: read and dropped.
size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

HttpClient::HttpClient(uv_loop_t* loop) : loop_(loop), timer_(new uv_timer_t) {
  static const bool global = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)global;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

HttpClient::~HttpClient() {
  // Removing the easy handles makes curl give back its sockets (on_socket
  // with CURL_POLL_REMOVE closes their polls); then the multi handle goes.
  for (auto& [easy, t] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
  curl_multi_cleanup(multi_);
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void HttpClient::post(const std::string& url, const std::vector<std::string>& headers, std::string body,
                      int timeout_ms, Callback cb) {
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  t->body = std::move(body);
  t->cb = std::move(cb);
  for (const auto& h : headers) t->headers = curl_slist_append(t->headers, h.c_str());
  // No "Expect: 100-continue" round trip before a larger body.
  t->headers = curl_slist_append(t->headers, "Expect:");
  static const std::string agent = std::string("wa-webhooks/") + kVersion;
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  // A redirect is an answer that is not a 2xx: not followed, not delivered.
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  CURL* key = e;
  transfers_.emplace(key, std::move(t));
  if (CURLMcode rc = curl_multi_add_handle(multi_, key); rc != CURLM_OK) {
    auto node = transfers_.extract(key);
    HttpResult r;
    r.error = curl_multi_strerror(rc);
    node.mapped()->cb(std::move(r));
  }
}

int HttpClient::on_timer(void*, long timeout_ms, void* self) {
  auto* c = static_cast<HttpClient*>(self);
  if (timeout_ms < 0) {
    uv_timer_stop(c->timer_);
    return 0;
  }
  // 0 means "now": still from the loop, never from inside curl's call.
  uv_timer_start(
      c->timer_,
      [](uv_timer_t* h) {
        auto* client = static_cast<HttpClient*>(h->data);
        client->drive(CURL_SOCKET_TIMEOUT, 0);
      },
      static_cast<uint64_t>(timeout_ms), 0);
  return 0;
}

int HttpClient::on_socket(void*, int fd, int what, void* self, void* socketp) {
  auto* c = static_cast<HttpClient*>(self);
  auto* s = static_cast<Socket*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (s != nullptr) {
      uv_poll_stop(&s->poll);
      uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
      curl_multi_assign(c->multi_, fd, nullptr);
    }
    return 0;
  }
  if (s == nullptr) {
    s = new Socket;
    s->client = c;
    s->fd = fd;
    if (uv_poll_init_socket(c->loop_, &s->poll, fd) != 0) {
      delete s;
      return -1;  // curl fails the transfer
    }
    s->poll.data = s;
    curl_multi_assign(c->multi_, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, [](uv_poll_t* h, int status, int ev) {
    auto* sock = static_cast<Socket*>(h->data);
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if ((ev & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
    if ((ev & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
    sock->client->drive(sock->fd, flags);
  });
  return 0;
}

void HttpClient::drive(int fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, events, &running);
  finished();
}

void HttpClient::finished() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;
    const CURLcode code = m->data.result;
    curl_multi_remove_handle(multi_, easy);
    auto node = transfers_.extract(easy);
    if (node.empty()) continue;
    Transfer& t = *node.mapped();
    HttpResult r;
    if (code == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    } else {
      // The error buffer may name the host; the URL's path and query (where
      // tokens live) are never in curl's messages.
      r.error = code == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(code);
    }
    t.cb(std::move(r));
  }
}

}  // namespace wa::webhooks
