// The thread budget (docs/ARCHITECTURE.md, "Threads"): a connection worker
// and a sender run at most kMaxThreads threads whatever the machine's core
// count. Threads are a limit, not a speed: each one is a pid out of
// kernel.pid_max and a kernel stack, so 5,000 accounts × 14 threads would not
// even start on a default Linux. The test raises the core count NNG sees to
// 64 by bind-mounting a fake /sys/devices/system/cpu/online in a private
// mount namespace (as root; without root it checks the real core count and
// says so), then counts /proc/PID/task of every process it starts.
#include <doctest/doctest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "wa_server.hpp"

using namespace harness;

namespace {
constexpr size_t kMaxThreads = 8;
constexpr long kForcedCores = 64;

size_t threads_of(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// Makes this process (and all it starts) see kForcedCores online cores.
// Returns false when it cannot (not root, no mount namespaces).
bool force_core_count(const std::string& dir) {
  if (::geteuid() != 0) return false;
  const std::string fake = dir + "/online";
  std::ofstream(fake) << "0-" << (kForcedCores - 1) << "\n";
  if (::unshare(CLONE_NEWNS) != 0) return false;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  return ::mount(fake.c_str(), "/sys/devices/system/cpu/online", nullptr, MS_BIND, nullptr) == 0;
}
}  // namespace

TEST_CASE("a connection worker and a sender stay within the thread budget whatever the core count") {
  TempDir dir;
  if (force_core_count(dir.path())) {
    // Proves the fake took: NNG sizes its pools from this very call, so with
    // a pool that follows the core count the counts below would be ~80.
    REQUIRE(::sysconf(_SC_NPROCESSORS_ONLN) == kForcedCores);
  } else {
    MESSAGE("not root or no mount namespace: checking with the real core count ("
            << ::sysconf(_SC_NPROCESSORS_ONLN) << ")");
  }

  TwoAccounts accounts("thra", "15550000051", "thrb", "15550000052");
  auto& sup = accounts.sup;
  json r = sup.call({{"cmd", "send_text"}, {"profile", "thra"}, {"to", "15550000052@s.whatsapp.net"},
                     {"text", "count my threads"}},
                    60000);
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  REQUIRE(wait_until([&] { return !sup.sender_pids("thra").empty(); }));

  for (const char* profile : {"thra", "thrb"}) {
    const pid_t conn = sup.conn_pid(profile);
    REQUIRE(conn > 0);
    INFO(profile << " connection worker " << conn);
    CHECK(threads_of(conn) >= 1);
    CHECK(threads_of(conn) <= kMaxThreads);
  }
  for (pid_t sender : sup.sender_pids("thra")) {
    INFO("sender " << sender);
    CHECK(threads_of(sender) >= 1);
    CHECK(threads_of(sender) <= kMaxThreads);
  }
}
