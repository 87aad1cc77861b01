// Which engine holds a profile, named in one string that processes pass to
// each other (the connection worker to its code, the supervisor to a
// sender's argv): a SQLite database's path, or
//   postgres:<token>:<profile>:<conninfo file>
// for the PostgreSQL store (postgres_store.hpp) writing under fencing token
// <token>. The connection string itself never travels: it is read from the
// file (or, the file part empty, from WA_PG_CONNINFO) by whoever opens.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "wa/store/store.hpp"

namespace wa::store {

std::string pg_locator(int64_t token, std::string_view profile, std::string_view conninfo_file);
bool is_pg_locator(std::string_view locator);

// The locator of `profile` in a deployment: engine "postgres" names the
// PostgreSQL store under `token`; anything else the SQLite file
// <data_dir>/<profile>/store.db.
std::string profile_locator(std::string_view engine, const std::string& data_dir, std::string_view profile,
                            int64_t token, std::string_view conninfo_file);

// Opens the store a locator names.
Result<std::unique_ptr<Store>> open(std::string_view locator);

// Whether the profile has a store yet (SQLite: the file exists; PostgreSQL:
// the profile is registered). A sender of an unpaired account stops here.
Result<bool> exists(std::string_view locator);

// Logged out: the profile's Signal state goes (see wipe_signal_state).
Status wipe_signal(std::string_view locator);

}  // namespace wa::store
