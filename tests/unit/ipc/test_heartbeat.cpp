// The liveness page: what a worker's loop does (turning, parked in its poll)
// its supervisor sees; the supervisor's reading of it; nothing but a page is
// accepted; the page cannot be resized under the supervisor.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include "support.hpp"
#include "wa/ipc/heartbeat.hpp"

using wa::ipc::Heartbeat;
using wa::ipc::HeartbeatPage;
using wa::ipc::LoopState;
using wa::ipc::LoopWatch;
using wa::ipc::WatchedLoop;
using namespace std::chrono_literals;

namespace {

// A page, the worker's side of it, and a loop for a WatchedLoop.
struct PagedLoop {
  std::optional<HeartbeatPage> page;
  std::optional<Heartbeat> hb;
  uv_loop_t loop{};
  PagedLoop() {
    auto p = HeartbeatPage::create();
    REQUIRE(p.has_value());
    page = std::move(*p);
    auto h = Heartbeat::attach(::dup(page->fd()));
    REQUIRE(h.has_value());
    hb = std::move(*h);
    REQUIRE(uv_loop_init(&loop) == 0);
  }
  ~PagedLoop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // the closes
    CHECK(uv_loop_close(&loop) == 0);
  }
};

using test_support::wait_until;

}  // namespace

TEST_CASE("heartbeat: another process's turns and parking reach the page, from zero") {
  auto page = HeartbeatPage::create();
  REQUIRE(page.has_value());
  CHECK(page->read().turns == 0);
  CHECK_FALSE(page->read().parked);
  const int fd = page->fd();
  REQUIRE(fd >= 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto hb = Heartbeat::attach(fd);
    if (!hb) ::_exit(2);
    for (int i = 0; i < 3; ++i) {
      hb->park();
      hb->wake();
    }
    hb->park();
    ::_exit(0);
  }
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(page->read().turns == 3);
  CHECK(page->read().parked);
  page->close_fd();
  CHECK(page->fd() == -1);
  CHECK(page->read().turns == 3);  // the mapping outlives the fd
}

TEST_CASE("heartbeat: a wake counts one turn and ends the parking, parked or not before") {
  auto page = HeartbeatPage::create();
  REQUIRE(page.has_value());
  auto hb = Heartbeat::attach(::dup(page->fd()));
  REQUIRE(hb.has_value());
  hb->wake();  // a first turn without a park before it
  CHECK(page->read().turns == 1);
  CHECK_FALSE(page->read().parked);
  hb->park();
  hb->park();  // parking twice is still one parking
  CHECK(page->read().turns == 1);
  CHECK(page->read().parked);
  hb->wake();
  CHECK(page->read().turns == 2);
  CHECK_FALSE(page->read().parked);
}

TEST_CASE("heartbeat: the supervisor's reading - a turn resets the silence, a parked loop is only asked about") {
  using V = LoopWatch::Verdict;
  const auto t0 = LoopWatch::Clock::now();
  const auto timeout = 30s;
  LoopWatch w;
  w.start(t0);
  CHECK(w.observe(LoopState{0, false}, t0 + 29s, timeout) == V::fine);
  // No turn for the timeout, inside a callback: deadlocked or spinning.
  CHECK(w.observe(LoopState{0, false}, t0 + 30s, timeout) == V::busy_too_long);
  CHECK(w.silent(t0 + 30s) == 30s);
  // A turn (whatever the count) resets it.
  CHECK(w.observe(LoopState{7, false}, t0 + 31s, timeout) == V::fine);
  CHECK(w.observe(LoopState{7, true}, t0 + 60s, timeout) == V::fine);
  // Parked for the timeout: the caller asks whether the process is stopped.
  CHECK(w.observe(LoopState{7, true}, t0 + 61s, timeout) == V::parked_long);
  w.waiting(t0 + 61s);  // it was not: waiting is healthy
  CHECK(w.observe(LoopState{7, true}, t0 + 90s, timeout) == V::fine);
  CHECK(w.observe(LoopState{7, true}, t0 + 91s, timeout) == V::parked_long);
  // Woke up and then stuck in a callback: the silence counts from the turn.
  CHECK(w.observe(LoopState{8, false}, t0 + 92s, timeout) == V::fine);
  CHECK(w.observe(LoopState{8, false}, t0 + 122s, timeout) == V::busy_too_long);
  // A new worker starts from zero.
  w.start(t0 + 200s);
  CHECK(w.observe(LoopState{0, false}, t0 + 201s, timeout) == V::fine);
}

TEST_CASE("heartbeat: a watched loop is parked while it waits, not while a callback runs, and runs its timers") {
  PagedLoop pl;
  auto& page = pl.page;
  uv_loop_t& loop = pl.loop;
  struct Ctx {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released;
    std::atomic<int> ticks{0};
    WatchedLoop* watched = nullptr;
    bool stop_now = false;
  } ctx;
  std::future<void> entered = ctx.entered.get_future();
  ctx.released = ctx.release.get_future().share();
  uv_async_t async;
  uv_async_init(&loop, &async, [](uv_async_t* a) {
    auto* c = static_cast<Ctx*>(a->data);
    if (c->stop_now) {
      c->watched->stop();  // the async and the timer would keep the loop alive
      return;
    }
    c->entered.set_value();
    c->released.wait();
  });
  async.data = &ctx;
  uv_timer_t timer;
  uv_timer_init(&loop, &timer);
  timer.data = &ctx;
  uv_timer_start(&timer, [](uv_timer_t* t) { ++static_cast<Ctx*>(t->data)->ticks; }, 5, 5);
  WatchedLoop watched(&loop, std::move(*pl.hb));
  ctx.watched = &watched;
  std::thread runner([&] { watched.run(); });

  // Timers fire although the loop waits in our poll, not libuv's.
  CHECK(wait_until([&] { return ctx.ticks.load() >= 3; }));
  CHECK(wait_until([&] { return page->read().parked; }));
  // A callback that does not return: the page says "not parked" for as long.
  uv_async_send(&async);
  REQUIRE(entered.wait_for(10s) == std::future_status::ready);
  const LoopState busy = page->read();
  CHECK_FALSE(busy.parked);
  ctx.release.set_value();
  // It comes back, turns on, parks again.
  CHECK(wait_until([&] { return page->read().turns > busy.turns && page->read().parked; }));
  // stop() from a callback ends run() though handles are still active.
  ctx.stop_now = true;
  uv_async_send(&async);
  runner.join();
  CHECK(uv_loop_alive(&loop) != 0);
  uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
}

TEST_CASE("heartbeat: the page is sealed at its size") {
  auto page = HeartbeatPage::create();
  REQUIRE(page.has_value());
  CHECK(::ftruncate(page->fd(), 0) != 0);
  CHECK(::ftruncate(page->fd(), 1 << 20) != 0);
}

TEST_CASE("heartbeat: a worker given something else than a page refuses to start") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  auto hb = Heartbeat::attach(p[0]);
  CHECK_FALSE(hb.has_value());
  if (!hb) CHECK(hb.error().code == "heartbeat");
  ::close(p[1]);
  CHECK_FALSE(Heartbeat::attach(-1).has_value());
  CHECK_FALSE(Heartbeat::attach(12345).has_value());
}

TEST_CASE("heartbeat: a moved page keeps its turns, the moved-from one reads zero") {
  auto page = HeartbeatPage::create();
  REQUIRE(page.has_value());
  auto hb = Heartbeat::attach(::dup(page->fd()));
  REQUIRE(hb.has_value());
  hb->wake();
  HeartbeatPage moved = std::move(*page);
  CHECK(moved.read().turns == 1);
  CHECK(page->read().turns == 0);  // NOLINT(bugprone-use-after-move): defined as empty
  Heartbeat hb2 = std::move(*hb);
  hb->wake();  // NOLINT(bugprone-use-after-move): a no-op
  hb2.wake();
  CHECK(moved.read().turns == 2);
}

TEST_CASE("heartbeat: a watcher started from an I/O callback is polled before the loop parks again") {
  // libuv registers a new or changed watcher with the kernel only at its
  // next poll step; a loop that parked first would never see it.
  PagedLoop pl;
  auto& page = pl.page;
  uv_loop_t& loop = pl.loop;
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  struct Ctx {
    uv_poll_t poll{};
    std::atomic<int> writable{0};
    WatchedLoop* watched = nullptr;
  } ctx;
  uv_poll_init_socket(&loop, &ctx.poll, sv[0]);
  ctx.poll.data = &ctx;
  uv_async_t async;
  async.data = &ctx;
  uv_async_init(&loop, &async, [](uv_async_t* a) {
    auto* c = static_cast<Ctx*>(a->data);
    if (c->writable.load() > 0) {
      c->watched->stop();
      return;
    }
    uv_poll_start(&c->poll, UV_WRITABLE, [](uv_poll_t* p, int, int) {
      auto* cc = static_cast<Ctx*>(p->data);
      ++cc->writable;
      uv_poll_stop(p);
    });
  });
  WatchedLoop watched(&loop, std::move(*pl.hb));
  ctx.watched = &watched;
  std::thread runner([&] { watched.run(); });
  CHECK(wait_until([&] { return page->read().parked; }));
  uv_async_send(&async);
  // Nothing else will wake the loop: the socket is writable at once.
  CHECK(wait_until([&] { return ctx.writable.load() > 0; }, 5s));
  uv_async_send(&async);
  runner.join();
  uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx.poll), nullptr);
  ::close(sv[0]);
  ::close(sv[1]);
}
