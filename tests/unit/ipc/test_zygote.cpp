// The zygote's report deadline (wa/ipc/zygote.hpp): the supervisor kills a
// zygote that owes a worker's exit and reports nothing for the deadline,
// and only such a one. This binary is its own zygote (test_main.cpp).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "wa/contract/settings.hpp"
#include "wa/ipc/zygote.hpp"

using namespace std::chrono_literals;
using test_support::Loop;
using test_support::wait_until;
using wa::ipc::ExitStatus;

namespace {

// How long a spawn waits for a loading zygote (the supervisor's default
// start.zygote_wait_ms).
constexpr int kReadyWaitMs = wa::contract::StartPolicy{}.zygote_wait_ms;

// /proc/PID/stat's state and parent; '\0' once the pid is gone.
struct Stat {
  char state = '\0';
  pid_t ppid = 0;
};
Stat stat_of(pid_t pid) {
  // Through getline, not istreambuf_iterator: the read of a process reaped
  // meanwhile fails (ESRCH), and libstdc++'s filebuf throws that to an
  // iterator but only sets badbit through an istream operation.
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  if (!std::getline(f, all)) return {};
  const auto close = all.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(all.substr(close + 1));
  Stat s;
  rest >> s.state >> s.ppid;
  return s;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  REQUIRE(n > 0);
  return std::string(buf, static_cast<size_t>(n));
}

// Runs the loop's turns (never blocking) until `cond`.
template <class F>
bool turn_until(uv_loop_t* loop, F cond, std::chrono::milliseconds within = 10s) {
  return wait_until([&] {
    uv_run(loop, UV_RUN_NOWAIT);
    return cond();
  }, within);
}

constexpr auto kDeadline = std::chrono::milliseconds(wa::ipc::kZygoteReplyTimeoutMs);

// A zygote and the exits of the workers it forks. Its spawns wait for it as
// long as its reply deadline: these tests need forked workers, and a
// sanitised build under load can take longer than the default wait to load
// (a worker started before the zygote is ready is exec'd by design).
struct Forking {
  Loop l;
  wa::ipc::Zygote zygote{&l.loop, {self_exe(), "--zygote", std::to_string(::getpid())}, wa::ipc::kZygoteReplyTimeoutMs};
  std::vector<std::optional<ExitStatus>> exits;
  std::vector<std::unique_ptr<wa::ipc::Child>> workers;

  pid_t spawn() {
    const size_t i = exits.size();
    exits.emplace_back();
    auto c = zygote.spawn({"worker"}, [this, i](ExitStatus st) { exits[i] = st; });
    REQUIRE(c.has_value());
    workers.push_back(std::move(*c));
    return workers.back()->pid();
  }
  // The zygote is stopped, or running again.
  static void stop(pid_t z) {
    REQUIRE(::kill(z, SIGSTOP) == 0);
    REQUIRE(wait_until([&] { return stat_of(z).state == 'T'; }));
  }
  // `w` dead and not reaped: its pidfd says so, its zygote has not reported it.
  static void kill_unreaped(pid_t w) {
    REQUIRE(::kill(w, SIGTERM) == 0);
    REQUIRE(wait_until([&] { return stat_of(w).state == 'Z'; }));
  }
};

}  // namespace

TEST_CASE("zygote: an exit reported while the loop was busy elsewhere past the deadline does not get the zygote killed") {
  Forking f;
  const pid_t w = f.spawn();
  const pid_t z = stat_of(w).ppid;
  REQUIRE(z != ::getpid());
  Forking::stop(z);
  Forking::kill_unreaped(w);
  const auto armed = std::chrono::steady_clock::now();
  uv_run(&f.l.loop, UV_RUN_NOWAIT);  // its pidfd: the deadline starts
  CHECK_FALSE(f.exits[0].has_value());
  // The zygote reaps it and reports while this loop is away for longer
  // than the deadline (one long turn of the supervisor's).
  REQUIRE(::kill(z, SIGCONT) == 0);
  REQUIRE(wait_until([&] { return stat_of(w).state == '\0'; }));  // reaped, so reported
  std::this_thread::sleep_until(armed + kDeadline + 300ms);        // the long turn itself
  // The next turn runs the deadline's timer before it polls the socket.
  REQUIRE(turn_until(&f.l.loop, [&] { return f.exits[0].has_value(); }));
  CHECK(f.exits[0]->signal == SIGTERM);  // its own status, from the report
  // The same zygote forks the next worker: it was not killed.
  const pid_t w2 = f.spawn();
  CHECK(stat_of(w2).ppid == z);
  CHECK(stat_of(z).state != 'Z');
  // Its exit reported too, so nothing of it is left on the loop.
  REQUIRE(::kill(w2, SIGTERM) == 0);
  CHECK(turn_until(&f.l.loop, [&] { return f.exits[1].has_value(); }));
}

TEST_CASE("zygote: a zygote that reports, however slowly, gets a new deadline, and one silent for a whole deadline is killed") {
  Forking f;
  const pid_t w1 = f.spawn();
  const pid_t w2 = f.spawn();
  const pid_t z = stat_of(w1).ppid;
  REQUIRE(stat_of(w2).ppid == z);
  Forking::stop(z);
  Forking::kill_unreaped(w1);
  const auto armed = std::chrono::steady_clock::now();
  uv_run(&f.l.loop, UV_RUN_NOWAIT);  // w1's pidfd: the deadline starts
  // Within the deadline it reports w1 ...
  REQUIRE(::kill(z, SIGCONT) == 0);
  REQUIRE(wait_until([&] { return stat_of(w1).state == '\0'; }));
  Forking::stop(z);
  // ... and owes w2 when the deadline comes.
  Forking::kill_unreaped(w2);
  REQUIRE(turn_until(&f.l.loop, [&] { return f.exits[0].has_value(); }));
  CHECK(f.exits[0]->signal == SIGTERM);
  REQUIRE(std::chrono::steady_clock::now() < armed + kDeadline);  // else this test proves nothing
  std::this_thread::sleep_until(armed + kDeadline + 300ms);
  uv_run(&f.l.loop, UV_RUN_NOWAIT);  // the deadline: it reported since, so a new one
  CHECK(stat_of(z).state == 'T');    // not killed (a SIGKILL ends even a stopped process)
  CHECK_FALSE(f.exits[1].has_value());
  // Silent for the whole new deadline: killed, and w2's exit (unreported) is its.
  REQUIRE(turn_until(&f.l.loop, [&] { return f.exits[1].has_value(); }, kDeadline + 5s));
  CHECK(f.exits[1]->signal == SIGKILL);
  CHECK(wait_until([&] {
    uv_run(&f.l.loop, UV_RUN_NOWAIT);
    return stat_of(z).state == '\0';
  }));
}

namespace {

// The test binary's zygote loads slowly: its "R" comes `ms` late.
struct SlowZygote {
  explicit SlowZygote(const char* ms) { ::setenv("WA_TEST_ZYGOTE_DELAY_MS", ms, 1); }
  ~SlowZygote() { ::unsetenv("WA_TEST_ZYGOTE_DELAY_MS"); }
  SlowZygote(const SlowZygote&) = delete;
  SlowZygote& operator=(const SlowZygote&) = delete;
};

// Workers that are this binary in its `--pause` mode: forked by the zygote
// (which then runs that mode) or exec'd; all killed and their exits
// collected before the loop closes.
struct Starting {
  Loop l;
  wa::ipc::Zygote zygote{&l.loop, {self_exe(), "--zygote", std::to_string(::getpid())}, kReadyWaitMs};
  std::vector<std::unique_ptr<wa::ipc::Child>> workers;
  size_t exited = 0;

  pid_t spawn() {
    auto c = zygote.spawn({self_exe(), "--pause"}, [this](ExitStatus) { ++exited; });
    REQUIRE(c.has_value());
    workers.push_back(std::move(*c));
    return workers.back()->pid();
  }
  ~Starting() {
    for (auto& w : workers) w->kill(SIGKILL);
    turn_until(&l.loop, [&] { return exited == workers.size(); });
  }
};

// Our child that runs as the zygote, or 0.
pid_t zygote_child() {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    if (stat_of(pid).ppid != ::getpid()) continue;
    std::ifstream f(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find("--zygote") != std::string::npos) return pid;
  }
  return 0;
}

}  // namespace

TEST_CASE("zygote: one slow to load holds no spawn for long - workers before its R are exec'd, those after forked") {
  SlowZygote slow("1500");
  Starting s;
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t first = s.spawn();
  // The ready wait (kReadyWaitMs), not the loading zygote,
  // bounds how long the loop was held.
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(stat_of(first).ppid == ::getpid());  // exec'd
  const pid_t z = zygote_child();
  REQUIRE(z != 0);
  // Once its R is in, the next spawn is forked by it.
  pid_t forked = 0;
  REQUIRE(wait_until([&] {
    uv_run(&s.l.loop, UV_RUN_NOWAIT);
    const pid_t w = s.spawn();
    if (stat_of(w).ppid == z) forked = w;
    return forked != 0;
  }));
  CHECK(zygote_child() == z);  // the same zygote throughout
}

TEST_CASE("zygote: one that never gets ready is given up at the deadline, and every worker is exec'd from then on") {
  SlowZygote slow("600000");
  Starting s;
  const pid_t first = s.spawn();
  CHECK(stat_of(first).ppid == ::getpid());
  const pid_t z = zygote_child();
  REQUIRE(z != 0);
  // No R for the whole deadline: killed (and reaped on the loop).
  REQUIRE(turn_until(&s.l.loop, [&] { return stat_of(z).state == '\0'; }, kDeadline + 5s));
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t later = s.spawn();
  CHECK(stat_of(later).ppid == ::getpid());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(kReadyWaitMs));
  CHECK(zygote_child() == 0);  // no new zygote is tried
}
