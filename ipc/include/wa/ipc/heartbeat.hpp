// Liveness without messages: a connection worker proves that its loop turns
// by bumping a counter in one shared page, and the supervisor reads the
// counters of all its workers in one sweep.
//
// Why not a ping over the link: at thousands of idle accounts the ping was
// nearly all of their CPU. Each ping and pong crossed NNG's poller and task
// threads on both sides: about a dozen context switches per worker every
// interval, and a supervisor wakeup per worker (docs/BENCHMARKS.md, idle).
// The counter costs the worker one wakeup of its loop thread per interval
// and the supervisor one wakeup per interval for everyone.
//
// The page is a memfd made by the supervisor for one incarnation of one
// worker and inherited by it as a file descriptor (the worker maps it and
// closes the fd); the supervisor keeps only the mapping. A counter, not a
// timestamp: the two processes never compare clocks, and a supervisor whose
// own loop stalled still sees every beat that happened meanwhile.
#pragma once

#include <cstdint>

#include "wa/result.hpp"

namespace wa::ipc {

// The worker's fd for its page (the first after stdio; Child::spawn's
// `inherit`), named on its command line as --heartbeat-fd.
inline constexpr int kHeartbeatChildFd = 3;

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
  // Beats so far (0 until the worker's first).
  uint64_t beats() const noexcept;

 private:
  HeartbeatPage(int fd, uint64_t* word) : fd_(fd), word_(word) {}
  int fd_ = -1;
  uint64_t* word_ = nullptr;
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

  void beat() noexcept;

 private:
  explicit Heartbeat(uint64_t* word) : word_(word) {}
  uint64_t* word_ = nullptr;
};

}  // namespace wa::ipc
