// Benchmarks of the supervision spine (issue: supervision spine). Real
// binaries, real sockets; prints one line per measurement.
//   restart latency: kill -9 -> new connection worker ready on its link
//   sender fork -> ready: cold send (fork + dial + first job) minus warm send
//   idle PSS of supervisor, connection worker, sender
//   ping round trip with 16 concurrent clients
//   N instances: time to all ready and total PSS
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <future>
#include <numeric>

#include "harness.hpp"

using namespace harness;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Stats {
  double p50, p99, mean;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {at(0.50), at(0.99), std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size())};
}

long pss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long v = 0;
  while (f >> key) {
    if (key == "Pss:") {
      f >> v;
      return v;
    }
    f.ignore(1 << 20, '\n');
  }
  return -1;
}

void restart_latency(int rounds) {
  Supervisor sup(json{{"restart", {{"intensity", 1000}, {"period_s", 1}, {"backoff_min_ms", 0}, {"backoff_max_ms", 0}}}});
  EventLog events(sup.run_dir());
  if (!sup.wait_running("alpha")) throw std::runtime_error("alpha not running");
  std::vector<double> lat;
  for (int i = 0; i < rounds; ++i) {
    pid_t old = sup.conn_pid("alpha");
    size_t seen = events.of("alpha", "instance_started").size();
    auto t0 = Clock::now();
    ::kill(old, SIGKILL);
    if (!events.wait_for([&](auto&) { return events.of("alpha", "instance_started").size() > seen; }, 10s))
      throw std::runtime_error("no restart");
    lat.push_back(ms_since(t0));
  }
  auto s = stats(lat);
  std::printf("restart_latency_ms rounds=%d p50=%.2f p99=%.2f mean=%.2f\n", rounds, s.p50, s.p99, s.mean);
}

void sender_fork(int rounds) {
  Supervisor sup(json{{"senders", {{"max_per_instance", 64}, {"idle_ms", 600000}}}});
  if (!sup.wait_running("alpha")) throw std::runtime_error("alpha not running");
  std::vector<double> cold, warm;
  for (int i = 0; i < rounds; ++i) {
    std::string to = std::to_string(100000 + i) + "@s.whatsapp.net";
    auto t0 = Clock::now();
    sup.send("alpha", to);
    cold.push_back(ms_since(t0));
    t0 = Clock::now();
    sup.send("alpha", to);
    warm.push_back(ms_since(t0));
  }
  auto c = stats(cold), w = stats(warm);
  std::printf("send_cold_ms (fork+ready+job) rounds=%d p50=%.2f p99=%.2f\n", rounds, c.p50, c.p99);
  std::printf("send_warm_ms (existing sender) rounds=%d p50=%.2f p99=%.2f\n", rounds, w.p50, w.p99);
  std::printf("sender_fork_to_ready_ms (cold-warm) p50=%.2f p99=%.2f\n", c.p50 - w.p50, c.p99 - w.p99);
  auto senders = sup.sender_pids("alpha");
  std::printf("idle_pss_kb supervisor=%ld connection=%ld sender=%ld\n", pss_kb(sup.pid()),
              pss_kb(sup.conn_pid("alpha")), senders.empty() ? -1 : pss_kb(senders[0]));
}

void ping_rtt(int clients, int per_client) {
  Supervisor sup;
  std::vector<std::future<std::vector<double>>> fs;
  for (int c = 0; c < clients; ++c)
    fs.push_back(std::async(std::launch::async, [&] {
      auto cl = wa::ipc::ControlClient::connect(wa::ipc::control_url(sup.run_dir()), 5000);
      if (!cl) throw std::runtime_error("connect");
      std::vector<double> v;
      for (int i = 0; i < per_client; ++i) {
        auto t0 = Clock::now();
        auto r = cl->request({{"cmd", "ping"}});
        if (!r) throw std::runtime_error("ping");
        v.push_back(ms_since(t0) * 1000.0);
      }
      return v;
    }));
  std::vector<double> all;
  auto t0 = Clock::now();
  for (auto& f : fs) {
    auto v = f.get();
    all.insert(all.end(), v.begin(), v.end());
  }
  double secs = ms_since(t0) / 1000.0;
  auto s = stats(all);
  std::printf("ping_rtt_us clients=%d requests=%zu p50=%.0f p99=%.0f throughput=%.0f/s\n", clients, all.size(), s.p50,
              s.p99, static_cast<double>(all.size()) / secs);
}

void many_instances(int n) {
  json list = json::array();
  for (int i = 0; i < n; ++i) list.push_back({{"profile", "acct" + std::to_string(i)}});
  auto t0 = Clock::now();
  Supervisor sup(json{{"instances", list}}, false);
  bool ok = wait_until([&] {
    if (!sup.ping()) return false;
    json r = sup.call({{"cmd", "status"}});
    for (auto& i : r["result"]["instances"])
      if (i["state"] != "running") return false;
    return true;
  }, 120s);
  double t = ms_since(t0);
  if (!ok) throw std::runtime_error("not all instances became ready");
  long total = pss_kb(sup.pid());
  json r = sup.call({{"cmd", "status"}});
  long workers = 0;
  for (auto& i : r["result"]["instances"]) workers += pss_kb(i["connection_pid"].get<pid_t>());
  std::printf("instances=%d all_ready_ms=%.0f supervisor_pss_kb=%ld workers_pss_kb=%ld per_instance_kb=%.0f\n", n, t,
              total, workers, static_cast<double>(workers) / n);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 50;
  int instances = argc > 2 ? std::atoi(argv[2]) : 200;
  restart_latency(rounds);
  sender_fork(rounds);
  ping_rtt(16, 500);
  many_instances(instances);
  return 0;
}
