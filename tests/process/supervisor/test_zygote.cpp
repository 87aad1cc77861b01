// The zygote (wa/ipc/zygote.hpp): connection workers forked from one
// loaded wa-connection, their exits reported to the supervisor, and what
// happens when the zygote itself dies.
#include <doctest/doctest.h>
#include <unistd.h>

#include "harness.hpp"
#include "wa/ipc/zygote.hpp"

using namespace harness;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WA_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WA_TEST_ASAN 1
#endif

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

// A supervisor whose worker starts wait for a loading zygote as long as its
// reply deadline: a worker started while the zygote was still loading is
// exec'd by design (start.zygote_wait_ms, 250 ms by default), and a
// sanitised build under load can take longer than that to load.
json patient_zygote() { return json{{"start", {{"zygote_wait_ms", wa::ipc::kZygoteReplyTimeoutMs}}}}; }

// alpha's and beta's running workers and the zygote that forked them.
struct Forked {
  pid_t a = 0, b = 0, z = 0;
};
Forked forked_workers(const Supervisor& sup) {
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  Forked f{sup.conn_pid("alpha"), sup.conn_pid("beta"), 0};
  f.z = proc_ppid(f.a);
  REQUIRE(f.z != sup.pid());
  return f;
}

// Both accounts running again, on new workers of one new zygote, after the
// old zygote `z` went; both old workers were reported killed.
void check_back_on_a_new_zygote(const Supervisor& sup, const Forked& old) {
  REQUIRE(sup.wait_running("alpha", old.a, 20s));
  REQUIRE(sup.wait_running("beta", old.b, 20s));
  CHECK(wait_until([&] { return !alive(old.a) && !alive(old.b) && !alive(old.z); }));
  const pid_t z2 = proc_ppid(sup.conn_pid("alpha"));
  CHECK(z2 != old.z);
  CHECK(z2 != sup.pid());
  CHECK(proc_ppid(sup.conn_pid("beta")) == z2);
  CHECK(contains(proc_cmdline(z2), "--zygote"));
  CHECK(sup.instance("alpha")["last_exit"]["signal"] == SIGKILL);
  CHECK(sup.instance("beta")["last_exit"]["signal"] == SIGKILL);
}

}  // namespace

TEST_CASE("zygote - every connection worker is forked by one zygote, shows its own command line, and its exit status reaches the supervisor") {
  Supervisor sup(patient_zygote());
  const Forked f = forked_workers(sup);
  const pid_t a = f.a, b = f.b, z = f.z;
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
  // An exit code: SIGTERM makes a worker close its session and exit (0; a
  // sanitizer build may add its own code), which the zygote reports as a
  // code, not a signal.
  const pid_t a2 = sup.conn_pid("alpha");
  CHECK(proc_ppid(a2) == z);
  REQUIRE(::kill(a2, SIGTERM) == 0);
  REQUIRE(sup.wait_running("alpha", a2));
  json last = sup.instance("alpha")["last_exit"];
  INFO(last.dump());
  CHECK(last["pid"] == a2);
  CHECK(last["exit_code"].is_number());
#ifndef WA_TEST_ASAN
  CHECK(last["exit_code"] == 0);
#endif
  CHECK(!last.contains("signal"));
  CHECK(sup.instance("beta")["restarts"] == 0);
  CHECK(sup.conn_pid("beta") == b);
  CHECK(count_zombie_children(z) == 0);
}

TEST_CASE("zygote - killing the zygote takes its workers with it and every account comes back on a new one") {
  Supervisor sup(patient_zygote());
  const Forked f = forked_workers(sup);
  REQUIRE(::kill(f.z, SIGKILL) == 0);
  check_back_on_a_new_zygote(sup, f);
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

TEST_CASE("zygote - a stopped zygote that leaves a worker's exit unreported is killed, and every account comes back") {
  Supervisor sup(patient_zygote());
  const Forked f = forked_workers(sup);
  // Stopped, the zygote cannot reap: the worker stays a zombie and its exit
  // is known only from its pidfd.
  REQUIRE(::kill(f.z, SIGSTOP) == 0);
  REQUIRE(::kill(f.a, SIGKILL) == 0);
  CHECK(wait_until([&] { return proc_state(f.a) == 'Z'; }));
  // Within the report deadline (5 s) the supervisor gives up on the zygote.
  check_back_on_a_new_zygote(sup, f);
  CHECK(sup.log_text().find("reported no exit for") != std::string::npos);
}
