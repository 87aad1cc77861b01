// Keepalive: a `w:p` ping at least every 20 s and at most ~31 s apart,
// answered within a deadline. A missed answer means the socket is dead even
// if TCP has not noticed yet: the owner reconnects.
//
// Why the ping rides other turns: at thousands of idle accounts every wakeup
// of a worker is what the host pays for (docs/BENCHMARKS.md). Once `min_ms`
// has passed since the last answer, the ping goes out on the next turn the
// loop makes anyway - traffic, or libwebsockets' own 30 s service tick, which
// every idle worker has - and a timer at `max_ms` + slack sends it only if no
// turn came. After one ride an idle worker's pings stay on that tick; a
// fallback ping moves the next window ~slack earlier against the tick, so a
// worker that starts out of phase falls into step within ~(max - min) /
// slack rounds. Many accounts never ping in lockstep: each one's phase is
// its own start.
#pragma once

#include <uv.h>

#include <functional>

#include "wa/ipc/timer.hpp"

namespace wa::connection {

class Keepalive {
 public:
  // send_ping: sends one ping and calls `answered(true)` when the server
  // answered (any answer: even an error proves the link works) or
  // `answered(false)` when the deadline passed.
  using SendPing = std::function<void(uint64_t deadline_ms, std::function<void(bool answered)> answered)>;

  Keepalive(uv_loop_t* loop, uint64_t min_ms, uint64_t max_ms, uint64_t deadline_ms, SendPing send_ping,
            std::function<void()> on_dead);
  void start();
  void stop();
  uint64_t pings_sent() const noexcept { return sent_; }
  // Of those, sent on a turn the loop made anyway (no wakeup of their own).
  uint64_t pings_carried() const noexcept { return carried_; }
  // The longest wait for a turn before the timer pings by itself.
  uint64_t fallback_ms() const noexcept { return max_ms_ + slack_ms_; }

 private:
  void arm();
  void ping();
  void on_turn();

  uv_loop_t* loop_;
  ipc::Timer timer_;
  ipc::EveryTurn turns_;
  uint64_t min_ms_, max_ms_, slack_ms_, deadline_ms_;
  SendPing send_ping_;
  std::function<void()> on_dead_;
  bool armed_ = false;      // waiting for the next ping's moment (not for an answer)
  uint64_t armed_at_ = 0;   // uv_now() of the last answer (or start)
  uint64_t generation_ = 0;  // answers from a stopped round are ignored
  uint64_t sent_ = 0;
  uint64_t carried_ = 0;
};

}  // namespace wa::connection
