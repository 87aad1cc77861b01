#include "wa/ipc/loop_bridge.hpp"

namespace wa::ipc {

void close_loop(uv_loop_t* loop) {
  uv_walk(loop, [](uv_handle_t* h, void*) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }, nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
}

LoopBridge::LoopBridge(uv_loop_t* loop) : loop_(loop), async_(new uv_async_t{}) {  // NOLINT: freed in uv_close callback
  uv_async_init(loop_, async_, &LoopBridge::on_async);
  async_->data = this;
}

LoopBridge::~LoopBridge() {
  std::lock_guard lk(mu_);
  closed_ = true;
}

void LoopBridge::post(std::function<void()> fn) {
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    queue_.push_back(std::move(fn));
  }
  uv_async_send(async_);
}

void LoopBridge::on_async(uv_async_t* h) { static_cast<LoopBridge*>(h->data)->drain(); }

void LoopBridge::drain() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lk(mu_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
}

void LoopBridge::close() {
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    queue_.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* h) {
    delete reinterpret_cast<uv_async_t*>(h);  // NOLINT: pairs with the new in the constructor
  });
}

}  // namespace wa::ipc
