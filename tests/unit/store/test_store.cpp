#include <doctest/doctest.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <utility>
#include <thread>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg_test.hpp"
#include "temp_dir.hpp"
#include "wa/store/event_log.hpp"
#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_store.hpp"
#include "write_gate.hpp"

using namespace wa;
using namespace wa::store;
using wa::test::TempDir;

namespace {

std::unique_ptr<Store> open_ok(const std::string& path, const SqliteOptions& opt = {}) {
  auto r = open_sqlite(path, opt);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().code + ": " + r.error().message));
  return std::move(r).value();
}

// Direct SQLite access for checks the Store interface deliberately hides.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  int exec(const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }
  int64_t scalar(const char* sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  bool has_table(const std::string& name) {
    std::string sql = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='" + name + "'";
    return scalar(sql.c_str()) == 1;
  }
};

Bytes filled(size_t n, uint8_t v) { return Bytes(n, v); }

// The engines behind the one Store interface: the contract tests below run
// against each (TEST_CASE_TEMPLATE), so both keep the same meaning.
struct SqliteBackend {
  TempDir dir;
  std::unique_ptr<Store> open(const std::string& name = "p") { return open_ok(dir.file(name + ".db")); }
};
struct PgBackend {
  std::string profile = wa::test::pg_unique_profile("store");
  std::unique_ptr<Store> open(const std::string& name = "p") {
    auto r = open_postgres(PgOptions{wa::test::pg_conninfo(), profile + "-" + name});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().code + ": " + r.error().message));
    return std::move(r).value();
  }
};

mode_t file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TYPE_TO_STRING_AS("sqlite", SqliteBackend);
TYPE_TO_STRING_AS("postgres", PgBackend);

TEST_CASE("schema: an empty database migrates to the latest version") {
  TempDir dir;
  auto path = dir.file("p.db");
  { auto s = open_ok(path); }
  RawDb raw(path);
  CHECK(raw.scalar("PRAGMA user_version") == kSchemaVersion);
  for (const char* t : {"credentials", "prekeys", "signed_prekeys", "sessions", "sender_keys", "identities",
                        "device_lists", "lid_mappings", "inbox", "sent_messages"})
    CHECK_MESSAGE(raw.has_table(t), t);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
  sqlite3_finalize(st);
}

TEST_CASE("schema: migrations run in order from an older version and keep data") {
  TempDir dir;
  auto path = dir.file("p.db");
  {
    SqliteOptions opt;
    opt.migrate_to = 1;
    auto s = open_ok(path, opt);
    REQUIRE(s->put_credential(cred::push_name, as_bytes("kept")));
  }
  {
    RawDb raw(path);
    CHECK(raw.scalar("PRAGMA user_version") == 1);
    CHECK_FALSE(raw.has_table("inbox"));
  }
  auto s = open_ok(path);
  auto v = s->get_credential(cred::push_name);
  REQUIRE(v);
  REQUIRE(v->has_value());
  CHECK(as_chars(**v) == "kept");
  InboxEntry e{0, "m1", "c", "s", 1, "message", "{}", false};
  CHECK(s->inbox_put(e));
  RawDb raw(path);
  CHECK(raw.scalar("PRAGMA user_version") == kSchemaVersion);
}

TEST_CASE("schema: a version 3 store's PN-named Signal state moves to the LID names of the mappings it recorded") {
  TempDir dir;
  auto path = dir.file("p.db");
  {
    SqliteOptions opt;
    opt.migrate_to = 3;
    open_ok(path, opt);
  }
  {
    // What a version 3 client left: mappings recorded, sessions by number.
    RawDb raw(path);
    REQUIRE(raw.exec("INSERT INTO lid_mappings VALUES ('5511', '9001'), ('5522', '9002');"
                     "INSERT INTO sessions VALUES ('5511', 0, x'01'), ('5511', 3, x'02'), ('5511_128', 4, x'03'),"
                     " ('5522', 1, x'04'), ('9002_1', 1, x'05'), ('7777', 1, x'06');"
                     "INSERT INTO identities VALUES ('5511', 3, x'0a', 1);"
                     "INSERT INTO sender_keys VALUES ('g@g.us', '5511', 3, x'0b');") == SQLITE_OK);
  }
  auto s = open_ok(path);
  RawDb raw(path);
  CHECK(raw.scalar("PRAGMA user_version") == kSchemaVersion);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name IN ('5511', '5511_128', '5522')") == 0);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '9001_1'") == 2);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '9001_129'") == 1);
  CHECK(**s->load_session({"5522", 1}) == Bytes{5});  // the LID row won
  CHECK(**s->load_session({"7777", 1}) == Bytes{6});  // unmapped: untouched
  CHECK(raw.scalar("SELECT count(*) FROM identities WHERE name = '9001_1'") == 1);
  CHECK(raw.scalar("SELECT count(*) FROM sender_keys WHERE sender_name = '9001_1'") == 1);
}

TEST_CASE("schema: a database from a newer build is refused") {
  TempDir dir;
  auto path = dir.file("p.db");
  { auto s = open_ok(path); }
  {
    RawDb raw(path);
    REQUIRE(raw.exec("PRAGMA user_version = 99") == SQLITE_OK);
  }
  auto r = open_sqlite(path);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "schema_too_new");
}

TEST_CASE("files: database, WAL and shm are 0600 whatever the umask") {
  TempDir dir;
  auto path = dir.file("p.db");
  mode_t old = ::umask(0);  // the most permissive umask SQLite could see
  auto s = open_ok(path);
  ::umask(old);
  REQUIRE(s->put_credential(cred::push_name, as_bytes("x")));  // forces WAL + shm into existence
  CHECK(file_mode(path) == 0600);
  CHECK(file_mode(path + "-wal") == 0600);
  CHECK(file_mode(path + "-shm") == 0600);
}

TEST_CASE("files: an existing world-readable database is tightened to 0600") {
  TempDir dir;
  auto path = dir.file("p.db");
  { auto s = open_ok(path); }
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto s = open_ok(path);
  CHECK(file_mode(path) == 0600);
}

TEST_CASE_TEMPLATE("credentials: put, overwrite, get, delete, u32 helpers", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  auto missing = s->get_credential(cred::noise_priv);
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());
  REQUIRE(s->put_credential(cred::registration_id, encode_u32(0x01020304)));
  REQUIRE(s->put_credential(cred::registration_id, encode_u32(4242)));
  auto v = s->get_credential(cred::registration_id);
  REQUIRE(v);
  REQUIRE(v->has_value());
  CHECK(decode_u32(**v) == 4242u);
  CHECK_FALSE(decode_u32(Bytes{1, 2, 3}).has_value());
  REQUIRE(s->put_credential(cred::routing_info, Bytes{}));  // empty blobs stay empty, not NULL
  auto empty = s->get_credential(cred::routing_info);
  REQUIRE(empty);
  REQUIRE(empty->has_value());
  CHECK((*empty)->empty());
  REQUIRE(s->delete_credential(cred::registration_id));
  auto gone = s->get_credential(cred::registration_id);
  REQUIRE(gone);
  CHECK_FALSE(gone->has_value());
}

TEST_CASE_TEMPLATE("prekeys: store, load, upload flag, count, remove, bad sizes", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  for (uint32_t id = 1; id <= 5; ++id)
    REQUIRE(s->store_prekey(
        PreKey{id, filled(32, static_cast<uint8_t>(id)), filled(32, static_cast<uint8_t>(100 + id)), false}));
  auto k = s->load_prekey(3);
  REQUIRE(k);
  REQUIRE(k->has_value());
  CHECK((*k)->pub == filled(32, 3));
  CHECK((*k)->priv == filled(32, 103));
  CHECK_FALSE((*k)->uploaded);
  auto pending = s->prekeys_not_uploaded(3);
  REQUIRE(pending);
  REQUIRE(pending->size() == 3);
  CHECK((*pending)[0].id == 1);
  CHECK((*pending)[2].id == 3);
  REQUIRE(s->mark_prekeys_uploaded({1, 2, 3}));
  CHECK(*s->count_prekeys(true) == 3);
  CHECK(*s->count_prekeys(false) == 5);
  auto rest = s->prekeys_not_uploaded(10);
  REQUIRE(rest);
  REQUIRE(rest->size() == 2);
  CHECK((*rest)[0].id == 4);
  CHECK(*s->contains_prekey(2));
  REQUIRE(s->remove_prekey(2));
  CHECK_FALSE(*s->contains_prekey(2));
  auto gone = s->load_prekey(2);
  REQUIRE(gone);
  CHECK_FALSE(gone->has_value());
  auto bad = s->store_prekey(PreKey{9, filled(33, 5), filled(32, 1), false});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "bad_key");
}

TEST_CASE_TEMPLATE("signed prekeys: store, load, replace, remove", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  SignedPreKey k{7, filled(32, 1), filled(32, 2), filled(64, 3), 1700000000};
  REQUIRE(s->store_signed_prekey(k));
  k.signature = filled(64, 4);
  REQUIRE(s->store_signed_prekey(k));
  auto l = s->load_signed_prekey(7);
  REQUIRE(l);
  REQUIRE(l->has_value());
  CHECK((*l)->signature == filled(64, 4));
  CHECK((*l)->timestamp == 1700000000);
  CHECK(*s->contains_signed_prekey(7));
  REQUIRE(s->remove_signed_prekey(7));
  CHECK_FALSE(*s->contains_signed_prekey(7));
  k.signature = filled(63, 0);
  CHECK_FALSE(s->store_signed_prekey(k));
}

TEST_CASE_TEMPLATE("sessions: per address and device, list devices, delete one and all", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  Address a0{"alice", 0}, a3{"alice", 3}, b0{"bob", 0};
  CHECK_FALSE(*s->contains_session(a0));
  auto none = s->load_session(a0);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  REQUIRE(s->store_session(a0, filled(3000, 0xa0)));
  REQUIRE(s->store_session(a3, filled(10, 0xa3)));
  REQUIRE(s->store_session(b0, filled(10, 0xb0)));
  REQUIRE(s->store_session(a3, filled(11, 0x33)));
  auto r = s->load_session(a3);
  REQUIRE(r);
  REQUIRE(r->has_value());
  CHECK(**r == filled(11, 0x33));
  auto devs = s->session_devices("alice");
  REQUIRE(devs);
  CHECK(*devs == std::vector<uint32_t>{0, 3});
  CHECK(*s->delete_session(a3) == true);
  CHECK(*s->delete_session(a3) == false);
  REQUIRE(s->store_session(a3, filled(1, 1)));
  CHECK(*s->delete_all_sessions("alice") == 2);
  CHECK(s->session_devices("alice")->empty());
  CHECK(*s->contains_session(b0));
}

TEST_CASE_TEMPLATE("sender keys: per group and sender address", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  Address a{"alice", 1};
  REQUIRE(s->store_sender_key("g1@g.us", a, filled(50, 1)));
  REQUIRE(s->store_sender_key("g2@g.us", a, filled(50, 2)));
  auto g1 = s->load_sender_key("g1@g.us", a);
  REQUIRE(g1);
  REQUIRE(g1->has_value());
  CHECK(**g1 == filled(50, 1));
  auto other = s->load_sender_key("g1@g.us", Address{"alice", 2});
  REQUIRE(other);
  CHECK_FALSE(other->has_value());
  REQUIRE(s->delete_sender_key("g1@g.us", a));
  CHECK_FALSE(s->load_sender_key("g1@g.us", a)->has_value());
  CHECK(s->load_sender_key("g2@g.us", a)->has_value());
}

TEST_CASE_TEMPLATE("identities: trust on first use, a changed key is reported and not stored", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  Address a{"alice", 0};
  auto k1 = filled(32, 1), k2 = filled(32, 2);
  CHECK(*s->check_identity(a, k1) == IdentityStatus::first_use);
  CHECK(*s->save_identity(a, k1) == IdentityStatus::first_use);
  CHECK(*s->check_identity(a, k1) == IdentityStatus::match);
  CHECK(*s->save_identity(a, k1) == IdentityStatus::match);
  CHECK(*s->check_identity(a, k2) == IdentityStatus::changed);
  CHECK(*s->save_identity(a, k2) == IdentityStatus::changed);
  CHECK(**s->load_identity(a) == k1);  // the first key stays
  // Another device of the same user is a separate identity.
  CHECK(*s->check_identity(Address{"alice", 1}, k2) == IdentityStatus::first_use);
  // Accepting the new key is an explicit act.
  REQUIRE(s->replace_identity(a, k2));
  CHECK(*s->check_identity(a, k2) == IdentityStatus::match);
  CHECK(*s->check_identity(a, k1) == IdentityStatus::changed);
  REQUIRE(s->delete_identity(a));
  CHECK(*s->check_identity(a, k1) == IdentityStatus::first_use);
  CHECK_FALSE(s->save_identity(a, filled(33, 5)));
}

TEST_CASE_TEMPLATE("device lists: cache with fetched_at, replace, delete", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  REQUIRE(s->put_device_list("5511@s.whatsapp.net", DeviceList{{0, 1, 17}, 1000}));
  auto l = s->get_device_list("5511@s.whatsapp.net");
  REQUIRE(l);
  REQUIRE(l->has_value());
  CHECK((*l)->devices == std::vector<uint32_t>{0, 1, 17});
  CHECK((*l)->fetched_at == 1000);
  REQUIRE(s->put_device_list("5511@s.whatsapp.net", DeviceList{{}, 2000}));
  l = s->get_device_list("5511@s.whatsapp.net");
  CHECK((*l)->devices.empty());
  CHECK((*l)->fetched_at == 2000);
  REQUIRE(s->delete_device_list("5511@s.whatsapp.net"));
  CHECK_FALSE(s->get_device_list("5511@s.whatsapp.net")->has_value());
}

TEST_CASE("device lists: a corrupted row is an error, not a crash") {
  TempDir dir;
  auto path = dir.file("p.db");
  auto s = open_ok(path);
  {
    RawDb raw(path);
    REQUIRE(raw.exec("INSERT INTO device_lists VALUES ('u', '1,,x', 5)") == SQLITE_OK);
  }
  auto l = s->get_device_list("u");
  REQUIRE_FALSE(l);
  CHECK(l.error().code == "db_corrupt");
}

TEST_CASE_TEMPLATE("lid mappings: both directions, stay one-to-one", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  REQUIRE(s->put_lid_mapping("5511", "9001"));
  CHECK(**s->lid_for_pn("5511") == "9001");
  CHECK(**s->pn_for_lid("9001") == "5511");
  REQUIRE(s->put_lid_mapping("5511", "9002"));  // re-mapped
  CHECK(**s->lid_for_pn("5511") == "9002");
  CHECK_FALSE(s->pn_for_lid("9001")->has_value());
  REQUIRE(s->put_lid_mapping("5522", "9002"));  // lid moved to another number
  CHECK_FALSE(s->lid_for_pn("5511")->has_value());
  CHECK(**s->pn_for_lid("9002") == "5522");
}

TEST_CASE("lid mappings: the first mapping moves a contact's sessions, identities and sender keys to its LID name") {
  TempDir d;
  auto s = open_ok(d.path() + "/s.db");
  const Bytes rec1{1, 1}, rec2{2, 2}, key(32, 7), other_key(32, 9), sk{5, 5};
  REQUIRE(s->store_session({"5511", 0}, rec1));
  REQUIRE(s->store_session({"5511", 3}, rec2));
  REQUIRE(s->store_session({"5511_128", 4}, rec2));  // hosted device
  REQUIRE(s->save_identity({"5511", 3}, key));
  REQUIRE(s->store_sender_key("g1@g.us", {"5511", 3}, sk));
  REQUIRE(s->store_session({"7777", 1}, rec1));  // someone else: untouched

  REQUIRE(s->put_lid_mapping("5511", "9001"));
  RawDb raw(d.path() + "/s.db");
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '5511' OR name = '5511_128'") == 0);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '9001_1'") == 2);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '9001_129'") == 1);
  CHECK(raw.scalar("SELECT count(*) FROM identities WHERE name = '9001_1'") == 1);
  CHECK(raw.scalar("SELECT count(*) FROM sender_keys WHERE sender_name = '9001_1'") == 1);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '7777'") == 1);

  // Either name reaches the one row now.
  CHECK(**s->load_session({"5511", 3}) == rec2);
  CHECK(**s->load_session({"9001_1", 3}) == rec2);
  CHECK(**s->load_session({"5511_128", 4}) == rec2);
  CHECK(**s->load_identity({"5511", 3}) == key);
  CHECK(*s->check_identity({"9001_1", 3}, other_key) == IdentityStatus::changed);
  CHECK(**s->load_sender_key("g1@g.us", {"5511", 3}) == sk);
  CHECK(*s->session_devices("5511") == std::vector<uint32_t>{0, 3});
  // A write under the PN name lands on the LID row: no second session.
  REQUIRE(s->store_session({"5511", 5}, rec1));
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '5511'") == 0);
  CHECK(*s->session_devices("9001_1") == std::vector<uint32_t>{0, 3, 5});
  CHECK(*s->delete_all_sessions("5511") == 3);
  CHECK(raw.scalar("SELECT count(*) FROM sessions WHERE name = '9001_1'") == 0);
}

TEST_CASE("lid mappings: a LID-named session made before the mapping was known wins over the PN one") {
  TempDir d;
  auto s = open_ok(d.path() + "/s.db");
  const Bytes old_rec{1}, new_rec{2};
  REQUIRE(s->store_session({"5511", 2}, old_rec));
  REQUIRE(s->store_session({"9001_1", 2}, new_rec));
  REQUIRE(s->put_lid_mapping("5511", "9001"));
  CHECK(**s->load_session({"5511", 2}) == new_rec);
  RawDb raw(d.path() + "/s.db");
  CHECK(raw.scalar("SELECT count(*) FROM sessions") == 1);
  // Learning the same mapping again changes nothing.
  REQUIRE(s->put_lid_mapping("5511", "9001"));
  CHECK(**s->load_session({"9001_1", 2}) == new_rec);
  // Malformed parts are refused, nothing stored.
  CHECK_FALSE(s->put_lid_mapping("55:1", "9003"));
  CHECK_FALSE(s->put_lid_mapping("", "9003"));
  CHECK_FALSE(s->pn_for_lid("9003")->has_value());
}

TEST_CASE_TEMPLATE("inbox: de-duplication, replay by seq, ack, prune without seq reuse", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  InboxEntry e{0, "ID1", "chat", "alice", 100, "message", R"({"n":1})", false};
  auto p1 = s->inbox_put(e);
  REQUIRE(p1);
  CHECK(p1->inserted);
  auto dup = s->inbox_put(e);
  REQUIRE(dup);
  CHECK_FALSE(dup->inserted);
  CHECK(dup->seq == p1->seq);
  e.sender = "bob";  // same id from another sender is another message
  auto p2 = s->inbox_put(e);
  REQUIRE(p2);
  CHECK(p2->inserted);
  CHECK(p2->seq > p1->seq);
  e.msg_id = "ID3";
  auto p3 = *s->inbox_put(e);

  auto all = s->inbox_since(0, 100);
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].payload == R"({"n":1})");
  auto after = s->inbox_since(p1->seq, 1);
  REQUIRE(after->size() == 1);
  CHECK((*after)[0].seq == p2->seq);

  REQUIRE(s->inbox_mark_acked(p1->seq));
  REQUIRE(s->inbox_mark_acked(p3.seq));
  auto unacked = s->inbox_unacked(10);
  REQUIRE(unacked->size() == 1);
  CHECK((*unacked)[0].seq == p2->seq);
  // Only acked entries are pruned.
  CHECK(*s->inbox_prune(p3.seq) == 2);
  CHECK(s->inbox_since(0, 10)->size() == 1);
  e.msg_id = "ID4";
  auto p4 = *s->inbox_put(e);
  CHECK(p4.seq > p3.seq);  // AUTOINCREMENT: pruned numbers are not handed out again
}

TEST_CASE_TEMPLATE("sent cache: put, get, prune by age", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  REQUIRE(s->sent_put(SentMessage{"M1", "c1", filled(20, 1), 100}));
  REQUIRE(s->sent_put(SentMessage{"M2", "c1", filled(20, 2), 200}));
  auto m = s->sent_get("M1", "c1");
  REQUIRE(m);
  REQUIRE(m->has_value());
  CHECK((*m)->plaintext == filled(20, 1));
  CHECK((*m)->ts == 100);
  CHECK_FALSE(s->sent_get("M1", "c2")->has_value());
  CHECK(*s->sent_prune(150) == 1);
  CHECK_FALSE(s->sent_get("M1", "c1")->has_value());
  CHECK(s->sent_get("M2", "c1")->has_value());
}

TEST_CASE_TEMPLATE("transaction: commits on success, rolls back on error and on exception, nests", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  auto st = s->transaction(Durability::full, [&]() -> Status {
    if (auto r = s->put_credential("a", as_bytes("1")); !r) return r;
    return s->transaction(Durability::normal, [&] { return s->put_credential("b", as_bytes("2")); });
  });
  REQUIRE(st);
  CHECK(s->get_credential("b")->has_value());

  auto failed = s->transaction(Durability::normal, [&]() -> Status {
    if (auto r = s->put_credential("c", as_bytes("3")); !r) return r;
    return fail("test_error", "abort");
  });
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == "test_error");
  CHECK_FALSE(s->get_credential("c")->has_value());

  CHECK_THROWS_AS((void)s->transaction(Durability::normal,
                                       [&]() -> Status {
                                         (void)s->put_credential("d", as_bytes("4"));
                                         throw std::runtime_error("boom");
                                       }),
                  std::runtime_error);
  CHECK_FALSE(s->get_credential("d")->has_value());
  // The store is usable after all of that.
  REQUIRE(s->put_credential("e", as_bytes("5")));
  CHECK(s->get_credential("e")->has_value());
}

TEST_CASE("transaction: retries BEGIN IMMEDIATE while another connection holds the write lock") {
  TempDir dir;
  auto path = dir.file("p.db");
  RawDb* holder_ptr = nullptr;
  int retries = 0;
  SqliteOptions opt;
  opt.busy_timeout_ms = 0;  // SQLITE_BUSY at once: exercise our retry loop, not SQLite's
  opt.max_busy_retries = 10;
  // The holder commits when we report our second retry: the lock is
  // released by an event the test controls, not by time passing.
  opt.on_busy_retry = [&](int attempt) {
    retries = attempt;
    if (attempt == 2) REQUIRE(holder_ptr->exec("COMMIT") == SQLITE_OK);
  };
  auto s = open_ok(path, opt);
  RawDb holder(path);
  holder_ptr = &holder;
  REQUIRE(holder.exec("BEGIN IMMEDIATE") == SQLITE_OK);
  REQUIRE(holder.exec("INSERT INTO credentials VALUES ('holder', x'01')") == SQLITE_OK);
  auto st = s->transaction(Durability::normal, [&] { return s->put_credential("writer", as_bytes("w")); });
  REQUIRE(st);
  CHECK(retries >= 2);
  CHECK(s->get_credential("holder")->has_value());  // the holder's write was not lost
  CHECK(s->get_credential("writer")->has_value());
}

TEST_CASE("transaction: gives up with `busy` after the bounded number of retries") {
  TempDir dir;
  auto path = dir.file("p.db");
  auto s0 = open_ok(path);
  int calls = 0;
  SqliteOptions opt;
  opt.busy_timeout_ms = 0;
  opt.max_busy_retries = 3;
  opt.on_busy_retry = [&](int) { ++calls; };
  auto s = open_ok(path, opt);  // opened while unlocked
  RawDb holder(path);
  REQUIRE(holder.exec("BEGIN IMMEDIATE") == SQLITE_OK);
  auto st = s->transaction(Durability::normal, [&] { return s->put_credential("x", as_bytes("1")); });
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "busy");
  CHECK(calls == 3);
  REQUIRE(holder.exec("ROLLBACK") == SQLITE_OK);
  REQUIRE(s->transaction(Durability::normal, [&] { return s->put_credential("x", as_bytes("1")); }));
}

TEST_CASE_TEMPLATE("event log: entries without a message id are never merged and share the seq", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  InboxEntry life{0, "", "", "", 1000, "instance_started", R"({"pid":1})", false};
  auto a = *s->inbox_put(life);
  auto b = *s->inbox_put(life);
  CHECK(a.inserted);
  CHECK(b.inserted);
  CHECK(b.seq == a.seq + 1);
  InboxEntry m{0, "ID", "chat", "alice", 1001, "message", "{}", false};
  auto c = *s->inbox_put(m);
  CHECK(c.seq == b.seq + 1);
  CHECK_FALSE(s->inbox_put(m)->inserted);
  CHECK(*s->inbox_last_seq() == c.seq);
}

TEST_CASE("event log: the stored payload leaves out the envelope and secrets, and keeps every other field") {
  using nlohmann::json;
  json ev{{"type", "message"}, {"id", "ID"}, {"chat", "c"}, {"sender", "s"}, {"text", "h\u00e9llo \"q\""},
          {"n", 3}, {"nested", {{"a", json::array({1, 2})}}}};
  // Nothing to leave out: stored as the event is.
  auto plain = message_entry(ev, 1000);
  CHECK(plain.payload == ev.dump());
  CHECK(plain.msg_id == "ID");
  CHECK(plain.ts == 1000);
  // The envelope (the log's own seq, ts, profile) is not the event's.
  json enveloped = ev;
  enveloped["seq"] = 9;
  enveloped["ts"] = 5;
  enveloped["profile"] = "p";
  CHECK(json::parse(message_entry(enveloped, 1000).payload) == ev);
  // A QR or pairing code is never stored; the rest of its event is.
  TempDir dir;
  auto st = open_ok(dir.file("p.db"));
  REQUIRE(append_event(*st, {{"type", "qr"}, {"qr", "2@secret"}, {"attempt", 1}}));
  REQUIRE(append_event(*st, {{"type", "pairing_code"}, {"code", "ABCD1234"}, {"attempt", 2}}));
  auto rows = *st->inbox_since(0, 10);
  REQUIRE(rows.size() == 2);
  CHECK(json::parse(rows[0].payload) == json{{"type", "qr"}, {"attempt", 1}});
  CHECK(json::parse(rows[1].payload) == json{{"type", "pairing_code"}, {"attempt", 2}});
}

TEST_CASE_TEMPLATE("event log: retention prunes by age and by count, never reusing a seq", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  CHECK(*s->inbox_last_seq() == 0);
  for (int i = 0; i < 10; ++i)
    REQUIRE(s->inbox_put(InboxEntry{0, "", "", "", 1000 + i, "receipt", "{}", false}));
  // Older than ts 1003: entries 0..2 go.
  CHECK(*s->inbox_retain(1003, 1000) == 3);
  // Keep the newest 4 of the 7 left.
  CHECK(*s->inbox_retain(0, 4) == 3);
  auto left = *s->inbox_since(0, 100);
  REQUIRE(left.size() == 4);
  CHECK(left.front().seq == 7);
  CHECK(left.back().seq == 10);
  CHECK(*s->inbox_retain(0, 0) == 4);
  CHECK(*s->inbox_last_seq() == 0);
  CHECK(s->inbox_put(InboxEntry{0, "", "", "", 2000, "receipt", "{}", false})->seq == 11);
}

TEST_CASE("schema: the version 2 inbox migrates into the event log keeping seqs and the high-water mark") {
  TempDir dir;
  auto path = dir.file("p.db");
  {
    SqliteOptions opt;
    opt.migrate_to = 2;
    auto s = open_ok(path, opt);
    for (const char* id : {"A", "B", "C"})
      REQUIRE(s->inbox_put(InboxEntry{0, id, "chat", "alice", 7, "message", "{}", false}));
    REQUIRE(s->inbox_mark_acked(3));
    REQUIRE(s->inbox_prune(3));  // seq 3 is gone, but must never come back
  }
  auto s = open_ok(path);
  auto all = *s->inbox_since(0, 10);
  REQUIRE(all.size() == 2);
  CHECK(all[0].msg_id == "A");
  CHECK(all[0].ts == 7000);  // seconds became milliseconds
  CHECK_FALSE(s->inbox_put(InboxEntry{0, "B", "chat", "alice", 8, "message", "{}", false})->inserted);
  CHECK(s->inbox_put(InboxEntry{0, "", "", "", 8, "instance_started", "{}", false})->seq == 4);
}

TEST_CASE("schema: step 7 keys the message index on the id alone, and a message is still stored once") {
  TempDir dir;
  auto path = dir.file("p.db");
  int64_t first = 0;
  {
    SqliteOptions opt;
    opt.migrate_to = 6;
    auto s = open_ok(path, opt);
    first = s->inbox_put(InboxEntry{0, "ID1", "chat", "alice", 7, "message", "{}", false})->seq;
  }
  auto s = open_ok(path);
  {
    RawDb raw(path);
    CHECK(raw.scalar("PRAGMA user_version") == kSchemaVersion);
    CHECK(raw.scalar("SELECT count(*) FROM sqlite_master WHERE type='index' AND name='inbox_message'") == 0);
    CHECK(raw.scalar("SELECT count(*) FROM sqlite_master WHERE type='index' AND name='inbox_msg_id'") == 1);
    // The look before an insert finds its rows through that index, not a scan.
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw.db,
                               "EXPLAIN QUERY PLAN SELECT seq FROM inbox WHERE msg_id = 'x' AND chat = 'c' AND "
                               "sender = 's' AND msg_id <> ''",
                               -1, &st, nullptr) == SQLITE_OK);
    std::string plan;
    while (sqlite3_step(st) == SQLITE_ROW) plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    CHECK_MESSAGE(plan.find("USING INDEX inbox_msg_id") != std::string::npos, plan);
  }
  // Stored before the step and after it: each once, under its first seq.
  auto again = s->inbox_put(InboxEntry{0, "ID1", "chat", "alice", 8, "message", "{}", false});
  REQUIRE(again);
  CHECK_FALSE(again->inserted);
  CHECK(again->seq == first);
  auto second = *s->inbox_put(InboxEntry{0, "ID2", "chat", "alice", 9, "message", "{}", false});
  CHECK(second.inserted);
  CHECK_FALSE(s->inbox_put(InboxEntry{0, "ID2", "chat", "alice", 9, "message", "{}", false})->inserted);
  // The same id from another sender, or in another chat, is another message.
  CHECK(s->inbox_put(InboxEntry{0, "ID2", "chat", "bob", 9, "message", "{}", false})->inserted);
  CHECK(s->inbox_put(InboxEntry{0, "ID2", "other", "alice", 9, "message", "{}", false})->inserted);
  RawDb raw(path);
  CHECK(raw.scalar("SELECT count(*) FROM inbox WHERE msg_id = 'ID2'") == 3);
}

TEST_CASE_TEMPLATE("inbox: a stored message is found by its id and sender device", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  auto put = s->inbox_put(InboxEntry{0, "ID1", "chat@s.whatsapp.net", "155:1@s.whatsapp.net", 100, "message", "{}", false});
  REQUIRE(put);
  auto found = s->inbox_find("ID1", "155:1@s.whatsapp.net");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK(**found == put->seq);
  CHECK_FALSE(s->inbox_find("ID1", "155:2@s.whatsapp.net")->has_value());  // another device's message
  CHECK_FALSE(s->inbox_find("ID2", "155:1@s.whatsapp.net")->has_value());
  CHECK_FALSE(s->inbox_find("", "")->has_value());  // entries without an id are not messages
}

namespace {

// A separate process (this binary re-executed, so it inherits no SQLite state
// from the test) that does one thing with a database and exits:
//   touch: open, read, close (a close may checkpoint and delete the WAL when
//          it believes it is the last user);  read: exit 0 if push_name is "b".
const int g_store_helper = [] {
  const char* h = std::getenv("WA_STORE_TEST_HELPER");
  if (h == nullptr) return 0;
  std::string arg(h);
  auto colon = arg.find(':');
  std::string what = arg.substr(0, colon), path = arg.substr(colon + 1);
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) ::_exit(2);
  sqlite3_stmt* st = nullptr;
  int code = 3;
  if (sqlite3_prepare_v2(db, "SELECT value FROM credentials WHERE name = 'push_name'", -1, &st, nullptr) == SQLITE_OK) {
    int rc = sqlite3_step(st);
    if (what == "touch") {
      code = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : 3;
    } else if (rc == SQLITE_ROW) {
      std::string v(static_cast<const char*>(sqlite3_column_blob(st, 0)), static_cast<size_t>(sqlite3_column_bytes(st, 0)));
      code = v == "b" ? 0 : 1;
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  ::_exit(code);
}();

int run_helper(const std::string& what, const std::string& path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("WA_STORE_TEST_HELPER", (what + ":" + path).c_str(), 1);
    ::execl("/proc/self/exe", "unit_store", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST_CASE("files: a second connection in one process keeps the first one's locks") {
  // A worker holds several connections to its profile. Opening one must not
  // drop the POSIX locks of the others: then another process closing the
  // database believes it is the last user, checkpoints and deletes the WAL,
  // and the first connection's later commits go to an unlinked file.
  TempDir dir;
  auto path = dir.file("p.db");
  auto s1 = open_ok(path);
  REQUIRE(s1->put_credential(cred::push_name, as_bytes("a")));
  auto s2 = open_ok(path);
  CHECK(run_helper("touch", path) == 0);
  CHECK(::access((path + "-wal").c_str(), F_OK) == 0);
  REQUIRE(s1->put_credential(cred::push_name, as_bytes("b")));
  CHECK(run_helper("read", path) == 0);  // another process sees the commit
}

namespace {

// Another process writing the database through the Store (this binary
// re-executed): "write": one put_credential with a long busy timeout, exit 0
// on success; "hold": a write transaction that creates <db>.held and then
// waits to be killed inside it.
const int g_gate_helper = [] {
  const char* h = std::getenv("WA_STORE_GATE_HELPER");
  if (h == nullptr) return 0;
  std::string arg(h);
  auto colon = arg.find(':');
  std::string what = arg.substr(0, colon), path = arg.substr(colon + 1);
  SqliteOptions opt;
  opt.busy_timeout_ms = 30000;
  auto st = open_sqlite(path, opt);
  if (!st) ::_exit(2);
  if (what == "write") ::_exit((*st)->put_credential(cred::push_name, as_bytes("child")) ? 0 : 3);
  (void)(*st)->transaction(Durability::full, [&]() -> Status {
    WA_TRY((*st)->put_credential(cred::push_name, as_bytes("held")));
    int fd = ::open((path + ".held").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    for (;;) ::pause();
  });
  ::_exit(4);
}();

pid_t start_gate_helper(const std::string& what, const std::string& path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("WA_STORE_GATE_HELPER", (what + ":" + path).c_str(), 1);
    ::execl("/proc/self/exe", "unit_store", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The system call a process is blocked in (-1: running or gone).
long blocked_syscall(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
  std::string first;
  if (!(f >> first) || first == "running") return -1;
  try {
    return std::stol(first);
  } catch (...) {
    return -1;
  }
}

}  // namespace

TEST_CASE("write gate: a writer waiting for another process's transaction blocks until the commit, not in SQLite's sleeping busy handler") {
  // SQLite's default busy handler polls the lock with sleeps of up to 100 ms:
  // under a hundred senders that made one send in a hundred wait ~1 s.
  TempDir dir;
  auto path = dir.file("p.db");
  auto s = open_ok(path);
  pid_t child = -1;
  long seen = -1;
  REQUIRE(s->transaction(Durability::full, [&]() -> Status {
    WA_TRY(s->put_credential(cred::push_name, as_bytes("parent")));
    child = start_gate_helper("write", path);
    // Wait (with a deadline) until the child is blocked waiting for us.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      long sc = blocked_syscall(child);
      if (sc == SYS_futex || sc == SYS_nanosleep || sc == SYS_clock_nanosleep) {
        seen = sc;
        break;
      }
      std::this_thread::yield();
    }
    return {};
  }));
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // its write went through after our commit
  CHECK(seen == SYS_futex);         // not nanosleep: woken by the commit
  CHECK(as_chars(**s->get_credential(cred::push_name)) == "child");
  CHECK(file_mode(path + "-wlock") == 0600);
}

TEST_CASE("write gate: a process killed inside its transaction does not hold up the next writer") {
  TempDir dir;
  auto path = dir.file("p.db");
  SqliteOptions opt;
  opt.busy_timeout_ms = 30000;
  auto s = open_ok(path, opt);
  pid_t child = start_gate_helper("hold", path);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (::access((path + ".held").c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(::access((path + ".held").c_str(), F_OK) == 0);
  ::kill(child, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s->put_credential(cred::push_name, as_bytes("after")));
  // The dead holder's gate is taken over at once (robust mutex), not after
  // the 30 s deadline; its uncommitted write is gone.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  CHECK(as_chars(**s->get_credential(cred::push_name)) == "after");
}

TEST_CASE("write gate: a gate left held by a holder from another boot (power cut) does not hold up a writer") {
  TempDir dir;
  auto path = dir.file("p.db");
  { REQUIRE(open_ok(path)->put_credential(cred::push_name, as_bytes("before"))); }
  // What a power cut leaves: the mutex word still names the dead holder's
  // thread (no thread exit ran robust-mutex recovery), under an older boot id.
  // Layout (write_gate.cpp): magic u64, boot id char[40], then glibc's
  // pthread_mutex_t, whose first int is the owner word.
  {
    int fd = ::open((path + "-wlock").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    const char old_boot[40] = "00000000-0000-0000-0000-000000000000";
    const int stale_owner = 0x3ffffff0;
    CHECK(::pwrite(fd, old_boot, sizeof old_boot, 8) == static_cast<ssize_t>(sizeof old_boot));
    CHECK(::pwrite(fd, &stale_owner, sizeof stale_owner, 48) == static_cast<ssize_t>(sizeof stale_owner));
    ::close(fd);
  }
  SqliteOptions opt;
  opt.busy_timeout_ms = 30000;
  auto s = open_ok(path, opt);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s->put_credential(cred::push_name, as_bytes("after")));
  // Set up afresh for this boot, not waited on for the 30 s deadline.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  CHECK(as_chars(**s->get_credential(cred::push_name)) == "after");
}

namespace {

// A VFS over the default one that counts the flushes of WAL files and can
// run something inside one (the unix file's own methods, but xSync).
struct WalSyncWatch {
  static inline sqlite3_vfs vfs{};
  static inline sqlite3_vfs* root = nullptr;
  static inline sqlite3_io_methods methods{};
  static inline const sqlite3_io_methods* real = nullptr;
  static inline int syncs = 0;
  static inline std::function<void()> during_sync;
  static inline bool fail_next = false;  // the next flush fails as a disk error would

  static int x_sync(sqlite3_file* f, int flags) {
    ++syncs;
    if (auto run = std::exchange(during_sync, nullptr)) run();
    if (std::exchange(fail_next, false)) return SQLITE_IOERR_FSYNC;
    return real->xSync(f, flags);
  }
  static int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
    int rc = root->xOpen(root, name, f, flags, out);
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && f->pMethods != nullptr) {
      real = f->pMethods;
      methods = *f->pMethods;
      methods.xSync = x_sync;
      f->pMethods = &methods;
    }
    return rc;
  }
  WalSyncWatch() {
    root = sqlite3_vfs_find(nullptr);
    vfs = *root;
    vfs.zName = "wa-test-walsync";
    vfs.pNext = nullptr;
    vfs.xOpen = x_open;
    syncs = 0;
    REQUIRE(sqlite3_vfs_register(&vfs, 1) == SQLITE_OK);  // the default for the stores opened now
  }
  ~WalSyncWatch() {
    during_sync = nullptr;
    fail_next = false;
    sqlite3_vfs_unregister(&vfs);
    sqlite3_vfs_register(root, 1);
  }
};

}  // namespace

TEST_CASE("group flush: a durable commit flushes the WAL after the write lock is free, and returns only after a flush") {
  TempDir dir;
  auto path = dir.file("p.db");
  WalSyncWatch watch;
  auto a = open_ok(path);
  SqliteOptions quick;
  quick.busy_timeout_ms = 0;  // a writer that would have to wait fails at once
  auto b = open_ok(path, quick);

  // A normal commit is not flushed.
  const int at_start = WalSyncWatch::syncs;
  REQUIRE(a->transaction(Durability::normal, [&] { return a->put_credential(cred::push_name, as_bytes("n")); }));
  CHECK(WalSyncWatch::syncs == at_start);

  // While A's commit is being flushed, B writes: neither the gate nor
  // SQLite's write lock is held by the flush (before, the fsync ran inside
  // A's COMMIT and B's write failed busy). B's own durable write flushes
  // too: A's flush started before B's commit, so it cannot stand for it.
  Status during = fail("not_run", "the WAL was not flushed");
  WalSyncWatch::during_sync = [&] { during = b->put_credential(cred::platform, as_bytes("b")); };
  REQUIRE(a->transaction(Durability::full, [&] { return a->put_credential(cred::push_name, as_bytes("a")); }));
  REQUIRE_MESSAGE(during.has_value(), (during ? "" : during.error().code + ": " + during.error().message));
  CHECK(WalSyncWatch::syncs == at_start + 2);
  CHECK(as_chars(**a->get_credential(cred::platform)) == "b");

  // Every durable commit that follows a flush flushes again.
  REQUIRE(a->put_credential(cred::push_name, as_bytes("a2")));
  REQUIRE(b->put_credential(cred::push_name, as_bytes("b2")));
  CHECK(WalSyncWatch::syncs == at_start + 4);
}

TEST_CASE("group flush: a failed flush fails the call - full_in_commit then stored nothing, full keeps its commit") {
  TempDir dir;
  auto path = dir.file("p.db");
  WalSyncWatch watch;
  auto s = open_ok(path);
  auto has = [&](std::string_view name) { return s->get_credential(name)->has_value(); };

  // Flushed inside the commit: the failed flush rolls it back (the receive
  // batch relies on it: a failure means none of its messages is stored).
  WalSyncWatch::fail_next = true;
  auto inside = s->transaction(Durability::full_in_commit, [&] { return s->put_credential("inside", as_bytes("1")); });
  REQUIRE_FALSE(inside);
  CHECK(inside.error().code == "io_error");
  CHECK_FALSE(has("inside"));

  // Flushed after the commit: the call fails, the commit stands.
  WalSyncWatch::fail_next = true;
  auto after = s->transaction(Durability::full, [&] { return s->put_credential("after", as_bytes("1")); });
  REQUIRE_FALSE(after);
  CHECK(after.error().code == "io_error");
  CHECK(has("after"));

  // The store goes on working once the disk does.
  REQUIRE(s->transaction(Durability::full_in_commit, [&] { return s->put_credential("inside", as_bytes("2")); }));
  CHECK(has("inside"));
}

TEST_CASE("group flush: a flush stands for every commit numbered before it started, never for a later one") {
  TempDir dir;
  auto path = dir.file("p.db");
  // Two mappings of one gate file: two processes' views.
  auto g1 = WriteGate::open(path);
  auto g2 = WriteGate::open(path);
  REQUIRE(g1);
  REQUIRE(g2);
  const uint64_t c1 = g1->note_commit();
  const uint64_t c2 = g2->note_commit();
  CHECK(c2 == c1 + 1);
  CHECK_FALSE(g1->flushed_through(c1));  // nobody flushed yet
  const uint64_t covers = g2->newest_commit();
  CHECK(covers == c2);
  const uint64_t c3 = g1->note_commit();  // after the flush started: not covered
  g2->note_flushed(covers);
  CHECK(g1->flushed_through(c1));  // g1's commit needs no flush of its own
  CHECK(g1->flushed_through(c2));
  CHECK_FALSE(g1->flushed_through(c3));
  g1->note_flushed(c1);  // a slower, earlier flush finishing late does not move it back
  CHECK(g2->flushed_through(c2));
  g1->note_flushed(g1->newest_commit());
  CHECK(g2->flushed_through(c3));
}

TEST_CASE_TEMPLATE("savepoint: a failed step undoes only its own changes, nested ones included, the rest commits", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  auto put = [&](const char* name) { return s->put_credential(name, as_bytes("v")); };
  auto has = [&](const char* name) { return s->get_credential(name)->has_value(); };
  bool saw_inner = false;
  auto st = s->transaction(Durability::full, [&]() -> Status {
    if (auto r = put("before"); !r) return r;
    // A step that succeeds keeps its work, including a nested step that succeeded.
    if (auto r = s->savepoint([&]() -> Status {
          if (auto q = put("ok-outer"); !q) return q;
          return s->savepoint([&] { return put("ok-inner"); });
        });
        !r)
      return r;
    // A failing step loses everything it did, nested successes too.
    auto failed = s->savepoint([&]() -> Status {
      if (auto q = put("bad-outer"); !q) return q;
      if (auto q = s->savepoint([&] { return put("bad-inner"); }); !q) return q;
      saw_inner = has("bad-inner");  // visible inside the transaction until undone
      return fail("undecryptable", "this step fails");
    });
    CHECK_FALSE(failed);
    CHECK(failed.error().code == "undecryptable");
    CHECK_FALSE(has("bad-outer"));
    CHECK_FALSE(has("bad-inner"));
    // A nested step that fails leaves its enclosing step's work in place.
    if (auto r = s->savepoint([&]() -> Status {
          if (auto q = put("kept-outer"); !q) return q;
          auto inner = s->savepoint([&]() -> Status {
            (void)put("lost-inner");
            return fail("test_error", "inner fails");
          });
          CHECK_FALSE(inner);
          return {};
        });
        !r)
      return r;
    // A step that throws is undone and the exception goes on.
    CHECK_THROWS_AS((void)s->savepoint([&]() -> Status {
                      (void)put("thrown");
                      throw std::runtime_error("boom");
                    }),
                    std::runtime_error);
    return put("after");
  });
  REQUIRE(st);
  CHECK(saw_inner);
  for (const char* name : {"before", "ok-outer", "ok-inner", "kept-outer", "after"}) CHECK_MESSAGE(has(name), name);
  for (const char* name : {"bad-outer", "bad-inner", "lost-inner", "thrown"}) CHECK_MESSAGE(!has(name), name);

  // The steps roll back with their transaction when it fails.
  auto rolled = s->transaction(Durability::normal, [&]() -> Status {
    if (auto r = s->savepoint([&] { return put("step-of-failed-tx"); }); !r) return r;
    return fail("test_error", "the transaction fails");
  });
  CHECK_FALSE(rolled);
  CHECK_FALSE(has("step-of-failed-tx"));

  // Outside a transaction a savepoint is a transaction of its own.
  REQUIRE(s->savepoint([&] { return put("alone"); }));
  CHECK(has("alone"));
  CHECK_FALSE(s->savepoint([&]() -> Status {
    (void)put("alone-failed");
    return fail("test_error", "fails");
  }));
  CHECK_FALSE(has("alone-failed"));
}

TEST_CASE_TEMPLATE("media: a received media row is kept once, found by id (and chat), updated and pruned by age", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  const Bytes msg{1, 2, 3};
  REQUIRE(s->media_put(MediaRef{"M1", "a@s.whatsapp.net", "a:1@s.whatsapp.net", msg, "", 100}));
  // A re-delivery keeps the first row (and its download state).
  REQUIRE(s->media_put(MediaRef{"M1", "a@s.whatsapp.net", "a:1@s.whatsapp.net", Bytes{9}, "", 100}));
  REQUIRE(s->media_put(MediaRef{"M1", "g-1@g.us", "b:1@s.whatsapp.net", Bytes{4}, "", 200}));
  auto one = s->media_get("M1", "a@s.whatsapp.net");
  REQUIRE(one);
  REQUIRE(one->has_value());
  CHECK((*one)->message == msg);
  CHECK((*one)->sender == "a:1@s.whatsapp.net");
  auto newest = s->media_get("M1", "");
  REQUIRE(newest);
  REQUIRE(newest->has_value());
  CHECK((*newest)->chat == "g-1@g.us");
  CHECK_FALSE(s->media_get("M2", "")->has_value());

  MediaRef r = **one;
  r.message = Bytes{5, 5};
  r.local_path = "/tmp/x.jpg";
  REQUIRE(s->media_update(r));
  auto again = s->media_get("M1", "a@s.whatsapp.net");
  CHECK((*again)->message == Bytes{5, 5});
  CHECK((*again)->local_path == "/tmp/x.jpg");

  CHECK(*s->media_prune(150) == 1);
  CHECK_FALSE(s->media_get("M1", "a@s.whatsapp.net")->has_value());
  CHECK(s->media_get("M1", "g-1@g.us")->has_value());
}

TEST_CASE_TEMPLATE("message secrets and polls: first secret and definition stay, a voter's latest vote replaces the older", B, SqliteBackend, PgBackend) {
  B backend;
  auto s = backend.open();
  const Bytes secret(32, 7);
  REQUIRE(s->secret_put(MessageSecret{"P1", "a@lid", "b@lid", secret, 100}));
  // A redelivery keeps the first secret.
  REQUIRE(s->secret_put(MessageSecret{"P1", "a@lid", "b@lid", Bytes(32, 9), 100}));
  auto got = s->secret_get("P1", "a@lid");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->secret == secret);
  CHECK((*got)->sender == "b@lid");
  // By id alone (the chat named in the other namespace).
  CHECK(s->secret_get("P1", "")->has_value());
  CHECK_FALSE(s->secret_get("P1", "other@s.whatsapp.net")->has_value());

  REQUIRE(s->poll_put(PollRecord{"P1", "a@lid", "b@lid", "Q \"quoted\"", {"x", "y\nz", "ü"}, 1, 100}));
  auto poll = s->poll_get("P1", "");
  REQUIRE(poll);
  REQUIRE(poll->has_value());
  CHECK((*poll)->name == "Q \"quoted\"");
  CHECK((*poll)->options == std::vector<std::string>{"x", "y\nz", "ü"});
  CHECK((*poll)->selectable == 1);

  CHECK(*s->poll_vote_put(PollVoteRecord{"P1", "a@lid", "v@lid", {"x"}, 2000}));
  CHECK(*s->poll_vote_put(PollVoteRecord{"P1", "a@lid", "w@lid", {"x", "ü"}, 2500}));
  // A newer vote replaces; an older one arriving late does not.
  CHECK(*s->poll_vote_put(PollVoteRecord{"P1", "a@lid", "v@lid", {"y\nz"}, 3000}));
  CHECK_FALSE(*s->poll_vote_put(PollVoteRecord{"P1", "a@lid", "v@lid", {"x"}, 2900}));
  auto votes = s->poll_votes("P1", "a@lid");
  REQUIRE(votes);
  REQUIRE(votes->size() == 2);
  CHECK((*votes)[0].voter == "w@lid");
  CHECK((*votes)[1].voter == "v@lid");
  CHECK((*votes)[1].options == std::vector<std::string>{"y\nz"});
}
