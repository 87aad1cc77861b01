// Load bench for wa-testserver: connections held, memory per connection,
// routing latency and throughput, with clients from load_client.hpp.
//   bench_testserver --state DIR --pid SERVER_PID [--connections N] [--messages M] [--pings P]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "load_client.hpp"
#include "wa/ipc/client.hpp"

using namespace wa;
using namespace wa::loadclient;
using binary::Node;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_testserver: %s\n", what.c_str());
  std::exit(1);
}

long rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

int run(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    die(e.what());
  }
}

namespace {

int run(int argc, char** argv) {
  std::string dir;
  int pid = 0;
  size_t connections = 1000, messages = 20000, pings = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--state") dir = argv[i + 1];
    else if (k == "--pid") pid = std::atoi(argv[i + 1]);
    else if (k == "--connections") connections = std::strtoul(argv[i + 1], nullptr, 10);
    else if (k == "--messages") messages = std::strtoul(argv[i + 1], nullptr, 10);
    else if (k == "--pings") pings = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (dir.empty() || pid <= 0) die("usage: bench_testserver --state DIR --pid PID [--connections N] [--messages M] [--pings P]");
  Env env = Env::from_state_dir(dir);

  // 1. Pair + hold N logged-in connections.
  long rss0 = rss_kb(pid);
  auto t0 = Clock::now();
  std::vector<Creds> creds;
  for (size_t i = 0; i < connections; ++i) creds.push_back(pair_device(env, std::to_string(1550000000ull + i)));
  double pair_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long rss_paired = rss_kb(pid);
  t0 = Clock::now();
  std::vector<WaConn> conns;
  conns.reserve(connections);
  for (const auto& c : creds) conns.push_back(login(env, c));
  double login_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long rss_held = rss_kb(pid);
  auto cl = ipc::ControlClient::connect("ipc://" + dir + "/admin.sock", 10000);
  if (!cl) die("admin: " + cl.error().message);
  auto st = cl->request({{"cmd", "status"}});
  if (!st) die("status: " + st.error().message);
  size_t online = (*st)["result"]["online"].get<size_t>();
  std::printf("connections held (logged in, all online at the server): %zu\n", online);
  std::printf("pairing: %zu devices in %.2f s (%.1f ms each, 2 handshakes + admin scan)\n", connections, pair_s,
              1000.0 * pair_s / static_cast<double>(connections));
  std::printf("login:   %zu connections in %.2f s (%.2f ms each)\n", connections, login_s,
              1000.0 * login_s / static_cast<double>(connections));
  std::printf("server RSS: idle %ld KiB, after pairing %ld KiB, holding %zu connections %ld KiB\n", rss0, rss_paired,
              online, rss_held);
  if (connections)
    std::printf("memory per held connection: %.1f KiB\n",
                static_cast<double>(rss_held - rss_paired) / static_cast<double>(connections));

  if (conns.size() < 2) return 0;
  WaConn& a = conns[0];
  WaConn& b = conns[1];
  Bytes body = crypto::random_bytes(64);

  // 2. Latency: one message at a time, A -> server -> B.
  std::vector<double> lat;
  lat.reserve(pings);
  for (size_t i = 0; i < pings; ++i) {
    auto s = Clock::now();
    a.send(text_to(creds[1], "P" + std::to_string(i), body));
    b.recv_tag("message");
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
    a.recv_tag("ack");
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) { return lat[std::min(lat.size() - 1, static_cast<size_t>(q * static_cast<double>(lat.size())))]; };
  std::printf("routing latency (1:1, 64-byte enc, loopback, %zu msgs): p50 %.0f us, p99 %.0f us, max %.0f us\n", pings,
              pct(0.50), pct(0.99), lat.back());

  // 3. Throughput: A streams M messages; B receives them all.
  t0 = Clock::now();
  std::thread writer([&] {
    for (size_t i = 0; i < messages; ++i) a.send(text_to(creds[1], "T" + std::to_string(i), body));
  });
  for (size_t i = 0; i < messages; ++i) b.recv_tag("message");
  double tput_s = std::chrono::duration<double>(Clock::now() - t0).count();
  writer.join();
  for (size_t i = 0; i < messages; ++i) a.recv_tag("ack");
  std::printf("throughput: %zu messages routed in %.2f s = %.0f msg/s (each: decrypt, decode, route, encode, encrypt, ack)\n",
              messages, tput_s, static_cast<double>(messages) / tput_s);
  return 0;
}

}  // namespace
