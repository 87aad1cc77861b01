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

TEST_CASE("systemd - under journald every log line carries its syslog priority, elsewhere none") {
  TempDir dir;
  const std::string cfg = dir.path() + "/config.json";
  // A config error: one error line (priority 3).
  std::ofstream(cfg) << json{{"run_dir", dir.path() + "/run"}, {"data_dir", dir.path() + "/data"},
                             {"restart", {{"bogus", 1}}}, {"instances", json::array()}}
                            .dump();
  auto run_logged = [&](const std::string& log, bool as_journal) {
    std::ofstream(log).flush();  // the stream exists before the program starts
    struct stat st {};
    REQUIRE(::stat(log.c_str(), &st) == 0);
    std::vector<std::pair<std::string, std::string>> vars;
    if (as_journal) vars.emplace_back("JOURNAL_STREAM", std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
    ScopedEnv env(vars);
    int status = wait_exit(spawn({bin("wa-supervisor"), "--config", cfg}, log));  // appends: same inode
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 78);
    std::ifstream f(log);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  std::string journal = run_logged(dir.path() + "/journal", true);
  CHECK_MESSAGE(journal.rfind("<3>wa-supervisor error: ", 0) == 0, journal);
  CHECK(journal.find("restart.bogus") != std::string::npos);
  // Not the journal's stream: plain lines.
  std::string plain = run_logged(dir.path() + "/plain", false);
  CHECK_MESSAGE(plain.rfind("wa-supervisor error: ", 0) == 0, plain);
}

TEST_CASE("log level - from the config, changed at run time for the supervisor, its workers and new senders") {
  Supervisor sup(json{{"log_level", "warn"}});
  REQUIRE(sup.wait_running("alpha"));
  // At warn, the supervisor's info lines are not written.
  CHECK(sup.log_text().find("connection worker started") == std::string::npos);
  TempDir tmp;
  int rc = 0;
  std::string text;
  std::tie(rc, text) = run_program({bin("wactl"), "--run-dir", sup.run_dir(), "log-level", "info"}, tmp.path() + "/o");
  CHECK_MESSAGE(rc == 0, text);
  CHECK(text.find("log level info") != std::string::npos);
  pid_t before = sup.conn_pid("alpha");
  REQUIRE(sup.call({{"cmd", "restart"}, {"profile", "alpha"}}).value("ok", false));
  REQUIRE(sup.wait_running("alpha", before));
  CHECK(wait_until([&] { return sup.log_text().find("connection worker started") != std::string::npos; }));
  // A sender started now runs at the new level.
  (void)sup.send("alpha", "15550009@s.whatsapp.net");
  std::vector<pid_t> senders;
  if (wait_until([&] { return !(senders = sup.sender_pids("alpha")).empty(); }, 5s))
    CHECK(proc_cmdline(senders[0]).find("--log-level info") != std::string::npos);
  // Bad levels are refused by wactl and by the supervisor.
  std::tie(rc, text) = run_program({bin("wactl"), "--run-dir", sup.run_dir(), "log-level", "loud"}, tmp.path() + "/o");
  CHECK(rc == 2);
  CHECK(error_code(sup.call({{"cmd", "log_level"}, {"level", "loud"}})) == "bad_request");
}
