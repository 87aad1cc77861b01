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

 private:
  struct Shared;
  explicit WriteGate(Shared* shared) : shared_(shared) {}
  Shared* shared_;
};

}  // namespace wa::store
