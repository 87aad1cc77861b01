#include "wa/ipc/addresses.hpp"

#include <unistd.h>

#include <cstdlib>

#include "wa/profile.hpp"

namespace wa::ipc {

std::string control_url(const std::string& run_dir) { return "ipc://" + run_dir + "/control.ipc"; }
std::string events_url(const std::string& run_dir) { return "ipc://" + run_dir + "/events.ipc"; }
std::string instance_dir(const std::string& run_dir, const std::string& profile) {
  return run_dir + "/i/" + profile;
}
std::string link_url(const std::string& dir) { return "ipc://" + dir + "/link.ipc"; }
std::string senders_url(const std::string& dir) { return "ipc://" + dir + "/senders.ipc"; }

std::string default_run_dir() {
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && x[0] == '/')
    return std::string(x) + "/wa-supervisor";
  return "/tmp/wa-supervisor-" + std::to_string(::geteuid());
}

Status check_run_dir(const std::string& run_dir) {
  // Longest socket path: <run_dir>/i/<profile>/senders.ipc
  constexpr size_t kSuffix = 3 + kMaxProfileName + 12;
  if (run_dir.size() + kSuffix > kMaxIpcPath)
    return fail("bad_config", "run_dir is too long for unix socket paths (at most " +
                                  std::to_string(kMaxIpcPath - kSuffix) + " characters)");
  if (run_dir.empty() || run_dir[0] != '/') return fail("bad_config", "run_dir must be an absolute path");
  return {};
}

}  // namespace wa::ipc
