// HTTP POSTs on the program's libuv loop: one libcurl multi handle driven
// by curl_multi_socket_action from uv_poll (one per socket curl asks us to
// watch) and one uv_timer (curl's own timeout), so a hundred slow receivers
// cost a hundred sockets, not a hundred threads, and nothing blocks the loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>


namespace wa::webhooks {

struct HttpResult {
  long status = 0;    // the HTTP status; 0 when no response came
  std::string error;  // why, when status is 0 (timeout, refused, …); never the URL
};

class HttpClient {
 public:
  using Callback = std::function<void(HttpResult)>;
  explicit HttpClient(uv_loop_t* loop);
  ~HttpClient();  // in-flight requests are dropped: their callbacks never run
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // The callback runs on the loop, once. `timeout_ms` bounds the whole
  // exchange (connect, send, the answer).
  void post(const std::string& url, const std::vector<std::string>& headers, std::string body, int timeout_ms,
            Callback cb);
  size_t in_flight() const { return transfers_.size(); }

  struct Transfer;
  struct Socket;

 private:
  static int on_socket(void* easy, int fd, int what, void* self, void* socketp);
  static int on_timer(void* multi, long timeout_ms, void* self);
  void drive(int fd, int events);
  void finished();

  uv_loop_t* loop_;
  void* multi_ = nullptr;
  uv_timer_t* timer_;  // heap: freed by its close callback
  std::map<void*, std::unique_ptr<Transfer>> transfers_;  // by easy handle
};

}  // namespace wa::webhooks
