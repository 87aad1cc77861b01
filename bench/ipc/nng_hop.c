/* What one request/reply round trip between two processes costs on this
 * machine: over NNG (REQ/REP on ipc://, the project's NNG build, blocking
 * calls on kept aios as a sender worker makes them) and, for the floor under
 * it, over a bare AF_UNIX socket pair. CPU of both processes per round trip,
 * and wall time. A send of ours is four such round trips (docs/BENCHMARKS.md,
 * "Where a send's CPU goes"). scripts/bench/ipc.sh builds and runs it. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kRounds = 20000, kBody = 160 };

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_us(int who) {
  struct rusage r;
  getrusage(who, &r);
  return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static int xfer(nng_socket s, nng_aio* aio, int sending, nng_msg** m) {
  if (sending) {
    nng_aio_set_msg(aio, *m);
    nng_send_aio(s, aio);
  } else {
    nng_recv_aio(s, aio);
  }
  nng_aio_wait(aio);
  if (nng_aio_result(aio) != 0) return -1;
  if (!sending) *m = nng_aio_get_msg(aio);
  return 0;
}

static int run_nng(const char* url) {
  int ready[2];
  if (pipe(ready) != 0) return 1;
  fflush(stdout);  /* the child must not print our buffer again */
  pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    nng_socket s;
    nng_aio *tx, *rx;
    if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0) _exit(2);
    nng_aio_alloc(&tx, NULL, NULL);
    nng_aio_alloc(&rx, NULL, NULL);
    if (write(ready[1], "r", 1) != 1) _exit(5);
    for (int i = 0; i < kRounds + 1; i++) {
      nng_msg* m = NULL;
      if (xfer(s, rx, 0, &m) != 0) _exit(3);
      if (xfer(s, tx, 1, &m) != 0) _exit(4);
    }
    nng_close(s);
    _exit(0);
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) return 1;
  nng_socket s;
  nng_aio *tx, *rx;
  if (nng_req0_open(&s) != 0 || nng_dial(s, url, NULL, 0) != 0) return 1;
  nng_aio_alloc(&tx, NULL, NULL);
  nng_aio_alloc(&rx, NULL, NULL);
  double c0 = 0, t0 = 0;
  for (int i = 0; i < kRounds + 1; i++) {
    if (i == 1) { /* the first round trip connects; not counted */
      c0 = cpu_us(RUSAGE_SELF);
      t0 = now_s();
    }
    nng_msg* m;
    if (nng_msg_alloc(&m, kBody) != 0) return 1;
    memset(nng_msg_body(m), 'x', kBody);
    if (xfer(s, tx, 1, &m) != 0 || xfer(s, rx, 0, &m) != 0) return 1;
    nng_msg_free(m);
  }
  double wall = now_s() - t0, mine = cpu_us(RUSAGE_SELF) - c0;
  int st;
  waitpid(child, &st, 0);
  double theirs = cpu_us(RUSAGE_CHILDREN);
  printf("| NNG REQ/REP, ipc:// | %.1f | %.1f | %.1f |\n", (mine + theirs) / kRounds, mine / kRounds,
         wall * 1e6 / kRounds);
  nng_close(s);
  return 0;
}

static int run_unix(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  double before_children = cpu_us(RUSAGE_CHILDREN);
  fflush(stdout);
  pid_t child = fork();
  char buf[kBody];
  if (child == 0) {
    close(sv[0]);
    for (int i = 0; i < kRounds; i++) {
      if (read(sv[1], buf, kBody) != kBody || write(sv[1], buf, kBody) != kBody) _exit(3);
    }
    _exit(0);
  }
  close(sv[1]);
  memset(buf, 'x', kBody);
  double c0 = cpu_us(RUSAGE_SELF), t0 = now_s();
  for (int i = 0; i < kRounds; i++)
    if (write(sv[0], buf, kBody) != kBody || read(sv[0], buf, kBody) != kBody) return 1;
  double wall = now_s() - t0, mine = cpu_us(RUSAGE_SELF) - c0;
  int st;
  waitpid(child, &st, 0);
  double theirs = cpu_us(RUSAGE_CHILDREN) - before_children;
  printf("| AF_UNIX socket pair, read/write | %.1f | %.1f | %.1f |\n", (mine + theirs) / kRounds, mine / kRounds,
         wall * 1e6 / kRounds);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: nng_hop ipc:///path\n");
    return 1;
  }
  printf("%d round trips of %d bytes, %ld cpu\n\n", kRounds, kBody, sysconf(_SC_NPROCESSORS_ONLN));
  printf("| transport | CPU per round trip, both processes (µs) | of it the caller (µs) | wall per round trip (µs) |\n");
  printf("| --- | --- | --- | --- |\n");
  if (run_unix() != 0) return 1;
  return run_nng(argv[1]);
}
