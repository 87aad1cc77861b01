// wa-store-migrate: moves one profile between its SQLite file and the
// deployment's PostgreSQL database (docs/ARCHITECTURE.md, "Cluster"). The
// profile's lease is claimed for the copy, so an account running on any
// host stops the move instead of racing it; stop the instance first (on a
// SQLite host: `wactl stop PROFILE`). The source is left as it was.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "wa/build_info.hpp"
#include "wa/profile.hpp"
#include "wa/store/lease.hpp"
#include "wa/store/migrate.hpp"
#include "wa/store/postgres_store.hpp"

namespace {

int failed(const wa::Error& e) {
  std::fprintf(stderr, "wa-store-migrate: %s: %s\n", e.code.c_str(), e.message.c_str());
  return 1;
}

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "wa-store-migrate";
  return std::string("wa-store-migrate@") + name;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wa-store-migrate: move a profile between SQLite and PostgreSQL"};
  app.set_version_flag("--version", std::string("wa-store-migrate ") + wa::kVersion);
  std::string profile, data_dir, conninfo_file;
  app.add_option("--profile", profile, "the profile to move")->required();
  app.add_option("--data-dir", data_dir, "the data directory (the SQLite file is <data-dir>/<profile>/store.db)")
      ->required();
  app.add_option("--conninfo-file", conninfo_file,
                 "file (mode 0600) holding the PostgreSQL connection string; default: $WA_PG_CONNINFO");
  auto* to_pg = app.add_subcommand("to-postgres", "copy the SQLite file into PostgreSQL (the profile must be new there)");
  auto* to_sqlite = app.add_subcommand("to-sqlite", "copy the profile out of PostgreSQL into a new SQLite file");
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  if (auto st = wa::validate_profile_name(profile); !st) return failed(st.error());
  auto info = wa::store::pg_conninfo(conninfo_file);
  if (!info) return failed(info.error());
  auto leases = wa::store::LeaseTable::open(*info);
  if (!leases) return failed(leases.error());
  const std::string host = this_host();
  auto lease = leases->claim(profile, host, 10 * 60 * 1000);
  if (!lease) return failed(lease.error());
  if (!*lease) {
    std::string owner = "another host";
    if (auto all = leases->all())
      for (const auto& l : *all)
        if (l.profile == profile) owner = "host " + l.owner;
    return failed({"instance_running", "the account runs on " + owner + ": stop it there first"});
  }
  const std::string path = data_dir + "/" + profile + "/store.db";
  auto report = to_pg->parsed() ? wa::store::sqlite_to_postgres(path, *info, profile, (*lease)->token)
                                 : wa::store::postgres_to_sqlite(*info, profile, path);
  // Given back either way: the next start (on any host) claims it anew.
  (void)leases->release(profile, host, (*lease)->token);
  if (!report) return failed(report.error());
  std::printf("{\"profile\": \"%s\", \"to\": \"%s\", \"rows\": %zu, \"last_seq\": %lld}\n", profile.c_str(),
              to_sqlite->parsed() ? "sqlite" : "postgres", report->rows, static_cast<long long>(report->last_seq));
  return 0;
}
