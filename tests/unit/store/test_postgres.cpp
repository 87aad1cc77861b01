// What only the PostgreSQL store and the lease table promise: fencing
// tokens, leases judged by the server's clock, one writer per profile across
// connections, recovery from a lost connection, secrets kept out of errors.
// (The Store contract itself runs against both engines in test_store.cpp.)
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "pg_test.hpp"
#include "temp_dir.hpp"
#include "wa/store/lease.hpp"
#include "wa/store/migrate.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/postgres_store.hpp"

using namespace wa;
using namespace wa::store;
using wa::test::pg_conninfo;
using wa::test::pg_unique_profile;

namespace {

template <class T>
T must(Result<T> r) {
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().code + ": " + r.error().message));
  return std::move(r).value();
}
void must(const Status& s) { REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().code + ": " + s.error().message)); }

std::unique_ptr<Store> open_store(const std::string& profile, int64_t token) {
  return must(open_postgres(PgOptions{pg_conninfo(), profile, token}));
}

// Plain libpq for what the interface hides (other sessions, the catalog).
struct Sql {
  PGconn* c = PQconnectdb(pg_conninfo().c_str());
  Sql() { REQUIRE(PQstatus(c) == CONNECTION_OK); }
  ~Sql() { PQfinish(c); }
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;
  std::string scalar(const std::string& q) {
    PGresult* r = PQexec(c, q.c_str());
    std::string out = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return out;
  }
  void exec(const std::string& q) {
    PGresult* r = PQexec(c, q.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    REQUIRE_MESSAGE(ok, msg);
  }
};

// Waits for `cond` with a deadline (no sleep stands in for a condition).
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

std::optional<Bytes> credential(Store& s, std::string_view name) { return must(s.get_credential(name)); }

}  // namespace

TEST_CASE("leases: one live owner, renewal, expiry by the server's clock, every claim a new token") {
  const std::string p = pg_unique_profile("lease");
  auto st = open_store(p, 0);  // registers the profile cluster-wide
  auto leases = must(LeaseTable::open(pg_conninfo()));

  auto a = must(leases.claim(p, "host-a", 60000));
  REQUIRE(a.has_value());
  CHECK(a->owner == "host-a");
  CHECK(a->token == 1);
  CHECK(a->expires_in_ms > 50000);
  CHECK_FALSE(must(leases.claim(p, "host-b", 60000)).has_value());  // live elsewhere
  CHECK(must(leases.renew(p, "host-a", a->token, 60000)));
  CHECK_FALSE(must(leases.renew(p, "host-a", a->token + 1, 60000)));  // not our token
  CHECK_FALSE(must(leases.renew(p, "host-b", a->token, 60000)));      // not our host

  // A short lease lapses; then another host claims it with the next token.
  CHECK(must(leases.renew(p, "host-a", a->token, 1)));
  std::optional<Lease> b;
  REQUIRE(eventually([&] {
    b = must(leases.claim(p, "host-b", 60000));
    return b.has_value();
  }));
  CHECK(b->token == a->token + 1);
  CHECK_FALSE(must(leases.renew(p, "host-a", a->token, 60000)));  // lost: its host must stop the account

  // A restarted host claims its own live lease again, with a new token.
  auto b2 = must(leases.claim(p, "host-b", 60000));
  REQUIRE(b2.has_value());
  CHECK(b2->token == b->token + 1);

  // Released: claimable at once by anybody, the token moving on.
  must(leases.release(p, "host-b", b2->token));
  auto c = must(leases.claim(p, "host-c", 60000));
  REQUIRE(c.has_value());
  CHECK(c->token == b2->token + 1);

  bool listed = false;
  for (const auto& l : must(leases.all()))
    if (l.profile == p) {
      listed = true;
      CHECK(l.owner == "host-c");
      CHECK(l.token == c->token);
    }
  CHECK(listed);
  auto fresh = must(leases.claim("new-" + p, "host-a", 1000));  // created cluster-wide by its first claim
  REQUIRE(fresh.has_value());
  CHECK(fresh->token == 1);
  CHECK(must(pg_profiles(pg_conninfo())).size() >= 2);
}

TEST_CASE("lease_state: a store reads its profile's lease on its own connection, SQLite has none") {
  const std::string p = pg_unique_profile("ls");
  auto st = open_store(p, 0);
  auto leases = must(LeaseTable::open(pg_conninfo()));
  auto before = must(st->lease_state());
  // Registered without an owner, or no row yet: either way no live token.
  CHECK((!before.has_value() || before->expires_in_ms <= 0));
  auto a = must(leases.claim(p, "host-a", 60000));
  REQUIRE(a.has_value());
  auto now = must(st->lease_state());
  REQUIRE(now.has_value());
  CHECK(now->token == a->token);
  CHECK(now->expires_in_ms > 50000);
  CHECK(now->expires_in_ms <= 60000);
  must(leases.release(p, "host-a", a->token));
  auto released = must(st->lease_state());
  REQUIRE(released.has_value());
  CHECK(released->expires_in_ms <= 0);

  wa::test::TempDir dir;
  auto lite = must(open_sqlite(dir.path() + "/s.db"));
  auto none = lite->lease_state();
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == "not_supported");
}

TEST_CASE("fencing: a store of an old owner writes nothing once a new owner claimed the account") {
  const std::string p = pg_unique_profile("fence");
  auto leases = must(LeaseTable::open(pg_conninfo()));
  auto never_claimed = open_store(p, 0);
  must(never_claimed->put_credential("a", Bytes{1}));  // nobody ever claimed: token 0 writes

  auto first = must(leases.claim(p, "host-a", 1));
  REQUIRE(first.has_value());
  auto r0 = never_claimed->put_credential("a", Bytes{2});
  REQUIRE_FALSE(r0.has_value());
  CHECK(r0.error().code == "fenced");
  CHECK(is_store_failure(r0.error()));

  auto old_owner = open_store(p, first->token);
  must(old_owner->put_credential("a", Bytes{3}));
  std::optional<Lease> next;
  REQUIRE(eventually([&] {
    next = must(leases.claim(p, "host-b", 60000));
    return next.has_value();
  }));
  auto new_owner = open_store(p, next->token);

  // Every kind of write of the old owner is refused: single statements,
  // transactions, inbox appends. Reads still work.
  auto w1 = old_owner->put_credential("a", Bytes{4});
  REQUIRE_FALSE(w1.has_value());
  CHECK(w1.error().code == "fenced");
  bool ran = false;
  auto w2 = old_owner->transaction(Durability::full, [&]() -> Status {
    ran = true;
    return old_owner->store_session(Address{"123", 0}, Bytes{9});
  });
  REQUIRE_FALSE(w2.has_value());
  CHECK(w2.error().code == "fenced");
  CHECK_FALSE(ran);  // refused before the transaction's body ran
  auto w3 = old_owner->inbox_put(InboxEntry{0, "m1", "c", "s", 1, "message", "{}", false});
  REQUIRE_FALSE(w3.has_value());
  CHECK(w3.error().code == "fenced");
  CHECK(credential(*old_owner, "a") == Bytes{3});

  must(new_owner->put_credential("a", Bytes{5}));
  CHECK(credential(*old_owner, "a") == Bytes{5});
  CHECK_FALSE(must(new_owner->load_session(Address{"123", 0})).has_value());
  CHECK(must(new_owner->inbox_last_seq()) == 0);
}

TEST_CASE("fencing: a claim waits for the old owner's transaction in flight, which commits whole before it") {
  const std::string p = pg_unique_profile("inflight");
  auto leases = must(LeaseTable::open(pg_conninfo()));
  auto st0 = open_store(p, 0);
  auto a = must(leases.claim(p, "host-a", 1));
  REQUIRE(a.has_value());
  auto old_owner = open_store(p, a->token);
  Sql sql;
  std::atomic<bool> claimed{false};
  std::optional<Lease> b;
  std::thread claimer;
  auto s = old_owner->transaction(Durability::full, [&]() -> Status {
    WA_TRY(old_owner->put_credential("x", Bytes{1}));
    // The lease has lapsed (1 ms). Another host claims it now: its UPDATE
    // must wait for this transaction, which holds the lease row.
    claimer = std::thread([&] {
      auto lt = LeaseTable::open(pg_conninfo());
      if (!lt) return;
      auto r = lt->claim(p, "host-b", 60000);
      if (r && *r) b = **r;
      claimed = true;
    });
    const bool waiting = eventually([&] {
      return sql.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wa:leases' "
                        "AND wait_event_type = 'Lock'") != "0";
    });
    CHECK(waiting);
    CHECK_FALSE(claimed.load());
    return old_owner->put_credential("y", Bytes{2});
  });
  must(s);  // the old owner's transaction committed whole
  claimer.join();
  REQUIRE(b.has_value());
  CHECK(b->token == a->token + 1);
  auto reader = open_store(p, b->token);
  CHECK(credential(*reader, "x") == Bytes{1});
  CHECK(credential(*reader, "y") == Bytes{2});
  auto late = old_owner->put_credential("z", Bytes{3});
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().code == "fenced");
}

TEST_CASE("transactions: writers of one profile on different connections never interleave (no lost update)") {
  const std::string p = pg_unique_profile("rule");
  auto st = open_store(p, 0);
  must(st->put_credential("n", encode_u32(0)));
  constexpr int kThreads = 3, kRounds = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      auto s = open_postgres(PgOptions{pg_conninfo(), p, 0});
      if (!s) {
        ++failures;
        return;
      }
      for (int i = 0; i < kRounds; ++i) {
        // A read-modify-write, as a Signal ratchet step is.
        auto r = (*s)->transaction(Durability::normal, [&]() -> Status {
          auto v = (*s)->get_credential("n");
          if (!v || !*v) return fail("test", "no counter");
          return (*s)->put_credential("n", encode_u32(*decode_u32(**v) + 1));
        });
        if (!r) ++failures;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(failures.load() == 0);
  CHECK(decode_u32(*credential(*st, "n")) == uint32_t{kThreads * kRounds});
}

TEST_CASE("connection: a lost connection fails the call with db_unavailable, the next call reconnects") {
  const std::string p = pg_unique_profile("conn");
  auto st = open_store(p, 0);
  must(st->put_credential("k", Bytes{1}));
  Sql sql;
  // Ends this store's server session, as a restart of PostgreSQL would.
  sql.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'wa:" + p + "'");
  auto lost = st->put_credential("k", Bytes{2});
  REQUIRE_FALSE(lost.has_value());
  CHECK(lost.error().code == "db_unavailable");
  CHECK(is_store_failure(lost.error()));
  must(st->put_credential("k", Bytes{3}));
  CHECK(credential(*st, "k") == Bytes{3});

  // Inside a transaction the loss fails the transaction; nothing commits.
  auto t = st->transaction(Durability::full, [&]() -> Status {
    WA_TRY(st->put_credential("k", Bytes{4}));
    sql.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'wa:" + p + "'");
    return st->put_credential("k", Bytes{5});
  });
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().code == "db_unavailable");
  CHECK(credential(*st, "k") == Bytes{3});
}

TEST_CASE("connection: errors name no password, a conninfo file readable by others is refused") {
  auto bad = open_postgres(PgOptions{"host=/nonexistent-wa-dir user=wa password=hunter2secret dbname=wa", "p"});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "db_unavailable");
  CHECK(bad.error().message.find("hunter2secret") == std::string::npos);

  wa::test::TempDir dir;
  const std::string file = dir.file("conninfo");
  {
    std::ofstream(file) << pg_conninfo() << "\n";
  }
  ::chmod(file.c_str(), 0644);
  auto loose = pg_conninfo(file);
  REQUIRE_FALSE(loose.has_value());
  CHECK(loose.error().message.find("chmod 600") != std::string::npos);
  ::chmod(file.c_str(), 0600);
  CHECK(must(pg_conninfo(file)) == pg_conninfo());
  ::setenv("WA_PG_CONNINFO", "host=/x dbname=y", 1);
  CHECK(must(pg_conninfo("")) == "host=/x dbname=y");
  ::unsetenv("WA_PG_CONNINFO");
  CHECK_FALSE(pg_conninfo("").has_value());
}

TEST_CASE("schema: a database whose schema is newer than this build is refused, profiles list and delete") {
  Sql sql;
  const std::string db = "wa_newer_" + std::to_string(::getpid());
  sql.exec("DROP DATABASE IF EXISTS " + db);
  sql.exec("CREATE DATABASE " + db);
  std::string info = pg_conninfo();
  info = info.substr(0, info.find("dbname=")) + "dbname=" + db;
  must(pg_migrate(info));
  must(pg_migrate(info));  // idempotent
  auto s1 = must(open_postgres(PgOptions{info, "beta"}));
  auto s2 = must(open_postgres(PgOptions{info, "alpha"}));
  must(s1->put_credential("k", Bytes{1}));
  CHECK(must(pg_profiles(info)) == std::vector<std::string>{"alpha", "beta"});
  must(pg_delete_profile(info, "beta"));
  CHECK(must(pg_profiles(info)) == std::vector<std::string>{"alpha"});
  s1.reset();
  s2.reset();
  {
    PGconn* c = PQconnectdb(info.c_str());
    PQclear(PQexec(c, "UPDATE wa_schema SET version = 99"));
    PQfinish(c);
  }
  auto newer = open_postgres(PgOptions{info, "alpha"});
  REQUIRE_FALSE(newer.has_value());
  CHECK(newer.error().code == "schema_too_new");
  sql.exec("DROP DATABASE " + db + " WITH (FORCE)");
}

TEST_CASE("migrate: a profile moves SQLite -> PostgreSQL -> SQLite with every row and the event log's high-water mark") {
  wa::test::TempDir dir;
  const std::string p = pg_unique_profile("move");
  const std::string src = dir.file("src.db");
  {
    auto s = must(open_sqlite(src));
    must(s->put_credential(cred::push_name, Bytes{'m', 'e'}));
    must(s->store_prekey(PreKey{7, Bytes(32, 1), Bytes(32, 2), true}));
    must(s->store_signed_prekey(SignedPreKey{1, Bytes(32, 3), Bytes(32, 4), Bytes(64, 5), 1700000000}));
    must(s->store_session(Address{"111", 0}, Bytes{9, 9}));
    must(s->store_sender_key("g@g.us", Address{"111", 2}, Bytes{8}));
    CHECK(must(s->save_identity(Address{"111", 0}, Bytes(32, 6))) == IdentityStatus::first_use);
    must(s->put_device_list("111", DeviceList{{0, 2}, 1700000001}));
    must(s->put_lid_mapping("222", "999"));
    for (int i = 1; i <= 5; ++i)
      must(s->inbox_put(InboxEntry{0, "m" + std::to_string(i), "c", "s", 1000 + i, "message", "{\"text\":\"t\"}", false}));
    must(s->inbox_mark_acked(1));
    must(s->inbox_mark_acked(5));
    CHECK(must(s->inbox_prune(5)) == 2);  // seqs 1 and 5 gone: the mark (5) lives on in sqlite_sequence only
    must(s->sent_put(SentMessage{"out1", "c", Bytes{1, 2}, 1700000002}));
    must(s->media_put(MediaRef{"img", "c", "s", Bytes{4}, "", 1700000003}));
    must(s->secret_put(MessageSecret{"poll1", "c", "s", Bytes(32, 7), 1700000004}));
    must(s->poll_put(PollRecord{"poll1", "c", "s", "lunch?", {"yes", "no"}, 1, 1700000004}));
    CHECK(must(s->poll_vote_put(PollVoteRecord{"poll1", "c", "v", {"yes"}, 5})));
  }
  auto leases = must(LeaseTable::open(pg_conninfo()));
  auto lease = must(leases.claim(p, "mover", 60000));
  REQUIRE(lease.has_value());
  auto r = must(sqlite_to_postgres(src, pg_conninfo(), p, lease->token));
  CHECK(r.last_seq == 5);
  CHECK(r.rows >= 15);
  // Copied once only: a second copy into the same profile is refused.
  auto again = sqlite_to_postgres(src, pg_conninfo(), p, lease->token);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == "not_empty");
  // Fenced like any write: an old token copies nothing.
  auto stale = sqlite_to_postgres(src, pg_conninfo(), p + "x", 42);
  REQUIRE_FALSE(stale.has_value());

  auto check_profile = [](Store& s) {
    CHECK(credential(s, cred::push_name) == Bytes{'m', 'e'});
    auto pk = must(s.load_prekey(7));
    REQUIRE(pk.has_value());
    CHECK(pk->uploaded);
    CHECK(pk->priv == Bytes(32, 2));
    auto spk = must(s.load_signed_prekey(1));
    REQUIRE(spk.has_value());
    CHECK(spk->timestamp == 1700000000);
    CHECK(must(s.load_session(Address{"111", 0})) == Bytes{9, 9});
    CHECK(must(s.load_sender_key("g@g.us", Address{"111", 2})) == Bytes{8});
    CHECK(must(s.check_identity(Address{"111", 0}, Bytes(32, 6))) == IdentityStatus::match);
    auto dl = must(s.get_device_list("111"));
    REQUIRE(dl.has_value());
    CHECK(dl->devices == std::vector<uint32_t>{0, 2});
    CHECK(must(s.lid_for_pn("222")) == std::optional<std::string>{"999"});
    auto inbox = must(s.inbox_since(0, 100));
    REQUIRE(inbox.size() == 3);
    CHECK(inbox[0].seq == 2);
    CHECK(inbox[2].seq == 4);
    CHECK(must(s.sent_get("out1", "c")).has_value());
    CHECK(must(s.media_get("img", "c")).has_value());
    CHECK(must(s.secret_get("poll1", "c")).has_value());
    auto poll = must(s.poll_get("poll1", "c"));
    REQUIRE(poll.has_value());
    CHECK(poll->options == std::vector<std::string>{"yes", "no"});
    CHECK(must(s.poll_votes("poll1", "c")).size() == 1);
    // The next event takes a seq above the old high-water mark.
    auto next = must(s.inbox_put(InboxEntry{0, "m6", "c", "s", 2000, "message", "{}", false}));
    CHECK(next.seq == 6);
  };
  {
    auto pg = open_store(p, lease->token);
    check_profile(*pg);
  }
  // And back, into a new file (an existing one is never overwritten).
  auto exists_already = postgres_to_sqlite(pg_conninfo(), p, src);
  REQUIRE_FALSE(exists_already.has_value());
  CHECK(exists_already.error().code == "not_empty");
  const std::string back = dir.file("back.db");
  auto r2 = must(postgres_to_sqlite(pg_conninfo(), p, back));
  CHECK(r2.last_seq == 6);
  {
    auto s = must(open_sqlite(back));
    // m6 came along; the next seq goes on from the mark.
    CHECK(must(s->inbox_last_seq()) == 6);
    auto next = must(s->inbox_put(InboxEntry{0, "m7", "c", "s", 3000, "message", "{}", false}));
    CHECK(next.seq == 7);
  }
  must(leases.release(p, "mover", lease->token));
}
