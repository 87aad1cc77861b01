// The durable event log: every event of a profile (lifecycle ones from the
// supervisor, connection ones from the worker) takes its seq from the
// profile's store, so seqs keep growing across worker and supervisor deaths
// and `wactl events --since` replays what a consumer missed, then follows.
#include <doctest/doctest.h>

#include <set>

#include "harness.hpp"

using namespace harness;

namespace {

std::vector<json> json_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<json> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] != '{') continue;
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

json replay(const Supervisor& sup, const std::string& profile, int64_t since) {
  json r = sup.call({{"cmd", "events"}, {"profile", profile}, {"since", since}, {"limit", 1000}});
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  return r["result"];
}

void check_strictly_increasing(const json& events) {
  int64_t prev = 0;
  for (const auto& e : events) {
    CHECK(e["seq"].get<int64_t>() > prev);
    prev = e["seq"].get<int64_t>();
  }
}

}  // namespace

TEST_CASE("event log - seqs survive worker and supervisor deaths and replay returns every event once") {
  TempDir dir;
  json where{{"run_dir", dir.path() + "/run"}, {"data_dir", dir.path() + "/data"},
             {"instances", json::array({{{"profile", "alpha"}}})}};
  int64_t last_before = 0;
  {
    Supervisor sup(where);
    REQUIRE(sup.wait_running("alpha"));
    pid_t conn = sup.conn_pid("alpha");
    REQUIRE(::kill(conn, SIGKILL) == 0);
    REQUIRE(sup.wait_running("alpha", conn));
    json log;
    // instance_started twice (before and after the crash) and the exit.
    REQUIRE(wait_until([&] {
      log = replay(sup, "alpha", 0);
      int started = 0, exited = 0, connection = 0;
      for (const auto& e : log["events"]) {
        started += e["type"] == "instance_started";
        exited += e["type"] == "instance_exited";
        connection += e["type"] == "connection";
      }
      return started == 2 && exited == 1 && connection > 0;
    }));
    check_strictly_increasing(log["events"]);
    // Worker events (connection attempts) and lifecycle events share one sequence.
    std::set<std::string> types;
    for (const auto& e : log["events"]) {
      types.insert(e["type"].get<std::string>());
      CHECK(e["profile"] == "alpha");
      CHECK(e["ts"].get<int64_t>() > 0);
    }
    CHECK(types.count("connection") == 1);
    CHECK(types.count("instance_restarting") == 1);
    last_before = log["last_seq"].get<int64_t>();
    CHECK(last_before == log["events"].back()["seq"].get<int64_t>());
    // Paging: since the middle returns only the rest.
    int64_t mid = log["events"][log["events"].size() / 2]["seq"];
    json rest = replay(sup, "alpha", mid);
    REQUIRE(!rest["events"].empty());
    CHECK(rest["events"][0]["seq"].get<int64_t>() > mid);
    ::kill(sup.pid(), SIGKILL);
    wait_exit(sup.pid());
    sup.forget();
    reap_adopted();
  }
  // A new supervisor over the same data continues the sequence.
  Supervisor sup(where);
  REQUIRE(sup.wait_running("alpha"));
  json after;
  REQUIRE(wait_until([&] {
    after = replay(sup, "alpha", last_before);
    for (const auto& e : after["events"])
      if (e["type"] == "instance_started") return true;
    return false;
  }));
  CHECK(after["events"][0]["seq"].get<int64_t>() > last_before);
  check_strictly_increasing(after["events"]);
}

TEST_CASE("wactl events --since replays the log then follows live, each event once and in order") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  json before = replay(sup, "alpha", 0);
  REQUIRE(!before["events"].empty());
  // Start from the middle of what is already logged.
  int64_t since = before["events"][0]["seq"].get<int64_t>();
  std::string out = sup.run_dir() + "/../events.out";
  pid_t follower = spawn({bin("wactl"), "--run-dir", sup.run_dir(), "events", "--profile", "alpha", "--since",
                          std::to_string(since)},
                         out);
  // The replayed part reaches the file first.
  REQUIRE(wait_until([&] { return json_lines(out).size() >= before["events"].size() - 1; }));
  // Live part: a crash and restart produce new events while it follows.
  pid_t conn = sup.conn_pid("alpha");
  REQUIRE(::kill(conn, SIGKILL) == 0);
  REQUIRE(sup.wait_running("alpha", conn));
  json log;
  REQUIRE(wait_until([&] {
    log = replay(sup, "alpha", since);
    bool restarted = false;
    for (const auto& e : log["events"]) restarted = restarted || e["type"] == "instance_restarting";
    return restarted && json_lines(out).size() >= log["events"].size();
  }));
  ::kill(follower, SIGTERM);
  wait_exit(follower);
  auto printed = json_lines(out);
  // Exactly the log after `since`, in order, nothing twice (the log may have
  // grown by a late connection event after our last look).
  REQUIRE(printed.size() >= log["events"].size());
  for (size_t i = 0; i < log["events"].size(); ++i) {
    CHECK(printed[i]["seq"] == log["events"][i]["seq"]);
    CHECK(printed[i]["type"] == log["events"][i]["type"]);
  }
  json printed_arr = json::array();
  for (auto& p : printed) printed_arr.push_back(p);
  check_strictly_increasing(printed_arr);
}

TEST_CASE("events - bad requests get clear errors") {
  Supervisor sup;
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "alpha"}})) == "bad_request");
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "alpha"}, {"since", -1}})) == "bad_request");
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "alpha"}, {"since", 1.5}})) == "bad_request");
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "alpha"}, {"since", "3"}})) == "bad_request");
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "alpha"}, {"since", 0}, {"limit", 5000}})) ==
        "bad_request");
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "nobody"}, {"since", 0}})) == "unknown_profile");
  CHECK(error_code(sup.call({{"cmd", "events"}, {"profile", "../x"}, {"since", 0}})) == "invalid_profile");
  // wactl refuses --since without a profile (the log is per profile).
  std::string out = sup.run_dir() + "/../wactl.out";
  pid_t p = spawn({bin("wactl"), "--run-dir", sup.run_dir(), "events", "--since", "0"}, out);
  int st = wait_exit(p);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 1);
  // --no-follow stops at the end of the log.
  p = spawn({bin("wactl"), "--run-dir", sup.run_dir(), "events", "--profile", "alpha", "--since", "0", "--no-follow"},
            out);
  st = wait_exit(p);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}
