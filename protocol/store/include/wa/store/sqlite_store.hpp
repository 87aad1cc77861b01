// SQLite implementation of wa::store::Store: one database file per profile,
// shared by that profile's processes (connection worker + sender workers).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wa/store/store.hpp"

namespace wa::store {

inline constexpr int kSchemaVersion = 7;

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

// Called whenever SQLite reports SQLITE_CORRUPT or SQLITE_NOTADB on any
// store of this process, on the thread that hit it, before the error is
// returned: a damaged database is a state of the account (it must stop
// sending and receipting), not one failed call among many that callers may
// log and move on from. Set it once, before stores are used; it must not use
// a store. Empty: nobody is told.
void set_corruption_observer(std::function<void(const Error&)> observer);

// Logged out: deletes the Signal state of the database at `path` (one-time
// and signed prekeys, sessions, sender keys, identities, device lists) in
// one transaction. The credentials go with forget_credentials (the
// connection worker); the event log, the inbox and the LID mappings stay.
Status wipe_signal_state(const std::string& path);

// PRAGMA integrity_check of the database at `path` (opened without creating
// it; nothing is written). `problems` is empty when the file is sound.
struct IntegrityReport {
  bool ok = false;
  std::vector<std::string> problems;  // at most `max_problems`
};
Result<IntegrityReport> check_integrity(const std::string& path, size_t max_problems = 20);

// Salvages a damaged database into a new file and puts it in place. Every
// process must have closed `path`. The damaged file (with its -wal) is kept
// as `<path>.corrupt-<unix seconds>`; the new file gets the current schema
// and every row that can still be read (each table is read forwards and,
// past a damaged page, backwards, like the sqlite3 shell's .dump; the
// shell's .recover needs SQLITE_ENABLE_DBPAGE_VTAB, which Debian's build
// lacks). The event log's sequence keeps its high-water mark, so no seq is
// handed out twice.
struct Recovery {
  std::string damaged_copy;  // where the damaged file was moved
  size_t rows = 0;           // rows copied into the new file
  std::vector<std::string> damaged_tables;  // tables where a read failed
};
Result<Recovery> recover_database(const std::string& path);

}  // namespace wa::store
