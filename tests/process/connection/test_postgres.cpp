// A deployment on PostgreSQL (store.engine "postgres"): wa-supervisor,
// wa-connection and wa-sender against wa-testserver with every profile's
// state in the run's PostgreSQL cluster (tests/support/pg_server.sh).
// The supervisor runs an account only under its lease; another host's
// claim stops it (its writes are fenced meanwhile), and the account comes
// back under a new token without losing the messages that arrived between.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "pg_test.hpp"
#include "wa/store/lease.hpp"
#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_store.hpp"
#include "cluster_helpers.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

// The deployment's config: the connection string in a 0600 file, a short
// lease so that a renewal comes round within the test.
// (`scan_ms`: placement looks for unowned profiles this often; a test of
// one host's lease handling keeps it out of the way.)
json pg_config(const std::string& conninfo_file, const std::string& host, int scan_ms = 3600000) {
  return json{{"store", {{"engine", "postgres"}, {"conninfo_file", conninfo_file}}},
              {"cluster", {{"host_id", host}, {"lease_ttl_ms", 3000}, {"scan_ms", scan_ms}, {"claim_jitter_ms", 500}}}};
}

// How many `message` events with this text the profile's PostgreSQL log holds.
int logged_messages(const std::string& profile, const std::string& text) {
  auto st = wa::store::open_postgres(wa::store::PgOptions{wa::test::pg_conninfo(), profile});
  if (!st) throw std::runtime_error("store: " + st.error().message);
  int n = 0;
  int64_t after = 0;
  for (;;) {
    auto rows = (*st)->inbox_since(after, 500);
    if (!rows) throw std::runtime_error("inbox: " + rows.error().message);
    if (rows->empty()) break;
    for (const auto& e : *rows) {
      after = e.seq;
      if (e.type == "message" && json::parse(e.payload).value("text", "") == text) ++n;
    }
  }
  return n;
}

// A background loop told to stop and joined on every way out of a test (a
// failed REQUIRE included).
struct Joiner {
  std::atomic<bool>& stop;
  std::thread t;
  ~Joiner() {
    stop = true;
    if (t.joinable()) t.join();
  }
};

void expire_lease(const std::string& profile) {
  PGconn* c = PQconnectdb(wa::test::pg_conninfo().c_str());
  const std::string q = "UPDATE wa_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE profile = '" +
                        profile + "'";
  PGresult* r = PQexec(c, q.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  PQfinish(c);
  REQUIRE(ok);
}

}  // namespace

TEST_CASE("postgres: accounts run under their leases with all state in PostgreSQL, another host's claim stops one, "
          "its messages wait and arrive once after it is back") {
  TempDir dir;
  const std::string file = write_conninfo(dir.path());
  const std::string a = wa::test::pg_unique_profile("pga");
  const std::string b = wa::test::pg_unique_profile("pgb");
  const std::string host = "host-" + a;
  TwoAccounts accounts(a, "15550009101", b, "15550009102", pg_config(file, host));
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;

  // Both leases are ours, and nothing went to SQLite.
  auto la = lease_of(a);
  auto lb = lease_of(b);
  REQUIRE(la.has_value());
  REQUIRE(lb.has_value());
  CHECK(la->owner == host);
  CHECK(lb->owner == host);
  CHECK(lb->token >= 1);
  CHECK_FALSE(std::filesystem::exists(sup.data_dir() + "/" + b + "/store.db"));

  // A send (a sender worker writing Signal state under the token) and the
  // receive path (the message stored before its receipt) on PostgreSQL.
  json sent = send_text(sup, a, user_jid("15550009102"), "hello-pg");
  REQUIRE_MESSAGE(sent.value("ok", false), sent.dump());
  REQUIRE(ev.wait_for([&](const auto&) { return has_message(ev, b, "hello-pg"); }));
  CHECK(wait_until([&] { return logged_messages(b, "hello-pg") == 1; }));

  // Another host claims b (its lease made to lapse): at the next renewal
  // this supervisor finds the lease gone and stops b's processes.
  // (A renewal between the two statements puts the lease back: again.)
  auto other = wa::store::LeaseTable::open(wa::test::pg_conninfo());
  REQUIRE(other.has_value());
  wa::Result<std::optional<wa::store::Lease>> stolen = std::optional<wa::store::Lease>{};
  REQUIRE(wait_until([&] {
    expire_lease(b);
    stolen = other->claim(b, "host-elsewhere", 60000);
    return stolen.has_value() && stolen->has_value();
  }));
  CHECK((*stolen)->token == lb->token + 1);
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, b, "instance_failed"))
      if (e.value("reason", "") == "lease_lost") return true;
    return false;
  }, 20s));
  CHECK(sup.state(b) == "failed");
  CHECK(sup.conn_pid(b) == 0);

  // Sent while b runs nowhere: the server keeps it.
  json queued = send_text(sup, a, user_jid("15550009102"), "while-away");
  REQUIRE_MESSAGE(queued.value("ok", false), queued.dump());

  // The other host gives b back; started here again, it runs under a new
  // token and the waiting message arrives, stored once.
  REQUIRE(other->release(b, "host-elsewhere", (*stolen)->token));
  json started = sup.call({{"cmd", "start"}, {"profile", b}});
  REQUIRE_MESSAGE(started.value("ok", false), started.dump());
  REQUIRE(ev.wait_for([&](const auto&) { return has_message(ev, b, "while-away"); }, 30s));
  CHECK(wait_until([&] { return logged_messages(b, "while-away") == 1; }));
  auto back = lease_of(b);
  REQUIRE(back.has_value());
  CHECK(back->owner == host);
  CHECK(back->token == (*stolen)->token + 1);
  CHECK(logged_messages(b, "hello-pg") == 1);
}

TEST_CASE("postgres: a conninfo file others can read stops the supervisor at start with the reason") {
  TempDir dir;
  const std::string file = write_conninfo(dir.path());
  ::chmod(file.c_str(), 0644);
  Supervisor sup(json{{"store", {{"engine", "postgres"}, {"conninfo_file", file}}},
                      {"instances", json::array({{{"profile", "pgx"}}})}},
                 false);
  const int st = wait_exit(sup.pid(), 10s);
  sup.forget();
  REQUIRE(st >= 0);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 78);
  CHECK(sup.log_text().find("chmod 600") != std::string::npos);
  CHECK(sup.log_text().find("user=wa") == std::string::npos);  // the connection string itself is never logged
}

TEST_CASE("wa-store-migrate: moves a profile to PostgreSQL and back, and refuses while another host runs it") {
  TempDir dir;
  const std::string file = write_conninfo(dir.path());
  const std::string p = wa::test::pg_unique_profile("mig");
  const std::string data = dir.path() + "/data";
  std::filesystem::create_directories(data + "/" + p);
  {
    auto st = wa::store::open_sqlite(data + "/" + p + "/store.db");
    REQUIRE(st.has_value());
    REQUIRE((*st)->put_credential("push_name", wa::Bytes{'x'}));
    REQUIRE((*st)->inbox_put(wa::store::InboxEntry{0, "m1", "c", "s", 1, "message", "{\"text\":\"kept\"}", false}));
  }
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{bin("wa-store-migrate"), "--profile", p, "--data-dir", data, "--conninfo-file", file};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = dir.path() + "/migrate.out";
    const int st = wait_exit(spawn(argv, out), 30s);
    return std::pair{st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, file_text(out)};
  };
  // (Copies of the structured bindings: clang 14 cannot capture those in INFO's lambda.)
  auto [rc, out] = run({"to-postgres"});
  const std::string out_text = out;
  INFO(out_text);
  REQUIRE(rc == 0);
  CHECK(json::parse(out)["rows"] == 2);
  CHECK(logged_messages(p, "kept") == 1);
  // The copy's lease was given back: nobody owns the profile.
  auto l = lease_of(p);
  REQUIRE(l.has_value());
  CHECK(l->owner.empty());

  // Back to SQLite: refused while another host holds the lease.
  std::filesystem::remove_all(data + "/" + p);
  std::filesystem::create_directories(data + "/" + p);
  auto other = wa::store::LeaseTable::open(wa::test::pg_conninfo());
  REQUIRE(other.has_value());
  auto held = other->claim(p, "busy-host", 60000);
  REQUIRE(held.has_value());
  REQUIRE(held->has_value());
  auto [rc2, out2] = run({"to-sqlite"});
  CHECK(rc2 == 1);
  CHECK(out2.find("busy-host") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(data + "/" + p + "/store.db"));
  REQUIRE(other->release(p, "busy-host", (*held)->token));
  auto [rc3, out3] = run({"to-sqlite"});
  const std::string out3_text = out3;
  INFO(out3_text);
  REQUIRE(rc3 == 0);
  auto back = wa::store::open_sqlite(data + "/" + p + "/store.db");
  REQUIRE(back.has_value());
  auto rows = (*back)->inbox_since(0, 10);
  REQUIRE(rows.has_value());
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().msg_id == "m1");
}

namespace {

// text -> how many `message` events with it a profile's log holds (and
// "#undecryptable" -> how many undecryptable events).
std::map<std::string, int> texts_in(wa::store::Store& st) {
  std::map<std::string, int> out;
  int64_t after = 0;
  for (;;) {
    auto rows = st.inbox_since(after, 1000);
    if (!rows) throw std::runtime_error("inbox: " + rows.error().message);
    if (rows->empty()) break;
    for (const auto& e : *rows) {
      after = e.seq;
      if (e.type == "message") ++out[json::parse(e.payload).value("text", "")];
      if (e.type == "undecryptable") ++out["#undecryptable"];
    }
  }
  return out;
}
std::map<std::string, int> logged_texts(const std::string& profile, const std::string& info) {
  auto st = wa::store::open_postgres(wa::store::PgOptions{info, profile});
  if (!st) throw std::runtime_error("store: " + st.error().message);
  return texts_in(**st);
}


}  // namespace

TEST_CASE("cluster: three supervisors on PostgreSQL, kill -9 of one - its accounts open on the others within the "
          "lease TTL plus a restart, every message stored once, sends work afterwards") {
  TempDir dir;
  const std::string db = wa::test::pg_fresh_database("failover");
  const std::string file = write_conninfo(dir.path(), db);
  const int n = std::getenv("WA_CLUSTER_ACCOUNTS") ? std::atoi(std::getenv("WA_CLUSTER_ACCOUNTS")) : 30;
  const std::string tag = wa::test::pg_unique_profile("c");
  std::vector<std::string> profiles, phones;
  json instances = json::array();
  for (int i = 0; i < n; ++i) {
    profiles.push_back(tag + "-" + std::to_string(i));
    phones.push_back(std::to_string(15551200000LL + i));
    instances.push_back({{"profile", profiles.back()}});
  }
  TestServer ts;
  // Peers on a host of their own (SQLite), sending all the time.
  Supervisor peers(config_for(ts, json::array({{{"profile", "peer1"}}, {{"profile", "peer2"}}})));
  EventLog peer_ev(peers.run_dir());
  pair_by_qr(ts, peer_ev, "peer1", "15551300001");
  pair_by_qr(ts, peer_ev, "peer2", "15551300002");

  auto h1 = std::make_unique<Supervisor>(config_for(ts, instances, pg_config(file, tag + "-h1", 500)));
  auto ev1 = std::make_unique<EventLog>(h1->run_dir());
  // Every account shows its QR code first (30 starting at once on a small
  // machine take a while).
  const bool all_qr = ev1->wait_for([&](const std::vector<json>& all) {
    return std::all_of(profiles.begin(), profiles.end(), [&](const std::string& p) { return !events_of(all, p, "qr").empty(); });
  }, 90s);
  if (!all_qr)
    for (const auto& p : profiles)
      if (events_of(ev1->all(), p, "qr").empty()) MESSAGE(p << ": " << h1->instance(p).dump());
  REQUIRE(all_qr);
  for (int i = 0; i < n; ++i) pair_by_qr(ts, *ev1, profiles[size_t(i)], phones[size_t(i)]);
  Supervisor h2(config_for(ts, json::array(), pg_config(file, tag + "-h2", 500)));
  Supervisor h3(config_for(ts, json::array(), pg_config(file, tag + "-h3", 500)));
  for (const auto& p : profiles) {
    auto l = lease_of(p, db);
    REQUIRE(l.has_value());
    CHECK(l->owner == tag + "-h1");  // the other hosts leave live leases alone
  }

  // Every ok send is remembered: it must be in the target's log once.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::set<std::string>> sent;  // profile -> texts
  Joiner sender{stop, std::thread([&] {
    for (int k = 0; !stop; ++k) {
      const size_t i = size_t(k) % profiles.size();
      const std::string text = "flood-" + std::to_string(k);
      json r = send_text(peers, k % 2 ? "peer1" : "peer2", user_jid(phones[i]), text, 30000);
      if (r.value("ok", false)) {
        std::lock_guard lk(mu);
        sent[profiles[i]].insert(text);
      }
    }
  })};
  REQUIRE(wait_until([&] {
    std::lock_guard lk(mu);
    return sent.size() >= profiles.size();
  }, 60s));

  const auto killed_at = std::chrono::steady_clock::now();
  ::kill(h1->pid(), SIGKILL);
  REQUIRE(wait_exit(h1->pid(), 10s) != -1);
  h1->forget();

  // Each account opens on exactly one of the other two hosts.
  std::map<std::string, std::chrono::milliseconds> took;
  const bool all_open = wait_until([&] {
    for (const auto& p : profiles) {
      if (took.count(p)) continue;
      if (open_on(h2, p) || open_on(h3, p))
        took[p] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
    }
    return took.size() == profiles.size();
  }, 90s);
  if (!all_open)
    for (const auto& p : profiles)
      if (!took.count(p)) {
        auto l = lease_of(p, db);
        MESSAGE(p << " not open: lease " << (l ? l->owner + " token " + std::to_string(l->token) + " expires_in " +
                                                      std::to_string(l->expires_in_ms)
                                                : std::string("none")));
        for (Supervisor* h : {&h2, &h3}) {
          json r = h->call({{"cmd", "status"}, {"profile", p}});
          MESSAGE("  " << r.dump());
        }
      }
  REQUIRE(all_open);
  std::vector<long> ms;
  for (const auto& [p, t] : took) ms.push_back(t.count());
  std::sort(ms.begin(), ms.end());
  std::printf("failover_ms accounts=%d p50=%ld p99=%ld max=%ld\n", n, ms[ms.size() / 2],
              ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back());
  // lease TTL (3 s) + a scan (0.5 s) + the claim jitter (up to 0.5 s plus
  // load share) + a worker's start: well under 30 s even under sanitizers.
  CHECK(ms.back() < 30000);
  for (const auto& p : profiles) {
    CHECK(int(open_on(h2, p)) + int(open_on(h3, p)) == 1);  // on one host, not both
    auto l = lease_of(p, db);
    REQUIRE(l.has_value());
    CHECK((l->owner == tag + "-h2" || l->owner == tag + "-h3"));
  }
  stop = true;
  sender.t.join();

  // Nothing lost, nothing doubled: every message a peer got an ok for is
  // in its account's log exactly once.
  std::map<std::string, std::set<std::string>> expect;
  {
    std::lock_guard lk(mu);
    expect = sent;
  }
  size_t total = 0;
  for (const auto& [p, texts] : expect) total += texts.size();
  CHECK(total > size_t(n));
  for (const auto& entry : expect) {
    const std::string& p = entry.first;
    const std::set<std::string>& texts = entry.second;
    std::map<std::string, int> got;
    const bool all_there = wait_until([&] {
      got = logged_texts(p, db);
      return std::all_of(texts.begin(), texts.end(), [&](const std::string& t) { return got.count(t) != 0; });
    }, 60s);
    INFO(p);
    CHECK(all_there);
    for (const auto& t : texts) CHECK(got[t] == 1);
  }

  // Afterwards every account sends from its new host, and the peer reads it
  // (its sessions came along intact: nothing undecryptable).
  for (size_t i = 0; i < profiles.size(); ++i) {
    auto l = lease_of(profiles[i], db);
    REQUIRE(l.has_value());
    Supervisor& host = l->owner == tag + "-h2" ? h2 : h3;
    json r = send_text(host, profiles[i], user_jid("15551300001"), "after-" + std::to_string(i));
    INFO(r.dump());
    CHECK(r.value("ok", false));
  }
  auto peer_store = wa::store::open_sqlite(peers.data_dir() + "/peer1/store.db");
  REQUIRE(peer_store.has_value());
  std::map<std::string, int> at_peer;
  CHECK(wait_until([&] {
    at_peer = texts_in(**peer_store);
    for (size_t i = 0; i < profiles.size(); ++i)
      if (at_peer["after-" + std::to_string(i)] != 1) return false;
    return true;
  }, 60s));
  CHECK(at_peer["#undecryptable"] == 0);
  for (const auto& p : profiles) CHECK(logged_texts(p, db)["#undecryptable"] == 0);
  // The server never saw one device logged in twice at once.
  CHECK(server_status(ts)["counters"]["replaced"] == 0);
}

TEST_CASE("cluster: a supervisor paused past its lease - its workers leave first, the successor runs the accounts, "
          "the paused one's writes are refused and the device is never logged in twice") {
  TempDir dir;
  const std::string db = wa::test::pg_fresh_database("pause");
  const std::string file = write_conninfo(dir.path(), db);
  const std::string tag = wa::test::pg_unique_profile("s");
  const int n = 4;
  std::vector<std::string> profiles, phones;
  json instances = json::array();
  for (int i = 0; i < n; ++i) {
    profiles.push_back(tag + "-" + std::to_string(i));
    phones.push_back(std::to_string(15551400000LL + i));
    instances.push_back({{"profile", profiles.back()}});
  }
  TestServer ts;
  Supervisor peers(config_for(ts, json::array({{{"profile", "peer1"}}})));
  EventLog peer_ev(peers.run_dir());
  pair_by_qr(ts, peer_ev, "peer1", "15551500001");
  Supervisor h1(config_for(ts, instances, pg_config(file, tag + "-h1", 500)));
  EventLog ev1(h1.run_dir());
  for (int i = 0; i < n; ++i) pair_by_qr(ts, ev1, profiles[size_t(i)], phones[size_t(i)]);
  Supervisor h2(config_for(ts, json::array(), pg_config(file, tag + "-h2", 500)));
  for (int i = 0; i < n; ++i) {
    json r = send_text(peers, "peer1", user_jid(phones[size_t(i)]), "before-" + std::to_string(i));
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  }

  // Paused for twice the lease ttl (3 s): its workers are not paused.
  ::kill(h1.pid(), SIGSTOP);
  const auto paused_at = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    json r = send_text(peers, "peer1", user_jid(phones[size_t(i)]), "paused-" + std::to_string(i));
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  }
  CHECK(wait_until([&] {
    return std::all_of(profiles.begin(), profiles.end(), [&](const std::string& p) { return open_on(h2, p); });
  }, 30s));
  // The scenario's pause lasts twice the ttl in all (its length is the
  // test's input, not a wait for something: the checks wait on conditions).
  std::this_thread::sleep_until(paused_at + 6s);
  ::kill(h1.pid(), SIGCONT);

  // The paused supervisor finds its accounts gone: failed with lease_lost,
  // no worker of its own left, nothing restarted.
  CHECK(wait_until([&] {
    return std::all_of(profiles.begin(), profiles.end(), [&](const std::string& p) {
      json i = h1.instance(p);
      return i["state"] == "failed" && i["reason"] == "lease_lost" && i["connection_pid"].is_null();
    });
  }, 20s));
  // Its writes after the pause (the lifecycle events it logs) were refused
  // by the fencing token.
  CHECK(wait_until([&] {
    const std::string log = h1.log_text();
    size_t refused = 0;
    for (size_t at = 0; (at = log.find("a newer owner holds the lease", at)) != std::string::npos; ++at) ++refused;
    return refused >= size_t(n);
  }, 20s));
  for (const auto& p : profiles) CHECK(open_on(h2, p));

  // Every message arrived once, on whichever host held the account.
  for (int i = 0; i < n; ++i) {
    std::map<std::string, int> got;
    CHECK(wait_until([&] {
      got = logged_texts(profiles[size_t(i)], db);
      return got.count("paused-" + std::to_string(i)) && got.count("before-" + std::to_string(i));
    }, 30s));
    CHECK(got["before-" + std::to_string(i)] == 1);
    CHECK(got["paused-" + std::to_string(i)] == 1);
  }
  // One device, one login at a time.
  CHECK(server_status(ts)["counters"]["replaced"] == 0);
}

namespace {

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A PostgreSQL cluster of the test's own (tests/support/pg_server.sh), for a
// test that stops the database server: the run's shared cluster serves
// other tests meanwhile. It records commit timestamps (PG_COMMIT_TS=1), and
// is stopped and removed on every way out of the test.
class PrivatePg {
 public:
  PrivatePg() {
    state_ = dir_.path() + "/pg.state";
    auto [rc, out] = script("start");
    if (rc != 0) throw std::runtime_error("pg_server.sh start failed: " + out);
    std::ifstream in(state_);
    std::getline(in, conninfo_);
    if (conninfo_.empty()) throw std::runtime_error("pg_server.sh start wrote no conninfo");
  }
  ~PrivatePg() { (void)script("stop"); }
  PrivatePg(const PrivatePg&) = delete;
  const std::string& conninfo() const { return conninfo_; }
  // The server goes down (pg_ctl stop -m fast: every connection is ended)
  // and comes back on the same data directory and socket.
  void stop_server() {
    auto [rc, out] = script("pause");
    if (rc != 0) throw std::runtime_error("pg_server.sh pause failed: " + out);
  }
  void start_server() {
    auto [rc, out] = script("resume");
    if (rc != 0) throw std::runtime_error("pg_server.sh resume failed: " + out);
  }

 private:
  std::pair<int, std::string> script(const std::string& cmd) {
    return run_program({"/usr/bin/env", "PG_COMMIT_TS=1", WA_PG_SERVER_SH, cmd, state_}, dir_.path() + "/pg.out", 90s);
  }
  TempDir dir_;
  std::string state_, conninfo_;
};

// One connection for a test's queries; connects again after an outage.
class PgReader {
 public:
  explicit PgReader(std::string info) : info_(std::move(info)) {}
  ~PgReader() {
    if (c_) PQfinish(c_);
  }
  PgReader(const PgReader&) = delete;

  struct Stored {
    int rows = 0;            // rows of the log with this message id
    std::string text;        // the message's text
    int64_t committed_us = 0;  // when its transaction committed (the latest, if several)
  };
  // Every logged event of `profile` that carries a message id, by id; and
  // how many rows hold each text. nullopt when the server cannot be asked.
  std::optional<std::pair<std::map<std::string, Stored>, std::map<std::string, int>>> messages(
      const std::string& profile) {
    if (!c_ || PQstatus(c_) != CONNECTION_OK) {
      if (c_) PQfinish(c_);
      c_ = PQconnectdb(info_.c_str());
      if (PQstatus(c_) != CONNECTION_OK) return std::nullopt;
    }
    const char* params[] = {profile.c_str()};
    PGresult* r = PQexecParams(c_,
                               "SELECT msg_id, type, payload, "
                               "(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint "
                               "FROM inbox WHERE profile = $1 AND msg_id <> ''",
                               1, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      const std::string why = PQresultErrorMessage(r);
      PQclear(r);
      if (PQstatus(c_) != CONNECTION_OK) return std::nullopt;
      throw std::runtime_error("inbox query: " + why);
    }
    std::map<std::string, Stored> by_id;
    std::map<std::string, int> texts;
    for (int i = 0; i < PQntuples(r); ++i) {
      Stored& s = by_id[PQgetvalue(r, i, 0)];
      ++s.rows;
      if (std::string(PQgetvalue(r, i, 1)) == "message") {
        s.text = json::parse(PQgetvalue(r, i, 2)).value("text", "");
        ++texts[s.text];
      }
      if (PQgetisnull(r, i, 3)) throw std::runtime_error("no commit timestamp: track_commit_timestamp is off");
      s.committed_us = std::max<int64_t>(s.committed_us, std::stoll(PQgetvalue(r, i, 3)));
    }
    PQclear(r);
    return std::pair{std::move(by_id), std::move(texts)};
  }

 private:
  std::string info_;
  PGconn* c_ = nullptr;
};

// Polls a condition that is costly to evaluate (a query) until it holds or
// the deadline passes.
bool poll_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(200ms);  // polling interval, not synchronisation
  }
  return cond();
}

}  // namespace

TEST_CASE("postgres: the database stopped for 20 s under inbound load - no receipt for a message before it is "
          "stored, the server redelivers afterwards, every message is stored once and the account runs again") {
  TempDir dir;
  PrivatePg pg;  // this test's own cluster: stopping it disturbs no other test
  const std::string file = write_conninfo(dir.path(), pg.conninfo());
  const std::string b = "outage-b";
  const std::string b_phone = "15551600001";
  TestServer ts;
  // The peer on a host of its own (SQLite): it keeps sending throughout.
  Supervisor peers(config_for(ts, json::array({{{"profile", "peer1"}}})));
  EventLog peer_ev(peers.run_dir());
  pair_by_qr(ts, peer_ev, "peer1", "15551600002");
  // The account on PostgreSQL with the default lease (ttl 15 s, placement
  // scan every 5 s): a 20 s outage outlasts the lease.
  Supervisor sup(config_for(ts, json::array({{{"profile", b}}}),
                            json{{"store", {{"engine", "postgres"}, {"conninfo_file", file}}},
                                 {"cluster", {{"host_id", "outage-host"}}}}));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, b, b_phone);
  const auto first_lease = lease_of(b, pg.conninfo());
  REQUIRE(first_lease.has_value());

  // A continuous stream to B; each message the peer got an ok for is
  // remembered with its id.
  struct Sent {
    std::string id, text;
    int64_t at_us;
  };
  std::mutex mu;
  std::vector<Sent> sent;
  int not_ok = 0;
  std::atomic<bool> stop{false};
  Joiner sender{stop, std::thread([&] {
    for (int k = 0; !stop; ++k) {
      const std::string text = "stream-" + std::to_string(k);
      json r = send_text(peers, "peer1", user_jid(b_phone), text, 30000);
      {
        std::lock_guard lk(mu);
        if (r.value("ok", false))
          sent.push_back({r["result"].value("id", ""), text, wall_us()});
        else
          ++not_ok;
      }
      std::this_thread::sleep_for(20ms);  // the stream's pace (load shape), not synchronisation
    }
  })};
  auto sent_now = [&] {
    std::lock_guard lk(mu);
    return sent;
  };

  PgReader reader(pg.conninfo());
  // B receives and stores before the outage.
  REQUIRE(poll_until([&] {
    auto m = reader.messages(b);
    return m && m->second.size() >= 20;
  }, 60s));

  // The outage: the database server is down for 20 s of wall time (the
  // scenario's length; what follows waits on outcomes with deadlines).
  const int64_t down_us = wall_us();
  const auto down_at = std::chrono::steady_clock::now();
  pg.stop_server();
  // Watched meanwhile: B's state as the supervisor reports it.
  std::vector<std::string> seen;
  while (std::chrono::steady_clock::now() < down_at + 20s) {
    json i = sup.instance(b);
    std::string s = i.value("state", "") + (i["reason"].is_string() ? "(" + i["reason"].get<std::string>() + ")" : "") +
                    "/" + (i["connection"].is_object() ? i["connection"].value("state", "-") : std::string("-"));
    if (seen.empty() || seen.back().substr(seen.back().find(' ') + 1) != s)
      seen.push_back(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - down_at).count()) +
                     "ms " + s);
    std::this_thread::sleep_for(100ms);  // sampling inside the outage window
  }
  const int64_t up_us = wall_us();
  pg.start_server();
  const auto up_at = std::chrono::steady_clock::now();
  std::string path;
  for (const auto& s : seen) path += "  " + s + "\n";
  MESSAGE("B during the outage:\n" << path);

  // B opens again (its lease lapsed meanwhile: claimed again and run)...
  const bool reopened = poll_until([&] { return open_on(sup, b); }, 90s);
  const auto reopen_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - up_at);
  if (!reopened) MESSAGE("B not open: " << sup.instance(b).dump() << "\nsupervisor log:\n" << sup.log_text());
  REQUIRE(reopened);
  // ... and the stream goes on past the return for a while.
  const size_t at_return = sent_now().size();
  REQUIRE(wait_until([&] { return sent_now().size() >= at_return + 20; }, 60s));
  stop = true;
  sender.t.join();
  const std::vector<Sent> all_sent = sent_now();

  // (b) Every message the peer got an ok for is in B's log exactly once.
  std::map<std::string, PgReader::Stored> stored;
  std::map<std::string, int> texts;
  const bool all_stored = poll_until([&] {
    auto m = reader.messages(b);
    if (!m) return false;
    stored = std::move(m->first);
    texts = std::move(m->second);
    return std::all_of(all_sent.begin(), all_sent.end(), [&](const Sent& s) { return stored.count(s.id) != 0; });
  }, 120s);
  const auto stored_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - up_at);
  CHECK(all_stored);
  size_t missing = 0, doubled = 0, during_outage = 0;
  for (const auto& s : all_sent) {
    auto it = stored.find(s.id);
    if (it == stored.end()) {
      ++missing;
      continue;
    }
    if (it->second.rows != 1 || it->second.text != s.text || texts[s.text] != 1) ++doubled;
    if (s.at_us >= down_us && s.at_us <= up_us) ++during_outage;
  }
  CHECK(missing == 0);
  CHECK(doubled == 0);
  CHECK(during_outage > 0);  // the outage did meet inbound messages
  for (const auto& t : texts) CHECK_MESSAGE(t.second == 1, t.first);
  CHECK(events_of(ev.all(), b, "undecryptable").empty());

  // (a) The server heard a receipt for a message only after B had committed
  // it (PostgreSQL's commit timestamp against the server's arrival time),
  // and every message was answered in the end (nothing left queued).
  CHECK(poll_until([&] {
    for (const auto& a : server_status(ts)["accounts"])
      if (a["phone"] == b_phone)
        for (const auto& d : a["devices"])
          if (d["queued"].get<int>() != 0 || d["unanswered"].get<int>() != 0) return false;
    return true;
  }, 60s));
  const auto listed = ts.admin({"receipts", "--state", ts.state(), "--phone", b_phone});
  REQUIRE_MESSAGE(listed.first == 0, listed.second);
  const json receipts = json::parse(listed.second)["result"];
  REQUIRE(receipts["dropped"] == 0);
  std::set<std::string> answered;
  size_t receipts_in_outage = 0, premature = 0, unstored = 0;
  for (const auto& r : receipts["receipts"]) {
    const int64_t at = r["at_us"].get<int64_t>();
    if (at >= down_us && at <= up_us) ++receipts_in_outage;
    for (const auto& idj : r["ids"]) {
      const std::string id = idj.get<std::string>();
      answered.insert(id);
      auto it = stored.find(id);
      if (it == stored.end()) {
        ++unstored;
        MESSAGE("receipt (type '" << r["type"].get<std::string>() << "') for " << id << ", which B never stored");
      } else if (it->second.committed_us > at) {
        ++premature;
        MESSAGE("receipt for " << id << " " << it->second.committed_us - at << " us before B committed it");
      }
    }
  }
  CHECK(unstored == 0);
  CHECK(premature == 0);
  size_t unanswered = 0;
  for (const auto& s : all_sent) unanswered += answered.count(s.id) == 0;
  CHECK(unanswered == 0);

  // (c) B runs, logged in, under a lease of this host; nothing failed for good.
  CHECK(sup.state(b) == "running");
  CHECK(open_on(sup, b));
  auto lease = lease_of(b, pg.conninfo());
  REQUIRE(lease.has_value());
  CHECK(lease->owner == "outage-host");
  CHECK(lease->expires_in_ms > 0);
  // How B came through (the lease lapsed in the outage: the worker left
  // with kExitLeaseLost and the account was claimed again with a new token).
  std::string exits, failures;
  for (const auto& e : events_of(ev.all(), b, "instance_exited")) exits += " " + e.dump();
  for (const auto& e : events_of(ev.all(), b, "instance_failed")) failures += " " + e.value("reason", "");
  MESSAGE("lease token " << first_lease->token << " -> " << lease->token << "; exits:" << exits
                         << "; failed:" << failures);
  CHECK(lease->token > first_lease->token);
  CHECK(server_status(ts)["counters"]["replaced"] == 0);

  std::printf("pg_outage sent=%zu sent_during_outage=%zu not_ok=%d receipts=%zu receipts_during_outage=%zu "
              "reopen_after_return_ms=%lld all_stored_after_return_ms=%lld\n",
              all_sent.size(), during_outage, not_ok, receipts["receipts"].size(), receipts_in_outage,
              static_cast<long long>(reopen_ms.count()), static_cast<long long>(stored_ms.count()));
}
