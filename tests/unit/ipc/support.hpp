// What the ipc unit tests share: a loop that is closed with its handles,
// and waiting on a condition with a deadline (never a bare sleep).
#pragma once

#include <uv.h>

#include <chrono>
#include <thread>

#include "wa/ipc/loop_bridge.hpp"

namespace test_support {

using namespace std::chrono_literals;

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() { wa::ipc::close_loop(&loop); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
};

// Polls `cond` (every millisecond) until it holds or `within` passed.
template <class F>
bool wait_until(F cond, std::chrono::milliseconds within = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!cond() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  return cond();
}

}  // namespace test_support
