// SQLite implementation of wa::store::Store: one database file per profile,
// shared by that profile's processes (connection worker + sender workers).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "wa/store/store.hpp"

namespace wa::store {

inline constexpr int kSchemaVersion = 3;

struct SqliteOptions {
  // How long one statement waits for another process's write lock inside
  // SQLite before returning SQLITE_BUSY.
  int busy_timeout_ms = 2000;
  // transaction(): further BEGIN IMMEDIATE attempts after SQLITE_BUSY, with
  // exponential backoff (1 ms doubling, capped at 64 ms, jittered).
  int max_busy_retries = 5;
  // Called before each retry of BEGIN IMMEDIATE (attempt counts from 1).
  // Observability and tests; must not use this store.
  std::function<void(int attempt)> on_busy_retry;
  // Test-only: stop migrating at this schema version (0 = latest).
  int migrate_to = 0;
};

// Opens (creating if needed, mode 0600) and migrates the database at `path`.
// The parent directory must exist; callers keep it 0700 (wa::fs).
// A Store object is not thread-safe: use one per thread or lock around it.
Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const SqliteOptions& options = {});

}  // namespace wa::store
