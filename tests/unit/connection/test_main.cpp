#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// LeakSanitizer's suppressions for this binary (read at its start, so not
// from LSAN_OPTIONS set here): libwebsockets 4.1.6 on a foreign libuv loop
// leaves ~10 KB of its own per-thread buffers behind when a context is
// destroyed (tests/process/connection/lsan.supp says the same for the
// workers). Only lws's own allocations are suppressed.
extern "C" const char* __lsan_default_suppressions();
extern "C" const char* __lsan_default_suppressions() { return "leak:libwebsockets.so\n"; }
