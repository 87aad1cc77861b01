// wa-connection: exec'd only by wa-supervisor, one per account.
#include <malloc.h>
#include <signal.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <utility>

#include "wa/ipc/heartbeat.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/worker_process.hpp"
#include "wa/log.hpp"
#include "wa/profile.hpp"
#include "worker.hpp"
#include "wa/build_info.hpp"

namespace {
// Memory per account (thousands of workers on one host, docs/BENCHMARKS.md):
// glibc gives every thread that allocates its own arena, and NNG's threads
// all allocate (messages); two arenas are plenty for one loop thread and a
// few I/O threads. Set before any thread exists.
void limit_arenas() { (void)mallopt(M_ARENA_MAX, 2); }

// The start (store open, login, the offline queue) and each burst later
// leave freed heap that glibc keeps; an idle worker hands it back. First
// soon after the start, then now and then: a trim of a small heap costs
// microseconds on the loop thread.
constexpr uint64_t kFirstTrimMs = 15000;
constexpr uint64_t kTrimEveryMs = 60000;
}  // namespace

int main(int argc, char** argv) {
  limit_arenas();
  CLI::App app{"wa-connection: one account's connection worker (started by wa-supervisor)"};
  app.set_version_flag("--version", std::string("wa-connection ") + wa::kVersion);
  std::string link, profile;
  int parent = 0;
  int heartbeat_fd = -1;
  app.add_option("--link", link, "supervisor link URL")->required();
  app.add_option("--profile", profile, "profile name")->required();
  app.add_option("--parent-pid", parent, "the supervisor's pid")->required();
  app.add_option("--heartbeat-fd", heartbeat_fd, "the inherited fd of the liveness page")->required();
  CLI11_PARSE(app, argc, argv);

  if (auto st = wa::validate_profile_name(profile); !st) {
    std::fprintf(stderr, "wa-connection: %s\n", st.error().message.c_str());
    return 64;
  }
  std::string tag = "wa-connection[" + profile + "]";
  wa::log::set_tag(tag.c_str());
  if (auto st = wa::ipc::become_worker(parent, 0); !st) {
    WA_ERROR("%s", st.error().message.c_str());
    return 64;
  }
  auto heartbeat = wa::ipc::Heartbeat::attach(heartbeat_fd);
  if (!heartbeat) {
    WA_ERROR("%s", heartbeat.error().message.c_str());
    return 64;
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (auto missing = wa::connection::Worker::missing_handlers(); !missing.empty()) {
    // A registry entry without its handler is a build defect: say which.
    WA_ERROR("account commands without a handler here, or misplaced: %s", missing.front().c_str());
    return 70;  // EX_SOFTWARE
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  uv_signal_t sigterm;
  uv_signal_init(&loop, &sigterm);
  uv_timer_t trim;
  uv_timer_init(&loop, &trim);
  uv_unref(reinterpret_cast<uv_handle_t*>(&trim));  // never what keeps the loop alive
  uv_timer_start(&trim, [](uv_timer_t*) { (void)malloc_trim(0); }, kFirstTrimMs, kTrimEveryMs);
  {
    wa::connection::Worker worker(&loop, profile, link, std::move(*heartbeat));
    if (auto st = worker.start(); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      return 1;
    }
    sigterm.data = &worker;
    uv_signal_start(&sigterm, [](uv_signal_t* h, int) {
      static_cast<wa::connection::Worker*>(h->data)->shutdown();
      uv_signal_stop(h);
    }, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = worker.exit_code();
    uv_signal_stop(&sigterm);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    uv_timer_stop(&trim);
    uv_close(reinterpret_cast<uv_handle_t*>(&trim), nullptr);
  }
  // The worker's destructor destroyed the websocket context; libwebsockets
  // closes its libuv handles from the loop, so let it run before sweeping up
  // whatever is left (closing lws's handles ourselves would close them twice).
  for (int i = 0; i < 1000 && uv_loop_alive(&loop) != 0; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  wa::ipc::close_loop(&loop);
  return rc;
}
