// The websocket under one account's connection: a libwebsockets client on
// the worker's libuv loop (wss with certificate verification against the
// system CAs; ws:// for a local server). Frames are length-delimited above
// this layer, so received data is handed on as it comes: websocket message
// boundaries (and fragments) carry no meaning for WhatsApp's framing.
//
// Callbacks never run from inside connect()/send()/close(), and none runs
// after close() or destruction, so the owner may drop a connection from any
// callback.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "wa/bytes.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/result.hpp"

struct lws;
struct lws_context;
struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace wa::connection {

// One lws context per process: it costs ~2 MB, connections are cheap.
class WsContext {
 public:
  // tls: set up a client TLS context that verifies servers against the
  // system's CAs (socket.cpp, load_cas). Without it only ws:// works.
  static Result<std::unique_ptr<WsContext>> create(uv_loop_t* loop, bool tls);
  // Destroys the context; the loop must run again afterwards so that lws's
  // handles finish closing.
  ~WsContext();
  WsContext(const WsContext&) = delete;
  WsContext& operator=(const WsContext&) = delete;
  lws_context* get() const noexcept { return ctx_; }
  uv_loop_t* loop() const noexcept { return loop_; }
  ::ssl_ctx_st* ssl() const noexcept { return ssl_; }  // null without tls

 private:
  WsContext(uv_loop_t* loop, lws_context* ctx, ::ssl_ctx_st* ssl) : loop_(loop), ctx_(ctx), ssl_(ssl) {}
  uv_loop_t* loop_;
  lws_context* ctx_;
  // Ours, not lws's: lws does not free a client SSL_CTX when it is destroyed
  // on a foreign loop (LeakSanitizer showed the whole CA store left behind).
  ::ssl_ctx_st* ssl_;
};

struct WsUrl {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string path;  // with the leading '/'
};
Result<WsUrl> parse_ws_url(std::string_view url);

class WsConnection {
 public:
  struct Callbacks {
    std::function<void()> on_open;
    std::function<void(ByteView)> on_data;
    // The connection is gone (refused, reset, closed by the peer). Error code
    // "connect_failed" or "closed"; the message says what lws reported.
    std::function<void(const Error&)> on_closed;
  };
  static Result<std::unique_ptr<WsConnection>> connect(WsContext& ctx, const std::string& url, Callbacks cb);
  ~WsConnection();
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  // Queues one websocket binary message.
  void send(Bytes data);
  // Closes without further callbacks.
  void close();
  bool open() const noexcept { return open_; }

  // lws protocol callback (internal).
  static int callback(lws* wsi, int reason, void* user, void* in, size_t len);

 private:
  explicit WsConnection(WsContext& ctx);
  void report_closed(Error e);
  void detach();

  Callbacks cb_;
  lws* wsi_ = nullptr;
  bool open_ = false;
  bool closed_ = false;
  std::deque<Bytes> outbox_;  // each with LWS_PRE bytes of headroom
  ipc::Timer deferred_;       // runs callbacks outside lws's and the caller's stack
};

}  // namespace wa::connection
