// What every worker does first: die with the supervisor, and join its
// instance's process group.
#pragma once

#include <sys/types.h>

#include "wa/result.hpp"

namespace wa::ipc {

// Sets PR_SET_PDEATHSIG(SIGKILL), then re-checks that the parent is still
// `expected_parent` (it may have died before the prctl). With pgid == 0 the
// process leads a new group (the connection worker); otherwise it joins
// `pgid` (a sender joins its connection worker's group).
Status become_worker(pid_t expected_parent, pid_t pgid);

}  // namespace wa::ipc
