// What the cluster tests (PostgreSQL store, NATS) share: the deployment's
// connection-string file, a profile's lease as the database has it, and
// whether a host runs an account with its socket open.
#pragma once

#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include "pg_test.hpp"
#include "wa/store/lease.hpp"
#include "wa_server.hpp"

namespace harness {

// The connection string in a 0600 file, as the supervisor requires.
inline std::string write_conninfo(const std::string& dir, const std::string& info = wa::test::pg_conninfo()) {
  const std::string path = dir + "/pg.conninfo";
  std::ofstream(path) << info << "\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

inline std::optional<wa::store::Lease> lease_of(const std::string& profile,
                                               const std::string& info = wa::test::pg_conninfo()) {
  auto t = wa::store::LeaseTable::open(info);
  if (!t) throw std::runtime_error("leases: " + t.error().message);
  auto l = t->get(profile);
  if (!l) throw std::runtime_error("leases: " + l.error().message);
  return *l;
}

// A `status` reply for one profile says it is running with its socket open.
inline bool open_in(const json& status) {
  if (!status.value("ok", false)) return false;
  const json& i = status["result"]["instances"][0];
  return i.value("state", "") == "running" && i["connection"].is_object() &&
         i["connection"].value("state", "") == "open";
}

// Whether `host` runs `profile` with its socket open, by `status` (the
// event stream is lossy under load: NNG drops a slow subscriber's messages).
inline bool open_on(const Supervisor& host, const std::string& profile) {
  return open_in(host.call({{"cmd", "status"}, {"profile", profile}}));
}

}  // namespace harness
