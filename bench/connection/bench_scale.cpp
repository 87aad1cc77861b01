// What many connected accounts cost, and how fast they all come back, against
// wa-testserver on this machine:
//
//   bench_scale BIN_DIR idle [accounts]
//     That many accounts paired and connected under one supervisor, left
//     idle. Per account: the drop in MemAvailable (measured before the
//     supervisor starts and once all are open and settled, minus what the
//     test server itself grew by, which is reported beside), PSS (supervisor
//     + workers, smaps_rollup), threads per worker, and the CPU all workers +
//     the supervisor use over the idle window (BENCH_IDLE_S, 60 s), as % of one core.
//
//   bench_scale BIN_DIR cold-start [accounts]
//     Pairs that many accounts, shuts the supervisor down and starts it
//     again over the same data (every account autostarts): time from the
//     new supervisor's start to the last `connection open`, and the most
//     logins the server saw in one second (from the workers' logged
//     `connection open` times), with the start settings in force; then the
//     idle measurements above for the restarted tree.
//
// At thousands of accounts the kernel's pid_max (every thread takes a pid)
// and the open file limit are what stop first: as root the bench raises
// kernel.pid_max and says so; it raises its own RLIMIT_NOFILE soft limit to
// the hard one (the supervisor and the test server do the same themselves).
// BENCH_START='{"max_connecting":64,"jitter_ms":2000}' sets the supervisor's
// `start` section for the whole run (e.g. {"zygote":false} to exec workers).
// BENCH_TLS=1: the server speaks wss://, as the real one does, and every
// worker holds a TLS context verifying it against the system's CAs.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rig.hpp"
#include "supervised_rig.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace wa;

namespace {

using rig::children_of;
using rig::cpu_ticks;
using rig::pss_kib;

std::string g_bin;

long meminfo_kib(const char* key) {
  std::ifstream f("/proc/meminfo");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::atol(line.c_str() + k.size());
  return 0;
}

// A field of /proc/PID/status ("VmRSS", "Threads"), 0 when absent.
long status_field(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::atol(line.c_str() + k.size());
  return 0;
}



void raise_limits(int accounts) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  std::printf("%-52s %llu\n", "RLIMIT_NOFILE (soft, raised to hard)", static_cast<unsigned long long>(rl.rlim_cur));
  // Each worker has ~10 threads, each one a pid: 32,768 (the default) ends
  // near 3,000 accounts.
  long pid_max = 0;
  std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
  const long want = static_cast<long>(accounts) * 16 + 10000;
  if (pid_max < want) {
    if (std::ofstream f("/proc/sys/kernel/pid_max"); f << want) {
      f.close();
      std::printf("%-52s %ld -> %ld (raised by this bench, as root)\n", "kernel.pid_max", pid_max, want);
    } else {
      std::printf("%-52s %ld (could not raise it to %ld: not root?)\n", "kernel.pid_max", pid_max, want);
    }
  } else {
    std::printf("%-52s %ld\n", "kernel.pid_max", pid_max);
  }
}

// The host's DAMON (kdamond, /sys/kernel/mm/damon): a `pageout` scheme on
// physical memory drops cold pages — among them the library text that
// thousands of idle workers share — and walks every mapping of a page it
// samples. With thousands of processes that is much of the machine's CPU,
// and the workers pay for it in page faults when they wake. Reported, and
// with BENCH_DAMON_OFF=1 (as root) switched off for the run and back on
// at its end, saying so.
class Damon {
 public:
  Damon() {
    state_ = rig::slurp(kState);
    if (state_.empty()) {
      std::printf("%-52s %s\n", "kernel DAMON (kdamond)", "none");
      return;
    }
    const char* off = std::getenv("BENCH_DAMON_OFF");
    if (state_ == "on" && off != nullptr && std::string(off) == "1") {
      if (std::ofstream f(kState); f << "off") {
        f.close();
        switched_ = rig::slurp(kState) == "off";
      }
    }
    std::printf("%-52s %s%s\n", "kernel DAMON (kdamond)", state_.c_str(),
                switched_ ? " -> off for this run (BENCH_DAMON_OFF=1, as root)" : "");
  }
  ~Damon() {
    if (switched_) std::ofstream(kState) << "on";
  }
  Damon(const Damon&) = delete;
  Damon& operator=(const Damon&) = delete;

 private:
  static constexpr const char* kState = "/sys/kernel/mm/damon/admin/kdamonds/0/state";
  std::string state_;
  bool switched_ = false;
};

// A server and a supervisor in a temporary directory; the supervisor can be
// restarted over the same data.
// The bench's rig: the server sized for the accounts (its default capacity
// is below 5,000 connections).
struct Rig : rig::SupervisedRig {
  explicit Rig(int accounts)
      : SupervisedRig(g_bin, {"--max-connections", std::to_string(accounts + 256)}) {}
};

std::string profile_name(int i) { return "a" + std::to_string(i); }

double pair_all(Rig& rig, int accounts) {
  auto t0 = Clock::now();
  for (int i = 0; i < accounts; ++i) {
    rig.pair(profile_name(i), "1555" + std::to_string(6000000 + i));
    if ((i + 1) % 500 == 0) {
      std::fprintf(stderr, "paired %d in %.0f s\n", i + 1, std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void print_load() {
  std::ifstream f("/proc/loadavg");
  std::string s;
  std::getline(f, s);
  std::printf("%-52s %s\n", "loadavg (start)", s.c_str());
}

// With BENCH_PERF=FILE set: `perf record -a -g` of the next `seconds` into
// FILE + suffix (its output in FILE + suffix + ".log"); the pid, or -1.
pid_t start_perf(const std::string& suffix, int seconds) {
  const char* out = std::getenv("BENCH_PERF");
  if (out == nullptr || *out == '\0') return -1;
  const std::string file = std::string(out) + suffix;
  return rig::spawn({"/usr/bin/perf", "record", "-a", "-g", "-o", file, "--", "sleep", std::to_string(seconds)},
                    file + ".log");
}

// Where a worker's PSS is, by kind of mapping (/proc/PID/smaps), averaged
// over up to 50 workers: the heap, anonymous maps (NNG's and the threads'
// stacks, SQLite's page cache), shared libraries, the rest. Private_Dirty
// beside it: what the worker wrote itself (a zygote page it wrote was
// copied for it).
void print_pss_by_kind(const std::vector<pid_t>& workers) {
  struct Sum {
    long pss = 0, dirty = 0;
  };
  std::map<std::string, Sum> kinds;
  size_t n = 0;
  for (pid_t w : workers) {
    if (n == 50) break;
    std::ifstream f("/proc/" + std::to_string(w) + "/smaps");
    if (!f) continue;
    ++n;
    std::string line, kind = "other";
    while (std::getline(f, line)) {
      long kib = 0;
      if (line.rfind("Pss:", 0) == 0 && std::sscanf(line.c_str(), "Pss: %ld", &kib) == 1) {
        kinds[kind].pss += kib;
      } else if (line.rfind("Private_Dirty:", 0) == 0 && std::sscanf(line.c_str(), "Private_Dirty: %ld", &kib) == 1) {
        kinds[kind].dirty += kib;
      } else if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < 17) {
        // A mapping's header: "start-end perms offset dev inode [name]".
        std::istringstream h(line);
        std::string range, perms, off, dev, inode, name;
        h >> range >> perms >> off >> dev >> inode;
        std::getline(h, name);
        name.erase(0, name.find_first_not_of(' '));
        if (name == "[heap]") kind = "heap";
        else if (name.empty()) kind = "anonymous";
        else if (name.find(".so") != std::string::npos) kind = "libraries";
        else if (name == "[stack]") kind = "main stack";
        else kind = "other";
      }
    }
  }
  if (n == 0) return;
  std::string out;
  for (const auto& [k, s] : kinds) {
    char b[96];
    std::snprintf(b, sizeof b, "%s%s %.0f/%.0f", out.empty() ? "" : ", ", k.c_str(), double(s.pss) / double(n),
                  double(s.dirty) / double(n));
    out += b;
  }
  std::printf("%-52s %s\n", "PSS/private dirty KiB per worker, by mapping", out.c_str());
}

// What `accounts` connected accounts cost, once settled: MemAvailable drop
// since `avail0` (minus the test server's growth since `ts_rss0`), PSS,
// threads, idle CPU over the idle window, the `status` reply and the
// supervisor's fds.
// BENCH_IDLE_S: the measured window (default 60 s). It must hold several of
// each periodic wakeup - the keepalive ping (20-30 s) and its pong, the
// heap trim (60 s, on a turn) - or the rates it reports are those of where
// the window fell.
int idle_window_s() {
  const char* v = std::getenv("BENCH_IDLE_S");
  const int s = v ? std::atoi(v) : 60;
  return s > 0 ? s : 60;
}

void measure_idle(Rig& rig, int accounts, long avail0, long ts_rss0) {
  // Idle: nothing but keepalives and liveness pings; start-up garbage gone
  // (the workers trim their heap 15 s after start).
  std::this_thread::sleep_for(std::chrono::seconds(20));  // settling before a measurement
  const long avail1 = meminfo_kib("MemAvailable");
  const long ts_rss1 = status_field(rig.ts, "VmRSS");
  json st = rig.server_status();
  pid_t zygote = 0;
  const auto workers = rig::workers_of(rig.sup, &zygote);
  // The zygote is the supervisor's overhead, one per host like it.
  long sup_pss = pss_kib(rig.sup) + (zygote > 0 ? pss_kib(zygote) : 0), workers_pss = 0, threads_min = 1 << 30, threads_max = 0, threads_sum = 0;
  for (pid_t w : workers) {
    workers_pss += pss_kib(w);
    const long t = status_field(w, "Threads");
    threads_min = std::min(threads_min, t);
    threads_max = std::max(threads_max, t);
    threads_sum += t;
  }
  // Idle CPU: utime+stime of the supervisor and every worker over the window.
  const int window_s = idle_window_s();
  auto ticks = [&] {
    uint64_t t = cpu_ticks(rig.sup) + (zygote > 0 ? cpu_ticks(zygote) : 0);
    for (pid_t w : workers) t += cpu_ticks(w);
    return t;
  };
  // Wakeups: context switches by thread name, all workers together.
  auto switches = [&] {
    std::map<std::string, uint64_t> m;
    for (pid_t w : workers) rig::add_switches_by_thread(w, m);
    return m;
  };
  const auto sw0 = switches();
  std::map<std::string, uint64_t> sup_sw0;
  rig::add_switches_by_thread(rig.sup, sup_sw0);
  auto faults = [&] {
    rig::Faults f;
    for (pid_t w : workers) f += rig::faults(w);
    return f;
  };
  const rig::Faults f0 = faults();
  const uint64_t c0 = ticks(), ts_c0 = cpu_ticks(rig.ts), sup_c0 = cpu_ticks(rig.sup);
  auto t0 = Clock::now();
  // BENCH_PERF=FILE: a system-wide `perf record` of the same window.
  const pid_t perf = start_perf("", window_s);
  std::this_thread::sleep_for(std::chrono::seconds(window_s));  // the measured idle window
  if (perf > 0) waitpid(perf, nullptr, 0);
  const uint64_t c1 = ticks(), ts_c1 = cpu_ticks(rig.ts), sup_c1 = cpu_ticks(rig.sup);
  const auto sw1 = switches();
  const rig::Faults f1 = faults();
  std::map<std::string, uint64_t> sup_sw1;
  rig::add_switches_by_thread(rig.sup, sup_sw1);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  size_t status_bytes = 0;
  rig.open_count(&status_bytes);

  const double n = accounts;
  const long ts_growth = ts_rss1 - ts_rss0;
  const double drop_mb = static_cast<double>(avail0 - avail1 - ts_growth) / 1024;
  std::printf("%-52s %d\n", "accounts online at the server", st["online"].get<int>());
  std::printf("%-52s %zu\n", "worker processes", workers.size());
  std::printf("%-52s %.1f MB -> %.1f MB (+%.1f MB, subtracted below)\n", "test server RSS", ts_rss0 / 1024.0,
              ts_rss1 / 1024.0, ts_growth / 1024.0);
  std::printf("%-52s %.1f MB (%.2f MB per account)\n", "MemAvailable drop minus the test server's growth", drop_mb,
              drop_mb / n);
  std::printf("%-52s %.1f MB\n", zygote > 0 ? "PSS supervisor + zygote" : "PSS supervisor",
              static_cast<double>(sup_pss) / 1024);
  std::printf("%-52s %.1f MB\n", "PSS all workers", static_cast<double>(workers_pss) / 1024);
  std::printf("%-52s %.2f MB\n", "PSS per account (supervisor + workers)",
              static_cast<double>(sup_pss + workers_pss) / 1024 / n);
  print_pss_by_kind(workers);
  std::printf("%-52s min %ld  max %ld  mean %.1f\n", "threads per connection worker", threads_min, threads_max,
              workers.empty() ? 0.0 : static_cast<double>(threads_sum) / static_cast<double>(workers.size()));
  std::printf("%-52s %d s\n", "idle window (BENCH_IDLE_S)", window_s);
  std::printf("%-52s %.1f %% of one core\n", "idle CPU, supervisor + all workers",
              100.0 * static_cast<double>(c1 - c0) / hz / secs);
  std::printf("%-52s %.1f %% of one core\n", "  of which the supervisor",
              100.0 * static_cast<double>(sup_c1 - sup_c0) / hz / secs);
  std::printf("%-52s %.1f %% of one core\n", "idle CPU, test server (same window)",
              100.0 * static_cast<double>(ts_c1 - ts_c0) / hz / secs);
  auto print_switches = [&](const char* who, const std::map<std::string, uint64_t>& a,
                            const std::map<std::string, uint64_t>& b, double per) {
    std::string line;
    for (const auto& [name, n1] : b) {
      auto it = a.find(name);
      const uint64_t n0 = it == a.end() ? 0 : it->second;
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", line.empty() ? "" : ", ", name.c_str(),
                    static_cast<double>(n1 - n0) / secs / per);
      line += buf;
    }
    std::printf("%-52s %s\n", who, line.c_str());
  };
  const double nw = workers.empty() ? 1.0 : static_cast<double>(workers.size());
  std::printf("%-52s minor %.2f, major %.3f\n", "page faults/s per worker (same window)",
              static_cast<double>(f1.minor - f0.minor) / secs / nw, static_cast<double>(f1.major - f0.major) / secs / nw);
  print_switches("wakeups/s per worker, by thread", sw0, sw1, workers.empty() ? 1.0 : double(workers.size()));
  print_switches("wakeups/s of the supervisor, by thread", sup_sw0, sup_sw1, 1.0);
  std::printf("%-52s %zu bytes\n", "`status` reply (all accounts)", status_bytes);
  size_t sup_fds = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(rig.sup) + "/fd"))
    ++sup_fds;
  std::printf("%-52s %zu\n", "open fds of the supervisor", sup_fds);
}

// Stops the supervisor and every worker (SIGTERM, as systemd does): how
// long that took, and whether the zygote had to be killed on the way (its
// warning in the supervisor's log), which turns clean stops into SIGKILLs.
void print_stop(Rig& rig) {
  std::fflush(stdout);
  const auto t0 = Clock::now();
  rig.stop_supervisor();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::ifstream f(rig.dir + "/sup.log");
  const std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t zygote_killed = 0;
  for (size_t at = 0; (at = log.find("reported no exit for", at)) != std::string::npos; ++at) ++zygote_killed;
  std::printf("%-52s %.2f s; zygote killed for late reports: %zu time(s)\n", "supervisor stop (SIGTERM) -> exited", s,
              zygote_killed);
}

// The machine before our processes start (the server is up, nothing else).
struct Baseline {
  long avail_kib = 0, ts_rss_kib = 0;
};

// Starts the supervisor over a fresh rig, pairs `accounts` and waits until all
// are open: the baseline before, the pairing time in seconds.
// The supervisor's `start` settings for the whole run (BENCH_START, JSON).
json start_settings() {
  const char* s = std::getenv("BENCH_START");
  json start = s != nullptr ? json::parse(s) : json::object();
  return start.empty() ? json::object() : json{{"start", start}};
}

std::pair<Baseline, double> start_and_pair(Rig& rig, int accounts) {
  std::this_thread::sleep_for(std::chrono::seconds(1));  // settling before the baseline
  Baseline base{meminfo_kib("MemAvailable"), status_field(rig.ts, "VmRSS")};
  rig.start_supervisor(start_settings());
  const double pair_s = pair_all(rig, accounts);
  rig.wait_all_open(static_cast<size_t>(accounts), std::chrono::seconds(600));
  return {base, pair_s};
}

int idle(int accounts) {
  print_load();
  raise_limits(accounts);
  Damon damon;
  Rig rig(accounts);
  const auto [base, pair_s] = start_and_pair(rig, accounts);
  std::printf("# idle: %d accounts paired and connected under one supervisor (%u cpu)\n", accounts,
              std::thread::hardware_concurrency());
  const json start = start_settings();
  std::printf("%-52s %s\n", "start settings", start.empty() ? "defaults" : start["start"].dump().c_str());
  std::printf("%-52s %s\n", "server scheme", rig.tls ? "wss:// (BENCH_TLS=1; system CA directory + the local CA)" : "ws://");
  std::printf("%-52s %.1f s (%.1f accounts/s)\n", "pairing all, one at a time (QR scan, 812 prekeys)", pair_s,
              accounts / pair_s);
  measure_idle(rig, accounts, base.avail_kib, base.ts_rss_kib);
  print_load();
  print_stop(rig);
  return 0;
}

int cold_start(int accounts) {
  print_load();
  raise_limits(accounts);
  Damon damon;
  Rig rig(accounts);
  const auto [base, pair_s] = start_and_pair(rig, accounts);
  rig.stop_supervisor();
  std::fprintf(stderr, "paired %d in %.0f s; supervisor stopped, starting again\n", accounts, pair_s);

  const auto wall0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  const auto t0 = Clock::now();
  // BENCH_PERF=FILE: also a system-wide profile of the restart's first 20 s, in FILE.start.
  const pid_t perf = start_perf(".start", 20);
  rig.start_supervisor(start_settings());
  rig.wait_all_open(static_cast<size_t>(accounts), std::chrono::seconds(900));
  const double all_open_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (perf > 0) waitpid(perf, nullptr, 0);

  // Every account's first `open` after the restart, from its durable log.
  std::map<int64_t, int> per_second;
  int64_t last_open = 0;
  for (int i = 0; i < accounts; ++i) {
    json r = rig.control({{"cmd", "events"}, {"profile", profile_name(i)}, {"since", 0}, {"limit", 1000}});
    for (const auto& e : r["result"]["events"]) {
      if (e.value("type", "") != "connection" || e.value("state", "") != "open") continue;
      const int64_t ts = e["ts"].get<int64_t>();
      if (ts < wall0) continue;
      ++per_second[(ts - wall0) / 1000];
      last_open = std::max(last_open, ts);
      break;
    }
  }
  int max_per_s = 0;
  for (const auto& [s, n] : per_second) max_per_s = std::max(max_per_s, n);
  json m = rig.control({{"cmd", "metrics"}});
  std::printf("# cold start: %d paired autostart accounts, supervisor restarted (%u cpu)\n", accounts,
              std::thread::hardware_concurrency());
  const json start = start_settings();
  std::printf("%-52s %s\n", "start settings", start.empty() ? "defaults" : start["start"].dump().c_str());
  std::printf("%-52s %s\n", "server scheme", rig.tls ? "wss:// (BENCH_TLS=1; system CA directory + the local CA)" : "ws://");
  std::printf("%-52s %.1f s (%.1f accounts/s)\n", "pairing all, one at a time", pair_s, accounts / pair_s);
  std::printf("%-52s %.1f s\n", "supervisor start -> all `open` (events, then status)", all_open_s);
  std::printf("%-52s %.1f s\n", "supervisor start -> last logged `open`",
              static_cast<double>(last_open - wall0) / 1000);
  std::printf("%-52s %d\n", "most logins in one second", max_per_s);
  std::printf("%-52s %s\n", "supervisor metrics after", m["result"]["supervisor"].dump().c_str());
  std::printf("# the same accounts after the cold start, settled\n");
  measure_idle(rig, accounts, base.avail_kib, base.ts_rss_kib);
  print_load();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_scale BIN_DIR idle [accounts] | cold-start [accounts]\n");
    return 64;
  }
  g_bin = argv[1];
  std::string mode = argv[2];
  int a = argc > 3 ? std::atoi(argv[3]) : 0;
  try {
    if (mode == "idle") return idle(a > 0 ? a : 200);
    if (mode == "cold-start") return cold_start(a > 0 ? a : 200);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_scale: %s\n", e.what());
    return 1;
  }
  return 64;
}
