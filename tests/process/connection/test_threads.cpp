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
#include <sstream>

#include "wa_server.hpp"

using namespace harness;

namespace {
constexpr size_t kMaxThreads = 8;
constexpr long kForcedCores = 64;

// A message from `profile` to `to_phone`, so that every kind of process of
// ours is running when the test looks: supervisor, workers and a sender.
void send_so_a_sender_runs(Supervisor& sup, const std::string& profile, const std::string& to_phone) {
  json r = sup.call({{"cmd", "send_text"}, {"profile", profile}, {"to", to_phone + "@s.whatsapp.net"},
                     {"text", "look at my process"}},
                    60000);
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  REQUIRE(wait_until([&] { return !sup.sender_pids(profile).empty(); }));
}

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
  send_so_a_sender_runs(sup, "thra", "15550000052");

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

// The memory budget's cheapest part: a process maps only what it uses.
// libpq and the Kerberos/LDAP/GnuTLS libraries it needs cost every process
// ~0.4 MB of private memory (their relocations) - at thousands of accounts
// most of the gap to the budget (docs/BENCHMARKS.md). On SQLite nothing of
// ours loads them; the PostgreSQL store loads libpq on first use, which the
// process.cluster tests exercise.
TEST_CASE("on SQLite no process of ours maps libpq, and none that sends text maps libcurl or what either drags in") {
  TwoAccounts accounts("pqa", "15550000053", "pqb", "15550000054");
  auto& sup = accounts.sup;
  send_so_a_sender_runs(sup, "pqa", "15550000054");
  // What runs for as long as the accounts do (the supervisor and each
  // account's connection worker), and a sender that sent text: libcurl,
  // which needs the same Kerberos/LDAP/GnuTLS, is loaded only by a sender
  // that moves a media file (test_media.cpp).
  std::vector<pid_t> all{sup.pid(), sup.conn_pid("pqa"), sup.conn_pid("pqb")};
  for (pid_t p : sup.sender_pids("pqa")) all.push_back(p);
  REQUIRE(all.size() > 3);
  auto absent = [](pid_t pid, const char* lib) {
    const auto found = mapped_files(pid, lib);
    INFO("pid " << pid << ": " << (found.empty() ? std::string(lib) + " not mapped" : found.front()));
    CHECK(found.empty());
  };
  for (pid_t pid : all) {
    REQUIRE(pid > 0);
    // Present in every process: proves the maps were read at all.
    CHECK_FALSE(mapped_files(pid, "libc.so").empty());
    for (const char* lib : {"libpq.so", "libcurl", "libgssapi_krb5", "libldap", "libgnutls", "libsasl2"})
      absent(pid, lib);
  }
}
