// Operator maintenance of a profile's database: integrity check and salvage
// of a damaged file (wa/store/sqlite_store.hpp). Runs while no worker has
// the profile open; never on a hot path.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "wa/log.hpp"
#include "wa/store/sqlite_handle.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::store {
namespace {

Result<sql::Db> open_existing(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fail("no_store", "no database at " + path);
  if (!S_ISREG(st.st_mode)) return fail("db_access", path + " is not a regular file");
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
  sql::Db db(raw);
  if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db.get(), rc, "open " + path)};
  sqlite3_busy_timeout(db.get(), 2000);
  return db;
}

std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Column names of `table` in schema `db` ("main" or "old").
std::vector<std::string> columns(sqlite3* conn, const std::string& db, const std::string& table) {
  std::vector<std::string> out;
  sqlite3_stmt* raw = nullptr;
  std::string q = "SELECT name FROM pragma_table_info(?1, ?2)";
  if (sqlite3_prepare_v2(conn, q.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return out;
  }
  sql::Stmt stmt(raw);
  sqlite3_bind_text(raw, 1, table.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(raw, 2, db.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(raw) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(raw, 0);
    if (t) out.emplace_back(reinterpret_cast<const char*>(t));
  }
  return out;
}

// Copies the readable rows of one table from `src` (the damaged file, its
// own connection: a read that meets damage must not be part of the new
// file's transaction, whose commit SQLite would then refuse) into `dst`;
// returns the rows inserted and whether a read failed. Forwards until the
// first damaged page, then backwards from the end until it meets damage again.
std::pair<size_t, bool> copy_table(sqlite3* dst, sqlite3* src, const std::string& table) {
  auto mine = columns(dst, "main", table);
  auto theirs = columns(src, "main", table);
  std::string cols;
  size_t n = 0;
  for (const auto& c : mine) {
    bool found = false;
    for (const auto& t : theirs) found = found || t == c;
    if (!found) continue;
    if (!cols.empty()) cols += ", ";
    cols += quoted(c);
    ++n;
  }
  if (n == 0) return {0, true};  // the table is unreadable (or gone) in the damaged file
  std::string params;
  for (size_t i = 0; i < n; ++i) params += i ? ", ?" : "?";
  sqlite3_stmt* ins_raw = nullptr;
  std::string ins = "INSERT OR IGNORE INTO main." + quoted(table) + " (" + cols + ") VALUES (" + params + ")";
  if (sqlite3_prepare_v2(dst, ins.c_str(), -1, &ins_raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(ins_raw);
    return {0, true};
  }
  sql::Stmt insert(ins_raw);
  size_t copied = 0;
  bool damaged = false;
  for (const char* order : {"", " ORDER BY rowid DESC"}) {
    sqlite3_stmt* sel_raw = nullptr;
    std::string sel = "SELECT " + cols + " FROM main." + quoted(table) + order;
    if (sqlite3_prepare_v2(src, sel.c_str(), -1, &sel_raw, nullptr) != SQLITE_OK) {
      sqlite3_finalize(sel_raw);
      damaged = true;
      break;
    }
    sql::Stmt select(sel_raw);
    int rc;
    while ((rc = sqlite3_step(sel_raw)) == SQLITE_ROW) {
      for (int i = 0; i < static_cast<int>(n); ++i) sqlite3_bind_value(ins_raw, i + 1, sqlite3_column_value(sel_raw, i));
      if (sqlite3_step(ins_raw) == SQLITE_DONE && sqlite3_changes(dst) > 0) ++copied;
      sqlite3_reset(ins_raw);
      sqlite3_clear_bindings(ins_raw);
    }
    if (rc == SQLITE_DONE) break;  // the whole table was readable in this direction
    damaged = true;
  }
  return {copied, damaged};
}

}  // namespace

Status wipe_signal_state(const std::string& path) {
  auto db = open_existing(path);
  if (!db) return Unexpected<Error>{db.error()};
  return sql::transaction(db->get(), [&]() -> Status {
    return sql::exec(db->get(),
                     "DELETE FROM prekeys; DELETE FROM signed_prekeys; DELETE FROM sessions; "
                     "DELETE FROM sender_keys; DELETE FROM identities; DELETE FROM device_lists;");
  });
}

Result<IntegrityReport> check_integrity(const std::string& path, size_t max_problems) {
  auto db = open_existing(path);
  if (!db) return Unexpected<Error>{db.error()};
  IntegrityReport report;
  sqlite3_stmt* raw = nullptr;
  std::string q = "PRAGMA integrity_check(" + std::to_string(std::max<size_t>(1, max_problems)) + ")";
  int rc = sqlite3_prepare_v2(db->get(), q.c_str(), -1, &raw, nullptr);
  sql::Stmt stmt(raw);
  if (rc != SQLITE_OK) {
    // A file whose header or schema is unreadable does not get as far as
    // the check: that is its finding.
    report.problems.push_back(sqlite3_errmsg(db->get()));
    return report;
  }
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(raw, 0);
    std::string line = t ? reinterpret_cast<const char*>(t) : "";
    if (line != "ok") report.problems.push_back(std::move(line));
  }
  if (rc != SQLITE_DONE) report.problems.push_back(sqlite3_errmsg(db->get()));
  report.ok = report.problems.empty();
  return report;
}

Result<Recovery> recover_database(const std::string& path) {
  if (path.find('?') != std::string::npos || path.find('#') != std::string::npos)
    return fail("bad_path", "unsupported character in " + path);
  {
    // The damaged file must exist; opening and closing it also settles its
    // WAL into it (the last connection checkpoints).
    auto probe = open_existing(path);
    if (!probe) return Unexpected<Error>{probe.error()};
  }
  const std::string fresh = path + ".recovering";
  for (const char* s : {"", "-wal", "-shm", "-wlock"}) ::unlink((fresh + s).c_str());
  {
    // The current schema, created and migrated like any new profile's.
    auto st = open_sqlite(fresh);
    if (!st) return Unexpected<Error>{st.error()};
  }
  Recovery out;
  {
    // The damaged file is only read. (Its corruption errors are the
    // expected findings here, not news for the corruption observer: the raw
    // API is used, not sql::sqlite_error.)
    sqlite3* raw_src = nullptr;
    int rc = sqlite3_open_v2(("file:" + path + "?mode=ro").c_str(), &raw_src,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW, nullptr);
    sql::Db src(raw_src);
    if (rc != SQLITE_OK) return fail("db_corrupt", std::string("cannot open the damaged file: ") + sqlite3_errstr(rc));
    sqlite3* raw = nullptr;
    rc = sqlite3_open_v2(fresh.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    sql::Db dst(raw);
    if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(dst.get(), rc, "open " + fresh)};
    sqlite3_busy_timeout(dst.get(), 2000);
    std::vector<std::string> tables;
    {
      sqlite3_stmt* t = nullptr;
      sqlite3_prepare_v2(dst.get(),
                         "SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", -1,
                         &t, nullptr);
      sql::Stmt ts(t);
      while (t && sqlite3_step(t) == SQLITE_ROW)
        tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(t, 0)));
    }
    WA_TRY(sql::exec(dst.get(), "PRAGMA synchronous=FULL"));
    WA_TRY(sql::exec(dst.get(), "BEGIN IMMEDIATE"));
    for (const auto& table : tables) {
      auto [rows, damaged] = copy_table(dst.get(), src.get(), table);
      out.rows += rows;
      if (damaged) out.damaged_tables.push_back(table);
    }
    // AUTOINCREMENT high-water marks: the old file's where readable, and at
    // least the largest seq copied (the inserts above set that much).
    {
      sqlite3_stmt* q = nullptr;
      sqlite3_prepare_v2(src.get(), "SELECT name, seq FROM sqlite_sequence", -1, &q, nullptr);
      sql::Stmt qs(q);
      sqlite3_stmt* u = nullptr;
      sqlite3_prepare_v2(dst.get(),
                         "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2 WHERE ?1 IN (SELECT name FROM "
                         "sqlite_schema WHERE type = 'table') AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE "
                         "name = ?1)",
                         -1, &u, nullptr);
      sql::Stmt us(u);
      sqlite3_stmt* m = nullptr;
      sqlite3_prepare_v2(dst.get(), "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1", -1, &m, nullptr);
      sql::Stmt ms(m);
      while (q && u && m && sqlite3_step(q) == SQLITE_ROW) {
        for (sqlite3_stmt* w : {u, m}) {
          sqlite3_bind_value(w, 1, sqlite3_column_value(q, 0));
          sqlite3_bind_value(w, 2, sqlite3_column_value(q, 1));
          sqlite3_step(w);
          sqlite3_reset(w);
        }
      }
    }
    if (auto s = sql::exec(dst.get(), "COMMIT"); !s) {
      (void)sqlite3_exec(dst.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return Unexpected<Error>{s.error()};
    }
    // One self-contained file before it is moved into place.
    WA_TRY(sql::exec(dst.get(), "PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  out.damaged_copy = path + ".corrupt-" + std::to_string(static_cast<long long>(std::time(nullptr)));
  for (const char* s : {"", "-wal"}) {
    std::string from = path + s;
    if (::access(from.c_str(), F_OK) != 0) continue;
    if (::rename(from.c_str(), (out.damaged_copy + s).c_str()) != 0)
      return fail("db_access", "cannot keep the damaged file: " + std::string(std::strerror(errno)));
  }
  ::unlink((path + "-shm").c_str());
  ::unlink((fresh + "-shm").c_str());
  ::unlink((fresh + "-wal").c_str());
  ::unlink((fresh + "-wlock").c_str());  // the database's own gate file stays
  if (::rename(fresh.c_str(), path.c_str()) != 0)
    return fail("db_access", "cannot put the recovered file in place: " + std::string(std::strerror(errno)));
  return out;
}

}  // namespace wa::store
