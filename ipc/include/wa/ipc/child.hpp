// A child process started with posix_spawn (no fork: NNG is not fork-safe,
// and a fork of a big supervisor copies its page tables; child.cpp says
// more), or forked by a Zygote (zygote.hpp). The exit callback runs on the
// loop thread exactly once, after the child has been reaped.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "wa/result.hpp"

namespace wa::ipc {

struct ExitStatus {
  int64_t code = 0;  // meaningful when signal == 0
  int signal = 0;
  bool clean() const { return signal == 0 && code == 0; }
  std::string describe() const;
};

class Child {
 public:
  using OnExit = std::function<void(ExitStatus)>;
  // `inherit[i]` becomes the child's fd 3 + i (the rest of ours are
  // close-on-exec).
  static Result<std::unique_ptr<Child>> spawn(uv_loop_t* loop, const std::vector<std::string>& argv,
                                              OnExit on_exit, std::span<const int> inherit = {});
  ~Child();  // does not kill; a still-running child keeps its handle until it exits
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const;
  void kill(int sig) const;
  // Stopped by a signal or a tracer (state T or t in /proc): it cannot run
  // whatever it waits for.
  bool stopped() const;
  // Waits up to `timeout_ms` for the exit of a child we started (not a
  // zygote's) and reaps it here, running its exit callback: for a process
  // whose loop is about to close. False if it is still running.
  bool reap_within(int timeout_ms);

  // Internal: the loop's record of the child (child.cpp).
  struct Handle;
  void mark_exited() noexcept {
    handle_ = nullptr;
    exited_ = true;
  }

 private:
  friend std::unique_ptr<Child> adopt_child(Handle* h);
  Child() = default;
  Handle* handle_ = nullptr;  // owned by libuv until its close callback
  pid_t pid_ = 0;
  bool exited_ = false;
};

// The directory holding our own executable, where the worker binaries live.
std::string self_dir();

}  // namespace wa::ipc
