// wa-webhooks: delivers every profile's durable event log to the webhooks
// the supervisor knows (config `webhooks` and webhook_create), at least once
// and in order per profile. A client of the control and event sockets: its
// crash never touches an account, and it keeps no state (the cursors are
// the supervisor's), so kill -9 and a restart resume where the last 2xx
// was acknowledged.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "deliverer.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/build_info.hpp"
#include "wa/bytes.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"

int main(int argc, char** argv) {
  CLI::App app{"wa-webhooks: delivers the supervisor's event logs to HTTP webhooks"};
  app.set_version_flag("--version", std::string("wa-webhooks ") + wa::kVersion);
  std::string config_path;
  bool verbose = false;
  int scan_ms = 5000;
  app.add_option("--config", config_path, "the supervisor's configuration file (JSON): run_dir, log_level")->required();
  app.add_option("--scan-ms", scan_ms, "how often to re-read the webhooks and cursors (ms)")->check(CLI::Range(50, 600000));
  app.add_flag("-v,--verbose", verbose, "debug logging");
  CLI11_PARSE(app, argc, argv);

  ::signal(SIGPIPE, SIG_IGN);
  wa::log::set_tag("wa-webhooks");
  if (verbose) wa::log::set_level(wa::log::Level::debug);

  // Only where the sockets are (and the log level): the webhooks and their
  // delivery settings come validated from the supervisor (webhook_list).
  auto text = wa::fs::read_file(config_path, 1 << 20);
  if (!text) {
    WA_ERROR("%s", text.error().message.c_str());
    return 78;
  }
  auto cfg = wa::ipc::parse_json_text(wa::as_bytes(*text), "config");
  if (!cfg || !cfg->is_object()) {
    WA_ERROR("%s: not a JSON object", config_path.c_str());
    return 78;
  }
  std::string run_dir = wa::ipc::default_run_dir();
  if (auto r = cfg->find("run_dir"); r != cfg->end()) {
    if (!r->is_string() || r->get_ref<const std::string&>().empty() || r->get_ref<const std::string&>()[0] != '/') {
      WA_ERROR("config field 'run_dir': must be an absolute path");
      return 78;
    }
    run_dir = r->get<std::string>();
  }
  if (auto l = cfg->find("log_level"); !verbose && l != cfg->end() && l->is_string()) {
    wa::log::Level level{};
    if (wa::log::parse_level(l->get<std::string>(), level)) wa::log::set_level(level);
  }
  // Two deliverers would each POST every batch: one per run dir.
  auto lock = wa::fs::lock_file(run_dir + "/webhooks.lock");
  if (!lock) {
    WA_ERROR("cannot lock %s/webhooks.lock (another wa-webhooks, or no run dir yet): %s", run_dir.c_str(),
             lock.error().message.c_str());
    return 75;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  // Before anything starts: a SIGTERM during start-up stops the loop at once
  // instead of killing the process. Closed by close_loop, so they live here.
  uv_signal_t sigterm{}, sigint{};
  uv_signal_init(&loop, &sigterm);
  uv_signal_init(&loop, &sigint);
  auto on_signal = [](uv_signal_t* h, int signum) {
    WA_INFO("signal %d: stopping", signum);
    uv_stop(h->loop);
  };
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  int rc = 0;
  {
    wa::ipc::LoopBridge bridge(&loop);
    auto deliverer = std::make_unique<wa::webhooks::Deliverer>(&loop, bridge, run_dir, scan_ms);
    if (auto st = deliverer->start(); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      rc = 71;
    } else {
      WA_INFO("delivering webhooks for %s", run_dir.c_str());
      uv_run(&loop, UV_RUN_DEFAULT);
      // What is in flight is simply not acknowledged: the next start sends it again.
    }
    // Closing a socket while an event or reply is half read hangs NNG 1.5's
    // nng_close for good; the exit closes them instead.
    deliverer->leave_sockets_to_exit();
    deliverer.reset();  // its clients post through the bridge: gone before it closes
    bridge.close();
  }
  wa::ipc::close_loop(&loop);
  return rc;
}
