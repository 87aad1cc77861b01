#include "wa/ipc/child.hpp"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

namespace wa::ipc {

std::string ExitStatus::describe() const {
  if (signal != 0) return "signal " + std::to_string(signal);
  return "exit code " + std::to_string(code);
}

struct Child::Handle {
  uv_process_t proc{};
  OnExit on_exit;
  Child* owner = nullptr;  // null once the Child object is gone
};

Result<std::unique_ptr<Child>> Child::spawn(uv_loop_t* loop, const std::vector<std::string>& argv,
                                            OnExit on_exit, std::span<const int> inherit) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  std::vector<uv_stdio_container_t> stdio(3 + inherit.size());
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  for (size_t i = 0; i < inherit.size(); ++i) {
    stdio[3 + i].flags = UV_INHERIT_FD;
    stdio[3 + i].data.fd = inherit[i];
  }

  auto* h = new Handle{};  // NOLINT: owned by libuv, freed in the close callback
  h->on_exit = std::move(on_exit);
  h->proc.data = h;
  uv_process_options_t opts{};
  opts.file = args[0];
  opts.args = args.data();
  opts.stdio = stdio.data();
  opts.stdio_count = static_cast<int>(stdio.size());
  opts.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
    auto* hh = static_cast<Handle*>(p->data);
    auto cb = std::move(hh->on_exit);
    if (hh->owner != nullptr) {
      hh->owner->handle_ = nullptr;
      hh->owner->exited_ = true;
      hh->owner = nullptr;
      // The callback may destroy the Child: touch nothing of it afterwards.
      if (cb) cb(ExitStatus{status, sig});
    }
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* ph) {
      delete static_cast<Handle*>(ph->data);  // NOLINT
    });
  };
  int rv = uv_spawn(loop, &h->proc, &opts);
  if (rv != 0) {
    // libuv requires closing the handle even when spawn failed.
    uv_close(reinterpret_cast<uv_handle_t*>(&h->proc), [](uv_handle_t* ph) {
      delete static_cast<Handle*>(ph->data);  // NOLINT
    });
    return fail("spawn_failed", "cannot start " + argv[0] + ": " + uv_strerror(rv));
  }
  std::unique_ptr<Child> c(new Child());
  c->handle_ = h;
  h->owner = c.get();
  c->pid_ = h->proc.pid;
  return c;
}

Child::~Child() {
  if (handle_ != nullptr) {
    handle_->owner = nullptr;
    handle_->on_exit = nullptr;
  }
}

bool Child::running() const { return !exited_; }

void Child::kill(int sig) const {
  if (running()) ::kill(pid_, sig);
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

}  // namespace wa::ipc
