// Liveness without messages: a connection worker's loop thread writes to one
// shared page what it is doing - turning (running callbacks) or parked in its
// poll, waiting for an event - and the supervisor reads the pages of all its
// workers in one sweep.
//
// Why not a ping over the link: at thousands of idle accounts the ping was
// nearly all of their CPU. Each ping and pong crossed NNG's poller and task
// threads on both sides: about a dozen context switches per worker every
// interval, and a supervisor wakeup per worker (docs/BENCHMARKS.md, idle).
// The page costs the supervisor one wakeup per interval for everyone and the
// worker nothing at all: it is written only on turns the loop makes anyway.
//
// Why "parked" is part of it: a loop parked in its poll is healthy by
// definition - it waits for the network, the link or a timer, and whatever it
// waits for wakes it. A deadlocked, spinning or blocked loop is never parked:
// it is inside a callback. So the supervisor needs no beat from an idle
// worker (a beat was a wakeup of its own; at thousands of idle accounts each
// wakeup is what the host pays for, docs/BENCHMARKS.md) and declares a worker
// unresponsive only when its loop has not turned for the timeout while NOT
// parked - or while parked in a process that is stopped (SIGSTOP, a tracer),
// which the supervisor asks the kernel about (Child::stopped).
//
// The page is a memfd made by the supervisor for one incarnation of one
// worker and inherited by it as a file descriptor (the worker maps it and
// closes the fd); the supervisor keeps only the mapping. A counter, not a
// timestamp: the two processes never compare clocks, and a supervisor whose
// own loop stalled still sees every turn that happened meanwhile.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <utility>

#include "wa/result.hpp"

namespace wa::ipc {

// The worker's fd for its page (the first after stdio; Child::spawn's
// `inherit`), named on its command line as --heartbeat-fd.
inline constexpr int kHeartbeatChildFd = 3;

// One read of a worker's page.
struct LoopState {
  uint64_t turns = 0;   // times its loop woke up so far (0 until the first)
  bool parked = false;  // its loop thread sits in its poll right now
};

// The supervisor's side: owns the page, hands the fd to one child.
class HeartbeatPage {
 public:
  static Result<HeartbeatPage> create();
  HeartbeatPage(HeartbeatPage&& o) noexcept;
  HeartbeatPage& operator=(HeartbeatPage&& o) noexcept;
  HeartbeatPage(const HeartbeatPage&) = delete;
  HeartbeatPage& operator=(const HeartbeatPage&) = delete;
  ~HeartbeatPage();

  // For the child's spawn; -1 once closed. Close it once the child has it:
  // thousands of workers must not cost the supervisor thousands of fds.
  int fd() const noexcept { return fd_; }
  void close_fd() noexcept;
  LoopState read() const noexcept;

 private:
  HeartbeatPage(int fd, uint64_t* word) : fd_(fd), word_(word) {}
  int fd_ = -1;
  uint64_t* word_ = nullptr;
};

// The supervisor's reading of one worker's page, one sweep at a time.
class LoopWatch {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Verdict {
    fine,            // it turned within the timeout, or it is only waiting
    parked_long,     // parked, no turn for the timeout: fine unless the process is stopped
    busy_too_long,   // inside a callback for the timeout: deadlocked, spinning or stopped
  };
  // A new worker (or one that just got ready): silence counts from `now`.
  void start(Clock::time_point now) noexcept {
    turns_ = 0;
    last_turn_ = now;
  }
  Verdict observe(LoopState s, Clock::time_point now, std::chrono::milliseconds timeout) noexcept;
  // After parked_long, for a process that is not stopped: it is waiting for
  // an event that has not come, which is what an idle worker does.
  void waiting(Clock::time_point now) noexcept { last_turn_ = now; }
  std::chrono::milliseconds silent(Clock::time_point now) const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - last_turn_);
  }

 private:
  uint64_t turns_ = 0;
  Clock::time_point last_turn_{};
};

// The worker's side.
class Heartbeat {
 public:
  // Maps the page behind `fd` and closes `fd`.
  static Result<Heartbeat> attach(int fd);
  Heartbeat(Heartbeat&& o) noexcept;
  Heartbeat& operator=(Heartbeat&& o) noexcept;
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  ~Heartbeat();

  // The loop thread is about to wait in its poll.
  void park() noexcept;
  // It woke up: one more turn, not parked (from here to the next park() its
  // callbacks run).
  void wake() noexcept;

 private:
  explicit Heartbeat(uint64_t* word) : word_(word) {}
  uint64_t* word_ = nullptr;
};

// Runs a libuv loop and keeps its page true. libuv calls its I/O callbacks
// from inside its own poll step, where no handle of ours can tell "waiting"
// from "running": so this waits itself, in poll(2) on the loop's backend fd
// with the loop's own timeout, parked only for that wait, and then lets
// uv_run(UV_RUN_NOWAIT) run whatever woke it (docs/ARCHITECTURE.md, "A worker
// that stops answering").
class WatchedLoop {
 public:
  WatchedLoop(uv_loop_t* loop, Heartbeat heartbeat) : loop_(loop), heartbeat_(std::move(heartbeat)) {}
  // Until stop() or until nothing is left on the loop.
  void run();
  // From a callback on this loop: run() returns after this turn (uv_stop does
  // not reach a loop driven one turn at a time).
  void stop() noexcept { stopped_ = true; }

 private:
  uv_loop_t* loop_;
  Heartbeat heartbeat_;
  bool stopped_ = false;
};

}  // namespace wa::ipc
