// The write gate of a profile's database: a robust, process-shared mutex in
// a small side file (`<db>-wlock`, 0600) that every SqliteStore of the
// database takes around its write transactions.
//
// Why: the connection worker and up to a hundred sender workers write one
// database. SQLite's own busy handler waits for its write lock by sleeping
// and polling (1, 2, 5, 10, 15, 20, 25, ... 100 ms): under contention a
// writer sleeps on long after the lock came free, and one unlucky send waited
// a second (p99 1,069 ms at 16 sends outstanding, docs/BENCHMARKS.md). Here a
// waiter blocks in the kernel (futex) and is woken when the holder commits.
//
// The gate only orders our own writers; SQLite's lock still decides. A
// writer that cannot use the gate (side file unusable, deadline passed, a
// relock by the same thread) goes on to BEGIN IMMEDIATE and SQLite's busy
// handling exactly as before, so correctness never depends on it. A holder
// that dies leaves the mutex to the next taker (robust mutex: EOWNERDEAD).
#pragma once

#include <pthread.h>

#include <cstdint>
#include <memory>
#include <string>

namespace wa::store {

class WriteGate {
 public:
  // nullptr when the side file cannot be created or mapped (the caller
  // then relies on SQLite's locking alone).
  static std::unique_ptr<WriteGate> open(const std::string& db_path);
  ~WriteGate();
  WriteGate(const WriteGate&) = delete;
  WriteGate& operator=(const WriteGate&) = delete;

  // Waits up to `timeout_ms` for the gate: true when this thread holds it.
  bool lock(int timeout_ms);
  void unlock();

  // Group flush. A durable commit writes its WAL frames without an fsync
  // and flushes the WAL after the gate is free (sqlite_store.cpp,
  // flush_wal), so one writer's fsync never holds up the next writer's
  // transaction. Commits of every process are numbered here, in the order
  // their frames were written; an fsync that starts after commit N was
  // numbered makes commits 1..N durable (the WAL is one file, and an fsync
  // writes out every page written to it before the call). A commit already
  // covered by another process's finished flush needs none of its own.
  //
  // The number of this commit; call after its WAL frames are written.
  uint64_t note_commit();
  // The newest commit number: what a flush starting now will cover.
  uint64_t newest_commit() const;
  // True when a finished flush already covers commit `n`.
  bool flushed_through(uint64_t n) const;
  // A flush that started when newest_commit() was `n` has finished.
  void note_flushed(uint64_t n);

 private:
  struct Shared;
  explicit WriteGate(Shared* shared) : shared_(shared) {}
  Shared* shared_;
};

}  // namespace wa::store
