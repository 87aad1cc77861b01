// The SQLite wrapper's helpers that wa_store and wa-testserver share: a
// failed transaction leaves nothing behind, row loops stop at the first
// error, and SQLite's errors arrive as stable codes.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "wa/store/sqlite_handle.hpp"

using namespace wa;
namespace sql = wa::store::sql;
using wa::test::TempDir;

namespace {

sql::Db open_memory() {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
  sql::Db db(raw);
  REQUIRE(sql::exec(db.get(), "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL)"));
  return db;
}

int64_t count(sqlite3* db) {
  auto n = sql::with_statement(db, "SELECT COUNT(*) FROM t", [](sql::Query& q) -> Result<int64_t> {
    auto row = q.step();
    if (!row) return Unexpected<Error>{row.error()};
    return q.col_int(0);
  });
  REQUIRE(n);
  return *n;
}

Status insert(sqlite3* db, int64_t k, std::string_view v) {
  return sql::with_statement(db, "INSERT INTO t(k, v) VALUES(?, ?)", [&](sql::Query& q) { return q.bind(k).bind(v).run(); });
}

}  // namespace

TEST_CASE("sqlite wrapper: a transaction whose body fails is rolled back") {
  auto db = open_memory();
  auto failed = sql::transaction(db.get(), [&]() -> Status {
    if (auto s = insert(db.get(), 1, "a"); !s) return s;
    return insert(db.get(), 1, "again");  // primary key taken
  });
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == "constraint");
  CHECK(count(db.get()) == 0);
  CHECK(sqlite3_get_autocommit(db.get()) != 0);  // no transaction left open

  REQUIRE(sql::transaction(db.get(), [&]() -> Status {
    if (auto s = insert(db.get(), 1, "a"); !s) return s;
    return insert(db.get(), 2, "b");
  }));
  CHECK(count(db.get()) == 2);
}

TEST_CASE("sqlite wrapper: each_row visits every row and stops at the first error") {
  auto db = open_memory();
  for (int64_t k = 1; k <= 3; ++k) REQUIRE(insert(db.get(), k, "v"));
  std::vector<int64_t> seen;
  REQUIRE(sql::with_statement(db.get(), "SELECT k FROM t ORDER BY k", [&](sql::Query& q) {
    return sql::each_row(q, [&]() -> Status {
      seen.push_back(q.col_int(0));
      return {};
    });
  }));
  CHECK(seen == std::vector<int64_t>{1, 2, 3});

  seen.clear();
  auto stopped = sql::with_statement(db.get(), "SELECT k FROM t ORDER BY k", [&](sql::Query& q) {
    return sql::each_row(q, [&]() -> Status {
      seen.push_back(q.col_int(0));
      return seen.size() == 2 ? fail("enough", "stop here") : Status{};
    });
  });
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().code == "enough");
  CHECK(seen.size() == 2);
}

TEST_CASE("sqlite wrapper: bad SQL is an error value, not an exception") {
  auto db = open_memory();
  auto st = sql::prepare(db.get(), "SELEC nothing");
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "db_error");
  CHECK_FALSE(sql::exec(db.get(), "DROP TABLE missing"));
  auto w = sql::with_statement(db.get(), "INSERT INTO nowhere VALUES(1)", [](sql::Query& q) { return q.run(); });
  CHECK_FALSE(w);
}

TEST_CASE("sqlite wrapper: a private file is created 0600 and a foreign kind refused") {
  TempDir dir;
  const std::string path = dir.path() + "/x.db";
  REQUIRE(sql::prepare_private_file(path));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  auto not_file = sql::prepare_private_file(dir.path());
  REQUIRE_FALSE(not_file);
  CHECK(not_file.error().code == "db_access");
}
