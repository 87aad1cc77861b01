// Cold start of many accounts (contract StartPolicy, `start` in the config):
// the supervisor restarted over paired autostart accounts caps the connects
// in progress, and an account that cannot connect delays nobody else.
// Observed from the durable event logs: every `connection` event carries the
// time its worker logged it.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>

#include "wa_server.hpp"

using namespace harness;

namespace {

// Every logged event of `profile` after `since`, oldest first.
std::vector<json> replay(const Supervisor& sup, const std::string& profile, int64_t since = 0) {
  json r = sup.call({{"cmd", "events"}, {"profile", profile}, {"since", since}, {"limit", 1000}}, 30000);
  if (!r.value("ok", false)) throw std::runtime_error("events: " + r.dump());
  return r["result"]["events"].get<std::vector<json>>();
}

int64_t head_of(const Supervisor& sup, const std::string& profile) {
  int64_t head = 0;
  for (const auto& e : replay(sup, profile)) head = std::max(head, e["seq"].get<int64_t>());
  return head;
}

// One connect as its worker logged it: `connecting` up to its outcome
// (`open` or `closed`), in the worker's milliseconds.
struct Attempt {
  int64_t from = 0, to = 0;
};

std::vector<Attempt> attempts(const std::vector<json>& events) {
  std::vector<Attempt> out;
  int64_t from = -1;  // -1: no connect in progress
  for (const auto& e : events) {
    if (e.value("type", "") != "connection") continue;
    const std::string state = e.value("state", "");
    if (state == "connecting") from = e["ts"].get<int64_t>();
    if ((state == "open" || state == "closed") && from >= 0) {
      out.push_back({from, e["ts"].get<int64_t>()});
      from = -1;
    }
  }
  return out;
}

// The most attempts in progress at one moment (an attempt that ends in the
// millisecond another begins does not overlap it).
size_t max_overlap(const std::vector<Attempt>& all) {
  size_t best = 0;
  for (const auto& a : all) {
    size_t n = 0;
    for (const auto& b : all)
      if (b.from <= a.from && a.from < b.to) ++n;
    best = std::max(best, n);
  }
  return best;
}

// A TCP port that accepts connections (the kernel's backlog) and never
// answers: a server that hangs in the middle of a connect.
struct BlackHole {
  int fd = -1;
  int port = 0;
  BlackHole() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("black hole socket");
    port = ntohs(a.sin_port);
  }
  ~BlackHole() { ::close(fd); }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
};

// Pairs `profiles` under a first supervisor, shuts it down, and leaves their
// data in `data_dir` with each profile's event-log head.
std::map<std::string, int64_t> pair_all(const TestServer& ts, const std::vector<std::string>& profiles,
                                        const std::string& data_dir) {
  json inst = json::array();
  for (const auto& p : profiles) inst.push_back({{"profile", p}});
  Supervisor sup(config_for(ts, inst, {{"data_dir", data_dir}}));
  EventLog ev(sup.run_dir());
  for (size_t i = 0; i < profiles.size(); ++i) pair_by_qr(ts, ev, profiles[i], "1555012000" + std::to_string(i));
  std::map<std::string, int64_t> heads;
  for (const auto& p : profiles) heads[p] = head_of(sup, p);
  if (!sup.call({{"cmd", "shutdown"}}).value("ok", false)) throw std::runtime_error("shutdown refused");
  if (wait_exit(sup.pid(), 15s) == -1) throw std::runtime_error("supervisor did not exit");
  sup.forget();
  return heads;
}

}  // namespace

TEST_CASE("cold start: at most start.max_connecting connects at once, and a crash-looping account delays nobody") {
  TestServer ts;
  TempDir keep;
  const std::string data_dir = keep.path() + "/data";
  const std::vector<std::string> good{"c0", "c1", "c2", "c3", "c4", "c5"};
  auto heads = pair_all(ts, good, data_dir);

  // "broken" comes first in the start order: its worker cannot create its
  // store (its data directory is a file), exits at once and is restarted
  // with backoff, again and again, while the others start.
  std::ofstream(data_dir + "/broken") << "not a directory";
  json inst = json::array({{{"profile", "broken"}}});
  for (const auto& p : good) inst.push_back({{"profile", p}});
  Supervisor sup(config_for(ts, inst,
                            {{"data_dir", data_dir},
                             {"start", {{"max_connecting", 2}, {"jitter_ms", 0}, {"connect_timeout_ms", 20000}}},
                             {"restart", {{"intensity", 50}, {"period_s", 60}, {"backoff_min_ms", 100},
                                          {"backoff_max_ms", 300}}}}));
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] {
    for (const auto& p : good) {
      auto evs = replay(sup, p, heads[p]);
      bool open = std::any_of(evs.begin(), evs.end(), [](const json& e) {
        return e.value("type", "") == "connection" && e.value("state", "") == "open";
      });
      if (!open) return false;
    }
    return true;
  }, 30s));
  const auto took = std::chrono::steady_clock::now() - t0;

  std::vector<Attempt> all;
  for (const auto& p : good) {
    auto a = attempts(replay(sup, p, heads[p]));
    CHECK_MESSAGE(!a.empty(), p);
    all.insert(all.end(), a.begin(), a.end());
  }
  // The cap is what the server saw: never more than 2 connects at once
  // (without the gate all six start together and overlap).
  CHECK(max_overlap(all) <= 2);
  CHECK(max_overlap(all) >= 1);
  // Nobody waited for the broken account, which was first in the start
  // order and crash-loops through the gate on every restart (how many
  // restarts fit into the others' start depends on the machine's speed, so
  // the loop itself is checked with a deadline).
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(took).count() < 20);
  CHECK(sup.instance("broken")["restarts"].get<int>() >= 1);
  CHECK(wait_until([&] { return sup.instance("broken")["restarts"].get<int>() >= 3; }, 20s));
  json m = sup.call({{"cmd", "metrics"}});
  REQUIRE(m.value("ok", false));
  CHECK(m["result"]["supervisor"]["connecting"].get<size_t>() <= 2);
}

// The first `connecting` each profile's worker logged, in the worker's ms.
int64_t first_connecting(const std::vector<json>& events) {
  for (const auto& e : events)
    if (e.value("type", "") == "connection" && e.value("state", "") == "connecting") return e["ts"].get<int64_t>();
  return -1;
}

TEST_CASE("cold start: connects that never answer hold their start slots only until start.connect_timeout_ms") {
  TestServer ts;
  TempDir keep;
  const std::string data_dir = keep.path() + "/data";
  auto heads = pair_all(ts, {"g0"}, data_dir);
  BlackHole hole;
  // Two slots; three accounts whose server hangs mid-connect come first, g0
  // last. Their workers would give up on their own only after seconds (the
  // socket library's and the worker's connect timeouts); the gate's 1.5 s
  // deadline frees the first two slots: h2 and g0 take them.
  json server = ts.server_config();
  server["url"] = "ws://127.0.0.1:" + std::to_string(hole.port) + "/ws/chat";
  json inst = json::array({{{"profile", "h0"}, {"server", server}},
                           {{"profile", "h1"}, {"server", server}},
                           {{"profile", "h2"}, {"server", server}},
                           {{"profile", "g0"}}});
  Supervisor sup(config_for(ts, inst,
                            {{"data_dir", data_dir},
                             {"start", {{"max_connecting", 2}, {"jitter_ms", 0}, {"connect_timeout_ms", 1500}}}}));
  REQUIRE(wait_until([&] { return !attempts(replay(sup, "g0", heads["g0"])).empty(); }, 10s));
  const auto g0 = attempts(replay(sup, "g0", heads["g0"]));
  // h2 took its slot when g0 did; on a loaded machine its worker may log its
  // first `connecting` only after g0 is already open.
  REQUIRE(wait_until([&] { return first_connecting(replay(sup, "h2")) > 0; }, 10s));
  std::vector<int64_t> starts;
  for (const char* h : {"h0", "h1", "h2"}) {
    auto evs = replay(sup, h);
    starts.push_back(first_connecting(evs));
    // g0 opened while the first two hanging connects were still in
    // progress: only the deadline can have let it start.
    if (std::string(h) != "h2") {
      auto done = attempts(evs);
      if (!done.empty()) CHECK(done.front().to > g0.front().to);
    }
  }
  REQUIRE(starts[0] > 0);
  REQUIRE(starts[1] > 0);
  REQUIRE(starts[2] > 0);
  std::sort(starts.begin(), starts.end());
  // The cap held: the third hanging account started only when a deadline
  // freed a slot (without the cap all three start together).
  CHECK(starts[2] - starts[0] >= 1000);
  CHECK(g0.front().from - starts[0] >= 1000);
}
