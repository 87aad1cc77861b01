// RAII libuv timer. The handle lives on the heap until libuv's close
// callback, so a Timer may be destroyed from inside its own callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

namespace wa::ipc {

class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(uint64_t ms, std::function<void()> fn);          // one shot
  void start_repeat(uint64_t ms, std::function<void()> fn);  // every ms
  // A repeating timer starts its period over from the loop's now
  // (uv_timer_again): cheap enough for every turn of the loop.
  void again();
  void stop();
  bool active() const;

 private:
  struct Handle;
  Handle* h_;
};

// Runs `fn` once per turn of the loop, after that turn's I/O and timers (a
// uv_check). For work that needs doing only when the loop is awake anyway,
// so that it never wakes an idle process by itself: at thousands of idle
// workers each wakeup is the cost (docs/BENCHMARKS.md). Does not keep the
// loop alive.
class EveryTurn {
 public:
  EveryTurn(uv_loop_t* loop, std::function<void()> fn);
  ~EveryTurn();
  EveryTurn(const EveryTurn&) = delete;
  EveryTurn& operator=(const EveryTurn&) = delete;

 private:
  struct Handle;
  Handle* h_;
};

}  // namespace wa::ipc
