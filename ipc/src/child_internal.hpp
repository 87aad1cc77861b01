// What child.cpp and zygote.cpp share of a child's record: a child started
// by posix_spawn is ours to reap; one forked by the zygote is the zygote's,
// and its exit arrives as the zygote's report.
#pragma once

#include <uv.h>

#include <memory>

#include "wa/ipc/child.hpp"
#include "wa/ipc/zygote.hpp"

namespace wa::ipc {

struct Child::Handle {
  uv_poll_t poll{};  // on the pidfd: readable once the child has exited
  int pidfd = -1;
  pid_t pid = 0;
  OnExit on_exit;
  Child* owner = nullptr;  // null once the Child object is gone
  bool zygote_child = false;
  Zygote::State* zygote_state = nullptr;  // its zygote's record while that lives
  bool dead = false;  // a zygote's child whose pidfd said it exited, status not yet reported
};

int pidfd_open(pid_t pid);
ExitStatus exit_status_of(int wait_status);
// Runs the exit callback once and closes the handle (freed by its close
// callback): touch nothing of `h` afterwards.
void deliver_exit(Child::Handle* h, ExitStatus es);
void close_handle(Child::Handle* h);
std::unique_ptr<Child> adopt_child(Child::Handle* h);

}  // namespace wa::ipc
