// The unit tests' main; with `--zygote <pid>` this binary is instead the
// zygote of test_zygote.cpp (wa::ipc::serve_zygote), and its forked
// "workers" wait for a signal; with `--pause` it is such a worker, exec'd.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "wa/ipc/zygote.hpp"

int main(int argc, char** argv) {
  // An exec'd stand-in worker (when the zygote is not used): waits for its
  // test's signal.
  if (argc >= 2 && std::string_view(argv[1]) == "--pause") {
    for (;;) ::pause();
  }
  if (argc >= 3 && std::string_view(argv[1]) == "--zygote") {
    // A zygote slow to load (WA_TEST_ZYGOTE_DELAY_MS): its "R" comes late.
    if (const char* d = std::getenv("WA_TEST_ZYGOTE_DELAY_MS"))
      ::usleep(static_cast<useconds_t>(std::strtoul(d, nullptr, 10) * 1000));
    const auto worker = wa::ipc::serve_zygote(static_cast<pid_t>(std::strtol(argv[2], nullptr, 10)), argc, argv);
    if (!worker) return 0;  // the test is gone
    // A worker: it dies with its zygote, as a connection worker does, and
    // otherwise waits for its test's signal.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != worker->parent) return 1;
    for (;;) ::pause();
  }
  return doctest::Context(argc, argv).run();
}
