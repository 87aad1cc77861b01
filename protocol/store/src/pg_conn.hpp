// libpq behind RAII and errors-as-values, for the PostgreSQL store and the
// lease table (docs/ARCHITECTURE.md, "Cluster"). Everything is sent with
// the extended protocol in binary format: bytea travels raw (no hex
// escaping of Signal records), integers as 8-byte network order.
#pragma once


#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libpq.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::store::pg {

struct ConnFree {
  void operator()(PGconn* c) const noexcept { pq().PQfinish(c); }  // only ever non-null once loaded
};
struct ResFree {
  void operator()(PGresult* r) const noexcept { pq().PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnFree>;
using ResPtr = std::unique_ptr<PGresult, ResFree>;

// Parameters of one statement, all in binary format. Each value is copied
// in: a Params may outlive the strings it was built from (a lambda that
// returns one built from a temporary).
class Params {
 public:
  // Chainable on a named object and on a temporary (then yielding one, so
  // that `return Params().text(a).i64(b);` moves it out).
  Params& text(std::string_view v) &;
  Params& blob(ByteView v) &;
  Params& i64(int64_t v) &;
  Params& boolean(bool v) &;
  Params&& text(std::string_view v) && { return std::move(text(v)); }
  Params&& blob(ByteView v) && { return std::move(blob(v)); }
  Params&& i64(int64_t v) && { return std::move(i64(v)); }
  Params&& boolean(bool v) && { return std::move(boolean(v)); }
  int size() const { return static_cast<int>(data_.size()); }
  const std::vector<std::string>& data() const { return data_; }
  // The parameters' types, given to the server when a statement is
  // prepared: it never guesses them from context (a guessed float8 would
  // read our 8-byte integer as a double).
  const Oid* types() const { return types_.data(); }

 private:
  std::vector<std::string> data_;
  std::vector<Oid> types_;
};

// One result, read by row and column in binary format. The column types
// are fixed by the schema (BIGINT, BOOLEAN, BYTEA, TEXT): a value of
// another width is an error of ours, reported as db_corrupt, not UB.
class Rows {
 public:
  explicit Rows(ResPtr r) : r_(std::move(r)) {}
  int size() const { return pq().PQntuples(r_.get()); }
  bool empty() const { return size() == 0; }
  bool null(int row, int col) const { return pq().PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const;
  Bytes blob(int row, int col) const;
  Result<int64_t> i64(int row, int col) const;
  Result<bool> boolean(int row, int col) const;
  // Rows changed by an INSERT/UPDATE/DELETE.
  size_t affected() const;

 private:
  ResPtr r_;
};

// The classification of a failed call: SQLSTATE classes map onto the store
// error codes of the one registry (wa/contract/errors.hpp). A lost
// connection is `db_unavailable`; the message never holds the conninfo.
Error classify(PGconn* conn, const PGresult* res, std::string_view what);

// One connection with its prepared statements. Not thread-safe.
class Conn {
 public:
  // Connects (connect_timeout_s bounds it), sets the session up for us
  // (UTC, statement_timeout) and checks the server speaks at least 12.
  // `name` shows in pg_stat_activity as application_name "wa:<name>".
  static Result<Conn> open(const std::string& conninfo, int statement_timeout_ms, const std::string& name = "");

  Conn() = default;
  Conn(Conn&&) noexcept = default;
  Conn& operator=(Conn&&) noexcept = default;

  bool ok() const { return c_ && pq().PQstatus(c_.get()) == CONNECTION_OK; }
  // The connection broke: drop it and its statements and connect again.
  Status reconnect();

  // A prepared statement (prepared once per connection, by its text).
  Result<Rows> run(std::string_view sql, const Params& params = {});
  // A script of statements without parameters (BEGIN; SET LOCAL ...).
  Result<Rows> script(const std::string& sql);
  PGconn* get() const { return c_.get(); }
  bool in_transaction() const { return c_ && pq().PQtransactionStatus(c_.get()) != PQTRANS_IDLE; }

 private:
  Status setup();
  ConnPtr c_;
  std::string conninfo_;
  std::string app_name_ = "wa";
  int statement_timeout_ms_ = 0;
  // Statement text -> its name on this connection.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> prepared_;
};

// Reads a connection string from WA_PG_CONNINFO or, when `file` is not
// empty, from that file (first line; must not be readable by others when it
// holds a password). Never logged.
Result<std::string> conninfo_from(const std::string& file);

}  // namespace wa::store::pg
