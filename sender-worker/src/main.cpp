// wa-sender: one conversation's send pipeline, exec'd only by wa-supervisor
// when the connection worker asks for it. It holds no durable state beyond
// the profile's store: it pulls one job at a time from the connection worker
// (serial within the conversation), asks the worker for the iq round trips
// and the relay, and reports the result.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "pipeline.hpp"
#include "wa/ipc/worker_process.hpp"
#include "wa/log.hpp"
#include "wa/contract/settings.hpp"
#include "wa/profile.hpp"
#include "wa/build_info.hpp"

int main(int argc, char** argv) {
  CLI::App app{"wa-sender: one conversation's sender (started by wa-supervisor)"};
  app.set_version_flag("--version", std::string("wa-sender ") + wa::kVersion);
  std::string link, profile, conversation, data_dir, store;
  int parent = 0, pgid = 0;
  app.add_option("--link", link, "the connection worker's sender socket URL")->required();
  app.add_option("--profile", profile, "profile name")->required();
  app.add_option("--conversation", conversation, "the conversation (JID) this sender serves")->required();
  app.add_option("--data-dir", data_dir, "the data directory (the profile's store is <data-dir>/<profile>/store.db)");
  app.add_option("--store", store,
                 "the profile's store when not <data-dir>/<profile>/store.db (postgres:TOKEN:PROFILE:CONNINFO_FILE)");
  app.add_option("--parent-pid", parent, "the supervisor's pid")->required();
  app.add_option("--pgid", pgid, "the instance's process group")->required();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug | info | warn | error (the supervisor's level)");
  CLI11_PARSE(app, argc, argv);

  if (auto st = wa::validate_profile_name(profile); !st) {
    std::fprintf(stderr, "wa-sender: %s\n", st.error().message.c_str());
    return 64;
  }
  if (wa::log::Level level{}; wa::log::parse_level(log_level, level)) wa::log::set_level(level);
  std::string tag = "wa-sender[" + profile + "]";
  wa::log::set_tag(tag.c_str());
  if (auto st = wa::ipc::become_worker(parent, pgid); !st) {
    WA_ERROR("%s", st.error().message.c_str());
    return 64;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // The account's own log (`wactl logs`); its connection worker made the directory.
  if (!data_dir.empty()) (void)wa::log::set_file(wa::contract::account_log_path(data_dir, profile));
  wa::sender::Pipeline p(profile, conversation, data_dir, store);
  if (auto st = p.connect(link); !st) {
    WA_ERROR("%s", st.error().message.c_str());
    return 1;
  }
  return p.run();
}
