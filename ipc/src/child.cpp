#include "wa/ipc/child.hpp"

#include "child_internal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

extern char** environ;

namespace wa::ipc {

std::string ExitStatus::describe() const {
  if (signal != 0) return "signal " + std::to_string(signal);
  return "exit code " + std::to_string(code);
}

// posix_spawn, not fork: glibc's posix_spawn runs the child on the
// parent's memory (CLONE_VM | CLONE_VFORK) until it execs, so nothing is
// copied. A fork of a supervisor holding thousands of instances copied its
// page tables for every worker and then took a copy-on-write fault on each
// page it touched until the child's exec: at a cold start of 5,000 accounts
// that was half of the supervisor's CPU (docs/BENCHMARKS.md, cold start).
// The exit is watched through a pidfd on the loop (readable once the child
// has exited) and reaped with waitpid: libuv never sees these children, so
// nothing else reaps them.
int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

namespace {

// File actions for the child: stdin from /dev/null, stdout and stderr
// ours, `inherit[i]` at 3 + i; everything else we hold is close-on-exec.
// An fd already at its target number is moved out of the way first: a
// dup2 onto itself would keep its close-on-exec flag.
struct Actions {
  posix_spawn_file_actions_t fa{};
  std::vector<int> temps;
  Actions() { posix_spawn_file_actions_init(&fa); }
  ~Actions() {
    posix_spawn_file_actions_destroy(&fa);
    for (int t : temps) ::close(t);
  }
  Actions(const Actions&) = delete;
  Actions& operator=(const Actions&) = delete;

  int build(std::span<const int> inherit) {
    if (int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0); rc != 0) return rc;
    const int first_free = 3 + static_cast<int>(inherit.size());
    for (size_t i = 0; i < inherit.size(); ++i) {
      int from = inherit[i];
      if (from < first_free) {
        from = ::fcntl(from, F_DUPFD_CLOEXEC, first_free);
        if (from < 0) return errno;
        temps.push_back(from);
      }
      if (int rc = posix_spawn_file_actions_adddup2(&fa, from, 3 + static_cast<int>(i)); rc != 0) return rc;
    }
    return 0;
  }
};

// Signals as a freshly exec'd program expects them: default actions,
// nothing blocked (the supervisor ignores SIGPIPE; its threads may block
// others).
struct Attr {
  posix_spawnattr_t a{};
  Attr() { posix_spawnattr_init(&a); }
  ~Attr() { posix_spawnattr_destroy(&a); }
  Attr(const Attr&) = delete;
  Attr& operator=(const Attr&) = delete;

  int build() {
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (int rc = posix_spawnattr_setsigdefault(&a, &all); rc != 0) return rc;
    if (int rc = posix_spawnattr_setsigmask(&a, &none); rc != 0) return rc;
    return posix_spawnattr_setflags(&a, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  }
};

void on_pidfd(uv_poll_t* p, int /*status*/, int /*events*/) {
  auto* h = static_cast<Child::Handle*>(p->data);
  int st = 0;
  pid_t r = ::waitpid(h->pid, &st, WNOHANG);
  if (r == 0) return;  // woken early: not exited yet
  // -1: reaped elsewhere (cannot happen: nothing else waits for our children)
  deliver_exit(h, r == h->pid ? exit_status_of(st) : ExitStatus{-1, 0});
}

}  // namespace

ExitStatus exit_status_of(int wait_status) {
  ExitStatus es;
  if (WIFSIGNALED(wait_status)) es.signal = WTERMSIG(wait_status);
  else if (WIFEXITED(wait_status)) es.code = WEXITSTATUS(wait_status);
  return es;
}

void deliver_exit(Child::Handle* h, ExitStatus es) {
  auto cb = std::move(h->on_exit);
  Child* owner = std::exchange(h->owner, nullptr);
  close_handle(h);
  if (owner != nullptr) {
    owner->mark_exited();
    // The callback may destroy the Child: touch nothing of it afterwards.
    if (cb) cb(es);
  }
}

void close_handle(Child::Handle* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), [](uv_handle_t* ph) {
    auto* hh = static_cast<Child::Handle*>(ph->data);
    if (hh->pidfd >= 0) ::close(hh->pidfd);
    delete hh;  // NOLINT: owned by the loop since spawn
  });
}

std::unique_ptr<Child> adopt_child(Child::Handle* h) {
  std::unique_ptr<Child> c(new Child());
  c->handle_ = h;
  h->owner = c.get();
  c->pid_ = h->pid;
  return c;
}

Result<std::unique_ptr<Child>> Child::spawn(uv_loop_t* loop, const std::vector<std::string>& argv,
                                            OnExit on_exit, std::span<const int> inherit) {
  if (argv.empty()) return fail("spawn_failed", "nothing to start");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  Actions actions;
  Attr attr;
  int rc = actions.build(inherit);
  if (rc == 0) rc = attr.build();
  if (rc != 0) return fail("spawn_failed", "cannot start " + argv[0] + ": " + std::strerror(rc));
  pid_t pid = 0;
  rc = ::posix_spawn(&pid, args[0], &actions.fa, &attr.a, args.data(), environ);
  if (rc != 0) return fail("spawn_failed", "cannot start " + argv[0] + ": " + std::strerror(rc));

  auto* h = new Handle{};  // NOLINT: owned by the loop, freed in the close callback
  h->pid = pid;
  h->on_exit = std::move(on_exit);
  h->pidfd = pidfd_open(pid);
  int uv = h->pidfd < 0 ? UV_EINVAL : uv_poll_init(loop, &h->poll, h->pidfd);
  if (uv != 0) {
    // Without a way to see its exit the child cannot be supervised.
    const std::string why = h->pidfd < 0 ? std::strerror(errno) : uv_strerror(uv);
    ::kill(pid, SIGKILL);
    (void)::waitpid(pid, nullptr, 0);
    if (h->pidfd >= 0) ::close(h->pidfd);
    delete h;  // NOLINT
    return fail("spawn_failed", "cannot watch " + argv[0] + ": " + why);
  }
  h->poll.data = h;
  uv_poll_start(&h->poll, UV_READABLE, on_pidfd);
  return adopt_child(h);
}

Child::~Child() {
  if (handle_ != nullptr) {
    handle_->owner = nullptr;
    handle_->on_exit = nullptr;
  }
}

bool Child::running() const { return !exited_; }

bool Child::reap_within(int timeout_ms) {
  if (!running()) return true;
  if (handle_ == nullptr || handle_->zygote_child) return false;
  pollfd p{handle_->pidfd, POLLIN, 0};
  int rc;
  do rc = ::poll(&p, 1, timeout_ms);
  while (rc < 0 && errno == EINTR);
  if (rc <= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
  // May destroy this Child: nothing of it is touched after.
  deliver_exit(handle_, exit_status_of(st));
  return true;
}

void Child::kill(int sig) const {
  if (!running()) return;
  // Through the pidfd: a zygote's worker is reaped by the zygote, and its
  // pid may be reused before we hear of the exit.
  if (handle_ != nullptr && handle_->pidfd >= 0 &&
      ::syscall(SYS_pidfd_send_signal, handle_->pidfd, sig, nullptr, 0) == 0)
    return;
  if (handle_ == nullptr || !handle_->zygote_child) ::kill(pid_, sig);
}

bool Child::stopped() const {
  if (!running()) return false;
  char path[40];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid_));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // gone: its exit is on the way
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) S ...": comm may hold anything, ')' included - the state is
  // after the last one.
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] != ' ') return false;
  const char state = close_paren[2];
  if (state != 'T' && state != 't') return false;
  // The pid names our child only while its pidfd has not seen it exit.
  if (handle_ != nullptr && handle_->pidfd >= 0) {
    pollfd p{handle_->pidfd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) return false;
  }
  return true;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

}  // namespace wa::ipc
