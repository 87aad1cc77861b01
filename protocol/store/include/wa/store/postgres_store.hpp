// PostgreSQL implementation of wa::store::Store, for deployments of several
// hosts (docs/ARCHITECTURE.md, "Cluster"): one database holds every
// profile, each row keyed by its profile. Every write transaction of a
// profile first locks the profile's lease row and checks the fencing token
// this process was started with: a process whose host lost the account to
// a newer owner gets `fenced` and writes nothing, however late it wakes up.
// Locking that row also serialises the profile's writers across processes
// and hosts, as BEGIN IMMEDIATE does for SQLite (the transaction rule).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wa/store/store.hpp"

namespace wa::store {

inline constexpr int kPgSchemaVersion = 1;

struct PgOptions {
  std::string conninfo;  // libpq connection string; a secret, never logged
  std::string profile;
  // The fencing token of the lease this process writes under
  // (wa/store/lease.hpp). 0: the profile has never been claimed; any claim
  // fences such a store.
  int64_t token = 0;
  // Bounds each statement, waits for the profile's write lock included
  // (then `busy`).
  int statement_timeout_ms = 10000;
};

// Connects, creates or upgrades the schema if needed and registers the
// profile cluster-wide if new. A Store object is not thread-safe.
Result<std::unique_ptr<Store>> open_postgres(const PgOptions& options);

// Logged out: deletes the profile's Signal state (as wipe_signal_state does
// for SQLite), under the fencing token of `options`.
Status pg_wipe_signal_state(const PgOptions& options);

// Whether the profile is registered (has ever been opened).
Result<bool> pg_has_profile(const std::string& conninfo, const std::string& profile);

// Creates or upgrades the schema (serialised between hosts by an advisory
// lock); refuses a database whose schema is newer than this build.
Status pg_migrate(const std::string& conninfo);

// Profiles known cluster-wide, sorted; and removing one with all its rows.
Result<std::vector<std::string>> pg_profiles(const std::string& conninfo);
Status pg_delete_profile(const std::string& conninfo, const std::string& profile);

// The connection string of a deployment: the first line of `file` (which
// must not be readable by group or others) or, with `file` empty, the
// environment variable WA_PG_CONNINFO.
Result<std::string> pg_conninfo(const std::string& file);

}  // namespace wa::store
