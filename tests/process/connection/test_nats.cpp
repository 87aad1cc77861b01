// Hosts of one cluster linked by NATS (cluster.nats_url): any host's control
// socket answers for any profile (commands travel to the owner and back),
// every host's event socket carries every account's events, a NATS outage
// fails only the remote commands (cluster_unavailable) and the events
// published meanwhile reach the other hosts from the shared log afterwards;
// `drain` hands a host's accounts to the others.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cluster_helpers.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A nats-server of the test's own, on a fixed port so that it can be
// stopped and started again under the same URL.
class NatsServer {
 public:
  explicit NatsServer(std::string log) : log_(std::move(log)), port_(free_tcp_port()) { start(); }
  ~NatsServer() { stop(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;
  void start() {
    pid_ = spawn({"/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", std::to_string(port_)}, log_);
    if (!wait_until([&] { return accepts(port_); }, 10s)) throw std::runtime_error("nats-server did not start");
  }
  void stop() { stop_child(pid_); }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string log_;
  int port_;
  pid_t pid_ = 0;
};

json host_config(const std::string& conninfo_file, const std::string& host, const std::string& nats) {
  return json{{"store", {{"engine", "postgres"}, {"conninfo_file", conninfo_file}}},
              {"cluster",
               {{"host_id", host}, {"lease_ttl_ms", 3000}, {"scan_ms", 500}, {"claim_jitter_ms", 200},
                {"nats_url", nats}}}};
}

bool nats_up(const Supervisor& host) {
  json m = host.call({{"cmd", "metrics"}});
  return m.value("ok", false) && m["result"]["cluster"].value("nats_connected", false);
}

}  // namespace

TEST_CASE("nats: any host answers for any profile, follows every account's events, a NATS outage fails only the "
          "remote commands and the events it hid arrive from the log, drain hands accounts over") {
  TempDir dir;
  const std::string db = wa::test::pg_fresh_database("nats");
  const std::string file = write_conninfo(dir.path(), db);
  NatsServer nats(dir.path() + "/nats.log");
  const std::string tag = wa::test::pg_unique_profile("n");
  const std::string a = tag + "-a", b = tag + "-b";
  TestServer ts;
  Supervisor peers(config_for(ts, json::array({{{"profile", "peer1"}}})));
  EventLog peer_ev(peers.run_dir());
  pair_by_qr(ts, peer_ev, "peer1", "15551600001");

  Supervisor h1(config_for(ts, json::array({{{"profile", a}}}), host_config(file, tag + "-h1", nats.url())));
  EventLog ev1(h1.run_dir());
  pair_by_qr(ts, ev1, a, "15551600101");
  Supervisor h2(config_for(ts, json::array({{{"profile", b}}}), host_config(file, tag + "-h2", nats.url())));
  EventLog ev2(h2.run_dir());
  pair_by_qr(ts, ev2, b, "15551600102");
  REQUIRE(wait_until([&] { return nats_up(h1) && nats_up(h2); }, 20s));
  REQUIRE(lease_of(a, db)->owner == tag + "-h1");
  REQUIRE(lease_of(b, db)->owner == tag + "-h2");

  // Commands for a profile another host runs travel there and back.
  json st = h2.call({{"cmd", "status"}, {"profile", a}});
  INFO(st.dump());
  REQUIRE(open_in(st));
  CHECK(st["result"]["instances"][0]["profile"] == a);
  json sent = send_text(h2, a, user_jid("15551600001"), "via-h2");
  REQUIRE_MESSAGE(sent.value("ok", false), sent.dump());
  REQUIRE(peer_ev.wait_for([&](const auto&) { return has_message(peer_ev, "peer1", "via-h2"); }, 30s));
  // Unknown everywhere: the same error as on one host.
  CHECK(error_code(h2.call({{"cmd", "status"}, {"profile", tag + "-nobody"}})) == "unknown_profile");

  // Events of h1's account on h2's event socket.
  json in1 = send_text(peers, "peer1", user_jid("15551600101"), "to-a-1");
  REQUIRE_MESSAGE(in1.value("ok", false), in1.dump());
  REQUIRE(ev2.wait_for([&](const auto&) { return has_message(ev2, a, "to-a-1"); }, 30s));
  // And its durable log, read on h2.
  json replay = h2.call({{"cmd", "events"}, {"profile", a}, {"since", 0}});
  REQUIRE_MESSAGE(replay.value("ok", false), replay.dump());
  bool logged = false;
  for (const auto& e : replay["result"]["events"]) logged = logged || e.value("text", "") == "to-a-1";
  CHECK(logged);

  // NATS goes away: h2's own account still answers, h1's fails at once
  // with cluster_unavailable (a send too: nothing left).
  nats.stop();
  REQUIRE(wait_until([&] { return !nats_up(h1) && !nats_up(h2); }, 20s));
  CHECK(open_on(h2, b));
  const auto asked = std::chrono::steady_clock::now();
  CHECK(error_code(h2.call({{"cmd", "status"}, {"profile", a}})) == "cluster_unavailable");
  CHECK(error_code(send_text(h2, a, user_jid("15551600001"), "not-sent")) == "cluster_unavailable");
  CHECK(std::chrono::steady_clock::now() - asked < 5s);
  // A message for h1's account meanwhile: stored there, not seen on h2 yet.
  json in2 = send_text(peers, "peer1", user_jid("15551600101"), "to-a-during");
  REQUIRE_MESSAGE(in2.value("ok", false), in2.dump());
  REQUIRE(ev1.wait_for([&](const auto&) { return has_message(ev1, a, "to-a-during"); }, 30s));
  CHECK_FALSE(has_message(ev2, a, "to-a-during"));

  // NATS back: remote commands work again and h2's consumers get what
  // they missed, read from the shared log, before anything newer.
  nats.start();
  REQUIRE(wait_until([&] { return nats_up(h1) && nats_up(h2); }, 30s));
  CHECK(open_on(h2, a));
  REQUIRE(ev2.wait_for([&](const auto&) { return has_message(ev2, a, "to-a-during"); }, 30s));
  json in3 = send_text(peers, "peer1", user_jid("15551600101"), "to-a-after");
  REQUIRE_MESSAGE(in3.value("ok", false), in3.dump());
  REQUIRE(ev2.wait_for([&](const auto&) { return has_message(ev2, a, "to-a-after"); }, 30s));
  {
    // Each once, in the log's order.
    std::vector<int64_t> seqs;
    for (const auto& e : events_of(ev2.all(), a, "message")) {
      const std::string t = e.value("text", "");
      if (t == "to-a-1" || t == "to-a-during" || t == "to-a-after") seqs.push_back(e.value("seq", int64_t{0}));
    }
    CHECK(seqs.size() == 3);
    CHECK(std::is_sorted(seqs.begin(), seqs.end()));
  }

  // drain, asked on h2 for h1: h1 stops its account and gives the lease
  // back, h2 claims it; h1 claims nothing more, and commands sent to h1
  // travel to the new owner.
  json drained = h2.call({{"cmd", "drain"}, {"host", tag + "-h1"}});
  REQUIRE_MESSAGE(drained.value("ok", false), drained.dump());
  CHECK(drained["result"]["released"] == json::array({a}));
  REQUIRE(wait_until([&] { return open_on(h2, a); }, 30s));
  CHECK(lease_of(a, db)->owner == tag + "-h2");
  json m1 = h1.call({{"cmd", "metrics"}});
  CHECK(m1["result"]["cluster"]["draining"] == true);
  CHECK(m1["result"]["supervisor"]["instances"] == 0);
  json again = send_text(h1, a, user_jid("15551600001"), "after-drain");
  REQUIRE_MESSAGE(again.value("ok", false), again.dump());
  REQUIRE(peer_ev.wait_for([&](const auto&) { return has_message(peer_ev, "peer1", "after-drain"); }, 30s));
  // Not one login of a device on two hosts at once.
  CHECK(server_status(ts)["counters"]["replaced"] == 0);
}

TEST_CASE("nats: a host without NATS answers cluster_unavailable for profiles others run, and drain needs PostgreSQL") {
  TempDir dir;
  const std::string db = wa::test::pg_fresh_database("nonats");
  const std::string file = write_conninfo(dir.path(), db);
  auto leases = wa::store::LeaseTable::open(db);
  REQUIRE(leases.has_value());
  const std::string p = wa::test::pg_unique_profile("elsewhere");
  auto held = leases->claim(p, "host-far", 60000);
  REQUIRE(held.has_value());
  REQUIRE(held->has_value());
  TestServer ts;
  json cfg = host_config(file, "host-near", "");
  cfg["cluster"].erase("nats_url");
  cfg["cluster"]["scan_ms"] = 3600000;  // placement out of the way: this host claims nothing by itself
  Supervisor near(config_for(ts, json::array(), cfg));
  json r = near.call({{"cmd", "status"}, {"profile", p}});
  CHECK(error_code(r) == "cluster_unavailable");
  CHECK(r["error"]["message"].get<std::string>().find("host-far") != std::string::npos);

  // Its host gives it up: known to the cluster, run by nobody. Not
  // unknown_profile (a client would give up), and `start` runs it here.
  REQUIRE(leases->release(p, "host-far", (*held)->token));
  json between = near.call({{"cmd", "status"}, {"profile", p}});
  CHECK(error_code(between) == "cluster_unavailable");
  CHECK(between["error"]["message"].get<std::string>().find("no host") != std::string::npos);
  json started = near.call({{"cmd", "start"}, {"profile", p}});
  REQUIRE_MESSAGE(started.value("ok", false), started.dump());
  CHECK(wait_until([&] {
    auto l = leases->get(p);
    return l && *l && (*l)->owner == "host-near";
  }));

  Supervisor lite(config_for(ts, json::array()));
  CHECK(error_code(lite.call({{"cmd", "drain"}})) == "not_supported");
}
