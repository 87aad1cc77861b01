// Tests against the run's PostgreSQL cluster (tests/support/pg_server.sh,
// started once per ctest run by the `pg.start` fixture). The cluster's
// state file is named by WA_TEST_PG_STATE; a test that needs the cluster
// and finds none fails, saying so, rather than passing without it.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace wa::test {

inline std::string pg_conninfo() {
  const char* state = std::getenv("WA_TEST_PG_STATE");
  if (!state || !*state)
    throw std::runtime_error("WA_TEST_PG_STATE is not set: run through ctest (fixture pg.start)");
  std::ifstream in(state);
  std::string line;
  if (!std::getline(in, line) || line.empty())
    throw std::runtime_error(std::string("no PostgreSQL cluster state in ") + state + " (did pg.start run?)");
  return line;
}

// A profile name no other test (of any process of this run) uses.
inline std::string pg_unique_profile(const std::string& prefix) {
  static std::atomic<int> n{0};
  static const unsigned salt = std::random_device{}();
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(salt % 100000) + "-" + std::to_string(++n);
}

// A database of its own, for a test whose supervisors place accounts
// cluster-wide: in the shared one they would take up other tests' profiles
// (as they should in a real cluster). Returns its connection string.
inline std::string pg_fresh_database(const std::string& prefix) {
  const std::string base = pg_conninfo();
  const std::string name = prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}() % 100000);
  PGconn* c = PQconnectdb(base.c_str());
  PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string why = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("CREATE DATABASE " + name + ": " + why);
  return base.substr(0, base.find("dbname=")) + "dbname=" + name;
}

}  // namespace wa::test
