// Child processes as the supervisor starts them: exit codes and signals
// reach the loop once, inherited fds land at 3.., stdin is /dev/null and
// the child's signals are the defaults whatever the parent ignores.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <optional>
#include <string>

#include "wa/ipc/child.hpp"
#include "support.hpp"
#include "wa/ipc/loop_bridge.hpp"

using test_support::Loop;
using wa::ipc::Child;
using wa::ipc::ExitStatus;

namespace {

// Runs `script` under /bin/sh; the loop runs until the exit callback.
ExitStatus run_sh(const std::string& script, std::span<const int> inherit = {}) {
  Loop l;
  std::optional<ExitStatus> got;
  int calls = 0;
  auto c = Child::spawn(&l.loop, {"/bin/sh", "-c", script}, [&](ExitStatus st) {
    got = st;
    ++calls;
  }, inherit);
  REQUIRE(c.has_value());
  CHECK((*c)->pid() > 0);
  CHECK((*c)->running());
  uv_run(&l.loop, UV_RUN_DEFAULT);  // ends when the pidfd's poll is closed after the exit
  CHECK(calls == 1);
  CHECK_FALSE((*c)->running());
  REQUIRE(got.has_value());
  return *got;
}

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

TEST_CASE("child: exit code and signal reach the loop once") {
  ExitStatus a = run_sh("exit 3");
  CHECK(a.code == 3);
  CHECK(a.signal == 0);
  CHECK(run_sh("exit 0").clean());
  ExitStatus k = run_sh("kill -KILL $$");
  CHECK(k.signal == SIGKILL);
  CHECK(k.describe() == "signal 9");
}

TEST_CASE("child: signals the parent ignores are default in the child, none blocked") {
  struct sigaction old {};
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGPIPE, &ign, &old) == 0);
  sigset_t block, prev;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &prev) == 0);
  ExitStatus pipe = run_sh("kill -PIPE $$; exit 0");
  ExitStatus term = run_sh("kill -TERM $$; exit 0");
  ::pthread_sigmask(SIG_SETMASK, &prev, nullptr);
  ::sigaction(SIGPIPE, &old, nullptr);
  CHECK(pipe.signal == SIGPIPE);
  CHECK(term.signal == SIGTERM);
}

TEST_CASE("child: inherited fds land at 3 and up, stdin is /dev/null, nothing else leaks") {
  int p[2], q[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(q, O_CLOEXEC) == 0);
  const int fds[2] = {p[1], q[1]};
  // fd 3 -> p, fd 4 -> q; stdin reads nothing; fd 5 (and the pipes' read ends) are closed.
  ExitStatus st = run_sh("echo one >&3; echo two >&4; read x; echo \"[$x]\" >&3; "
                         "if (: >&5) 2>/dev/null; then echo leak >&3; fi",
                         std::span<const int>(fds, 2));
  CHECK(st.clean());
  ::close(p[1]);
  ::close(q[1]);
  CHECK(read_all(p[0]) == "one\n[]\n");
  CHECK(read_all(q[0]) == "two\n");
  ::close(p[0]);
  ::close(q[0]);
}

TEST_CASE("child: an fd already at its target number is passed, not closed by close-on-exec") {
  // Done in a forked copy of this process, where fd 3 can be made the
  // close-on-exec pipe to pass without disturbing whatever holds 3 here.
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  pid_t helper = ::fork();
  REQUIRE(helper >= 0);
  if (helper == 0) {
    if (::dup3(p[1], 3, O_CLOEXEC) != 3) ::_exit(10);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int code = 11;
    const int fd = 3;
    auto c = Child::spawn(&loop, {"/bin/sh", "-c", "echo here >&3"},
                          [&](ExitStatus st) { code = st.clean() ? 0 : 12; }, std::span<const int>(&fd, 1));
    if (!c) ::_exit(13);
    uv_run(&loop, UV_RUN_DEFAULT);
    ::_exit(code);
  }
  ::close(p[1]);
  int st = 0;
  REQUIRE(::waitpid(helper, &st, 0) == helper);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(read_all(p[0]) == "here\n");
  ::close(p[0]);
}

TEST_CASE("child: a program that cannot be started is an error, not a child") {
  Loop l;
  bool called = false;
  auto c = Child::spawn(&l.loop, {"/nonexistent/wa-connection"}, [&](ExitStatus) { called = true; });
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().code == "spawn_failed");
  uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK_FALSE(called);
}

TEST_CASE("child: a Child destroyed before the exit still has its process reaped") {
  Loop l;
  bool called = false;
  pid_t pid = 0;
  {
    auto c = Child::spawn(&l.loop, {"/bin/sh", "-c", "exit 0"}, [&](ExitStatus) { called = true; });
    REQUIRE(c.has_value());
    pid = (*c)->pid();
  }
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK_FALSE(called);
  CHECK(::kill(pid, 0) != 0);  // reaped: no zombie left
}

TEST_CASE("child: stopped() is true while the child is stopped, false while it runs and once it exited") {
  Loop l;
  std::optional<ExitStatus> got;
  // A command name with ") T " in it (the kernel names a process after the
  // file it ran): the state is read after the LAST parenthesis.
  char dir[] = "/tmp/wa-child-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string tricky = std::string(dir) + "/x) T (y";
  REQUIRE(::symlink("/bin/sleep", tricky.c_str()) == 0);
  auto c = Child::spawn(&l.loop, {tricky, "30"}, [&](ExitStatus st) { got = st; });
  ::unlink(tricky.c_str());
  ::rmdir(dir);
  REQUIRE(c.has_value());
  auto wait_until = [](auto cond) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!cond() && std::chrono::steady_clock::now() < deadline) ::usleep(2000);
    return cond();
  };
  CHECK_FALSE((*c)->stopped());
  (*c)->kill(SIGSTOP);
  CHECK(wait_until([&] { return (*c)->stopped(); }));
  (*c)->kill(SIGCONT);
  CHECK(wait_until([&] { return !(*c)->stopped(); }));
  (*c)->kill(SIGSTOP);
  REQUIRE(wait_until([&] { return (*c)->stopped(); }));
  (*c)->kill(SIGKILL);  // a stopped process dies of SIGKILL too
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(got.has_value());
  CHECK(got->signal == SIGKILL);
  CHECK_FALSE((*c)->stopped());
}
