// Connect -> `open` time of a paired account against wa-testserver on this
// machine: the worker's own measurement (socket, Noise handshake with
// certificate check, login, prekey count, passive) over socket-level
// reconnects, and the operator's view of a full instance restart (stop,
// fork+exec of the worker, store open, connect, login).
//   bench_connect BIN_DIR [cycles]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "rig.hpp"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_bin;

using rig::run;
using rig::slurp;
using rig::spawn;
using rig::wait_file;

// Next event of `type` (and state) within 30 s.
std::optional<json> next_event(wa::ipc::EventClient& ev, const std::string& type, const std::string& state = "") {
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    auto e = ev.next(200);
    if (!e) return std::nullopt;
    if (*e && (**e).value("type", "") == type && (state.empty() || (**e).value("state", "") == state)) return **e;
  }
  return std::nullopt;
}

void report(const char* what, std::vector<double> v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))]; };
  std::printf("%-44s n=%-4zu mean %7.2f ms  p50 %7.2f  p95 %7.2f  max %7.2f\n", what, v.size(), sum / static_cast<double>(v.size()),
              pct(0.5), pct(0.95), v.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_connect BIN_DIR [cycles]\n");
    return 64;
  }
  g_bin = argv[1];
  int cycles = argc > 2 ? std::atoi(argv[2]) : 20;
  char tmpl[] = "/tmp/wab.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string ts_state = dir + "/ts";
  pid_t ts = spawn({g_bin + "/wa-testserver", "serve", "--listen", "127.0.0.1:0", "--state", ts_state}, dir + "/ts.log");
  if (ts < 0 || !wait_file(ts_state + "/port") || !wait_file(ts_state + "/root.pub")) {
    std::fprintf(stderr, "wa-testserver did not start\n");
    return 1;
  }
  json cfg{{"run_dir", dir + "/run"},
           {"data_dir", dir + "/data"},
           {"server", {{"url", "ws://127.0.0.1:" + slurp(ts_state + "/port") + "/ws/chat"},
                       {"root_public_key", slurp(ts_state + "/root.pub").substr(0, 64)}}},
           {"restart", {{"intensity", 1000}, {"period_s", 1}}},
           {"instances", json::array()}};
  std::ofstream(dir + "/config.json") << cfg.dump();
  pid_t sup = spawn({g_bin + "/wa-supervisor", "--config", dir + "/config.json"}, dir + "/sup.log");
  auto control = [&](const json& req) -> json {
    for (int i = 0; i < 500; ++i) {
      auto c = wa::ipc::ControlClient::connect(wa::ipc::control_url(dir + "/run"), 30000);
      if (c) {
        auto r = c->request(req);
        if (r) return *r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // supervisor still starting
    }
    return json();
  };
  if (!control({{"cmd", "ping"}}).value("ok", false)) {
    std::fprintf(stderr, "supervisor did not start\n");
    return 1;
  }
  auto ev = wa::ipc::EventClient::connect(wa::ipc::events_url(dir + "/run"), "bench");
  if (!ev) return 1;
  control({{"cmd", "start"}, {"profile", "bench"}, {"create", true}});
  auto qr = next_event(*ev, "qr");
  if (!qr) {
    std::fprintf(stderr, "no QR\n");
    return 1;
  }
  if (run({g_bin + "/wa-testserver", "scan", "--state", ts_state, "--phone", "15559990000", "--qr", (*qr)["qr"]},
          dir + "/scan.log") != 0)
    return 1;
  auto first = next_event(*ev, "connection", "open");
  if (!first) return 1;
  std::string jid = (*first)["jid"];
  std::printf("# connect -> open, paired account, wa-testserver on 127.0.0.1 (%u cpu)\n",
              std::thread::hardware_concurrency());
  std::printf("%-44s %7.2f ms (incl. first upload of 812 prekeys)\n", "first login after pairing (worker)",
              (*first).value("connect_ms", 0.0));

  std::vector<double> worker_ms, restart_ms;
  for (int i = 0; i < cycles; ++i) {
    // Socket-level reconnect inside the worker (its backoff wait is excluded).
    run({g_bin + "/wa-testserver", "fault", "--state", ts_state, "--jid", jid, "close"}, dir + "/fault.log");
    auto open = next_event(*ev, "connection", "open");
    if (!open) break;
    worker_ms.push_back((*open).value("connect_ms", 0.0));
  }
  for (int i = 0; i < cycles; ++i) {
    auto t0 = Clock::now();
    control({{"cmd", "restart"}, {"profile", "bench"}});
    auto open = next_event(*ev, "connection", "open");
    if (!open) break;
    restart_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    worker_ms.push_back((*open).value("connect_ms", 0.0));
  }
  report("connect -> open (worker: ws+noise+login)", worker_ms);
  report("restart command -> open (stop+spawn+login)", restart_ms);
  control({{"cmd", "shutdown"}});
  waitpid(sup, nullptr, 0);
  kill(ts, SIGTERM);
  waitpid(ts, nullptr, 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
