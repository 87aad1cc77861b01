#include "keepalive.hpp"

#include <algorithm>

namespace wa::connection {

Keepalive::Keepalive(uv_loop_t* loop, uint64_t min_ms, uint64_t max_ms, uint64_t deadline_ms, SendPing send_ping,
                     std::function<void()> on_dead)
    : loop_(loop),
      timer_(loop),
      turns_(loop, [this] { on_turn(); }),
      min_ms_(min_ms),
      max_ms_(std::max(max_ms, min_ms)),
      // A tenth of the window: 1 s with the defaults, just past the 30 s
      // tick an idle loop turns on.
      slack_ms_(std::max<uint64_t>(1, (max_ms_ - min_ms_) / 10)),
      deadline_ms_(deadline_ms),
      send_ping_(std::move(send_ping)),
      on_dead_(std::move(on_dead)) {}

void Keepalive::start() {
  ++generation_;
  arm();
}

void Keepalive::stop() {
  ++generation_;
  armed_ = false;
  timer_.stop();
}

void Keepalive::arm() {
  armed_ = true;
  armed_at_ = uv_now(loop_);
  timer_.start(fallback_ms(), [this] {
    if (armed_) ping();
  });
}

void Keepalive::on_turn() {
  if (armed_ && uv_now(loop_) - armed_at_ >= min_ms_) ping();
}

void Keepalive::ping() {
  armed_ = false;
  timer_.stop();
  ++sent_;
  // Before the fallback was due, something else woke the loop. (On the
  // fallback's own wakeup the check phase may see it first: libuv runs a
  // turn's timers at the start of the next one.)
  if (uv_now(loop_) - armed_at_ < fallback_ms()) ++carried_;
  const uint64_t gen = generation_;
  send_ping_(deadline_ms_, [this, gen](bool answered) {
    if (gen != generation_) return;
    if (answered) {
      arm();
    } else {
      ++generation_;
      on_dead_();
    }
  });
}

}  // namespace wa::connection
