#include "write_gate.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace wa::store {

struct WriteGate::Shared {
  uint64_t magic;
  pthread_mutex_t mutex;
};

namespace {

// Changes whenever Shared's layout does (a file from another build is
// re-initialised, never misread).
constexpr uint64_t kMagic = 0x7761'6761'7465'0001ULL;  // "wagate" v1
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
  if (__atomic_load_n(&shared->magic, __ATOMIC_ACQUIRE) != kMagic) {
    if (!init_mutex(&shared->mutex)) {
      ::munmap(p, kFileSize);
      return nullptr;
    }
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

}  // namespace wa::store
