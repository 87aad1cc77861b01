#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // Sanitizer builds: the workers inherit this (see the connection tests' lsan.supp).
  ::setenv("LSAN_OPTIONS", "suppressions=" WA_LSAN_SUPP ":print_suppressions=0", 0);
  return doctest::Context(argc, argv).run();
}
