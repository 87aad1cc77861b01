// The send path end to end (scripts/bench/send.sh): our account behind
// wa-supervisor sends through the control socket to recipients on a
// wa-testserver.
//
//   bench_send prepare --state DIR --prefix P --count N
//       creates N recipient accounts (phones P0000000..), each with a
//       companion device paired like a real one (wa_testserver_loadclient).
//   bench_send run --state DIR --run-dir R --profile NAME --phone PHONE
//                  --prefix P --count N --messages M --concurrency C
//       pairs NAME (QR from its event, scanned through the server's admin
//       socket), then:
//       cold: one send to each recipient in turn (new conversation: sender
//             fork, usync, prekey bundle, pkmsg); latency p50/p99;
//       warm, one at a time: one send to each recipient in turn (sender,
//             session and device list already there); latency p50/p99;
//       warm: M sends spread over the N recipients with C requests
//             outstanding; sends acked per second, latency p50/p99;
//       PSS of the wa-sender processes sampled during the warm run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "load_client.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "bench_send: %s\n", m.c_str());
  std::exit(1);
}

std::string arg(int argc, char** argv, const std::string& name, const char* def = nullptr) {
  for (int i = 2; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  if (!def) die("missing --" + name);
  return def;
}

std::string phone_of(const std::string& prefix, int i) {
  std::string n = std::to_string(i);
  return prefix + std::string(7 - std::min<size_t>(7, n.size()), '0') + n;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Proportional set size of a process in kB (0 if gone).
long pss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Pss:", 0) == 0) return std::stol(line.substr(4));
  return 0;
}

// utime + stime of a process in clock ticks (0 if gone).
long cpu_ticks(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  if (!std::getline(f, all)) return 0;  // gone (an iterator would throw on ESRCH)
  auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(all.substr(close + 2));
  std::string tok;
  long ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) {
    if (field == 14) ut = std::stol(tok);
    if (field == 15) {
      st = std::stol(tok);
      break;
    }
  }
  return ut + st;
}

wa::ipc::ControlClient control(const std::string& run_dir) {
  auto c = wa::ipc::ControlClient::connect(wa::ipc::control_url(run_dir), 120000);
  if (!c) die("control socket: " + c.error().message);
  return std::move(*c);
}

json call(wa::ipc::ControlClient& c, const json& req) {
  auto r = c.request(req);
  if (!r) die("request: " + r.error().message);
  return *r;
}

void pair(const std::string& state, const std::string& run_dir, const std::string& profile, const std::string& phone) {
  auto ev = wa::ipc::EventClient::connect(wa::ipc::events_url(run_dir), profile);
  if (!ev) die("events: " + ev.error().message);
  auto c = control(run_dir);
  // The QR may have gone by before we subscribed: a restart shows a new one.
  (void)call(c, {{"cmd", "stop"}, {"profile", profile}});
  (void)call(c, {{"cmd", "start"}, {"profile", profile}});
  std::string qr;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  bool open = false;
  while (Clock::now() < deadline && !open) {
    auto e = ev->next(200);
    if (!e || !*e) continue;
    const json& j = **e;
    if (j.value("type", "") == "qr" && qr.empty()) {
      qr = j.value("qr", "");
      auto admin = wa::ipc::ControlClient::connect("ipc://" + state + "/admin.sock", 30000);
      if (!admin) die("admin socket: " + admin.error().message);
      auto r = admin->request({{"cmd", "scan"}, {"phone", phone}, {"qr", qr}});
      if (!r) die("scan failed: " + r.error().message);
      // A QR of the connection the restart replaced can still come through
      // first: wait for the next one.
      const json* error = r->contains("error") ? &(*r)["error"] : nullptr;
      if (!r->value("ok", false) && error && error->is_object() && error->value("code", "") == "unknown_ref") {
        qr.clear();
        continue;
      }
      if (!r->value("ok", false)) die("scan refused: " + r->dump());
    }
    if (j.value("type", "") == "connection" && j.value("state", "") == "open") open = true;
  }
  if (!open) die("our account did not open");
}

int prepare(int argc, char** argv) {
  auto env = wa::loadclient::Env::from_state_dir(arg(argc, argv, "state"));
  std::string prefix = arg(argc, argv, "prefix");
  int n = std::stoi(arg(argc, argv, "count"));
  for (int i = 0; i < n; ++i) wa::loadclient::pair_device(env, phone_of(prefix, i));
  return 0;
}

int run(int argc, char** argv) {
  const std::string state = arg(argc, argv, "state"), run_dir = arg(argc, argv, "run-dir");
  const std::string profile = arg(argc, argv, "profile"), prefix = arg(argc, argv, "prefix");
  const int n = std::stoi(arg(argc, argv, "count"));
  const int messages = std::stoi(arg(argc, argv, "messages", "1000"));
  const int conc = std::stoi(arg(argc, argv, "concurrency", "64"));
  pair(state, run_dir, profile, arg(argc, argv, "phone"));
  auto send = [&](wa::ipc::ControlClient& c, int i, const std::string& text) {
    json r = call(c, {{"cmd", "send_text"}, {"profile", profile},
                      {"to", phone_of(prefix, i % n) + "@s.whatsapp.net"}, {"text", text}});
    if (!r.value("ok", false)) die("send failed: " + r.dump());
  };

  // Cold: every conversation new (the warm-up of the throughput run).
  auto c = control(run_dir);
  std::vector<double> cold;
  for (int i = 0; i < n; ++i) {
    auto t = Clock::now();
    send(c, i, "cold " + std::to_string(i));
    cold.push_back(ms_since(t));
  }
  std::printf("cold send (new sender, usync, bundle, pkmsg), %d recipients: p50 %.1f ms, p99 %.1f ms\n", n,
              pct(cold, 0.5), pct(cold, 0.99));

  // Warm, one outstanding: the latency of a single warm send.
  std::vector<double> single;
  for (int i = 0; i < n; ++i) {
    auto t = Clock::now();
    send(c, i, "single " + std::to_string(i));
    single.push_back(ms_since(t));
  }
  std::printf("warm send, one outstanding, %d recipients: p50 %.2f ms, p99 %.2f ms\n", n, pct(single, 0.5),
              pct(single, 0.99));

  // Where the CPU goes during the warm run, per process class.
  json st0 = call(c, {{"cmd", "status"}, {"profile", profile}});
  std::vector<std::pair<std::string, std::vector<int>>> procs = {
      {"wa-testserver", {std::stoi(arg(argc, argv, "server-pid", "0"))}},
      {"wa-supervisor", {std::stoi(arg(argc, argv, "supervisor-pid", "0"))}},
      {"wa-connection", {st0["result"]["instances"][0].value("connection_pid", 0)}},
      {"wa-sender (all)", {}},
      {"bench_send (the clients)", {static_cast<int>(getpid())}}};
  for (auto& s : st0["result"]["instances"][0]["senders"]) procs[3].second.push_back(s.value("pid", 0));
  auto ticks = [&] {
    std::vector<long> t;
    for (auto& [name, pids] : procs) {
      long sum = 0;
      for (int pid : pids)
        if (pid > 0) sum += cpu_ticks(pid);
      t.push_back(sum);
    }
    return t;
  };
  const auto cpu0 = ticks();

  // Warm: C clients, each taking the next message number.
  std::atomic<int> next{0};
  std::vector<double> lat(static_cast<size_t>(messages));
  std::atomic<bool> sampling{true};
  std::vector<long> pss;
  std::mutex mu;
  std::thread sampler([&] {
    auto sc = control(run_dir);
    while (sampling) {
      json st = call(sc, {{"cmd", "status"}, {"profile", profile}});
      // A few senders per round: reading smaps costs the CPU being measured.
      size_t seen = 0;
      for (auto& s : st["result"]["instances"][0]["senders"]) {
        if (++seen > 4) break;
        long k = pss_kb(s.value("pid", 0));
        std::lock_guard lk(mu);
        if (k > 0) pss.push_back(k);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a sampling period, not synchronisation
    }
  });
  std::vector<std::thread> workers;
  auto t0 = Clock::now();
  for (int w = 0; w < conc; ++w)
    workers.emplace_back([&] {
      auto wc = control(run_dir);
      for (int i = next++; i < messages; i = next++) {
        auto t = Clock::now();
        send(wc, i, "warm " + std::to_string(i));
        lat[static_cast<size_t>(i)] = ms_since(t);
      }
    });
  for (auto& w : workers) w.join();
  double secs = ms_since(t0) / 1000.0;
  sampling = false;
  sampler.join();
  std::printf("warm sends acked: %d in %.2f s = %.0f/s (%d recipients, %d outstanding)\n", messages, secs,
              messages / secs, n, conc);
  std::printf("warm send latency, %d outstanding: p50 %.2f ms, p99 %.2f ms\n", conc, pct(lat, 0.5), pct(lat, 0.99));
  const auto cpu1 = ticks();
  const double us_per_tick = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  for (size_t k = 0; k < procs.size(); ++k)
    std::printf("  CPU per warm send, %s: %.0f us\n", procs[k].first.c_str(),
                static_cast<double>(cpu1[k] - cpu0[k]) * us_per_tick / messages);
  std::vector<double> pssd(pss.begin(), pss.end());
  std::printf("sender worker PSS during the warm run: p50 %.0f kB, max %.0f kB (%zu samples)\n", pct(pssd, 0.5),
              pct(pssd, 1.0), pssd.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress visible when piped (profiling starts on it)
  if (argc < 2) die("usage: bench_send prepare|run ...");
  std::string mode = argv[1];
  try {
    if (mode == "prepare") return prepare(argc, argv);
    if (mode == "run") return run(argc, argv);
  } catch (const std::exception& e) {
    die(e.what());
  }
  die("unknown mode " + mode);
}
