#include "wa/ipc/worker_process.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace wa::ipc {

Status become_worker(pid_t expected_parent, pid_t pgid) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    return fail("os_error", std::string("prctl: ") + std::strerror(errno));
  if (::getppid() != expected_parent) return fail("orphaned", "the supervisor is gone");
  // A sender whose connection worker group vanished meanwhile stays in the
  // supervisor's group; rest_for_one still reaches it by pid.
  if (::setpgid(0, pgid) != 0 && pgid == 0)
    return fail("os_error", std::string("setpgid: ") + std::strerror(errno));
  return {};
}

}  // namespace wa::ipc
