// A deployment on PostgreSQL (store.engine "postgres"): wa-supervisor,
// wa-connection and wa-sender against wa-testserver with every profile's
// state in the run's PostgreSQL cluster (tests/support/pg_server.sh).
// The supervisor runs an account only under its lease; another host's
// claim stops it (its writes are fenced meanwhile), and the account comes
// back under a new token without losing the messages that arrived between.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "pg_test.hpp"
#include "wa/store/lease.hpp"
#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

// The deployment's config: the connection string in a 0600 file, a short
// lease so that a renewal comes round within the test.
json pg_config(const std::string& conninfo_file, const std::string& host) {
  return json{{"store", {{"engine", "postgres"}, {"conninfo_file", conninfo_file}}},
              {"cluster", {{"host_id", host}, {"lease_ttl_ms", 3000}}}};
}

std::string write_conninfo(const std::string& dir) {
  const std::string path = dir + "/pg.conninfo";
  std::ofstream(path) << wa::test::pg_conninfo() << "\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

std::optional<wa::store::Lease> lease_of(const std::string& profile) {
  auto t = wa::store::LeaseTable::open(wa::test::pg_conninfo());
  if (!t) throw std::runtime_error("leases: " + t.error().message);
  auto all = t->all();
  if (!all) throw std::runtime_error("leases: " + all.error().message);
  for (auto& l : *all)
    if (l.profile == profile) return l;
  return std::nullopt;
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
  expire_lease(b);
  auto other = wa::store::LeaseTable::open(wa::test::pg_conninfo());
  REQUIRE(other.has_value());
  auto stolen = other->claim(b, "host-elsewhere", 60000);
  REQUIRE(stolen.has_value());
  REQUIRE(stolen->has_value());
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
  auto [rc, out] = run({"to-postgres"});
  INFO(out);
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
  INFO(out3);
  REQUIRE(rc3 == 0);
  auto back = wa::store::open_sqlite(data + "/" + p + "/store.db");
  REQUIRE(back.has_value());
  auto rows = (*back)->inbox_since(0, 10);
  REQUIRE(rows.has_value());
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().msg_id == "m1");
}
