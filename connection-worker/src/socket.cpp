#include "socket.hpp"

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "wa/log.hpp"

namespace wa::connection {

namespace {

int protocol_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  return WsConnection::callback(wsi, static_cast<int>(reason), user, in, len);
}

lws_protocols* protocols() {
  static lws_protocols list[2] = {};
  if (list[0].name == nullptr) {
    list[0].name = "wa-client";
    list[0].callback = &protocol_callback;
    list[0].rx_buffer_size = 64 * 1024;
  }
  return list;
}

void lws_log(int level, const char* line) {
  // lws lines end with a newline; never contain payloads at these levels.
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (level & LLL_ERR) {
    WA_WARN("lws: %s", s.c_str());
  } else {
    WA_DEBUG("lws: %s", s.c_str());
  }
}

// The CAs a TLS context verifies servers against. OpenSSL's own variables
// first: SSL_CERT_FILE (a bundle, parsed whole) and SSL_CERT_DIR (hashed
// directories, ':'-separated). Without them, the system's hashed directory
// (/etc/ssl/certs on Debian), read lazily: a certificate is parsed when a
// handshake asks for its subject, so a worker holds the one or two roots
// its server needs. OpenSSL's default set-up would also parse the whole
// bundle (/usr/lib/ssl/cert.pem, ~140 certificates, ~20 ms and ~1.1 MB of
// heap) in every worker, each account's own copy. Parsed once in the
// zygote instead, the copy did not stay shared: the workers' allocations
// landed in the holes the parse left in the zygote's heap and copied most
// of its pages (docs/BENCHMARKS.md). Only a system without the directory
// falls back to the bundle.
bool load_cas(SSL_CTX* ssl) {
  const char* file = std::getenv(X509_get_default_cert_file_env());
  const char* dirs = std::getenv(X509_get_default_cert_dir_env());
  const bool file_set = file != nullptr && *file != '\0';
  const bool dirs_set = dirs != nullptr && *dirs != '\0';
  bool ok = true;
  if (file_set || dirs_set) {
    if (file_set) ok = SSL_CTX_load_verify_file(ssl, file) == 1;
    if (ok && dirs_set) ok = SSL_CTX_load_verify_dir(ssl, dirs) == 1;
  } else if (struct stat st{}; ::stat(X509_get_default_cert_dir(), &st) == 0 && S_ISDIR(st.st_mode)) {
    ok = SSL_CTX_load_verify_dir(ssl, X509_get_default_cert_dir()) == 1;
  } else {
    ok = SSL_CTX_load_verify_file(ssl, X509_get_default_cert_file()) == 1;
  }
  // A failed load leaves errors queued: not to be taken for a later
  // operation's.
  ERR_clear_error();
  return ok;
}

}  // namespace

Result<std::unique_ptr<WsContext>> WsContext::create(uv_loop_t* loop, bool tls) {
  lws_set_log_level(LLL_ERR, &lws_log);
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols();
  info.options = LWS_SERVER_OPTION_LIBUV;
  SSL_CTX* ssl = nullptr;
  if (tls) {
    ssl = SSL_CTX_new(TLS_client_method());
    if (ssl == nullptr) return fail("ws_error", "cannot create the TLS context");
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    if (!load_cas(ssl)) {
      SSL_CTX_free(ssl);
      return fail("ws_error", "cannot load the system CA certificates");
    }
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.provided_client_ssl_ctx = ssl;
  }
  void* loops[1] = {loop};
  info.foreign_loops = loops;
  // One socket per account plus lws's own pipes; the per-fd tables are
  // sized from this (the default sizes them for the process's ulimit).
  info.fd_limit_per_thread = 16;
  info.count_threads = 1;
  info.gid = static_cast<gid_t>(-1);
  info.uid = static_cast<uid_t>(-1);
  lws_context* ctx = lws_create_context(&info);
  if (ctx == nullptr) {
    if (ssl != nullptr) SSL_CTX_free(ssl);
    return fail("ws_error", "cannot create the websocket context");
  }
  return std::unique_ptr<WsContext>(new WsContext(loop, ctx, ssl));
}

WsContext::~WsContext() {
  if (ctx_ != nullptr) lws_context_destroy(ctx_);
  // Connections hold their own references to it; this drops ours.
  if (ssl_ != nullptr) SSL_CTX_free(ssl_);
}

Result<WsUrl> parse_ws_url(std::string_view url) {
  WsUrl out;
  std::string_view rest;
  if (url.rfind("wss://", 0) == 0) {
    out.tls = true;
    rest = url.substr(6);
  } else if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else {
    return fail("bad_url", "url must start with wss:// or ws://");
  }
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  out.port = out.tls ? 443 : 80;
  if (!hostport.empty() && hostport.front() == '[') {  // [v6]:port
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return fail("bad_url", "unterminated IPv6 address");
    out.host = std::string(hostport.substr(1, close - 1));
    hostport = hostport.substr(close + 1);
    if (!hostport.empty() && hostport.front() != ':') return fail("bad_url", "junk after IPv6 address");
    hostport = hostport.empty() ? hostport : hostport.substr(1);
    if (!hostport.empty()) out.port = -1;
  } else {
    size_t colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    hostport = colon == std::string_view::npos ? std::string_view() : hostport.substr(colon + 1);
    if (colon != std::string_view::npos) out.port = -1;
  }
  if (out.port == -1) {
    int p = 0;
    if (hostport.empty() || hostport.size() > 5) return fail("bad_url", "bad port");
    for (char c : hostport) {
      if (c < '0' || c > '9') return fail("bad_url", "bad port");
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return fail("bad_url", "bad port");
    out.port = p;
  }
  if (out.host.empty()) return fail("bad_url", "url has no host");
  return out;
}

WsConnection::WsConnection(WsContext& ctx) : deferred_(ctx.loop()) {}

Result<std::unique_ptr<WsConnection>> WsConnection::connect(WsContext& ctx, const std::string& url, Callbacks cb) {
  auto u = parse_ws_url(url);
  if (!u) return Unexpected<Error>{u.error()};
  std::unique_ptr<WsConnection> c(new WsConnection(ctx));
  c->cb_ = std::move(cb);
  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.context = ctx.get();
  ci.address = u->host.c_str();
  ci.port = u->port;
  ci.path = u->path.c_str();
  ci.host = u->host.c_str();
  ci.origin = "https://web.whatsapp.com";
  ci.ssl_connection = u->tls ? LCCSCF_USE_SSL : 0;
  ci.local_protocol_name = "wa-client";
  ci.opaque_user_data = c.get();
  ci.pwsi = &c->wsi_;
  // An immediate failure (e.g. DNS) may already have called back; it was
  // deferred, so `c` is intact either way.
  if (lws_client_connect_via_info(&ci) == nullptr && !c->closed_)
    c->report_closed(Error{"connect_failed", "cannot start connecting to " + u->host});
  return c;
}

WsConnection::~WsConnection() { close(); }

void WsConnection::detach() {
  if (wsi_ != nullptr) {
    lws_set_opaque_user_data(wsi_, nullptr);
    lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    wsi_ = nullptr;
  }
}

void WsConnection::close() {
  closed_ = true;
  open_ = false;
  deferred_.stop();
  outbox_.clear();
  detach();
}

void WsConnection::report_closed(Error e) {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  outbox_.clear();
  deferred_.start(0, [this, e] {
    if (cb_.on_closed) cb_.on_closed(e);
  });
}

void WsConnection::send(Bytes data) {
  if (closed_ || wsi_ == nullptr) return;
  Bytes framed(LWS_PRE + data.size());
  std::memcpy(framed.data() + LWS_PRE, data.data(), data.size());
  const bool was_empty = outbox_.empty();
  outbox_.push_back(std::move(framed));
  // A non-empty outbox always has a writeable callback asked for (here, at
  // ESTABLISHED, or when a write was held back). Asking again per frame
  // re-armed the socket's poll each time: on libuv, an epoll_ctl for every
  // receipt of a batch.
  if (open_ && was_empty) lws_callback_on_writable(wsi_);
}

int WsConnection::callback(lws* wsi, int reason_int, void* /*user*/, void* in, size_t len) {
  auto reason = static_cast<lws_callback_reasons>(reason_int);
  auto* self = static_cast<WsConnection*>(lws_get_opaque_user_data(wsi));
  if (self == nullptr || self->closed_) {
    // Detached: the owner is gone. Let lws finish tearing it down.
    switch (reason) {
      case LWS_CALLBACK_CLIENT_RECEIVE:
      case LWS_CALLBACK_CLIENT_WRITEABLE:
      case LWS_CALLBACK_CLIENT_ESTABLISHED:
        return -1;
      default:
        return 0;
    }
  }
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      self->open_ = true;
      self->deferred_.start(0, [self] {
        if (self->cb_.on_open) self->cb_.on_open();
      });
      if (!self->outbox_.empty()) lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      if (len > 0 && in != nullptr && self->cb_.on_data)
        self->cb_.on_data(ByteView(static_cast<const uint8_t*>(in), len));
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      // One frame per websocket message, as WhatsApp Web sends them, and as
      // many messages per callback as the socket takes: the writes go on
      // until lws holds back part of one (the socket took less, or nothing),
      // and no write may follow that before lws has sent it
      // (lws_partial_buffered). lws_send_pipe_choked() would say the same
      // plus a poll(2) per frame. A callback per frame cost a turn of the
      // loop and two epoll_ctl for every receipt of a batch.
      while (!self->outbox_.empty()) {
        Bytes& front = self->outbox_.front();
        size_t n = front.size() - LWS_PRE;
        int w = lws_write(wsi, front.data() + LWS_PRE, n, LWS_WRITE_BINARY);
        if (w < static_cast<int>(n)) {
          self->wsi_ = nullptr;
          self->report_closed(Error{"closed", "websocket write failed"});
          return -1;
        }
        self->outbox_.pop_front();
        if (!self->outbox_.empty() && lws_partial_buffered(wsi)) {
          lws_callback_on_writable(wsi);
          break;
        }
      }
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      std::string why = in != nullptr && len > 0 ? std::string(static_cast<const char*>(in), len) : "";
      if (in != nullptr && len == 0) why = static_cast<const char*>(in);
      self->wsi_ = nullptr;
      self->report_closed(Error{"connect_failed", why.empty() ? "connection failed" : why});
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
      self->wsi_ = nullptr;
      self->report_closed(Error{"closed", "the server closed the connection"});
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      if (self->wsi_ == wsi) self->wsi_ = nullptr;
      self->report_closed(Error{"closed", "connection dropped"});
      return 0;
    default:
      return 0;
  }
}

}  // namespace wa::connection
