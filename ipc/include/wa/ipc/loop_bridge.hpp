// Runs closures on a libuv loop thread. NNG completes aios on its own
// threads; every state change of a program happens on its loop thread, so
// NNG callbacks only ever post() here (uv_async_send is the one libuv call
// that is safe from other threads).
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace wa::ipc {

// The last step of a program's loop: closes every handle still open, lets
// libuv finish closing them, and closes the loop. Owners close what they can
// first (a library's own handles, e.g. libwebsockets', must be left to it).
void close_loop(uv_loop_t* loop);

class LoopBridge {
 public:
  explicit LoopBridge(uv_loop_t* loop);
  ~LoopBridge();
  LoopBridge(const LoopBridge&) = delete;
  LoopBridge& operator=(const LoopBridge&) = delete;

  void post(std::function<void()> fn);  // any thread
  // Loop thread: stop accepting work and close the async handle. The loop
  // must run once more to finish closing it.
  void close();
  uv_loop_t* loop() const noexcept { return loop_; }

 private:
  static void on_async(uv_async_t* h);
  void drain();

  uv_loop_t* loop_;
  uv_async_t* async_;  // heap: its memory must outlive uv_close's callback
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
  bool closed_ = false;
};

}  // namespace wa::ipc
