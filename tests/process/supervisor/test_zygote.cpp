// The zygote (wa/ipc/zygote.hpp): connection workers forked from one
// loaded wa-connection, their exits reported to the supervisor, and what
// happens when the zygote itself dies.
#include <doctest/doctest.h>
#include <unistd.h>

#include "harness.hpp"

using namespace harness;

namespace {

std::string exe_of(pid_t pid) {
  char buf[4096];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string fd_target(pid_t pid, int fd) {
  char buf[4096];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("zygote - every connection worker is forked by one zygote, shows its own command line, and its exit status reaches the supervisor") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  const pid_t a = sup.conn_pid("alpha"), b = sup.conn_pid("beta");
  const pid_t z = proc_ppid(a);
  REQUIRE(z != sup.pid());
  CHECK(proc_ppid(b) == z);
  CHECK(proc_ppid(z) == sup.pid());
  CHECK(contains(proc_cmdline(z), "--zygote " + std::to_string(sup.pid())));
  CHECK(exe_of(z) == exe_of(a));
  CHECK(contains(exe_of(a), "wa-connection"));
  // What `ps` shows is the worker's own argv, as if exec'd with it.
  CHECK(contains(proc_cmdline(a), "--profile alpha"));
  CHECK(contains(proc_cmdline(b), "--profile beta"));
  // It got its heartbeat page (at fd 3, mapped, then closed) and no fd of
  // the zygote's: neither its socket to the supervisor nor its signalfd.
  CHECK(contains(file_text("/proc/" + std::to_string(a) + "/maps"), "memfd:wa-heartbeat"));
  const std::string zsock = fd_target(z, 3);
  CHECK(contains(zsock, "socket:"));
  for (int fd = 0; fd < 256; ++fd) {
    const std::string t = fd_target(a, fd);
    INFO("fd " << fd << " -> " << t);
    CHECK(t != zsock);
    CHECK(!contains(t, "signalfd"));
  }

  // A signal: reported by the zygote, which reaped it.
  REQUIRE(::kill(a, SIGKILL) == 0);
  REQUIRE(sup.wait_running("alpha", a));
  CHECK(sup.instance("alpha")["last_exit"]["signal"] == SIGKILL);
  CHECK(!exists(a));
  // An exit code: SIGTERM makes a worker close its session and exit 0.
  const pid_t a2 = sup.conn_pid("alpha");
  CHECK(proc_ppid(a2) == z);
  REQUIRE(::kill(a2, SIGTERM) == 0);
  REQUIRE(sup.wait_running("alpha", a2));
  json last = sup.instance("alpha")["last_exit"];
  CHECK(last["exit_code"] == 0);
  CHECK(!last.contains("signal"));
  CHECK(sup.instance("beta")["restarts"] == 0);
  CHECK(sup.conn_pid("beta") == b);
  CHECK(count_zombie_children(z) == 0);
}

TEST_CASE("zygote - killing the zygote takes its workers with it and every account comes back on a new one") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  const pid_t a = sup.conn_pid("alpha"), b = sup.conn_pid("beta");
  const pid_t z = proc_ppid(a);
  REQUIRE(z != sup.pid());
  REQUIRE(::kill(z, SIGKILL) == 0);
  REQUIRE(sup.wait_running("alpha", a));
  REQUIRE(sup.wait_running("beta", b));
  CHECK(wait_until([&] { return !alive(a) && !alive(b); }));
  const pid_t a2 = sup.conn_pid("alpha"), b2 = sup.conn_pid("beta");
  const pid_t z2 = proc_ppid(a2);
  CHECK(z2 != z);
  CHECK(z2 != sup.pid());
  CHECK(proc_ppid(b2) == z2);
  CHECK(contains(proc_cmdline(z2), "--zygote"));
  CHECK(sup.instance("alpha")["last_exit"]["signal"] == SIGKILL);
  CHECK(sup.instance("beta")["last_exit"]["signal"] == SIGKILL);
  CHECK(count_zombie_children(sup.pid()) == 0);
}

TEST_CASE("zygote - with start.zygote false each connection worker is exec'd by the supervisor") {
  Supervisor sup(json{{"start", {{"zygote", false}}}});
  REQUIRE(sup.wait_running("alpha"));
  const pid_t a = sup.conn_pid("alpha");
  CHECK(proc_ppid(a) == sup.pid());
  for (pid_t k : children_of(sup.pid())) CHECK(!contains(proc_cmdline(k), "--zygote"));
  REQUIRE(::kill(a, SIGKILL) == 0);
  REQUIRE(sup.wait_running("alpha", a));
  CHECK(sup.instance("alpha")["last_exit"]["signal"] == SIGKILL);
}
