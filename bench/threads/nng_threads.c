/* Threads an NNG process runs once a socket exists: Debian's libnng1 against
 * the project's rebuild (scripts/bench/threads.sh runs it with the real and
 * a forced core count). */
#include <dirent.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  nng_socket s;
  if (argc < 2 || nng_pair1_open(&s) != 0 || nng_listen(s, argv[1], NULL, 0) != 0) return 1;
  /* NNG starts its pools at the first socket; give the threads time to appear. */
  usleep(200000);
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == NULL) return 1;
  for (struct dirent* e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  printf("%ld %d\n", sysconf(_SC_NPROCESSORS_ONLN), n);
  nng_close(s);
  return 0;
}
