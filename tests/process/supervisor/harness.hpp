// Process-level test harness: real binaries in a temporary run dir, driven
// through the public sockets. Every wait is a condition with a deadline.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"

namespace harness {

using json = nlohmann::json;
using namespace std::chrono_literals;

inline std::string bin(const std::string& name) { return std::string(WA_BIN_DIR) + "/" + name; }

// Polls `cond` until it holds or the deadline passes.
inline bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);  // polling interval, not synchronisation
  }
  return cond();
}

inline char proc_state(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return 0;
  auto rp = s.rfind(')');
  return rp == std::string::npos || rp + 2 >= s.size() ? 0 : s[rp + 2];
}
inline pid_t proc_ppid(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return 0;
  auto rp = s.rfind(')');
  std::istringstream in(s.substr(rp + 2));
  char st;
  pid_t pp = 0;
  in >> st >> pp;
  return pp;
}
inline std::string proc_cmdline(pid_t pid) {
  // getline, not istreambuf_iterator: a process reaped meanwhile fails the
  // read (ESRCH), which filebuf throws to an iterator (test_zygote.cpp).
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s;
  std::getline(f, s, '\x01');
  for (auto& c : s)
    if (c == '\0') c = ' ';
  return s;
}
// Alive = exists and is not a zombie.
inline bool alive(pid_t pid) {
  char st = proc_state(pid);
  return st != 0 && st != 'Z' && st != 'X';
}
inline bool exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
    if (p > 0 && proc_ppid(p) == parent) out.push_back(p);
  }
  ::closedir(d);
  return out;
}
inline int count_zombie_children(pid_t parent) {
  int n = 0;
  for (pid_t c : children_of(parent)) n += proc_state(c) == 'Z';
  return n;
}
inline mode_t file_mode(const std::string& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// The test process adopts orphans, so a worker that outlives its
// supervisor is visible (and reaped) here rather than vanishing into init.
inline void become_subreaper() {
  static bool done = [] {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    return true;
  }();
  (void)done;
}
// Reaps adopted orphans (never the supervisor: tests wait for it by pid).
inline void reap_adopted(pid_t keep = 0) {
  for (pid_t c : children_of(::getpid()))
    if (c != keep && proc_state(c) == 'Z') ::waitpid(c, nullptr, WNOHANG);
}

// The whole of a (log) file; empty when it cannot be read.
inline std::string file_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/wat.XXXXXX";  // short: socket paths must fit sun_path
    char* p = ::mkdtemp(tmpl);
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Starts a binary with stdout/stderr to `log`; returns its pid.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rv = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rv != 0) throw std::runtime_error("posix_spawn failed for " + argv[0]);
  return pid;
}

// Waits for a child of ours to exit; returns its wait status or -1 on timeout.
inline int wait_exit(pid_t pid, std::chrono::milliseconds timeout = 10s) {
  int status = -1;
  bool done = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  return done ? status : -1;
}

// A child asked to stop (`sig`), killed if it has not within 10 s; `pid`
// is 0 afterwards.
inline void stop_child(pid_t& pid, int sig = SIGTERM) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  if (wait_exit(pid, 10s) == -1) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, 5s);
  }
  pid = 0;
}

// Collects every event in the background.
class EventLog {
 public:
  explicit EventLog(const std::string& run_dir) {
    auto c = wa::ipc::EventClient::connect(wa::ipc::events_url(run_dir), "");
    if (!c) throw std::runtime_error("events: " + c.error().message);
    client_ = std::make_unique<wa::ipc::EventClient>(std::move(*c));
    thread_ = std::thread([this] {
      while (!stop_) {
        auto e = client_->next(50);
        if (e && *e) {
          std::lock_guard lk(mu_);
          events_.push_back(**e);
        }
      }
    });
  }
  ~EventLog() {
    stop_ = true;
    thread_.join();
  }
  std::vector<json> all() {
    std::lock_guard lk(mu_);
    return events_;
  }
  std::vector<json> of(const std::string& profile, const std::string& type = "") {
    std::vector<json> out;
    for (auto& e : all())
      if (e["profile"] == profile && (type.empty() || e["type"] == type)) out.push_back(e);
    return out;
  }
  bool wait_for(const std::function<bool(const std::vector<json>&)>& pred, std::chrono::milliseconds t = 10s) {
    return wait_until([&] { return pred(all()); }, t);
  }

 private:
  std::unique_ptr<wa::ipc::EventClient> client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<json> events_;
};

class Supervisor {
 public:
  // `extra` is merged into the config (restart/senders/instances ...).
  explicit Supervisor(json extra = json::object(), bool wait_ready = true) {
    become_subreaper();
    run_dir_ = dir_.path() + "/run";
    data_dir_ = dir_.path() + "/data";
    json cfg{{"run_dir", run_dir_},
             {"data_dir", data_dir_},
             {"shutdown_timeout_ms", 2000},
             {"restart", {{"intensity", 5}, {"period_s", 30}, {"backoff_min_ms", 50}, {"backoff_max_ms", 500}}},
             {"senders", {{"max_per_instance", 4}, {"idle_ms", 60000}}},
             {"instances", json::array({{{"profile", "alpha"}}, {{"profile", "beta"}}})}};
    cfg.merge_patch(extra);
    // A test may place the directories itself (to restart over the same data).
    run_dir_ = cfg["run_dir"].get<std::string>();
    data_dir_ = cfg["data_dir"].get<std::string>();
    config_path_ = dir_.path() + "/config.json";
    std::ofstream(config_path_) << cfg.dump(2);
    log_ = dir_.path() + "/supervisor.log";
    pid_ = spawn({bin("wa-supervisor"), "--config", config_path_}, log_);
    if (wait_ready && !wait_until([&] { return ping(); }))
      throw std::runtime_error("supervisor did not answer ping; log:\n" + log_text());
  }
  ~Supervisor() {
    if (std::getenv("WA_TEST_SHOW_LOG") != nullptr) std::fprintf(stderr, "%s", log_text().c_str());
    if (pid_ > 0 && exists(pid_)) stop_child(pid_);
    reap_adopted();
  }
  Supervisor(const Supervisor&) = delete;

  const std::string& run_dir() const { return run_dir_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& config_path() const { return config_path_; }
  pid_t pid() const { return pid_; }
  void forget() { pid_ = 0; }
  std::string log_text() const { return file_text(log_); }

  json call(const json& req, int timeout_ms = 10000) const {
    auto c = wa::ipc::ControlClient::connect(wa::ipc::control_url(run_dir_), timeout_ms);
    if (!c) throw std::runtime_error("connect: " + c.error().message);
    auto r = c->request(req);
    if (!r) throw std::runtime_error("request failed: " + r.error().message);
    return *r;
  }
  std::string call_raw(std::string_view text, int timeout_ms = 10000) const {
    auto c = wa::ipc::ControlClient::connect(wa::ipc::control_url(run_dir_), timeout_ms);
    if (!c) throw std::runtime_error("connect: " + c.error().message);
    auto r = c->request_raw(text);
    if (!r) throw std::runtime_error("request failed: " + r.error().message);
    return *r;
  }
  bool ping() const {
    auto c = wa::ipc::ControlClient::connect(wa::ipc::control_url(run_dir_), 1000);
    if (!c) return false;
    auto r = c->request({{"cmd", "ping"}});
    return r && r->value("ok", false);
  }
  json instance(const std::string& profile) const {
    json r = call({{"cmd", "status"}, {"profile", profile}});
    if (!r.value("ok", false) || r["result"]["instances"].size() != 1)
      throw std::runtime_error("unexpected status reply: " + r.dump());
    return r["result"]["instances"][0];
  }
  pid_t conn_pid(const std::string& profile) const {
    json i = instance(profile);
    return i["connection_pid"].is_null() ? 0 : i["connection_pid"].get<pid_t>();
  }
  std::string state(const std::string& profile) const { return instance(profile)["state"]; }
  bool wait_running(const std::string& profile, pid_t not_pid = 0, std::chrono::milliseconds t = 10s) const {
    return wait_until([&] {
      json i = instance(profile);
      return i["state"] == "running" && i["connection_pid"].is_number() && i["connection_pid"].get<pid_t>() != not_pid;
    }, t);
  }
  std::vector<pid_t> sender_pids(const std::string& profile) const {
    std::vector<pid_t> out;
    json inst = instance(profile);  // the loop must not range over a temporary's member
    for (auto& s : inst["senders"]) out.push_back(s["pid"].get<pid_t>());
    return out;
  }
  json send(const std::string& profile, const std::string& to, const std::string& client_id = "",
            int timeout_ms = 15000) const {
    json req{{"cmd", "send_text"}, {"profile", profile}, {"to", to}, {"text", "hello"}};
    if (!client_id.empty()) req["client_id"] = client_id;
    return call(req, timeout_ms);
  }

 private:
  TempDir dir_;
  std::string run_dir_, data_dir_, config_path_, log_;
  pid_t pid_ = 0;
};

// Sets environment variables for the processes a test starts (spawn passes
// ours on), and removes them again.
struct ScopedEnv {
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (auto& [k, v] : vars_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (auto& [k, v] : vars_) ::unsetenv(k.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  std::vector<std::pair<std::string, std::string>> vars_;
};

// Runs a program to its end; returns its exit code (-1: killed or timed out)
// and what it printed (stdout and stderr).
inline std::pair<int, std::string> run_program(const std::vector<std::string>& argv, const std::string& out,
                                               std::chrono::milliseconds timeout = 20s) {
  std::filesystem::remove(out);
  pid_t pid = spawn(argv, out);
  int st = wait_exit(pid, timeout);
  if (st == -1) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, 5s);
  }
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return {st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

inline std::string error_code(const json& reply) {
  if (reply.value("ok", false)) return "";
  return reply["error"].value("code", "");
}

}  // namespace harness
