/* What one wakeup of a sleeping process costs on this machine, at best: a
 * process with hot caches sleeping 5 ms 400 times, its CPU time divided by
 * the wakeups. An idle worker's wakeup costs at least this (docs/BENCHMARKS.md,
 * idle accounts). */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

int main(void) {
  const int n = 400;
  struct timespec ts = {0, 5000000};
  for (int i = 0; i < n; i++) nanosleep(&ts, NULL);
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  const long us = (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000L + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
  printf("%d wakeups: %ld us of CPU, %.1f us per wakeup\n", n, us, (double)us / n);
  return 0;
}
