// RAII around sqlite3* and sqlite3_stmt*, a scoped borrower for prepared
// statements and the few calls around them. The project's one SQLite
// wrapper: wa_store and wa-testserver's state file both use it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::store::sql {

struct DbClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;

struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// sqlite_store.cpp: database files hold private keys, so PATH is created 0600
// by us (SQLite would use 0644 & ~umask); an existing file must be a regular
// file of ours and is tightened to 0600.
Status prepare_private_file(const std::string& path);

// sqlite_store.cpp: tells the process's corruption observer (see
// set_corruption_observer) that SQLite found a damaged database.
void report_corruption(const Error& e) noexcept;

// Maps an SQLite result code to a stable error code. The message comes from
// sqlite3_errmsg, which names tables/constraints but never bound values.
inline Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  std::string code;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = "busy";
      break;
    case SQLITE_CONSTRAINT:
      code = "constraint";
      break;
    case SQLITE_FULL:
      code = "disk_full";
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = "db_corrupt";
      break;
    case SQLITE_IOERR:
      code = "io_error";
      break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      code = "db_access";
      break;
    default:
      code = "db_error";
      break;
  }
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  Error e{std::move(code), std::move(msg)};
  if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) report_corruption(e);
  return e;
}

// A cached statement in use. Resets and clears bindings when it goes out of
// scope, so bound pointers (bound SQLITE_STATIC) only need to live as long
// as this object.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int64_t v) { return check(sqlite3_bind_int64(stmt_, ++idx_, v)); }
  Query& bind(std::string_view v) {
    return check(sqlite3_bind_text64(stmt_, ++idx_, v.data() ? v.data() : "", v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  // A zero-length blob must not be bound from a null pointer: SQLite would store NULL.
  Query& bind_blob(ByteView v) {
    static const uint8_t empty = 0;
    return check(sqlite3_bind_blob64(stmt_, ++idx_, v.empty() ? &empty : v.data(), v.size(), SQLITE_STATIC));
  }

  // SQLITE_ROW -> true, SQLITE_DONE -> false, anything else -> error.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return Unexpected<Error>{sqlite_error(db_, bind_rc_, "bind")};
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Unexpected<Error>{sqlite_error(db_, rc, "step")};
  }
  Status run() {
    auto r = step();
    if (!r) return Unexpected<Error>{r.error()};
    return {};
  }

  int64_t col_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool col_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::string col_text(int i) const {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    int n = sqlite3_column_bytes(stmt_, i);
    return p && n > 0 ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  Bytes col_blob(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    int n = sqlite3_column_bytes(stmt_, i);
    if (!p || n <= 0) return {};
    const auto* b = static_cast<const uint8_t*>(p);
    return Bytes(b, b + n);
  }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int idx_ = 0;
  int bind_rc_ = SQLITE_OK;
};

inline Status exec(sqlite3* db, const char* sql_text) {
  int rc = sqlite3_exec(db, sql_text, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Unexpected<Error>{sqlite_error(db, rc, "exec")};
  return {};
}

// An uncached statement, for callers that run it rarely.
inline Result<Stmt> prepare(sqlite3* db, std::string_view sql_text) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql_text.data(), static_cast<int>(sql_text.size()), &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return Unexpected<Error>{sqlite_error(db, rc, "prepare")};
  return stmt;
}

// Prepares SQL_TEXT and runs f(Query&) on it; f returns a Result or Status.
template <class F>
auto with_statement(sqlite3* db, std::string_view sql_text, F&& f) -> decltype(f(std::declval<Query&>())) {
  auto stmt = prepare(db, sql_text);
  if (!stmt) return Unexpected<Error>{stmt.error()};
  Query q(db, stmt->get());
  return f(q);
}

// Steps Q to its end, calling f() -> Status on each row (read with Q's
// col_* getters); stops at the first error.
template <class F>
Status each_row(Query& q, F&& f) {
  for (;;) {
    auto row = q.step();
    if (!row) return Unexpected<Error>{row.error()};
    if (!*row) return {};
    if (auto s = f(); !s) return s;
  }
}

// BEGIN, f() -> Status, COMMIT; ROLLBACK when f fails. Not nestable (the
// store's own transactions nest with savepoints).
template <class F>
Status transaction(sqlite3* db, F&& f) {
  if (auto s = exec(db, "BEGIN"); !s) return s;
  Status s = f();
  if (!s) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  }
  return exec(db, "COMMIT");
}

}  // namespace wa::store::sql
