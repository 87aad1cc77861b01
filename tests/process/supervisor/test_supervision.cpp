// rest_for_one, isolation, intensity and shutdown, with real processes.
#include <doctest/doctest.h>

#include <future>

#include "harness.hpp"

using namespace harness;

TEST_CASE("crash isolation - killing A's connection worker leaves B untouched") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  pid_t a = sup.conn_pid("alpha");
  pid_t b = sup.conn_pid("beta");
  REQUIRE(::kill(a, SIGKILL) == 0);
  REQUIRE(sup.wait_running("alpha", a));
  CHECK(sup.conn_pid("beta") == b);
  CHECK(sup.instance("beta")["restarts"] == 0);
  CHECK(sup.instance("alpha")["restarts"] == 1);
  CHECK(sup.instance("alpha")["last_exit"]["signal"] == SIGKILL);
  // B still answers: a send runs B's whole path and gets B's answer.
  json r = sup.send("beta", "15550001@s.whatsapp.net");
  CHECK(error_code(r) == "not_connected");
}

TEST_CASE("rest_for_one - the connection worker's death takes its senders and they re-fork on demand") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  for (const char* to : {"1001@s.whatsapp.net", "1002@s.whatsapp.net", "1003@s.whatsapp.net"})
    CHECK(error_code(sup.send("alpha", to)) == "not_connected");
  auto senders = sup.sender_pids("alpha");
  REQUIRE(senders.size() == 3);
  for (pid_t s : senders) CHECK(proc_ppid(s) == sup.pid());
  pid_t conn = sup.conn_pid("alpha");
  // Each sender joined the instance's process group, led by the connection worker.
  for (pid_t s : senders) CHECK(::getpgid(s) == conn);

  REQUIRE(::kill(conn, SIGKILL) == 0);
  REQUIRE(sup.wait_running("alpha", conn));
  // Every old sender is gone and reaped: not alive, not a zombie, not adopted.
  CHECK(wait_until([&] {
    for (pid_t s : senders)
      if (exists(s)) return false;
    return true;
  }));
  CHECK(sup.sender_pids("alpha").empty());
  CHECK(count_zombie_children(sup.pid()) == 0);
  {
    // No live orphan was adopted by us (we are the subreaper): only the
    // supervisor is alive below us. (Sanitizer builds leave short-lived
    // helper processes that die as zombies; those are dead, not orphans.)
    reap_adopted();
    std::vector<pid_t> kids;
    for (pid_t k : children_of(::getpid()))
      if (alive(k)) kids.push_back(k);
    std::string names;
    for (pid_t k : kids) names += proc_cmdline(k) + " (" + proc_state(k) + "); ";
    INFO(names);
    CHECK(kids == std::vector<pid_t>{sup.pid()});
  }

  // Senders come back on the next send.
  CHECK(error_code(sup.send("alpha", "1001@s.whatsapp.net")) == "not_connected");
  auto again = sup.sender_pids("alpha");
  REQUIRE(again.size() == 1);
  CHECK(std::find(senders.begin(), senders.end(), again[0]) == senders.end());
}

TEST_CASE("a sender's crash fails its conversation's sends at once and never restarts the connection") {
  Supervisor sup;
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  json first = sup.send("alpha", "2001@s.whatsapp.net");
  CHECK(error_code(first) == "not_connected");
  auto senders = sup.sender_pids("alpha");
  INFO(first.dump(), sup.instance("alpha").dump());
  REQUIRE(senders.size() == 1);
  pid_t conn = sup.conn_pid("alpha");
  // Freeze the sender so the next send is handed to it and stays in flight.
  REQUIRE(::kill(senders[0], SIGSTOP) == 0);
  auto pending = std::async(std::launch::async, [&] { return sup.send("alpha", "2001@s.whatsapp.net"); });
  REQUIRE(pending.wait_for(300ms) == std::future_status::timeout);  // parked, not answered
  REQUIRE(::kill(senders[0], SIGKILL) == 0);
  json r = pending.get();
  CHECK(error_code(r) == "sender_crashed");
  CHECK(sup.conn_pid("alpha") == conn);
  CHECK(sup.instance("alpha")["restarts"] == 0);
  CHECK(events.wait_for([&](auto&) {
    for (auto& e : events.of("alpha", "sender_exited"))
      if (e["pid"] == senders[0] && e["signal"] == SIGKILL) return true;
    return false;
  }));
  // The conversation works again with a new sender.
  CHECK(error_code(sup.send("alpha", "2001@s.whatsapp.net")) == "not_connected");
}

TEST_CASE("restart intensity - a crash loop ends in failed with backoff and B is untouched") {
  Supervisor sup(json{{"restart", {{"intensity", 3}, {"period_s", 60}, {"backoff_min_ms", 200}, {"backoff_max_ms", 2000}}}});
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  pid_t b = sup.conn_pid("beta");
  for (int i = 0; i < 3; ++i) {
    pid_t a = sup.conn_pid("alpha");
    REQUIRE(::kill(a, SIGKILL) == 0);
    REQUIRE(sup.wait_running("alpha", a));
  }
  REQUIRE(::kill(sup.conn_pid("alpha"), SIGKILL) == 0);
  REQUIRE(wait_until([&] { return sup.state("alpha") == "failed"; }));
  CHECK(sup.instance("alpha")["connection_pid"].is_null());
  CHECK(events.wait_for([&](auto&) { return events.of("alpha", "instance_failed").size() == 1; }));

  // Backoff: first restart immediate, then jittered exponential in [d/2, d].
  auto restarting = events.of("alpha", "instance_restarting");
  REQUIRE(restarting.size() == 3);
  CHECK(restarting[0]["delay_ms"] == 0);
  CHECK(restarting[1]["delay_ms"].get<int>() >= 100);
  CHECK(restarting[1]["delay_ms"].get<int>() <= 200);
  CHECK(restarting[2]["delay_ms"].get<int>() >= 200);
  CHECK(restarting[2]["delay_ms"].get<int>() <= 400);
  // The delay was really observed between the third exit and the start after it.
  auto exited = events.of("alpha", "instance_exited");
  REQUIRE(exited.size() == 4);
  json next_start;
  for (const json& e : events.of("alpha", "instance_started"))
    if (e["seq"] > exited[2]["seq"] && next_start.is_null()) next_start = e;
  REQUIRE_FALSE(next_start.is_null());
  int64_t gap = next_start["ts"].get<int64_t>() - exited[2]["ts"].get<int64_t>();
  CHECK(gap >= restarting[2]["delay_ms"].get<int64_t>());

  CHECK(sup.conn_pid("beta") == b);
  CHECK(sup.instance("beta")["restarts"] == 0);
  // No restarts until started again.
  json r = sup.call({{"cmd", "start"}, {"profile", "alpha"}});
  CHECK(r["ok"] == true);
  CHECK(sup.wait_running("alpha"));
}

TEST_CASE("supervisor kill -9 - every worker dies with it") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  CHECK(error_code(sup.send("alpha", "3001@s.whatsapp.net")) == "not_connected");
  std::vector<pid_t> workers{sup.conn_pid("alpha"), sup.conn_pid("beta")};
  for (pid_t s : sup.sender_pids("alpha")) workers.push_back(s);
  REQUIRE(workers.size() == 3);
  REQUIRE(::kill(sup.pid(), SIGKILL) == 0);
  CHECK(wait_exit(sup.pid(), 2s) != -1);
  sup.forget();
  // PR_SET_PDEATHSIG: gone within a second (we adopted them, so reap first).
  CHECK(wait_until([&] {
    reap_adopted();
    for (pid_t w : workers)
      if (alive(w)) return false;
    return true;
  }, 1000ms));
}

TEST_CASE("stop and shutdown - senders first then the connection worker and nothing left behind") {
  Supervisor sup;
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  for (const char* to : {"4001@s.whatsapp.net", "4002@s.whatsapp.net"})
    CHECK(error_code(sup.send("alpha", to)) == "not_connected");
  auto senders = sup.sender_pids("alpha");
  REQUIRE(senders.size() == 2);
  json r = sup.call({{"cmd", "stop"}, {"profile", "alpha"}});
  CHECK(r["ok"] == true);
  CHECK(r["result"]["state"] == "stopped");
  CHECK(events.wait_for([&](auto&) { return events.of("alpha", "instance_stopped").size() == 1; }));
  // Order of exits as the supervisor saw them.
  std::vector<std::string> order;
  for (auto& e : events.of("alpha"))
    if (e["type"] == "sender_exited" || e["type"] == "instance_exited") order.push_back(e["type"]);
  CHECK(order == std::vector<std::string>{"sender_exited", "sender_exited", "instance_exited"});
  for (pid_t s : senders) CHECK_FALSE(exists(s));
  // A stopped instance answers sends with instance_down at once.
  CHECK(error_code(sup.send("alpha", "4001@s.whatsapp.net")) == "instance_down");

  pid_t beta = sup.conn_pid("beta");
  r = sup.call({{"cmd", "shutdown"}});
  CHECK(r["ok"] == true);
  int status = wait_exit(sup.pid(), 10s);
  sup.forget();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(exists(beta));
  reap_adopted();
  for (pid_t k : children_of(::getpid())) CHECK_MESSAGE(!alive(k), proc_cmdline(k));
}

TEST_CASE("at most max_per_instance senders - further sends wait and are never dropped") {
  Supervisor sup(json{{"senders", {{"max_per_instance", 2}, {"idle_ms", 60000}}}});
  EventLog events(sup.run_dir());
  REQUIRE(sup.wait_running("alpha"));
  std::vector<std::future<json>> sends;
  for (int i = 0; i < 8; ++i)
    sends.push_back(std::async(std::launch::async, [&, i] {
      return sup.send("alpha", std::to_string(5000 + i) + "@s.whatsapp.net");
    }));
  for (auto& f : sends) CHECK(error_code(f.get()) == "not_connected");
  // Replay the sender lifecycle: never more than 2 alive at once.
  int live = 0, peak = 0, started = 0;
  for (auto& e : events.of("alpha")) {
    if (e["type"] == "sender_started") peak = std::max(peak, ++live), ++started;
    if (e["type"] == "sender_exited") --live;
  }
  CHECK(peak <= 2);
  CHECK(started == 8);
  CHECK(sup.sender_pids("alpha").size() <= 2);
}
