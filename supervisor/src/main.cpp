// wa-supervisor: keeps many WhatsApp accounts connected, each in its own
// process tree. Foreground, logs to stderr; SIGTERM/SIGINT shut down in
// order (senders, then connection workers).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "config.hpp"
#include "supervisor.hpp"
#include "wa/log.hpp"
#include "wa/build_info.hpp"

int main(int argc, char** argv) {
  CLI::App app{"wa-supervisor: supervises WhatsApp Web multi-device accounts"};
  app.set_version_flag("--version", std::string("wa-supervisor ") + wa::kVersion);
  std::string config_path;
  bool verbose = false;
  app.add_option("--config", config_path, "configuration file (JSON)")->required();
  app.add_flag("-v,--verbose", verbose, "debug logging");
  CLI11_PARSE(app, argc, argv);

  ::signal(SIGPIPE, SIG_IGN);
  wa::log::set_tag("wa-supervisor");
  if (verbose) wa::log::set_level(wa::log::Level::debug);

  auto config = wa::supervisor::load_config(config_path);
  if (!config) {
    WA_ERROR("%s", config.error().message.c_str());
    return 78;  // EX_CONFIG: systemd should not restart into the same error
  }
  if (!verbose) {
    wa::log::Level level{};
    if (wa::log::parse_level(config->log_level, level)) wa::log::set_level(level);
  }
  wa::supervisor::Supervisor sup(std::move(*config));
  return sup.run();
}
