#include "wa/ipc/zygote.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <utility>

#include "child_internal.hpp"
#include "wa/log.hpp"

namespace wa::ipc {

namespace {

// One request carries the worker's argv; a reply or report is a few bytes.
constexpr size_t kMaxMessage = 64 * 1024;
// The fds one worker inherits (the heartbeat page today).
constexpr size_t kMaxFds = 8;

enum : char { kReady = 'R', kSpawn = 'S', kForked = 'P', kRefused = 'E', kExited = 'X' };

// sendmsg of one datagram with up to kMaxFds fds; EINTR retried.
bool send_packet(int fd, std::string_view body, std::span<const int> fds) {
  iovec iov{const_cast<char*>(body.data()), body.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxFds)]{};
  if (!fds.empty()) {
    mh.msg_control = ctl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n) == body.size();
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, kZygoteReplyTimeoutMs) > 0) continue;
    }
    return false;
  }
}

// recvmsg of one datagram; received fds are close-on-exec and appended to
// `fds`. 0 = the other end closed, -1 = error (errno), else the size.
ssize_t recv_packet(int fd, std::string& body, std::vector<int>& fds) {
  body.resize(kMaxMessage);
  iovec iov{body.data(), body.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxFds)]{};
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t n;
  do n = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.push_back(f);
    }
  }
  if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    // A datagram that did not fit is refused whole, never half read.
    for (int f : fds) ::close(f);
    fds.clear();
    errno = EMSGSIZE;
    return -1;
  }
  body.resize(static_cast<size_t>(n));
  return n;
}

void close_all(std::vector<int>& fds) {
  for (int f : fds) ::close(f);
  fds.clear();
}

// "X <pid> <status>" / "P <pid>": the numbers after the tag.
bool parse_numbers(std::string_view s, long& a, long& b) {
  a = b = 0;
  std::string t(s);
  char* end = nullptr;
  errno = 0;
  a = std::strtol(t.c_str(), &end, 10);
  if (errno != 0 || end == t.c_str()) return false;
  if (*end == ' ') b = std::strtol(end + 1, &end, 10);
  return errno == 0 && *end == '\0';
}

}  // namespace

// ---------------------------------------------------------------- supervisor

// One zygote process: its socket, its workers not yet reported.
struct Zygote::State {
  std::unique_ptr<Child> proc;
  int fd = -1;
  uv_poll_t* poll = nullptr;     // on fd; closed with the zygote
  uv_timer_t* flush = nullptr;   // runs the exit callbacks found while spawning
  uv_timer_t* watch = nullptr;   // a worker dead, its report not in yet: the zygote's deadline
  uv_timer_t* start_deadline = nullptr;  // started, no "R" yet: it has until this fires
  bool alive = false;
  bool ready = false;  // its "R" came: it forks
  // Called (from the loop) when it did not get ready: exited before its "R"
  // or silent past the start deadline. Set by the Zygote that owns it.
  std::function<void()> never_ready;
  uint64_t reports = 0;           // exit reports read, ever: the zygote's progress
  uint64_t reports_at_watch = 0;  // ... when the deadline was set
  std::unordered_map<pid_t, Child::Handle*> children;  // forked, exit not yet reported
  std::vector<std::pair<Child::Handle*, ExitStatus>> due;

  ~State() { close_io(); }

  void close_io() {
    if (poll != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) {
        delete reinterpret_cast<uv_poll_t*>(h);  // NOLINT: ours since start
      });
      poll = nullptr;
    }
    for (uv_timer_t** t : {&flush, &watch, &start_deadline}) {
      if (*t == nullptr) continue;
      uv_close(reinterpret_cast<uv_handle_t*>(*t), [](uv_handle_t* h) {
        delete reinterpret_cast<uv_timer_t*>(h);  // NOLINT
      });
      *t = nullptr;
    }
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }

  // The exit of `pid` as the zygote reported it: out of the table now (its
  // pid may come back in the next reply), the callback from the loop.
  void reported(pid_t pid, int wait_status) {
    ++reports;
    auto it = children.find(pid);
    if (it == children.end()) return;
    Child::Handle* h = it->second;
    children.erase(it);
    uv_poll_stop(&h->poll);
    due.emplace_back(h, exit_status_of(wait_status));
    if (flush != nullptr) uv_timer_start(flush, [](uv_timer_t* t) { static_cast<State*>(t->data)->run_due(); }, 0, 0);
  }

  // This record is going away: the workers still listed are finished by
  // their own pidfds, as if their zygote had died.
  void detach_children() {
    for (auto& [pid, h] : children) h->zygote_state = nullptr;
    children.clear();
  }

  void run_due() {
    auto list = std::exchange(due, {});
    for (auto& [h, es] : list) deliver_exit(h, es);
  }

  // Reads whatever the zygote sent; only reports come unasked.
  void on_readable() {
    drain();
    run_due();
  }

  // The reports waiting on the socket, into `due` (run from the loop).
  void drain() {
    std::string body;
    std::vector<int> fds;
    for (;;) {
      ssize_t n = recv_packet(fd, body, fds);
      close_all(fds);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        // Closed or broken: the zygote is gone or going; its exit (the
        // pidfd) finishes the rest.
        if (poll != nullptr) uv_poll_stop(poll);
        break;
      }
      long pid = 0, status = 0;
      if (body[0] == kExited && parse_numbers(std::string_view(body).substr(1), pid, status)) {
        reported(static_cast<pid_t>(pid), static_cast<int>(status));
      } else if (body[0] == kReady && !ready) {
        ready = true;
        if (start_deadline != nullptr) uv_timer_stop(start_deadline);
        WA_INFO("zygote started, pid %d", proc ? proc->pid() : 0);
      } else {
        WA_WARN("zygote: unexpected message '%c' (%zd bytes)", body[0], n);
      }
    }
  }

  // A worker whose pidfd said it is dead and whose exit is not reported
  // yet, or 0.
  pid_t dead_unreported() const {
    for (const auto& [pid, h] : children)
      if (h->dead) return pid;
    return 0;
  }

  // A worker of ours is dead (its pidfd said so) and the zygote has not
  // reported it. A zygote that reports nothing for the whole deadline while
  // such an exit is owed is stuck (stopped, wedged) and every exit would
  // wait on it: it is killed, and its exit then reports its workers. One
  // that reports, however slowly, is not: a zygote reaping thousands of
  // exits at once (a mass stop) owes the last of them for long, and killing
  // it would turn every clean stop still in flight into a SIGKILL.
  void expect_report() {
    if (watch == nullptr || uv_is_active(reinterpret_cast<uv_handle_t*>(watch)) != 0) return;
    reports_at_watch = reports;
    uv_timer_start(watch, [](uv_timer_t* t) {
      auto* st = static_cast<State*>(t->data);
      // What it sent while this loop was busy elsewhere counts: the timer
      // runs before the poll in a turn, and a long turn is ours, not its.
      // (Drained only: the exits run from the loop, where a callback that
      // spawns may replace this State.)
      st->drain();
      const pid_t owed = st->dead_unreported();
      if (owed == 0 || st->proc == nullptr) return;
      if (st->reports != st->reports_at_watch) {
        st->expect_report();  // slow, not stuck: a new deadline
        return;
      }
      WA_WARN("the zygote reported no exit for %d ms, worker %d's among them: killing it", kZygoteReplyTimeoutMs, owed);
      st->proc->kill(SIGKILL);
    }, kZygoteReplyTimeoutMs, 0);
  }

  // The zygote process exited. Its workers die with it (PR_SET_PDEATHSIG):
  // a worker whose pidfd already said so is reported now, the others when
  // theirs does.
  void on_exit() {
    // Not alive first: an exit callback run from here may spawn, and must
    // find this zygote gone (the caller holds a reference to this State).
    alive = false;
    if (fd >= 0) on_readable();  // reports it sent before dying carry real statuses (and its "R")
    if (!ready && never_ready) std::exchange(never_ready, nullptr)();
    close_io();
    for (auto it = children.begin(); it != children.end();) {
      Child::Handle* h = it->second;
      if (h->dead) {
        it = children.erase(it);
        deliver_exit(h, ExitStatus{0, SIGKILL});
      } else {
        ++it;
      }
    }
  }
};

namespace {

// A zygote's worker exited (its pidfd is readable). While the zygote lives
// the status comes in its report; without it, the worker died with it.
void on_zygote_child_pidfd(uv_poll_t* p, int /*status*/, int /*events*/) {
  auto* h = static_cast<Child::Handle*>(p->data);
  uv_poll_stop(&h->poll);
  h->dead = true;
  Zygote::State* st = h->zygote_state;
  if (st != nullptr && st->alive) {
    st->expect_report();  // the report follows, within the deadline
    return;
  }
  if (st != nullptr) st->children.erase(h->pid);
  deliver_exit(h, ExitStatus{0, SIGKILL});
}

}  // namespace

Zygote::Zygote(uv_loop_t* loop, std::vector<std::string> argv, int ready_wait_ms)
    : loop_(loop), argv_(std::move(argv)), ready_wait_ms_(std::clamp(ready_wait_ms, 0, kZygoteReplyTimeoutMs)) {}

Zygote::~Zygote() {
  if (state_ == nullptr) return;
  state_->never_ready = nullptr;  // an exit we cause now is not a failed start
  state_->detach_children();
  state_->close_io();  // EOF: the zygote exits
  // Reaped here: this runs as the supervisor shuts down, and its loop will
  // not see the exit. The callback may drop the Child: hold the State.
  const auto keep = state_;
  keep->alive = false;  // an exit we asked for: nothing to warn about
  if (keep->proc && !keep->proc->reap_within(kZygoteReplyTimeoutMs) && keep->proc) {
    keep->proc->kill(SIGKILL);
    if (keep->proc) (void)keep->proc->reap_within(kZygoteReplyTimeoutMs);
  }
  state_.reset();
}

// Drops a zygote that is dead or not answering; its workers (if any) are
// finished by their pidfds.
void Zygote::abandon() {
  if (state_ == nullptr) return;
  state_->never_ready = nullptr;
  if (state_->alive && state_->proc) state_->proc->kill(SIGKILL);
  state_->detach_children();
  state_->run_due();
  state_->close_io();
  state_.reset();  // its process, killed, is reaped by its Child handle
}

// Starts a zygote without waiting for it: its "R" is read on the loop (or
// by the next spawn, briefly). Waiting here blocked the supervisor's loop
// for as long as the zygote took to load, up to the whole deadline.
Status Zygote::start() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return fail("spawn_failed", std::string("zygote socket: ") + std::strerror(errno));
  auto st = std::make_shared<State>();
  st->fd = sv[0];
  std::weak_ptr<State> weak = st;
  auto proc = Child::spawn(
      loop_, argv_,
      [weak](ExitStatus es) {
        if (auto s = weak.lock()) {
          s->proc.reset();
          if (s->alive) WA_WARN("the zygote exited (%s): its workers go with it", es.describe().c_str());
          s->on_exit();
        }
      },
      std::span<const int>(&sv[1], 1));
  ::close(sv[1]);
  if (!proc) {
    failed_ = true;
    return fail(proc.error().code, proc.error().message);
  }
  st->proc = std::move(*proc);
  st->alive = true;
  st->never_ready = [this] { on_never_ready(); };
  state_ = st;
  (void)::fcntl(st->fd, F_SETFL, ::fcntl(st->fd, F_GETFL) | O_NONBLOCK);
  st->poll = new uv_poll_t{};            // NOLINT: freed by its close callback
  st->flush = new uv_timer_t{};          // NOLINT: freed by its close callback
  st->watch = new uv_timer_t{};          // NOLINT: freed by its close callback
  st->start_deadline = new uv_timer_t{};  // NOLINT: freed by its close callback
  uv_poll_init(loop_, st->poll, st->fd);
  uv_timer_init(loop_, st->flush);
  uv_timer_init(loop_, st->watch);
  uv_timer_init(loop_, st->start_deadline);
  st->poll->data = st.get();
  st->flush->data = st.get();
  st->watch->data = st.get();
  st->start_deadline->data = st.get();
  uv_poll_start(st->poll, UV_READABLE, [](uv_poll_t* h, int, int) { static_cast<State*>(h->data)->on_readable(); });
  uv_timer_start(st->start_deadline, [](uv_timer_t* t) {
    auto* z = static_cast<State*>(t->data);
    z->drain();  // an "R" this loop has not read yet counts
    if (!z->ready && z->never_ready) std::exchange(z->never_ready, nullptr)();  // may free *z
  }, kZygoteReplyTimeoutMs, 0);
  return {};
}

// It exited before its "R", or stayed silent for the whole deadline: a
// zygote that cannot start would fail again, so from now on every worker
// is exec'd, as before there was a zygote.
void Zygote::on_never_ready() {
  WA_WARN("the zygote did not start within %d ms: connection workers are exec'd instead", kZygoteReplyTimeoutMs);
  failed_ = true;
  abandon();
}

// A spawn that finds the zygote still starting waits this long for its
// "R", then execs that one worker rather than hold the loop.
bool Zygote::await_ready(int timeout_ms) {
  State& st = *state_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!st.ready && st.fd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{st.fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    if ((p.revents & (POLLHUP | POLLERR)) != 0 && (p.revents & POLLIN) == 0) break;
    st.drain();  // its "R", and any exit reports on the way
    if ((p.revents & POLLHUP) != 0) break;
  }
  return st.ready;
}

Result<std::unique_ptr<Child>> Zygote::spawn(const std::vector<std::string>& argv, Child::OnExit on_exit,
                                             std::span<const int> inherit) {
  if (argv.empty()) return fail("spawn_failed", "nothing to start");
  if (inherit.size() > kMaxFds) return fail("spawn_failed", "too many fds for a worker");
  if (failed_) return Child::spawn(loop_, argv, std::move(on_exit), inherit);
  // A zygote that died since we last heard from it (its exit not yet seen
  // on the loop) closes its socket at once: then once more with a new one.
  bool gone = false;
  auto r = spawn_once(argv, on_exit, inherit, gone);
  if (!r && gone && !failed_) r = spawn_once(argv, on_exit, inherit, gone);
  if (!r && failed_) {
    // Workers can always be exec'd, as before there was a zygote.
    WA_WARN("%s: connection workers are exec'd instead", r.error().message.c_str());
    return Child::spawn(loop_, argv, std::move(on_exit), inherit);
  }
  return r;
}

Result<std::unique_ptr<Child>> Zygote::spawn_once(const std::vector<std::string>& argv, const Child::OnExit& on_exit,
                                                  std::span<const int> inherit, bool& gone) {
  gone = false;
  if (state_ == nullptr || !state_->alive || state_->fd < 0) {
    abandon();
    WA_TRY(start());
  }
  if (!state_->ready && !await_ready(ready_wait_ms_)) {
    WA_DEBUG("the zygote is not ready yet: this worker is exec'd");
    return Child::spawn(loop_, argv, on_exit, inherit);
  }
  State& st = *state_;
  std::string req(1, kSpawn);
  for (const auto& a : argv) {
    if (a.find('\0') != std::string::npos) return fail("spawn_failed", "an argument holds a NUL byte");
    req += a;
    req += '\0';
  }
  if (req.size() > kMaxMessage) return fail("spawn_failed", "arguments too long for the zygote");
  if (!send_packet(st.fd, req, inherit)) {
    const std::string why = std::strerror(errno);
    gone = errno == EPIPE || errno == ECONNRESET;
    abandon();
    return fail("spawn_failed", "zygote request: " + why);
  }
  // Its reply; reports that come first are settled on the way.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kZygoteReplyTimeoutMs);
  std::string body;
  std::vector<int> fds;
  long pid = 0, status = 0;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      abandon();
      return fail("spawn_failed", "the zygote did not answer");
    }
    pollfd p{st.fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;  // the deadline check above decides
    close_all(fds);
    ssize_t n = recv_packet(st.fd, body, fds);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      gone = true;
      abandon();
      return fail("spawn_failed", "the zygote closed its socket");
    }
    const std::string_view rest = std::string_view(body).substr(1);
    if (body[0] == kExited && parse_numbers(rest, pid, status)) {
      st.reported(static_cast<pid_t>(pid), static_cast<int>(status));
      continue;
    }
    if (body[0] == kRefused) {
      close_all(fds);
      return fail("spawn_failed", "cannot start " + argv[0] + ": " + std::string(rest));
    }
    if (body[0] == kForked && parse_numbers(rest, pid, status) && fds.size() == 1) break;
    close_all(fds);
    abandon();
    return fail("spawn_failed", "the zygote answered out of turn");
  }
  auto* h = new Child::Handle{};  // NOLINT: owned by the loop, freed in the close callback
  h->pid = static_cast<pid_t>(pid);
  h->pidfd = fds.front();
  h->on_exit = on_exit;
  h->zygote_child = true;
  h->zygote_state = &st;
  uv_poll_init(loop_, &h->poll, h->pidfd);
  h->poll.data = h;
  uv_poll_start(&h->poll, UV_READABLE, on_zygote_child_pidfd);
  st.children[h->pid] = h;
  return adopt_child(h);
}

// ---------------------------------------------------------------- zygote

namespace {

// The process's command line (/proc/PID/cmdline, what `ps` shows): the
// block the kernel laid argv out in, which we may write over.
struct CommandLine {
  char* begin = nullptr;
  size_t room = 0;

  static CommandLine of(int argc, char** argv) {
    if (argc < 1) return {};
    char* end = argv[0] + std::strlen(argv[0]) + 1;
    for (int i = 1; i < argc; ++i) {
      if (argv[i] != end) return {};  // not one contiguous block: leave it alone
      end = argv[i] + std::strlen(argv[i]) + 1;
    }
    return {argv[0], static_cast<size_t>(end - argv[0])};
  }

  // As much of `args` as fits, NUL-separated, the rest NULs.
  void set(const std::vector<std::string>& args) const {
    if (begin == nullptr) return;
    size_t at = 0;
    for (const auto& a : args) {
      if (at + a.size() + 1 > room) break;
      std::memcpy(begin + at, a.data(), a.size());
      at += a.size();
      begin[at++] = '\0';
    }
    std::memset(begin + at, 0, room - at);
  }
};

// In the forked worker: its fds at 3, 4, ... and nothing else of ours.
bool place_fds(std::vector<int>& fds) {
  const int n = static_cast<int>(fds.size());
  // Out of the way first: a received fd may sit on a target number.
  for (int& f : fds) {
    int high = ::fcntl(f, F_DUPFD_CLOEXEC, 3 + n + 16);
    if (high < 0) return false;
    ::close(f);
    f = high;
  }
  for (int i = 0; i < n; ++i)
    if (::dup2(fds[static_cast<size_t>(i)], 3 + i) < 0) return false;  // dup2 clears close-on-exec
  return ::close_range(static_cast<unsigned>(3 + n), ~0U, 0) == 0;
}

void report(int fd, char tag, std::string_view text, std::span<const int> fds = {}) {
  std::string m(1, tag);
  m += text;
  (void)send_packet(fd, m, fds);
}

}  // namespace

std::optional<ForkedWorker> serve_zygote(pid_t supervisor, int argc, char** argv) {
  const int fd = kZygoteFd;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != supervisor) return std::nullopt;
  (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &old);
  const int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return std::nullopt;
  const pid_t self = ::getpid();
  // The supervisor leaves room after our arguments for a worker's longer
  // ones; until then only ours show.
  const CommandLine title = CommandLine::of(argc, argv);
  title.set({argc > 0 ? argv[0] : "wa-connection", "--zygote", std::to_string(supervisor)});
  report(fd, kReady, "");
  std::string body;
  std::vector<int> fds;
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if ((p[1].revents & POLLIN) != 0) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == sizeof si) {
      }
      int ws = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &ws, WNOHANG)) > 0)
        report(fd, kExited, std::to_string(pid) + " " + std::to_string(ws));
    }
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    close_all(fds);
    ssize_t n = recv_packet(fd, body, fds);
    if (n == 0) return std::nullopt;  // the supervisor is gone
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EMSGSIZE) continue;
      return std::nullopt;
    }
    if (body[0] != kSpawn || body.back() != '\0') {
      report(fd, kRefused, "malformed request");
      continue;
    }
    std::vector<std::string> args;
    for (size_t at = 1; at < body.size();) {
      const size_t z = body.find('\0', at);
      args.emplace_back(body, at, z - at);
      at = z + 1;
    }
    if (args.empty()) {
      report(fd, kRefused, "no arguments");
      continue;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fd);
      ::close(sfd);
      ::sigprocmask(SIG_SETMASK, &old, nullptr);
      if (!place_fds(fds)) ::_exit(71);  // EX_OSERR
      title.set(args);
      return ForkedWorker{std::move(args), self};
    }
    if (pid < 0) {
      report(fd, kRefused, std::string("fork: ") + std::strerror(errno));
      continue;
    }
    close_all(fds);
    const int pidfd = pidfd_open(pid);
    if (pidfd < 0) {
      // Unwatchable, so unsupervisable: it goes, and says so in its report.
      ::kill(pid, SIGKILL);
      report(fd, kRefused, std::string("pidfd: ") + std::strerror(errno));
      continue;
    }
    report(fd, kForked, std::to_string(pid), std::span<const int>(&pidfd, 1));
    ::close(pidfd);
  }
}

}  // namespace wa::ipc
