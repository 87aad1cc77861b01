// A wa-testserver and one wa-supervisor in a private temporary directory,
// driven through the public sockets: what every connection benchmark that
// pairs accounts starts from (bench_receive, bench_scale). Failures throw,
// so the destructor still stops both processes.
#pragma once

#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rig.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"

namespace rig {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace ipc = wa::ipc;

class SupervisedRig {
 public:
  std::string bin, dir, ts_state, data_dir;
  pid_t ts = -1, sup = -1;
  json cfg;
  std::unique_ptr<ipc::EventClient> ev;
  bool keep = false;  // the directory stays (something to read in it)
  bool tls = false;   // BENCH_TLS=1: the server speaks wss://

  // `serve_args` go to `wa-testserver serve` after its listen and state.
  SupervisedRig(std::string bin_dir, const std::vector<std::string>& serve_args) : bin(std::move(bin_dir)) {
    char tmpl[] = "/tmp/wabench.XXXXXX";
    dir = mkdtemp(tmpl);
    ts_state = dir + "/ts";
    std::vector<std::string> argv{bin + "/wa-testserver", "serve", "--listen", "127.0.0.1:0", "--state", ts_state};
    argv.insert(argv.end(), serve_args.begin(), serve_args.end());
    // BENCH_TLS=1: wss://, as against the real server. The workers verify
    // the server against the system's CA directory, as by default, with the
    // local server's CA in its own (DIR/media-ca.d; SSL_CERT_DIR, inherited
    // through the supervisor).
    const char* tls_env = std::getenv("BENCH_TLS");
    tls = tls_env != nullptr && std::string(tls_env) == "1";
    if (tls) argv.push_back("--chat-tls");
    ts = spawn(argv, dir + "/ts.log", true);
    if (ts < 0 || !wait_file(ts_state + "/port") || !wait_file(ts_state + "/root.pub"))
      die("wa-testserver did not start");
    if (tls) {
      ::setenv("SSL_CERT_DIR", ("/etc/ssl/certs:" + ts_state + "/media-ca.d").c_str(), 1);
      // The default set-up is what is measured: a bundle named in the
      // bench's environment (some hosts set one) would be parsed whole.
      ::unsetenv("SSL_CERT_FILE");
    }
    const char* data_env = std::getenv("BENCH_DATA_DIR");
    data_dir = data_env != nullptr ? std::string(data_env) + "/wabench-data-" + std::to_string(::getpid()) : dir + "/data";
    cfg = {{"run_dir", dir + "/run"},
           {"data_dir", data_dir},
           {"server", {{"url", std::string(tls ? "wss" : "ws") + "://127.0.0.1:" + slurp(ts_state + "/port") + "/ws/chat"},
                       {"root_public_key", slurp(ts_state + "/root.pub").substr(0, 64)}}},
           {"instances", json::array()}};
    // BENCH_PG_CONNINFO_FILE: the accounts' state in PostgreSQL instead of
    // SQLite (scripts/bench/cluster.sh), one host holding every lease.
    if (const char* pg = std::getenv("BENCH_PG_CONNINFO_FILE"); pg != nullptr && *pg != '\0') {
      cfg["store"] = {{"engine", "postgres"}, {"conninfo_file", pg}};
      cfg["cluster"] = {{"host_id", "bench"}, {"scan_ms", 3600000}};
    }
  }
  void start_supervisor(const json& extra = json::object()) {
    json c = cfg;
    c.merge_patch(extra);
    std::ofstream(dir + "/config.json") << c.dump();
    sup = spawn({bin + "/wa-supervisor", "--config", dir + "/config.json"}, dir + "/sup.log", true);
    json pong = control({{"cmd", "ping"}});
    if (!pong.is_object() || !pong.value("ok", false)) die("supervisor did not start (see " + dir + "/sup.log)");
    auto e = ipc::EventClient::connect(ipc::events_url(dir + "/run"), "");
    if (!e) die("events: " + e.error().message);
    ev = std::make_unique<ipc::EventClient>(std::move(*e));
  }
  // SIGTERM: the same clean stop as `shutdown`, without a reply to wait
  // for from a process that may be gone (a request to a supervisor that
  // died waits out its whole timeout). One that ends other than cleanly is
  // said so, and its directory (sup.log) kept.
  void stop_supervisor() {
    ev.reset();
    if (sup <= 0) return;
    kill(sup, SIGTERM);
    int st = 0;
    const bool clean = waitpid(sup, &st, 0) == sup && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!clean) {
      std::fprintf(stderr, "bench: the supervisor did not stop cleanly (wait status %d); kept %s/sup.log\n", st,
                   dir.c_str());
      keep = true;
    }
    sup = -1;
  }
  ~SupervisedRig() {
    if (sup > 0) stop_supervisor();
    if (ts > 0) {
      kill(ts, SIGTERM);
      waitpid(ts, nullptr, 0);
    }
    if (!keep && std::getenv("BENCH_KEEP") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      std::filesystem::remove_all(data_dir, ec);
    }
  }

  json control(const json& req, int timeout_ms = 60000) const {
    for (int i = 0; i < 1000; ++i) {
      auto c = ipc::ControlClient::connect(ipc::control_url(dir + "/run"), timeout_ms);
      if (c) {
        auto r = c->request(req);
        if (r) return *r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // supervisor still starting
    }
    return json();
  }
  json server_status() const {
    auto c = ipc::ControlClient::connect("ipc://" + ts_state + "/admin.sock", 60000);
    if (!c) die("admin: " + c.error().message);
    auto r = c->request({{"cmd", "status"}});
    if (!r) die("admin: " + r.error().message);
    return (*r)["result"];
  }
  std::optional<json> next_event(const std::string& profile, const std::string& type, const std::string& state = "") {
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < deadline) {
      auto e = ev->next(200);
      if (!e) return std::nullopt;
      if (!*e) continue;
      const json& j = **e;
      if ((profile.empty() || j.value("profile", "") == profile) && j.value("type", "") == type &&
          (state.empty() || j.value("state", "") == state))
        return j;
    }
    return std::nullopt;
  }
  json pair(const std::string& profile, const std::string& phone) {
    control({{"cmd", "start"}, {"profile", profile}, {"create", true}});
    auto qr = next_event(profile, "qr");
    if (!qr) die("no QR for " + profile);
    if (run({bin + "/wa-testserver", "scan", "--state", ts_state, "--phone", phone, "--qr", (*qr)["qr"]},
                 dir + "/scan.log", true) != 0)
      die("scan failed for " + profile);
    auto open = next_event(profile, "connection", "open");
    if (!open) die("not open: " + profile);
    return *open;
  }
  // Accounts whose connection is open, from one `status`.
  size_t open_count(size_t* reply_bytes = nullptr) const {
    json r = control({{"cmd", "status"}}, 120000);
    if (!r.value("ok", false)) die("status: " + r.dump().substr(0, 200));
    if (reply_bytes != nullptr) *reply_bytes = r.dump().size();
    size_t n = 0;
    for (const auto& i : r["result"]["instances"])
      if (i["connection"].is_object() && i["connection"].value("state", "") == "open") ++n;
    return n;
  }
  // Until `n` accounts are open. The event stream says when, cheaply; a
  // `status` confirms. Polling `status` alone (five times a second) took
  // CPU from the very start being measured: its reply for 5,000 accounts
  // is ~1.4 MB, built by the supervisor and parsed here. Events can be
  // missed (sent before the subscription; pub/sub drops when its queue is
  // full), so `status` is also asked when the stream has been quiet for a
  // second, and at least every 5 s; never more than once a second.
  void wait_all_open(size_t n, std::chrono::seconds limit) const {
    using namespace std::chrono_literals;
    const auto deadline = Clock::now() + limit;
    std::set<std::string> opened;
    auto last_event = Clock::now(), last_status = Clock::now() - 1s;
    for (;;) {
      const auto now = Clock::now();
      if (now > deadline) die("not all open in time");
      const bool due = opened.size() >= n || now - last_event >= 1s || now - last_status >= 5s;
      if (due && now - last_status >= 1s) {
        last_status = now;
        if (open_count() >= n) return;
      }
      auto e = ev != nullptr ? ev->next(200) : decltype(ev->next(0)){std::nullopt};
      if (!e) std::this_thread::sleep_for(200ms);  // no stream: `status` alone, as above
      if (!e || !*e) continue;
      last_event = Clock::now();
      const json& j = **e;
      if (j.value("type", "") == "connection" && j.value("state", "") == "open") opened.insert(j.value("profile", ""));
    }
  }
  SupervisedRig(const SupervisedRig&) = delete;
  SupervisedRig& operator=(const SupervisedRig&) = delete;

 private:
  [[noreturn]] static void die(const std::string& why) { throw std::runtime_error(why); }
};

}  // namespace rig
