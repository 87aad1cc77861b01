// Keepalive: a `w:p` ping every 20-30 s (random, so many accounts never ping
// in lockstep), answered within a deadline. A missed answer means the socket
// is dead even if TCP has not noticed yet: the owner reconnects.
#pragma once

#include <uv.h>

#include <functional>
#include <random>

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

 private:
  void arm();

  ipc::Timer timer_;
  uint64_t min_ms_, max_ms_, deadline_ms_;
  SendPing send_ping_;
  std::function<void()> on_dead_;
  std::mt19937_64 rng_;
  uint64_t generation_ = 0;  // answers from a stopped round are ignored
  uint64_t sent_ = 0;
};

}  // namespace wa::connection
