// wa-http: the HTTP API, event streams, metrics and dashboard of a running
// wa-supervisor, as a client of its control and event sockets. A separate
// process so that its crash, or a flood of HTTP clients, never touches an
// account (docs/ARCHITECTURE.md, "wa-http").
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config.hpp"
#include "server.hpp"
#include "wa/build_info.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/child.hpp"
#include "wa/log.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: wa-http --config FILE      serve the HTTP API of the supervisor configured in FILE\n"
    "       wa-http hash-token         print a new random token and the sha256 line for http.tokens\n"
    "       wa-http --version | --help\n"
    "\n"
    "Reads run_dir and the \"http\" section of the supervisor's config file (docs/CONTROL.md, HTTP API).\n";

std::string dashboard_dir(const wa::http::HttpConfig& cfg) {
  if (!cfg.dashboard_dir.empty()) return cfg.dashboard_dir;
  // Installed: share/wa-supervisor/dashboard relative to bin/; in the build
  // tree: the source directory.
  std::error_code ec;
  const std::string installed = wa::ipc::self_dir() + "/" + WA_DASHBOARD_FROM_BIN;
  if (std::filesystem::is_regular_file(installed + "/index.html", ec)) return installed;
  if (std::filesystem::is_regular_file(std::string(WA_DASHBOARD_SOURCE_DIR) + "/index.html", ec))
    return WA_DASHBOARD_SOURCE_DIR;
  return {};
}

int hash_token() {
  auto raw = wa::crypto::random_bytes(32);
  std::string token = "wa_" + wa::http::hex(raw.data(), raw.size());
  auto d = wa::crypto::sha256(wa::as_bytes(token));
  std::printf("token:  %s\nsha256: %s\n", token.c_str(), wa::http::hex(d.data(), d.size()).c_str());
  std::printf("config: {\"name\": \"NAME\", \"sha256\": \"%s\", \"scopes\": [\"read\"], \"profiles\": [\"*\"]}\n",
              wa::http::hex(d.data(), d.size()).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("wa-http %s\n", wa::kVersion);
      return 0;
    }
    if (a == "hash-token" && argc == 2) return hash_token();
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
      continue;
    }
    std::fprintf(stderr, "wa-http: unknown argument '%s'\n%s", a.c_str(), kUsage);
    return 64;
  }
  if (config_path.empty()) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  std::ifstream f(config_path);
  if (!f) {
    WA_ERROR("cannot read %s", config_path.c_str());
    return 66;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  auto cfg = wa::http::parse_http_config(ss.str());
  if (!cfg) {
    WA_ERROR("%s", cfg.error().message.c_str());
    return 78;  // EX_CONFIG
  }
  if (cfg->tokens.empty()) WA_WARN("http.tokens is empty: only /healthz, /readyz and /openapi.json answer");
  ::signal(SIGPIPE, SIG_IGN);
  lws_set_log_level(LLL_ERR, nullptr);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    const std::string dash = dashboard_dir(*cfg);
    const bool tls = !cfg->tls_cert.empty();
    wa::http::Server server(&loop, *cfg, dash);
    // Whatever ends the loop ends the program.
    server.leave_sockets_to_exit();
    if (auto st = server.start(); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      rc = 69;
    } else {
      WA_INFO("wa-http: listening on %s://%s:%d (dashboard: %s)", tls ? "https" : "http", cfg->host.c_str(),
              server.port(), dash.empty() ? "none" : dash.c_str());
      struct Stop {
        wa::http::Server* server;
        uv_signal_t term, intr;
      } stop{&server, {}, {}};
      uv_signal_init(&loop, &stop.term);
      uv_signal_init(&loop, &stop.intr);
      stop.term.data = stop.intr.data = &stop;
      // Either signal stops the server and closes both handles, so the loop
      // runs out once lws and NNG have let go.
      auto on_sig = [](uv_signal_t* h, int) {
        auto* ctl = static_cast<Stop*>(h->data);
        ctl->server->stop();
        for (uv_signal_t* s : {&ctl->term, &ctl->intr})
          if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
      };
      uv_signal_start(&stop.term, on_sig, SIGTERM);
      uv_signal_start(&stop.intr, on_sig, SIGINT);
      uv_run(&loop, UV_RUN_DEFAULT);
      WA_INFO("wa-http: stopped");
    }
    server.stop();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  return rc;
}
