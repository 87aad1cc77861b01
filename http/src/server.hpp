// wa-http's server: libwebsockets' HTTP and WebSocket server on the
// program's libuv loop, a client of the supervisor's control socket (one NNG
// context per request) and event socket. Single-threaded: NNG completions
// reach it only through the LoopBridge.
#pragma once

#include <libwebsockets.h>
#include <uv.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "api.hpp"
#include "config.hpp"
#include "wa/ipc/async_client.hpp"
#include "wa/ipc/timer.hpp"

namespace wa::http {

class Server {
 public:
  Server(uv_loop_t* loop, HttpConfig cfg, std::string dashboard_dir);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status start();
  int port() const { return port_; }
  void stop();  // loop thread; the loop then runs to its end
  // The program exits after stop(): its NNG sockets are left to the exit
  // (ipc::AsyncControlClient::leave_socket_to_exit says why).
  void leave_sockets_to_exit() { leave_sockets_ = true; }

  int on_lws(lws* wsi, int reason, void* in, size_t len);

 private:
  struct Conn;      // one HTTP request
  struct WsClient;  // one /v1/events WebSocket
  struct Pending;   // a WebSocket upgrade accepted, not yet established
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last{};
  };

  // HTTP
  int on_http(lws* wsi, const char* uri);
  void dispatch(Conn& c);
  void run_command(Conn& c);
  void long_poll(uint64_t id);
  void respond(Conn& c, int status, std::string body, std::string content_type = "application/json");
  void respond_error(Conn& c, const std::string& code, const std::string& message);
  int on_writeable(lws* wsi, Conn& c);
  Conn* conn(uint64_t id);
  const Token* authenticate(lws* wsi, const std::map<std::string, std::string>& query) const;
  // 0: allowed; else the seconds until one request is.
  int rate_wait_s(const Token& t);
  void serve_file(Conn& c);
  void serve_qr(Conn& c);
  void start_upload(Conn& c);

  // WebSocket
  int confirm_upgrade(lws* wsi);
  void ws_established(lws* wsi);
  void ws_start_profile(WsClient& w, const std::string& profile, int64_t since);
  void ws_catch_up(uint64_t wid, const std::string& profile);
  void ws_push(WsClient& w, const json& event);
  void ws_close(WsClient& w, const std::string& why);
  int ws_writeable(lws* wsi);

  // Events from the supervisor (every profile).
  void on_event(const std::string& profile, json event);

  uv_loop_t* loop_;
  HttpConfig cfg_;
  std::string dashboard_dir_;
  ipc::LoopBridge bridge_;
  std::unique_ptr<ipc::AsyncControlClient> control_;
  std::unique_ptr<ipc::AsyncEventSubscriber> events_;
  bool leave_sockets_ = false;
  lws_context* ctx_ = nullptr;
  int port_ = 0;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<lws*, uint64_t> conn_of_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::unordered_map<lws*, std::unique_ptr<Pending>> pending_ws_;
  std::unordered_map<lws*, uint64_t> ws_of_;
  std::unordered_map<uint64_t, std::unique_ptr<WsClient>> ws_;
  std::map<std::string, Bucket> buckets_;
  std::map<std::string, int64_t> live_head_;  // per profile: the last seq seen live
  struct Qr {
    std::string text;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Qr> qr_;  // the latest live QR per profile (never logged)
  // The log keeps qr / pairing_code events without their secret; the last
  // few live ones per profile are held here (memory only) and put back into
  // the log's copies for admin tokens, so a replay or page that reads them
  // from the log still carries the code to pair with.
  std::map<std::string, std::deque<json>> secrets_;
  json with_secret(const std::string& profile, const json& event) const;
};

}  // namespace wa::http
