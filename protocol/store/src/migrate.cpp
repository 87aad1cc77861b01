#include "wa/store/migrate.hpp"

#include <sys/stat.h>

#include <variant>
#include <vector>

#include "pg_conn.hpp"
#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_handle.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::store {

namespace {

template <class T>
Unexpected<Error> err(const Result<T>& r) {
  return {r.error()};
}

// A column in both schemas: its names and its kind (text, blob, integer,
// flag: an INTEGER 0/1 in SQLite, a BOOLEAN in PostgreSQL).
struct Column {
  const char* sqlite;
  const char* pg;
  char kind;  // 't', 'b', 'i', 'f'
};
struct Table {
  const char* name;
  std::vector<Column> cols;
};

const std::vector<Table>& tables() {
  static const std::vector<Table> t = {
      {"credentials", {{"name", "name", 't'}, {"value", "value", 'b'}}},
      {"prekeys", {{"id", "id", 'i'}, {"pub", "pub", 'b'}, {"priv", "priv", 'b'}, {"uploaded", "uploaded", 'f'}}},
      {"signed_prekeys",
       {{"id", "id", 'i'}, {"pub", "pub", 'b'}, {"priv", "priv", 'b'}, {"signature", "signature", 'b'}, {"ts", "ts", 'i'}}},
      {"sessions", {{"name", "name", 't'}, {"device", "device", 'i'}, {"record", "record", 'b'}}},
      {"sender_keys",
       {{"group_id", "group_id", 't'}, {"sender_name", "sender_name", 't'}, {"sender_device", "sender_device", 'i'},
        {"record", "record", 'b'}}},
      {"identities", {{"name", "name", 't'}, {"device", "device", 'i'}, {"key", "key", 'b'}, {"first_seen", "first_seen", 'i'}}},
      {"device_lists", {{"user", "user_id", 't'}, {"devices", "devices", 't'}, {"fetched_at", "fetched_at", 'i'}}},
      {"lid_mappings", {{"pn_user", "pn_user", 't'}, {"lid_user", "lid_user", 't'}}},
      {"inbox",
       {{"seq", "seq", 'i'}, {"msg_id", "msg_id", 't'}, {"chat", "chat", 't'}, {"sender", "sender", 't'}, {"ts", "ts", 'i'},
        {"type", "type", 't'}, {"payload", "payload", 't'}, {"acked", "acked", 'f'}}},
      {"sent_messages", {{"msg_id", "msg_id", 't'}, {"chat", "chat", 't'}, {"plaintext", "plaintext", 'b'}, {"ts", "ts", 'i'}}},
      {"media",
       {{"msg_id", "msg_id", 't'}, {"chat", "chat", 't'}, {"sender", "sender", 't'}, {"message", "message", 'b'},
        {"local_path", "local_path", 't'}, {"ts", "ts", 'i'}}},
      {"message_secrets",
       {{"msg_id", "msg_id", 't'}, {"chat", "chat", 't'}, {"sender", "sender", 't'}, {"secret", "secret", 'b'}, {"ts", "ts", 'i'}}},
      {"polls",
       {{"msg_id", "msg_id", 't'}, {"chat", "chat", 't'}, {"sender", "sender", 't'}, {"name", "name", 't'},
        {"options", "options", 't'}, {"selectable", "selectable", 'i'}, {"ts", "ts", 'i'}}},
      {"poll_votes",
       {{"poll_id", "poll_id", 't'}, {"chat", "chat", 't'}, {"voter", "voter", 't'}, {"options", "options", 't'},
        {"ts_ms", "ts_ms", 'i'}}},
  };
  return t;
}

using Value = std::variant<int64_t, std::string, Bytes>;

std::string column_list(const Table& t, bool pg) {
  std::string out;
  for (const auto& c : t.cols) {
    if (!out.empty()) out += ", ";
    out += pg ? c.pg : c.sqlite;
  }
  return out;
}

Status fenced_begin(pg::Conn& c, const std::string& profile, int64_t token) {
  WA_TRY(c.script("BEGIN"));
  auto r = c.run("SELECT l.token FROM wa_leases l JOIN wa_profiles p ON p.profile = l.profile WHERE l.profile = $1 "
                 "FOR UPDATE OF p FOR KEY SHARE OF l",
                 pg::Params().text(profile));
  if (!r) return err(r);
  auto t = r->empty() ? Result<int64_t>(fail("fenced", "no lease row")) : r->i64(0, 0);
  if (!t || *t != token) {
    (void)c.script("ROLLBACK");
    return fail("fenced", "profile " + profile + ": the lease is not held under token " + std::to_string(token));
  }
  return {};
}

}  // namespace

Result<MigrateReport> sqlite_to_postgres(const std::string& sqlite_path, const std::string& conninfo,
                                         const std::string& profile, int64_t token) {
  struct stat st {};
  if (::stat(sqlite_path.c_str(), &st) != 0) return fail("no_store", "no database at " + sqlite_path);
  // Opening migrates an older file to the current schema first.
  {
    auto s = open_sqlite(sqlite_path);
    if (!s) return err(s);
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(sqlite_path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nullptr);
  sql::Db db(raw);
  if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db.get(), rc, "open " + sqlite_path)};
  sqlite3_busy_timeout(db.get(), 2000);
  WA_TRY(sql::exec(db.get(), "BEGIN"));  // one snapshot of the file

  auto pc = pg::Conn::open(conninfo, 0, "migrate");
  if (!pc) return err(pc);
  pg::Conn& c = *pc;
  WA_TRY(pg_migrate(conninfo));
  WA_TRY(fenced_begin(c, profile, token));
  MigrateReport report;
  auto body = [&]() -> Status {
    auto used = c.run("SELECT (SELECT count(*) FROM credentials WHERE profile = $1) + "
                      "(SELECT count(*) FROM inbox WHERE profile = $1)",
                      pg::Params().text(profile));
    if (!used) return err(used);
    auto n = used->i64(0, 0);
    if (!n) return err(n);
    if (*n > 0) return fail("not_empty", "profile " + profile + " already has state in PostgreSQL: nothing copied");
    for (const auto& t : tables()) {
      std::string ins = std::string("INSERT INTO ") + t.name + " (profile, " + column_list(t, true) + ") VALUES ($1";
      for (size_t i = 0; i < t.cols.size(); ++i) ins += ", $" + std::to_string(i + 2);
      ins += ")";
      const std::string sel = std::string("SELECT ") + column_list(t, false) + " FROM " + t.name;
      const Status copied = sql::with_statement(db.get(), sel, [&](sql::Query& q) -> Status {
        return sql::each_row(q, [&]() -> Status {
          pg::Params p;
          p.text(profile);
          std::vector<std::string> texts;
          std::vector<Bytes> blobs;
          texts.reserve(t.cols.size());
          blobs.reserve(t.cols.size());
          for (size_t i = 0; i < t.cols.size(); ++i) {
            const int col = static_cast<int>(i);
            switch (t.cols[i].kind) {
              case 't': p.text(texts.emplace_back(q.col_text(col))); break;
              case 'b': p.blob(blobs.emplace_back(q.col_blob(col))); break;
              case 'f': p.boolean(q.col_int(col) != 0); break;
              default: p.i64(q.col_int(col)); break;
            }
          }
          WA_TRY(c.run(ins, p));
          ++report.rows;
          return {};
        });
      });
      if (!copied) return copied;
    }
    // The high-water mark: the larger of AUTOINCREMENT's and the rows'.
    WA_TRY(sql::with_statement(db.get(),
                               "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inbox'), 0), "
                               "coalesce((SELECT max(seq) FROM inbox), 0))",
                               [&](sql::Query& q) -> Status {
                                 auto row = q.step();
                                 if (!row) return err(row);
                                 report.last_seq = *row ? q.col_int(0) : 0;
                                 return {};
                               }));
    WA_TRY(c.run("UPDATE wa_profiles SET last_seq = greatest(last_seq, $2) WHERE profile = $1",
                 pg::Params().text(profile).i64(report.last_seq)));
    return {};
  };
  if (auto s = body(); !s) {
    (void)c.script("ROLLBACK");
    return err(s);
  }
  WA_TRY(c.script("COMMIT"));
  return report;
}

Result<MigrateReport> postgres_to_sqlite(const std::string& conninfo, const std::string& profile,
                                         const std::string& sqlite_path) {
  struct stat st {};
  if (::lstat(sqlite_path.c_str(), &st) == 0)
    return fail("not_empty", sqlite_path + " exists: the copy goes to a new file only");
  auto known = pg_has_profile(conninfo, profile);
  if (!known) return err(known);
  if (!*known) return fail("unknown_profile", "no profile " + profile + " in PostgreSQL");
  {
    auto s = open_sqlite(sqlite_path);  // creates the file (0600) with the current schema
    if (!s) return err(s);
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(sqlite_path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
  sql::Db db(raw);
  if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db.get(), rc, "open " + sqlite_path)};

  auto pc = pg::Conn::open(conninfo, 0, "migrate");
  if (!pc) return err(pc);
  pg::Conn& c = *pc;
  // One consistent snapshot of every table.
  WA_TRY(c.script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  MigrateReport report;
  auto s = sql::transaction(db.get(), [&]() -> Status {
    for (const auto& t : tables()) {
      auto rows = c.run(std::string("SELECT ") + column_list(t, true) + " FROM " + t.name + " WHERE profile = $1",
                        pg::Params().text(profile));
      if (!rows) return err(rows);
      std::string ins = std::string("INSERT INTO ") + t.name + " (" + column_list(t, false) + ") VALUES (";
      for (size_t i = 0; i < t.cols.size(); ++i) ins += i ? ", ?" : "?";
      ins += ")";
      auto stmt = sql::prepare(db.get(), ins);
      if (!stmt) return err(stmt);
      for (int r = 0; r < rows->size(); ++r) {
        sql::Query q(db.get(), stmt->get());
        std::vector<std::string> texts;
        std::vector<Bytes> blobs;
        texts.reserve(t.cols.size());
        blobs.reserve(t.cols.size());
        for (size_t i = 0; i < t.cols.size(); ++i) {
          const int col = static_cast<int>(i);
          switch (t.cols[i].kind) {
            case 't': q.bind(std::string_view(texts.emplace_back(rows->text(r, col)))); break;
            case 'b': q.bind_blob(blobs.emplace_back(rows->blob(r, col))); break;
            case 'f': {
              auto b = rows->boolean(r, col);
              if (!b) return err(b);
              q.bind(int64_t{*b ? 1 : 0});
              break;
            }
            default: {
              auto v = rows->i64(r, col);
              if (!v) return err(v);
              q.bind(*v);
              break;
            }
          }
        }
        WA_TRY(q.run());
        ++report.rows;
      }
    }
    auto last = c.run("SELECT last_seq FROM wa_profiles WHERE profile = $1", pg::Params().text(profile));
    if (!last) return err(last);
    if (!last->empty()) {
      auto v = last->i64(0, 0);
      if (!v) return err(v);
      report.last_seq = *v;
    }
    // AUTOINCREMENT continues above the mark: no seq is handed out twice.
    // (sqlite_sequence has no key: replace the row by hand.)
    WA_TRY(sql::exec(db.get(), "DELETE FROM sqlite_sequence WHERE name = 'inbox'"));
    return sql::with_statement(db.get(), "INSERT INTO sqlite_sequence (name, seq) VALUES ('inbox', ?)",
                               [&](sql::Query& q) { return q.bind(report.last_seq).run(); });
  });
  (void)c.script("ROLLBACK");
  if (!s) {
    db.reset();
    ::unlink(sqlite_path.c_str());
    ::unlink((sqlite_path + "-wal").c_str());
    ::unlink((sqlite_path + "-shm").c_str());
    ::unlink((sqlite_path + "-wlock").c_str());
    return err(s);
  }
  return report;
}

}  // namespace wa::store
