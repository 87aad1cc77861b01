// The supervisor under systemd: sd_notify readiness and the watchdog, with
// the test playing systemd's notify socket.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>

#include "harness.hpp"

using namespace harness;

namespace {

// A datagram socket where the supervisor's sd_notify messages arrive.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // Reads every datagram waiting now.
  void drain() {
    char buf[512];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return;
      std::string msg(buf, static_cast<size_t>(n));
      if (msg.find("READY=1") != std::string::npos) ++ready;
      if (msg.find("WATCHDOG=1") != std::string::npos) ++watchdog;
    }
  }
  int ready = 0;
  int watchdog = 0;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("systemd - READY=1 once serving, then WATCHDOG=1 from the loop at a third of WatchdogSec") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  // 300 ms WatchdogSec: a ping every 100 ms.
  ScopedEnv env({{"NOTIFY_SOCKET", dir.path() + "/notify"}, {"WATCHDOG_USEC", "300000"}});
  Supervisor sup;
  CHECK(wait_until([&] {
    notify.drain();
    return notify.ready == 1 && notify.watchdog >= 5;
  }));
  CHECK(sup.ping());
}

TEST_CASE("systemd - no watchdog asked for, none sent") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  ScopedEnv env({{"NOTIFY_SOCKET", dir.path() + "/notify"}});
  Supervisor sup;
  CHECK(wait_until([&] {
    notify.drain();
    return notify.ready == 1;
  }));
  CHECK(sup.ping());
  notify.drain();
  CHECK(notify.watchdog == 0);
}
