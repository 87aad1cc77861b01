#include "pg_conn.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

namespace wa::store::pg {

// ------------------------------------------------------------------ Params

namespace {
// pg_type OIDs (src/include/catalog/pg_type.dat): stable across versions.
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kText = 25;
}  // namespace

Params& Params::text(std::string_view v) & {
  data_.emplace_back(v);
  types_.push_back(kText);
  return *this;
}

Params& Params::blob(ByteView v) & {
  if (v.empty()) {
    data_.emplace_back();
  } else {
    data_.emplace_back(reinterpret_cast<const char*>(v.data()), v.size());
  }
  types_.push_back(kBytea);
  return *this;
}

Params& Params::i64(int64_t v) & {
  std::string buf(8, '\0');
  auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) buf[static_cast<size_t>(i)] = static_cast<char>(u >> (56 - 8 * i));
  data_.push_back(std::move(buf));
  types_.push_back(kInt8);
  return *this;
}

Params& Params::boolean(bool v) & {
  data_.emplace_back(1, v ? '\x01' : '\x00');
  types_.push_back(kBool);
  return *this;
}

// ------------------------------------------------------------------ Rows

std::string Rows::text(int row, int col) const {
  return std::string(pq().PQgetvalue(r_.get(), row, col), static_cast<size_t>(pq().PQgetlength(r_.get(), row, col)));
}

Bytes Rows::blob(int row, int col) const {
  const auto* p = reinterpret_cast<const uint8_t*>(pq().PQgetvalue(r_.get(), row, col));
  return Bytes(p, p + pq().PQgetlength(r_.get(), row, col));
}

Result<int64_t> Rows::i64(int row, int col) const {
  const auto* p = reinterpret_cast<const uint8_t*>(pq().PQgetvalue(r_.get(), row, col));
  const int n = pq().PQgetlength(r_.get(), row, col);
  if (n != 2 && n != 4 && n != 8) return fail("db_corrupt", "an integer column of " + std::to_string(n) + " bytes");
  uint64_t u = 0;
  for (int i = 0; i < n; ++i) u = (u << 8) | p[i];
  // Sign-extend the narrower widths (int2, int4).
  if (n < 8 && (p[0] & 0x80)) u |= ~uint64_t{0} << (8 * n);
  return static_cast<int64_t>(u);
}

Result<bool> Rows::boolean(int row, int col) const {
  if (pq().PQgetlength(r_.get(), row, col) != 1) return fail("db_corrupt", "a boolean column that is not one byte");
  return pq().PQgetvalue(r_.get(), row, col)[0] != 0;
}

size_t Rows::affected() const {
  const char* n = pq().PQcmdTuples(r_.get());
  return n && *n ? static_cast<size_t>(std::strtoull(n, nullptr, 10)) : 0;
}

// ------------------------------------------------------------------ errors

Error classify(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res ? pq().PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res ? pq().PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = std::string(what) + ": ";
  if (primary) {
    msg += primary;  // the primary text names no values (DETAIL would)
  } else if (conn) {
    // libpq's own text: host and port at most, never the password.
    std::string m = pq().PQerrorMessage(conn);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    msg += m.empty() ? "no answer from the server" : m;
  }
  std::string_view s = state ? state : "";
  auto code = [&]() -> std::string {
    if (!conn || pq().PQstatus(conn) == CONNECTION_BAD || s.empty()) return "db_unavailable";
    if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03" || s == "53300" || s == "25P03")
      return "db_unavailable";
    if (s == "53100") return "disk_full";
    if (s == "40001" || s == "40P01" || s == "55P03" || s == "57014") return "busy";
    if (s.starts_with("23")) return "constraint";
    if (s == "XX001" || s == "XX002") return "db_corrupt";
    if (s == "58030") return "io_error";
    if (s.starts_with("28") || s == "42501" || s == "3D000") return "db_access";
    return "db_error";
  }();
  if (!s.empty()) msg += " [" + std::string(s) + "]";
  return Error{std::move(code), std::move(msg)};
}

// ------------------------------------------------------------------ Conn

Result<Conn> Conn::open(const std::string& conninfo, int statement_timeout_ms, const std::string& name) {
  Conn c;
  c.conninfo_ = conninfo;
  if (!name.empty()) c.app_name_ = "wa:" + name.substr(0, 56);  // the server keeps 63 bytes
  c.statement_timeout_ms_ = statement_timeout_ms;
  WA_TRY(c.reconnect());
  return c;
}

Status Conn::reconnect() {
  prepared_.clear();
  if (auto lib = load_libpq(); !lib) return Unexpected<Error>{lib.error()};
  // Our defaults come first: keywords repeated later (those inside the
  // operator's connection string, expanded from dbname) override them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* vals[] = {"5", app_name_.c_str(), conninfo_.c_str(), nullptr};
  c_.reset(pq().PQconnectdbParams(keys, vals, 1));
  if (!c_) return fail("db_unavailable", "postgres: out of memory");
  if (pq().PQstatus(c_.get()) != CONNECTION_OK) {
    Error e = classify(c_.get(), nullptr, "postgres connect");
    // A refused login or a missing database is not going to fix itself.
    std::string m = pq().PQerrorMessage(c_.get());
    if (m.find("authentication") != std::string::npos || m.find("does not exist") != std::string::npos)
      e.code = "db_access";
    c_.reset();
    return Unexpected<Error>{std::move(e)};
  }
  // Server notices ("relation exists, skipping") are not ours to print:
  // libpq's default writes them to stderr.
  pq().PQsetNoticeProcessor(c_.get(), [](void*, const char*) {}, nullptr);
  if (pq().PQserverVersion(c_.get()) < 120000) {
    c_.reset();
    return fail("db_access", "postgres: server version 12 or newer is needed");
  }
  return setup();
}

Status Conn::setup() {
  // UTC so that timestamps read back the same on every host. A session
  // left idle inside a transaction (its process stopped with SIGSTOP while
  // holding an account's write lock) is ended by the server, or it would
  // block that account's writers and a new owner's takeover for ever.
  std::string sql = "SET TIME ZONE 'UTC'; SET idle_in_transaction_session_timeout = 15000";
  if (statement_timeout_ms_ > 0) sql += "; SET statement_timeout = " + std::to_string(statement_timeout_ms_);
  auto r = script(sql);
  if (!r) return Unexpected<Error>{r.error()};
  return {};
}

Result<Rows> Conn::run(std::string_view sql, const Params& params) {
  if (!c_ || pq().PQstatus(c_.get()) != CONNECTION_OK) {
    // Outside a transaction a broken connection is simply made again; inside
    // one the transaction is gone with it and the caller must start over.
    if (auto s = reconnect(); !s) return Unexpected<Error>{s.error()};
  }
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "wa" + std::to_string(prepared_.size());
    ResPtr p(pq().PQprepare(c_.get(), name.c_str(), std::string(sql).c_str(), params.size(), params.types()));
    if (!p || pq().PQresultStatus(p.get()) != PGRES_COMMAND_OK) return Unexpected<Error>{classify(c_.get(), p.get(), "prepare")};
    it = prepared_.emplace(std::string(sql), std::move(name)).first;
  }
  // Pointers into the Params' own copies, taken only now.
  const auto n = static_cast<size_t>(params.size());
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  const std::vector<int> formats(n, 1);
  for (size_t i = 0; i < n; ++i) {
    values[i] = params.data()[i].data();
    lengths[i] = static_cast<int>(params.data()[i].size());
  }
  ResPtr r(pq().PQexecPrepared(c_.get(), it->second.c_str(), params.size(), values.data(), lengths.data(), formats.data(), 1));
  const auto st = r ? pq().PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Unexpected<Error>{classify(c_.get(), r.get(), "query")};
  return Rows(std::move(r));
}

Result<Rows> Conn::script(const std::string& sql) {
  if (!c_) return fail("db_unavailable", "postgres: not connected");
  ResPtr r(pq().PQexec(c_.get(), sql.c_str()));
  const auto st = r ? pq().PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Unexpected<Error>{classify(c_.get(), r.get(), "script")};
  return Rows(std::move(r));
}

// ------------------------------------------------------------------ conninfo

Result<std::string> conninfo_from(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("WA_PG_CONNINFO");
    if (!env || !*env) return fail("db_access", "no PostgreSQL connection string: set WA_PG_CONNINFO or a conninfo file");
    return std::string(env);
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return fail("db_access", "cannot read the conninfo file " + file);
  // It may hold a password: refuse a file others can read, as ssh does.
  if (st.st_mode & 077) return fail("db_access", "the conninfo file " + file + " must not be readable by others (chmod 600)");
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return fail("db_access", "the conninfo file " + file + " is empty");
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return fail("db_access", "the conninfo file " + file + " is empty");
  return line;
}

}  // namespace wa::store::pg
