// Moving a profile between the two engines (wa-store-migrate): every row of
// every table, the event log's seqs and high-water mark included, so that
// `events --since` keeps working across the move and no seq is reused.
#pragma once

#include <cstdint>
#include <string>

#include "wa/result.hpp"

namespace wa::store {

struct MigrateReport {
  size_t rows = 0;
  int64_t last_seq = 0;  // the event log's high-water mark carried over
};

// Copies the SQLite database at `sqlite_path` into PostgreSQL as `profile`,
// in one transaction fenced by `token` (the caller holds the lease). The
// profile must have no credentials or events in PostgreSQL yet.
Result<MigrateReport> sqlite_to_postgres(const std::string& sqlite_path, const std::string& conninfo,
                                         const std::string& profile, int64_t token);

// Copies `profile` out of PostgreSQL into a new SQLite database at
// `sqlite_path` (which must not exist), read in one snapshot.
Result<MigrateReport> postgres_to_sqlite(const std::string& conninfo, const std::string& profile,
                                         const std::string& sqlite_path);

}  // namespace wa::store
