// Liveness on every link: a worker that stops answering (SIGSTOP stands in
// for a deadlock or an endless loop) is killed and restarted as if it had
// crashed, and whatever waits on it fails at once.
#include <doctest/doctest.h>

#include <future>

#include "harness.hpp"

using namespace harness;

namespace {
// Short deadlines so the tests run fast; the defaults are seconds.
constexpr int kIntervalMs = 250;
constexpr int kTimeoutMs = 2000;
json fast_liveness() {
  return json{{"liveness", {{"interval_ms", kIntervalMs}, {"timeout_ms", kTimeoutMs}, {"ready_timeout_ms", 10000}}}};
}
// Detection comes between timeout and timeout + two intervals after the
// last turn (seen up to an interval late, judged at the next look); the rest
// is slack for a loaded machine.
constexpr auto kNoticeWithin = std::chrono::milliseconds(kTimeoutMs + 2 * kIntervalMs + 3000);

std::vector<json> lifecycle_of(EventLog& events, const std::string& profile) {
  std::vector<json> out;
  for (auto& e : events.of(profile))
    if (e["type"].get<std::string>().rfind("instance_", 0) == 0) out.push_back(e);
  return out;
}
}  // namespace

TEST_CASE("liveness - a stopped connection worker is killed as unresponsive and restarted, B untouched") {
  Supervisor sup(fast_liveness());
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  pid_t a = sup.conn_pid("alpha");
  pid_t b = sup.conn_pid("beta");
  // Healthy idle workers are parked in their poll: over several deadlines
  // nobody is judged dead, though they do not wake at all.
  REQUIRE_FALSE(wait_until([&] {
    return !events.of("alpha", "instance_unresponsive").empty() || sup.conn_pid("alpha") != a;
  }, std::chrono::milliseconds(2 * kTimeoutMs)));
  const auto beta_lifecycle = lifecycle_of(events, "beta").size();

  REQUIRE(::kill(a, SIGSTOP) == 0);
  auto stopped_at = std::chrono::steady_clock::now();
  // A routed command parked on the stopped worker fails instance_down as soon
  // as the worker is declared dead, not after the 120 s route timeout.
  auto pending = std::async(std::launch::async, [&] { return sup.send("alpha", "6001@s.whatsapp.net", "", 15000); });
  REQUIRE(pending.wait_for(kNoticeWithin) == std::future_status::ready);
  json r = pending.get();
  INFO(r.dump());
  CHECK(error_code(r) == "instance_down");

  CHECK(events.wait_for([&](auto&) { return !events.of("alpha", "instance_unresponsive").empty(); }, kNoticeWithin));
  auto unresp = events.of("alpha", "instance_unresponsive");
  REQUIRE(unresp.size() == 1);
  CHECK(unresp[0]["pid"] == a);
  CHECK(unresp[0]["phase"] == "running");
  CHECK(unresp[0]["silent_ms"].get<int>() >= kTimeoutMs);

  // Restarted like a crash: the stopped worker is SIGKILLed and reaped, a new one runs.
  REQUIRE(sup.wait_running("alpha", a, kNoticeWithin));
  auto took = std::chrono::steady_clock::now() - stopped_at;
  CHECK(took < kNoticeWithin);
  CHECK_FALSE(exists(a));
  json inst = sup.instance("alpha");
  CHECK(inst["restarts"] == 1);
  CHECK(inst["last_exit"]["signal"] == SIGKILL);
  CHECK(inst["last_exit"]["reason"] == "unresponsive");
  CHECK(events.wait_for([&](auto&) {
    for (auto& e : events.of("alpha", "instance_exited"))
      if (e["pid"] == a && e["signal"] == SIGKILL && e["reason"] == "unresponsive") return true;
    return false;
  }));
  // The new worker is healthy too: it is not killed in turn.
  pid_t a2 = sup.conn_pid("alpha");
  CHECK_FALSE(wait_until([&] {
    return events.of("alpha", "instance_unresponsive").size() > 1 || sup.conn_pid("alpha") != a2;
  }, std::chrono::milliseconds(2 * kTimeoutMs)));
  CHECK(error_code(sup.send("alpha", "6001@s.whatsapp.net")) == "not_connected");

  // B: same process, no restart, no lifecycle event.
  CHECK(sup.conn_pid("beta") == b);
  CHECK(sup.instance("beta")["restarts"] == 0);
  CHECK(lifecycle_of(events, "beta").size() == beta_lifecycle);
}

TEST_CASE("liveness - a stopped sender holding a job is killed and its send fails at once") {
  Supervisor sup(fast_liveness());
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  CHECK(error_code(sup.send("alpha", "7001@s.whatsapp.net")) == "not_connected");
  auto senders = sup.sender_pids("alpha");
  REQUIRE(senders.size() == 1);
  pid_t conn = sup.conn_pid("alpha");
  // The idle sender is parked on `next`; stopped, it takes the next job and never answers.
  REQUIRE(::kill(senders[0], SIGSTOP) == 0);
  auto pending = std::async(std::launch::async, [&] { return sup.send("alpha", "7001@s.whatsapp.net", "", 15000); });
  REQUIRE(pending.wait_for(kNoticeWithin) == std::future_status::ready);
  json r = pending.get();
  INFO(r.dump());
  CHECK(error_code(r) == "sender_crashed");
  CHECK(events.wait_for([&](auto&) {
    auto u = events.of("alpha", "sender_unresponsive");
    return u.size() == 1 && u[0]["pid"] == senders[0] && u[0]["conversation"] == "7001@s.whatsapp.net";
  }));
  CHECK(events.wait_for([&](auto&) {
    for (auto& e : events.of("alpha", "sender_exited"))
      if (e["pid"] == senders[0] && e["signal"] == SIGKILL) return true;
    return false;
  }));
  CHECK_FALSE(exists(senders[0]));
  // Only the sender went: the connection worker is the same, and the
  // conversation gets a new sender and works again.
  CHECK(sup.conn_pid("alpha") == conn);
  CHECK(sup.instance("alpha")["restarts"] == 0);
  CHECK(error_code(sup.send("alpha", "7001@s.whatsapp.net")) == "not_connected");
  auto again = sup.sender_pids("alpha");
  REQUIRE(again.size() == 1);
  CHECK(again[0] != senders[0]);
}

TEST_CASE("liveness - a stopped sender told to exit is killed and its slot moves on") {
  Supervisor sup(json{{"liveness", {{"interval_ms", kIntervalMs}, {"timeout_ms", kTimeoutMs}}},
                      {"senders", {{"max_per_instance", 1}, {"idle_ms", 60000}}}});
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  // Hold the one slot with an idle sender, then ask for a second conversation:
  // the idle one is told to exit, but it is stopped and never does.
  CHECK(error_code(sup.send("alpha", "8001@s.whatsapp.net")) == "not_connected");
  auto senders = sup.sender_pids("alpha");
  REQUIRE(senders.size() == 1);
  REQUIRE(::kill(senders[0], SIGSTOP) == 0);
  auto pending = std::async(std::launch::async, [&] { return sup.send("alpha", "8002@s.whatsapp.net", "", 15000); });
  REQUIRE(pending.wait_for(kNoticeWithin) == std::future_status::ready);
  // The slot moved: the second conversation got a sender and its answer.
  CHECK(error_code(pending.get()) == "not_connected");
  CHECK(events.of("alpha", "sender_unresponsive").size() == 1);
  CHECK_FALSE(exists(senders[0]));
}

TEST_CASE("liveness - a connection worker that never gets ready is killed at the ready deadline") {
  // The supervisor runs wa-connection from its own directory: a copy of it
  // next to a "worker" that hangs before it ever dials the link.
  become_subreaper();
  TempDir dir;
  const std::string bindir = dir.path() + "/bin", run = dir.path() + "/run", data = dir.path() + "/data";
  std::filesystem::create_directory(bindir);
  std::filesystem::copy_file(bin("wa-supervisor"), bindir + "/wa-supervisor");
  {
    std::ofstream w(bindir + "/wa-connection");
    w << "#!/bin/sh\nexec sleep 600\n";
  }
  std::filesystem::permissions(bindir + "/wa-connection", std::filesystem::perms::owner_all);
  // The supervisor refuses to start without all its workers beside it.
  std::filesystem::copy_file(bin("wa-sender"), bindir + "/wa-sender");
  std::filesystem::copy_file(bin("wa-probe"), bindir + "/wa-probe");
  json cfg{{"run_dir", run},
           {"data_dir", data},
           {"shutdown_timeout_ms", 2000},
           {"restart", {{"intensity", 5}, {"period_s", 30}, {"backoff_min_ms", 50}, {"backoff_max_ms", 500}}},
           {"liveness", {{"interval_ms", 100}, {"timeout_ms", 1000}, {"ready_timeout_ms", 800}}},
           {"instances", json::array({{{"profile", "alpha"}}})}};
  std::ofstream(dir.path() + "/config.json") << cfg.dump();
  pid_t sup = spawn({bindir + "/wa-supervisor", "--config", dir.path() + "/config.json"}, dir.path() + "/sup.log");
  auto status = [&] {
    auto c = wa::ipc::ControlClient::connect(wa::ipc::control_url(run), 1000);
    if (!c) return json();
    auto r = c->request({{"cmd", "status"}, {"profile", "alpha"}});
    return r && r->value("ok", false) ? (*r)["result"]["instances"][0] : json();
  };
  REQUIRE(wait_until([&] { return !status().is_null(); }));
  {
    EventLog events(run);
    // Stuck in `starting`: killed at the ready deadline, then restarted like a crash.
    CHECK(events.wait_for([&](auto&) {
      auto u = events.of("alpha", "instance_unresponsive");
      return !u.empty() && u[0]["phase"] == "starting" && u[0]["silent_ms"].get<int>() >= 800;
    }, 10s));
    CHECK(events.wait_for([&](auto&) {
      for (auto& e : events.of("alpha", "instance_exited"))
        if (e["signal"] == SIGKILL && e["reason"] == "unresponsive") return !events.of("alpha", "instance_restarting").empty();
      return false;
    }, 10s));
    CHECK(status()["last_exit"]["reason"] == "unresponsive");
    CHECK(status()["restarts"].get<int>() >= 1);
  }
  ::kill(sup, SIGTERM);
  if (wait_exit(sup, 10s) == -1) {
    ::kill(sup, SIGKILL);
    wait_exit(sup, 5s);
  }
  reap_adopted();
}
