// The liveness page: what a worker beats, its supervisor sees; nothing but a
// page is accepted; the page cannot be resized under the supervisor.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wa/ipc/heartbeat.hpp"

using wa::ipc::Heartbeat;
using wa::ipc::HeartbeatPage;

TEST_CASE("heartbeat: beats of another process reach the page, from zero") {
  auto page = HeartbeatPage::create();
  REQUIRE(page.has_value());
  CHECK(page->beats() == 0);
  const int fd = page->fd();
  REQUIRE(fd >= 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto hb = Heartbeat::attach(fd);
    if (!hb) ::_exit(2);
    for (int i = 0; i < 3; ++i) hb->beat();
    ::_exit(0);
  }
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(page->beats() == 3);
  page->close_fd();
  CHECK(page->fd() == -1);
  CHECK(page->beats() == 3);  // the mapping outlives the fd
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

TEST_CASE("heartbeat: a moved page keeps its count, the moved-from one reads zero") {
  auto page = HeartbeatPage::create();
  REQUIRE(page.has_value());
  auto hb = Heartbeat::attach(::dup(page->fd()));
  REQUIRE(hb.has_value());
  hb->beat();
  HeartbeatPage moved = std::move(*page);
  CHECK(moved.beats() == 1);
  CHECK(page->beats() == 0);  // NOLINT(bugprone-use-after-move): defined as empty
  Heartbeat hb2 = std::move(*hb);
  hb->beat();  // NOLINT(bugprone-use-after-move): a no-op
  hb2.beat();
  CHECK(moved.beats() == 2);
}
