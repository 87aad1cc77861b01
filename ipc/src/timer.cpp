#include "wa/ipc/timer.hpp"

namespace wa::ipc {

struct Timer::Handle {
  uv_timer_t t{};
  std::function<void()> fn;
};

Timer::Timer(uv_loop_t* loop) : h_(new Handle{}) {  // NOLINT: freed in the close callback
  uv_timer_init(loop, &h_->t);
  h_->t.data = h_;
}

Timer::~Timer() {
  uv_timer_stop(&h_->t);
  uv_close(reinterpret_cast<uv_handle_t*>(&h_->t), [](uv_handle_t* h) {
    delete static_cast<Handle*>(h->data);  // NOLINT
  });
}

void Timer::start(uint64_t ms, std::function<void()> fn) {
  h_->fn = std::move(fn);
  // The loop's clock is cached per iteration; without a refresh a timer
  // armed late in an iteration fires early by that iteration's work.
  uv_update_time(h_->t.loop);
  uv_timer_start(&h_->t, [](uv_timer_t* t) {
    auto* h = static_cast<Handle*>(t->data);
    auto cb = h->fn;  // the callback may re-arm or destroy this timer
    if (cb) cb();
  }, ms, 0);
}

void Timer::start_repeat(uint64_t ms, std::function<void()> fn) {
  h_->fn = std::move(fn);
  uv_update_time(h_->t.loop);
  uv_timer_start(&h_->t, [](uv_timer_t* t) {
    auto* h = static_cast<Handle*>(t->data);
    auto cb = h->fn;
    if (cb) cb();
  }, ms, ms);
}

void Timer::again() { (void)uv_timer_again(&h_->t); }

void Timer::stop() { uv_timer_stop(&h_->t); }

bool Timer::active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&h_->t)) != 0; }

struct EveryTurn::Handle {
  uv_check_t c{};
  std::function<void()> fn;
};

EveryTurn::EveryTurn(uv_loop_t* loop, std::function<void()> fn) : h_(new Handle{}) {  // NOLINT: freed in the close callback
  h_->fn = std::move(fn);
  uv_check_init(loop, &h_->c);
  h_->c.data = h_;
  uv_check_start(&h_->c, [](uv_check_t* c) {
    auto* h = static_cast<Handle*>(c->data);
    if (h->fn) h->fn();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&h_->c));
}

EveryTurn::~EveryTurn() {
  uv_check_stop(&h_->c);
  uv_close(reinterpret_cast<uv_handle_t*>(&h_->c), [](uv_handle_t* h) {
    delete static_cast<Handle*>(h->data);  // NOLINT
  });
}

}  // namespace wa::ipc
