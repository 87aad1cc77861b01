// A zygote: one exec'd connection worker binary, loaded, relocated and
// initialised once, that forks every connection worker of the supervisor.
//
// Why: at thousands of accounts each worker's exec paid the dynamic loader,
// the libraries' relocations and their start-up (15 % + 16 % of a cold
// start's samples) and kept its own private copy of every relocated page
// (0.4 MB of libcrypto alone per worker). Forked from the zygote, a worker
// shares those pages copy-on-write with all the others and starts without
// an exec (docs/ARCHITECTURE.md, "Starting workers: the zygote").
//
// The contract, both sides in zygote.cpp: a SOCK_SEQPACKET socket at the
// zygote's fd 3 carries
//   zygote -> supervisor  "R"                       ready (after its preload)
//   supervisor -> zygote  "S" argv\0argv\0...       fork a worker; SCM_RIGHTS:
//                                                    the fds it gets at 3, 4, ...
//   zygote -> supervisor  "P" <pid> + SCM_RIGHTS pidfd   the reply: forked
//                          "E" <message>               the reply: not forked
//   zygote -> supervisor  "X" <pid> <wait status>   a worker exited (reaped)
// The zygote is single-threaded (it must be, to fork safely: no NNG, no
// libuv loop in it) and serves one request at a time, so a reply answers
// the oldest request and an "X" for a pid always precedes a reply that
// reuses that pid.
//
// Its workers are the zygote's children, not the supervisor's: the zygote
// reaps them and reports each exit; the supervisor holds a pidfd of each
// (signals go through it, so a reused pid is never hit). A worker dies with
// the zygote (PR_SET_PDEATHSIG), the zygote with the supervisor; if the
// zygote dies, its workers' exits are reported as SIGKILL and the next
// spawn starts a new zygote.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wa/ipc/child.hpp"
#include "wa/result.hpp"

namespace wa::ipc {

// The fd the zygote finds its socket at.
inline constexpr int kZygoteFd = 3;
// How long the supervisor waits for the zygote's "R" or for a reply: a
// fork of the small zygote takes well under a millisecond; a zygote that
// does not answer in this time is killed and the spawn fails (the instance
// restarts it under its restart policy).
inline constexpr int kZygoteReplyTimeoutMs = 5000;

class Zygote {
 public:
  // `argv` starts the zygote (the worker binary in its zygote mode); it is
  // started on the first spawn and again after it died, without waiting
  // for it (its "R" is read on the loop). A spawn that finds it still
  // loading waits at most `ready_wait_ms` (the supervisor's
  // start.zygote_wait_ms, at most kZygoteReplyTimeoutMs) on the loop
  // thread, then execs that worker instead. A zygote with no "R" within
  // kZygoteReplyTimeoutMs (or that exits first) is given up: from then on
  // every worker is exec'd.
  Zygote(uv_loop_t* loop, std::vector<std::string> argv, int ready_wait_ms);
  ~Zygote();  // closes the socket: the zygote exits, and with it its workers
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // Like Child::spawn: `inherit[i]` becomes the worker's fd 3 + i; the
  // exit callback runs on the loop exactly once, after the worker is gone.
  // Once a zygote failed to start, every worker is exec'd (Child::spawn)
  // instead, rather than waiting for a broken zygote on every spawn.
  Result<std::unique_ptr<Child>> spawn(const std::vector<std::string>& argv, Child::OnExit on_exit,
                                       std::span<const int> inherit = {});

  struct State;  // zygote.cpp

 private:
  Status start();
  bool await_ready(int timeout_ms);
  void on_never_ready();
  void abandon();
  Result<std::unique_ptr<Child>> spawn_once(const std::vector<std::string>& argv, const Child::OnExit& on_exit,
                                            std::span<const int> inherit, bool& gone);

  uv_loop_t* loop_;
  std::vector<std::string> argv_;
  int ready_wait_ms_;
  std::shared_ptr<State> state_;  // the running zygote, if any
  bool failed_ = false;           // one did not start: workers are exec'd
};

// The zygote's side. Called by the worker binary in its zygote mode, before
// anything starts a thread. In the zygote it returns only when the
// supervisor is gone (nullopt). In each forked worker it returns that
// worker's argv (also written over the process's command line, so `ps`
// shows the worker) with its fds in place and the signal state reset; the
// worker then starts as if exec'd with it, `parent` being the zygote.
struct ForkedWorker {
  std::vector<std::string> argv;
  pid_t parent = 0;
};
std::optional<ForkedWorker> serve_zygote(pid_t supervisor, int argc, char** argv);

}  // namespace wa::ipc
