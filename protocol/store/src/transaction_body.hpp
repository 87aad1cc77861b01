// The body of a write transaction, as both stores (SQLite and PostgreSQL)
// run it between their own BEGIN and COMMIT.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "wa/result.hpp"

namespace wa::store {

// lid_for_pn's answers within the current write transaction, by phone user.
using LidCache = std::map<std::string, std::optional<std::string>, std::less<>>;

// Runs `fn` at depth 1 with the LID cache empty before and after. A step
// whose savepoint could not be undone fails the whole transaction; an
// exception runs `rollback` and goes on. The caller commits on success and
// rolls back on failure.
template <class Rollback>
Status run_transaction_body(const std::function<Status()>& fn, int& depth, bool& savepoint_lost, LidCache& lid_cache,
                            Rollback&& rollback) {
  depth = 1;
  savepoint_lost = false;
  lid_cache.clear();
  Status result;
  try {
    result = fn();
  } catch (...) {
    depth = 0;
    rollback();
    throw;
  }
  depth = 0;
  lid_cache.clear();
  if (result && savepoint_lost) result = fail("savepoint_lost", "a failed step of the transaction could not be undone");
  return result;
}

}  // namespace wa::store
