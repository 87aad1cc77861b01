// A wa-testserver process for the process tests: started with --listen
// 127.0.0.1:0 on a state dir (2024 phone-number addressing unless the test
// asks for --addressing), ready once DIR/ready exists; SIGTERM at the end
// must give a clean exit.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "load_client.hpp"
#include "wa/ipc/client.hpp"

extern char** environ;

namespace wa::loadclient::test_support {

using namespace std::chrono_literals;

class Server {
 public:
  explicit Server(const std::string& dir, std::vector<std::string> extra = {}) : dir_(dir), extra_(std::move(extra)) {
    start();
  }
  // A clean exit on SIGTERM (under ASan: no leak, no memory error reported).
  ~Server() { CHECK(stop() == 0); }

  void start() {
    std::filesystem::remove(dir_ + "/ready");
    std::string bin = WA_TESTSERVER_BIN;
    std::vector<std::string> args{bin, "serve", "--listen", "127.0.0.1:0", "--state", dir_};
    args.insert(args.end(), extra_.begin(), extra_.end());
    // These tests speak the 2024 phone-number protocol unless they ask for
    // the LID-first server (the default) by name.
    if (std::find(extra_.begin(), extra_.end(), "--addressing") == extra_.end())
      args.insert(args.end(), {"--addressing", "pn"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn");
    // DIR/ready appears only once the server listens: wait for it with a deadline.
    auto end = std::chrono::steady_clock::now() + 15s;
    while (!std::filesystem::exists(dir_ + "/ready")) {
      if (std::chrono::steady_clock::now() > end) throw std::runtime_error("server did not become ready");
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) throw std::runtime_error("server exited at start");
      std::this_thread::sleep_for(20ms);
    }
    env_ = Env::from_state_dir(dir_);
  }
  int stop() {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  const Env& env() const { return env_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  nlohmann::json admin(const nlohmann::json& req) {
    auto cl = ipc::ControlClient::connect("ipc://" + dir_ + "/admin.sock", 10000);
    if (!cl) throw std::runtime_error("admin connect");
    auto r = cl->request(req);
    if (!r) throw std::runtime_error("admin request");
    return *r;
  }
  void fault(const std::string& jid, const std::string& action, nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json req{{"cmd", "fault"}, {"jid", jid}, {"action", action}};
    for (auto& [k, v] : extra.items()) req[k] = v;
    auto r = admin(req);
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  }

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = 0;
  Env env_;
};


}  // namespace wa::loadclient::test_support
