// Every registry command has exactly one handler, in the process the
// registry says it runs in (the binaries refuse to start otherwise).
#include <doctest/doctest.h>

#include "supervisor.hpp"
#include "worker.hpp"

TEST_CASE("every command has its handler where the registry says it runs, and no handler is unregistered") {
  auto sup = wa::supervisor::Supervisor::missing_handlers();
  auto worker = wa::connection::Worker::missing_handlers();
  CHECK_MESSAGE(sup.empty(), (sup.empty() ? "" : sup.front()));
  CHECK_MESSAGE(worker.empty(), (worker.empty() ? "" : worker.front()));
}
