// The receive side of one account, and a worker's restart, against
// wa-testserver on this machine:
//
//   bench_receive BIN_DIR flood [senders] [messages_per_sender]
//     One of our accounts (wa-supervisor + wa-connection) flooded by many
//     sender devices. The senders are real paired companions (the test
//     server's load client) that encrypt with real Signal sessions to our
//     account BEFORE the clock starts (prekey bundle, pkmsg, then msg), so
//     what is timed is only our side: decrypt + durable inbox commit +
//     delivery receipt, until the server has counted every receipt.
//
//   (What many idle accounts cost, and their cold start: bench_scale.)
//
//   bench_receive BIN_DIR kill [cycles]
//     kill -9 of a connected account's connection worker -> its
//     `connection open` event again (supervisor notices, re-forks, the new
//     worker opens its store and logs in), p50/p99.
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
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "load_client.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "rig.hpp"
#include "supervised_rig.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/proto/message.pb.h"
#include "wa/signal/session.hpp"
#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_store.hpp"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace wa;

namespace {

std::string g_bin;


// Thrown, so the rig's destructor still stops the server and the supervisor.
[[noreturn]] void die(const std::string& why) { throw std::runtime_error(why); }

// CPU time (user + system, all threads) of one process so far, in µs.
double cpu_us(pid_t pid) {
  return static_cast<double>(rig::cpu_ticks(pid)) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string s;
  std::getline(f, s);
  return s;
}


double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// A server and a supervisor in a temporary directory.
// The load-client senders speak the 2024 phone-number protocol.
struct Rig : rig::SupervisedRig {
  explicit Rig(const json& extra_config = json::object()) : SupervisedRig(g_bin, {"--addressing", "pn"}) {
    start_supervisor(extra_config);
  }
};

// ---------------------------------------------------------------- flood

struct Sender {
  loadclient::Creds creds;
  std::unique_ptr<store::Store> st;
  std::unique_ptr<signal::SignalSession> sig;
  std::optional<loadclient::WaConn> conn;
  std::vector<binary::Node> stanzas;
};

int flood(int senders, int per_sender) {
  Rig rig;
  const std::string target_phone = "15557770000";
  rig.pair("target", target_phone);
  binary::Jid target = *binary::Jid::parse(target_phone + "@s.whatsapp.net");
  auto env = loadclient::Env::from_state_dir(rig.ts_state);

  // Sender stores live in memory-backed files: encrypting ahead of the clock
  // is not what is measured.
  std::string shm = "/dev/shm/wab-" + std::to_string(::getpid());
  std::filesystem::create_directories(shm);
  std::vector<Sender> s(static_cast<size_t>(senders));
  auto t_prep = Clock::now();
  for (int k = 0; k < senders; ++k) {
    Sender& x = s[static_cast<size_t>(k)];
    x.creds = loadclient::pair_device(env, "1555888" + std::to_string(1000 + k));
    auto st = store::open_sqlite(shm + "/s" + std::to_string(k) + ".db");
    if (!st) die("store: " + st.error().message);
    x.st = std::move(*st);
    (void)x.st->put_credential(store::cred::identity_pub, x.creds.identity.pub);
    (void)x.st->put_credential(store::cred::identity_priv, x.creds.identity.priv);
    (void)x.st->put_credential(store::cred::registration_id, store::encode_u32(x.creds.registration_id));
    (void)x.st->put_credential(store::cred::own_jid, as_bytes(x.creds.jid));
    auto sig = signal::SignalSession::create(*x.st);
    if (!sig) die("signal: " + sig.error().message);
    x.sig = std::move(*sig);
    x.conn.emplace(loadclient::login(env, x.creds));
    message::Transport net;
    int iq_n = 0;
    net.iq = [&](const binary::Node& iq) -> Result<binary::Node> {
      binary::Node q = iq;
      std::string id = "b" + std::to_string(++iq_n);
      q.set_attr("id", id);
      x.conn->send(q);
      for (;;) {
        binary::Node n = x.conn->recv(10000);
        if (n.tag == "iq" && n.attr_or("id", "") == id) return n;
      }
    };
    // Captured instead of sent: the flood goes out later, all at once.
    net.relay = [&](const binary::Node& stanza, const std::string& id) -> Result<binary::Node> {
      x.stanzas.push_back(stanza);
      return binary::Node("ack", {{"class", "message"}, {"id", id}});
    };
    for (int i = 0; i < per_sender; ++i) {
      proto::Message m;
      m.set_conversation("flood " + std::to_string(k) + "/" + std::to_string(i));
      std::string body = m.SerializeAsString();
      auto r = message::send_message(*x.st, *x.sig, net, target, as_bytes(body));
      if (!r) die("encrypt: " + r.error().code + " " + r.error().message);
    }
  }
  double prep_s = std::chrono::duration<double>(Clock::now() - t_prep).count();
  const uint64_t total = static_cast<uint64_t>(senders) * static_cast<uint64_t>(per_sender);
  const uint64_t base = rig.server_status()["counters"]["receipts"].get<uint64_t>();
  // Where the CPU goes, per process: utime+stime over the timed window.
  pid_t worker = -1;
  {
    json r = rig.control({{"cmd", "status"}, {"profile", "target"}});
    const json& inst = r["result"]["instances"][0];
    if (inst.is_object() && inst["connection_pid"].is_number()) worker = inst["connection_pid"].get<pid_t>();
  }
  struct Proc {
    const char* name;
    pid_t pid;
    double before = 0, after = 0;
  };
  std::vector<Proc> procs{{"wa-connection (the account)", worker},
                          {"wa-supervisor", rig.sup},
                          {"wa-testserver", rig.ts},
                          {"bench_receive (load clients + polling)", ::getpid()}};
  const std::string load_before = loadavg();
  for (auto& p : procs) p.before = cpu_us(p.pid);

  // The flood: every sender's stanzas, interleaved, as fast as the sockets take them.
  auto t0 = Clock::now();
  for (int i = 0; i < per_sender; ++i)
    for (auto& x : s) x.conn->send(x.stanzas[static_cast<size_t>(i)]);
  auto t_sent = Clock::now();
  uint64_t receipted = 0;
  auto deadline = t0 + std::chrono::seconds(300);
  while (Clock::now() < deadline) {
    receipted = rig.server_status()["counters"]["receipts"].get<uint64_t>() - base;
    if (receipted >= total) break;
    // Polling a counter, not synchronising. Every poll is a status request
    // the server answers (an SQL count), CPU taken from what is measured:
    // poll every 2 ms only near the end, else at a quarter of the time the
    // rest should take at the rate so far (at most 25 ms).
    const double elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    double wait_ms = 2;
    if (receipted > 0)
      wait_ms = std::clamp(elapsed_ms / static_cast<double>(receipted) * static_cast<double>(total - receipted) / 4,
                           2.0, 25.0);
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(wait_ms * 1000)));
  }
  auto t_end = Clock::now();
  for (auto& p : procs) p.after = cpu_us(p.pid);
  const std::string load_after = loadavg();
  double secs = std::chrono::duration<double>(t_end - t0).count();
  double send_s = std::chrono::duration<double>(t_sent - t0).count();

  // What the account stored: its inbox, from its own database.
  size_t stored = 0;
  const char* pg = std::getenv("BENCH_PG_CONNINFO_FILE");
  auto opened = [&]() -> Result<std::unique_ptr<store::Store>> {
    if (pg == nullptr || *pg == '\0') return store::open_sqlite(rig.data_dir + "/target/store.db");
    auto info = store::pg_conninfo(pg);
    if (!info) return Unexpected<Error>{info.error()};
    return store::open_postgres(store::PgOptions{*info, "target"});
  }();
  if (auto& st = opened) {
    int64_t after = 0;
    for (;;) {
      auto rows = (*st)->inbox_since(after, 1000);
      if (!rows || rows->empty()) break;
      for (const auto& e : *rows) {
        after = e.seq;
        if (e.type == "message") ++stored;
      }
    }
  }
  std::printf("# inbound flood: %d senders x %d messages to one account (wa-testserver on 127.0.0.1, %u cpu)\n", senders,
              per_sender, std::thread::hardware_concurrency());
  std::printf("store: %s\n", pg != nullptr && *pg != '\0' ? "PostgreSQL (durable commits)" : "SQLite");
  std::printf("pre-encrypted in %.1f s (not timed)\n", prep_s);
  std::printf("%-52s %llu / %llu in %.3f s (stanzas written in %.3f s)\n", "receipted by our account", static_cast<unsigned long long>(receipted),
              static_cast<unsigned long long>(total), secs, send_s);
  std::printf("%-52s %.0f /s\n", "decrypted + stored + receipted", static_cast<double>(receipted) / secs);
  std::printf("%-52s %zu\n", "message entries in the account's inbox", stored);
  const double n = static_cast<double>(std::max<uint64_t>(receipted, 1));
  double all = 0;
  for (const auto& p : procs) {
    const double us = p.after - p.before;
    all += us;
    std::printf("CPU %-48s %7.1f µs/msg  (%.0f%% of one core)\n", p.name, us / n, us / 1e4 / secs);
  }
  std::printf("CPU %-48s %7.1f µs/msg\n", "all four", all / n);
  std::printf("loadavg before / after: %s / %s\n", load_before.c_str(), load_after.c_str());
  for (auto& x : s) x.conn.reset();
  std::error_code ec;
  std::filesystem::remove_all(shm, ec);
  return receipted >= total && stored == total ? 0 : 1;
}

// ---------------------------------------------------------------- kill -9

int kill_cycles(int cycles) {
  // Restarts spaced by the bench loop, not by backoff: every restart of the
  // window is immediate, so what is timed is the mechanics.
  Rig rig(json{{"restart", {{"intensity", 1000}, {"period_s", 1}, {"backoff_min_ms", 0}, {"backoff_max_ms", 0}}}});
  rig.pair("victim", "15554440000");
  std::vector<double> ms;
  for (int i = 0; i < cycles; ++i) {
    pid_t pid = 0;
    for (int tries = 0; tries < 500 && pid <= 0; ++tries) {
      json r = rig.control({{"cmd", "status"}, {"profile", "victim"}});
      const json& inst = r["result"]["instances"][0];
      if (inst.is_object() && inst["connection_pid"].is_number()) pid = inst["connection_pid"].get<pid_t>();
      if (pid <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // worker being re-forked
    }
    if (pid <= 0) die("no connection pid");
    auto t0 = Clock::now();
    ::kill(pid, SIGKILL);
    auto open = rig.next_event("victim", "connection", "open");
    if (!open) die("not open again after kill");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  double sum = 0;
  for (double x : ms) sum += x;
  std::printf("# kill -9 of the connection worker -> `connection open` again (%u cpu)\n", std::thread::hardware_concurrency());
  std::printf("%-44s n=%zu mean %.2f ms  p50 %.2f  p99 %.2f  max %.2f\n", "kill -9 -> open", ms.size(),
              sum / static_cast<double>(ms.size()), pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_receive BIN_DIR flood [senders] [per_sender] | kill [cycles]\n");
    return 64;
  }
  g_bin = argv[1];
  std::string mode = argv[2];
  int a = argc > 3 ? std::atoi(argv[3]) : 0;
  int b = argc > 4 ? std::atoi(argv[4]) : 0;
  try {
    if (mode == "flood") return flood(a > 0 ? a : 20, b > 0 ? b : 500);
    if (mode == "kill") return kill_cycles(a > 0 ? a : 100);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_receive: %s\n", e.what());
    return 1;
  }
  return 64;
}
