// Process plumbing shared by the connection benchmarks: start the real
// binaries with their output in a log file, wait for a file the server
// writes when it is listening.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace rig {

inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log, bool append = false) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Runs to completion; the exit code, or -1.
inline int run(const std::vector<std::string>& argv, const std::string& log, bool append = false) {
  pid_t p = spawn(argv, log, append);
  int st = 0;
  if (p < 0 || waitpid(p, &st, 0) != p) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

inline bool wait_file(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (!slurp(path).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a file, not synchronising
  }
  return false;
}

// PSS of one process in KiB (0 when it is gone).
inline long pss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Pss:", 0) == 0) return std::atol(line.c_str() + 4);
  return 0;
}

inline std::vector<pid_t> children_of(pid_t parent);

// The supervisor's worker processes: its own children, and the children of
// its zygote (`start.zygote`: the connection workers are forked there);
// `zygote` is set to the zygote's pid, 0 without one.
inline std::vector<pid_t> workers_of(pid_t supervisor, pid_t* zygote = nullptr) {
  std::vector<pid_t> out;
  if (zygote != nullptr) *zygote = 0;
  for (pid_t c : children_of(supervisor)) {
    std::ifstream f("/proc/" + std::to_string(c) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find(std::string("--zygote\0", 9)) == std::string::npos) {
      out.push_back(c);
      continue;
    }
    if (zygote != nullptr) *zygote = c;
    for (pid_t w : children_of(c)) out.push_back(w);
  }
  return out;
}

// The processes whose parent is `parent`.
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string s;
    if (!std::getline(f, s)) continue;
    auto rp = s.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream in(s.substr(rp + 2));
    char st = 0;
    pid_t pp = 0;
    in >> st >> pp;
    if (pp == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// Context switches (voluntary + involuntary) of each thread of `pid`, summed
// by thread name into `into`: an idle process's wakeups, thread by thread.
inline void add_switches_by_thread(pid_t pid, std::map<std::string, uint64_t>& into) {
  std::error_code ec;
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string comm;
    {
      std::ifstream c(e.path() / "comm");
      std::getline(c, comm);
    }
    std::ifstream f(e.path() / "status");
    std::string line;
    uint64_t n = 0;
    while (std::getline(f, line))
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        n += std::stoull(line.substr(line.find(':') + 1));
    if (!comm.empty()) into[comm] += n;
  }
}

// Page faults of one process so far (minflt, majflt of /proc/PID/stat).
struct Faults {
  uint64_t minor = 0, major = 0;
  Faults& operator+=(const Faults& o) {
    minor += o.minor;
    major += o.major;
    return *this;
  }
};
// The fields of /proc/PID/stat after the command name, numbered as in
// proc(5) (fields[3] is the state); empty when the process is gone.
inline std::vector<std::string> stat_fields(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::vector<std::string> out;
  if (!std::getline(f, s)) return out;
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return out;
  out.resize(3);  // pid, comm: not wanted
  std::istringstream in(s.substr(rp + 2));
  for (std::string field; in >> field;) out.push_back(field);
  return out;
}

inline uint64_t stat_u64(const std::vector<std::string>& f, size_t i) {
  return i < f.size() ? std::stoull(f[i]) : 0;
}

inline Faults faults(pid_t pid) {
  const auto f = stat_fields(pid);
  return Faults{stat_u64(f, 10), stat_u64(f, 12)};
}

// utime + stime of one process in clock ticks (0 when it is gone).
inline uint64_t cpu_ticks(pid_t pid) {
  const auto f = stat_fields(pid);
  return stat_u64(f, 14) + stat_u64(f, 15);
}

}  // namespace rig
