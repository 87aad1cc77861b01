#include "keepalive.hpp"

namespace wa::connection {

Keepalive::Keepalive(uv_loop_t* loop, uint64_t min_ms, uint64_t max_ms, uint64_t deadline_ms, SendPing send_ping,
                     std::function<void()> on_dead)
    : timer_(loop), min_ms_(min_ms), max_ms_(max_ms < min_ms ? min_ms : max_ms), deadline_ms_(deadline_ms),
      send_ping_(std::move(send_ping)), on_dead_(std::move(on_dead)), rng_(std::random_device{}()) {}

void Keepalive::start() {
  ++generation_;
  arm();
}

void Keepalive::stop() {
  ++generation_;
  timer_.stop();
}

void Keepalive::arm() {
  uint64_t span = max_ms_ - min_ms_;
  uint64_t delay = min_ms_ + (span > 0 ? rng_() % (span + 1) : 0);
  uint64_t gen = generation_;
  timer_.start(delay, [this, gen] {
    if (gen != generation_) return;
    ++sent_;
    send_ping_(deadline_ms_, [this, gen](bool answered) {
      if (gen != generation_) return;
      if (answered) {
        arm();
      } else {
        ++generation_;
        on_dead_();
      }
    });
  });
}

}  // namespace wa::connection
