// wa-connection: one per account, started by wa-supervisor: forked by the
// zygote (this binary run as `wa-connection --zygote PID`) or exec'd.
#include <dlfcn.h>
#include <lws_config.h>
#include <malloc.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <utility>

#include "wa/ipc/heartbeat.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/worker_process.hpp"
#include "wa/ipc/zygote.hpp"
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
// soon after the start, then now and then (on the first turn after each
// mark): a trim of a small heap costs microseconds on the loop thread.
constexpr uint64_t kFirstTrimMs = 15000;
constexpr uint64_t kTrimEveryMs = 60000;

// What every worker would otherwise load or build for itself, done once in
// the zygote so that its workers share it copy-on-write: every symbol bound
// now (LD_BIND_NOW: a lazily bound library writes its GOT page on first use
// in each worker), OpenSSL's algorithms fetched, SQLite initialised. No
// thread, no randomness (a forked worker must draw its own), no socket.
void preload() {
  (void)wa::crypto::sha256({});
  (void)wa::crypto::sha512({});
  (void)wa::crypto::hmac_sha256({}, {});
  (void)wa::crypto::hkdf_sha256({}, {}, {}, 32);
  const uint8_t key[32]{}, iv[16]{};
  (void)wa::crypto::aes_gcm_encrypt(key, std::span(iv, 12), {}, {});
  (void)wa::crypto::aes_cbc_encrypt(key, iv, {});
  (void)wa::crypto::aes_ctr(key, iv, {});
  (void)sqlite3_initialize();
  // libwebsockets loads its libuv glue as a plugin for each context it
  // makes (one per worker); loaded here, that is a reference, not a fresh
  // mapping and relocation in every worker. The handle is kept for the
  // zygote's life (and so its workers').
#if defined(LWS_WITH_EVLIB_PLUGINS)
  (void)::dlopen(LWS_INSTALL_LIBDIR "/libwebsockets-evlib_uv.so", RTLD_NOW | RTLD_NODELETE);
#endif
}

// `wa-connection --zygote SUPERVISOR_PID [room]`: serves the supervisor's
// spawn requests (wa/ipc/zygote.hpp) and returns only in a forked worker,
// with that worker's argv; the zygote itself exits from here.
int run_worker(int argc, char** argv, pid_t forked_by);

int zygote_main(int argc, char** argv) {
  if (::getenv("LD_BIND_NOW") == nullptr) {
    // Bind every symbol before the first fork (see preload); the socket at
    // fd 3 survives the exec.
    // By its real path: exec'd as /proc/self/exe its name (comm) would be "exe".
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = '\0';
      ::setenv("LD_BIND_NOW", "1", 1);
      ::execv(self, argv);
      ::unsetenv("LD_BIND_NOW");
    }
    // Could not re-exec: serve with lazy binding, which only costs memory.
  }
  const pid_t supervisor = static_cast<pid_t>(std::strtol(argv[2], nullptr, 10));
  wa::log::set_tag("wa-zygote");
  preload();
  auto forked = wa::ipc::serve_zygote(supervisor, argc, argv);
  if (!forked) return 0;
  std::vector<char*> args;
  for (auto& a : forked->argv) args.push_back(a.data());
  args.push_back(nullptr);
  return run_worker(static_cast<int>(forked->argv.size()), args.data(), forked->parent);
}
}  // namespace

int main(int argc, char** argv) {
  limit_arenas();
  if (argc >= 3 && std::string_view(argv[1]) == "--zygote") return zygote_main(argc, argv);
  return run_worker(argc, argv, 0);
}

namespace {
// `forked_by`: the zygote that forked us (our parent, whose death is ours),
// or 0 when exec'd by the supervisor itself.
int run_worker(int argc, char** argv, pid_t forked_by) {
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
  if (auto st = wa::ipc::become_worker(forked_by != 0 ? forked_by : parent, 0); !st) {
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
  {
    // On a turn the loop makes anyway (a keepalive), never a wakeup of its own.
    uint64_t next_trim = uv_now(&loop) + kFirstTrimMs;
    wa::ipc::EveryTurn trim(&loop, [&loop, &next_trim] {
      if (uv_now(&loop) < next_trim) return;
      (void)malloc_trim(0);
      next_trim = uv_now(&loop) + kTrimEveryMs;
    });
    // Liveness: the loop is run by WatchedLoop, which tells the supervisor
    // through the page when it is parked and when it turns.
    wa::ipc::WatchedLoop watched(&loop, std::move(*heartbeat));
    wa::connection::Worker worker(&loop, profile, link, [&watched] { watched.stop(); });
    if (auto st = worker.start(); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      return 1;
    }
    sigterm.data = &worker;
    uv_signal_start(&sigterm, [](uv_signal_t* h, int) {
      static_cast<wa::connection::Worker*>(h->data)->shutdown();
      uv_signal_stop(h);
    }, SIGTERM);
    watched.run();
    rc = worker.exit_code();
    uv_signal_stop(&sigterm);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
  }
  // The worker's destructor destroyed the websocket context; libwebsockets
  // closes its libuv handles from the loop, so let it run before sweeping up
  // whatever is left (closing lws's handles ourselves would close them twice).
  for (int i = 0; i < 1000 && uv_loop_alive(&loop) != 0; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  wa::ipc::close_loop(&loop);
  return rc;
}
}  // namespace
