#include "write_gate.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <cstdint>
#include <ctime>

namespace wa::store {

struct WriteGate::Shared {
  uint64_t magic;
  // The boot the mutex was set up in. Robust-mutex recovery happens when a
  // holder's thread exits; a holder lost to a power cut or a reboot never
  // exits, and its stale owner word would make every writer wait the whole
  // timeout forever after. A file from another boot is set up afresh.
  char boot_id[40];
  pthread_mutex_t mutex;
  // Group flush (write_gate.hpp); a new boot starts both at 0, and every
  // commit before it is on disk or gone.
  uint64_t commits;
  uint64_t flushed;
};

namespace {

// Changes whenever Shared's layout does (a file from another build is
// re-initialised, never misread).
constexpr uint64_t kMagic = 0x7761'6761'7465'0003ULL;  // "wagate" v3
constexpr size_t kFileSize = 4096;

bool init_mutex(pthread_mutex_t* m) {
  pthread_mutexattr_t a;
  if (pthread_mutexattr_init(&a) != 0) return false;
  bool ok = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
            pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
            // A relock by the holder answers EDEADLK instead of hanging.
            pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) == 0 && pthread_mutex_init(m, &a) == 0;
  pthread_mutexattr_destroy(&a);
  return ok;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// This boot's id (36 characters), or empty when the kernel does not say.
std::string boot_id() {
  std::string id(36, '\0');
  Fd f{::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0 || ::read(f.fd, id.data(), id.size()) != static_cast<ssize_t>(id.size())) return {};
  return id;
}

}  // namespace

std::unique_ptr<WriteGate> WriteGate::open(const std::string& db_path) {
  const std::string path = db_path + "-wlock";
  Fd f{::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (f.fd < 0) return nullptr;
  struct stat st {};
  // The same checks as the database itself: ours, a regular file, private.
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) return nullptr;
  if ((st.st_mode & 07777) != 0600 && ::fchmod(f.fd, 0600) != 0) return nullptr;
  // Initialisation is serialised by flock: the first opener (or the one
  // after a crash mid-initialisation: no magic yet) sets the mutex up; no
  // process can be using a mutex whose magic was never written.
  if (::flock(f.fd, LOCK_EX) != 0) return nullptr;
  struct Unflock {
    int fd;
    ~Unflock() { ::flock(fd, LOCK_UN); }
  } unflock{f.fd};
  if (::fstat(f.fd, &st) != 0) return nullptr;
  if (static_cast<size_t>(st.st_size) < kFileSize && ::ftruncate(f.fd, kFileSize) != 0) return nullptr;
  void* p = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* shared = static_cast<Shared*>(p);
  const std::string boot = boot_id();
  if (__atomic_load_n(&shared->magic, __ATOMIC_ACQUIRE) != kMagic ||
      std::string_view(shared->boot_id, strnlen(shared->boot_id, sizeof shared->boot_id)) != boot) {
    __atomic_store_n(&shared->magic, 0, __ATOMIC_RELEASE);
    if (!init_mutex(&shared->mutex)) {
      ::munmap(p, kFileSize);
      return nullptr;
    }
    __atomic_store_n(&shared->commits, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&shared->flushed, 0, __ATOMIC_RELAXED);
    boot.copy(shared->boot_id, sizeof shared->boot_id - 1);
    shared->boot_id[std::min(boot.size(), sizeof shared->boot_id - 1)] = '\0';
    __atomic_store_n(&shared->magic, kMagic, __ATOMIC_RELEASE);
  }
  return std::unique_ptr<WriteGate>(new WriteGate(shared));
}

WriteGate::~WriteGate() { ::munmap(shared_, kFileSize); }

bool WriteGate::lock(int timeout_ms) {
  timespec until {};
  ::clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1'000'000L;
  if (until.tv_nsec >= 1'000'000'000L) {
    until.tv_sec += 1;
    until.tv_nsec -= 1'000'000'000L;
  }
  int rc = pthread_mutex_clocklock(&shared_->mutex, CLOCK_MONOTONIC, &until);
  if (rc == EOWNERDEAD) {
    // The holder died inside its transaction; SQLite rolls that back by
    // itself (its locks died with the process). The gate is just free.
    pthread_mutex_consistent(&shared_->mutex);
    return true;
  }
  return rc == 0;
}

void WriteGate::unlock() { pthread_mutex_unlock(&shared_->mutex); }

// Sequentially consistent: a commit's number must be taken after its frames
// were written, and a flusher's look at the newest number before its fsync.
uint64_t WriteGate::note_commit() { return __atomic_add_fetch(&shared_->commits, 1, __ATOMIC_SEQ_CST); }

uint64_t WriteGate::newest_commit() const { return __atomic_load_n(&shared_->commits, __ATOMIC_SEQ_CST); }

bool WriteGate::flushed_through(uint64_t n) const { return __atomic_load_n(&shared_->flushed, __ATOMIC_SEQ_CST) >= n; }

void WriteGate::note_flushed(uint64_t n) {
  uint64_t seen = __atomic_load_n(&shared_->flushed, __ATOMIC_SEQ_CST);
  // Only forward: a slower flush that started earlier must not move it back.
  while (seen < n && !__atomic_compare_exchange_n(&shared_->flushed, &seen, n, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
}

}  // namespace wa::store
