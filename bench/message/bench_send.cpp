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
//       warm: M sends spread over the N recipients with C requests
//             outstanding; sends acked per second;
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
      if (!r || !r->value("ok", false)) die("scan failed");
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

  // Warm: C clients, each taking the next message number.
  std::atomic<int> next{0};
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
      for (int i = next++; i < messages; i = next++) send(wc, i, "warm " + std::to_string(i));
    });
  for (auto& w : workers) w.join();
  double secs = ms_since(t0) / 1000.0;
  sampling = false;
  sampler.join();
  std::printf("warm sends acked: %d in %.2f s = %.0f/s (%d recipients, %d outstanding)\n", messages, secs,
              messages / secs, n, conc);
  std::vector<double> pssd(pss.begin(), pss.end());
  std::printf("sender worker PSS during the warm run: p50 %.0f kB, max %.0f kB (%zu samples)\n", pct(pssd, 0.5),
              pct(pssd, 1.0), pssd.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
