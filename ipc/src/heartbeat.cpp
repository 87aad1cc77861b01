#include "wa/ipc/heartbeat.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace wa::ipc {
namespace {

// One counter; the mapping is a page whatever we ask.
constexpr size_t kPageBytes = sizeof(uint64_t);

uint64_t* map_word(int fd) {
  void* p = ::mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint64_t*>(p);
}

void unmap_word(uint64_t* w) {
  if (w != nullptr) ::munmap(w, kPageBytes);
}

Error sys_error(const char* what) { return Error{"heartbeat", std::string(what) + ": " + std::strerror(errno)}; }

}  // namespace

Result<HeartbeatPage> HeartbeatPage::create() {
  int fd = ::memfd_create("wa-heartbeat", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Unexpected<Error>{sys_error("memfd_create")};
  // Sealed at its size: the worker cannot shrink it under our mapping (a
  // read past a truncated memfd is SIGBUS).
  if (::ftruncate(fd, kPageBytes) != 0 || ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    Error e = sys_error("sizing the page");
    ::close(fd);
    return Unexpected<Error>{e};
  }
  uint64_t* w = map_word(fd);
  if (w == nullptr) {
    Error e = sys_error("mmap");
    ::close(fd);
    return Unexpected<Error>{e};
  }
  return HeartbeatPage(fd, w);
}

HeartbeatPage::HeartbeatPage(HeartbeatPage&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), word_(std::exchange(o.word_, nullptr)) {}

HeartbeatPage& HeartbeatPage::operator=(HeartbeatPage&& o) noexcept {
  if (this != &o) {
    close_fd();
    unmap_word(word_);
    fd_ = std::exchange(o.fd_, -1);
    word_ = std::exchange(o.word_, nullptr);
  }
  return *this;
}

HeartbeatPage::~HeartbeatPage() {
  close_fd();
  unmap_word(word_);
}

void HeartbeatPage::close_fd() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

// The word: the turn count above bit 0, "parked" in bit 0. Only the worker
// writes it; each write is one whole store, so a read is never torn.
LoopState HeartbeatPage::read() const noexcept {
  const uint64_t w = word_ == nullptr ? 0 : std::atomic_ref<uint64_t>(*word_).load(std::memory_order_relaxed);
  return LoopState{w >> 1, (w & 1u) != 0};
}

Result<Heartbeat> Heartbeat::attach(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Unexpected<Error>{sys_error("the heartbeat fd")};
  if (!S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(kPageBytes)) {
    ::close(fd);
    return Unexpected<Error>{Error{"heartbeat", "fd " + std::to_string(fd) + " is not a heartbeat page"}};
  }
  uint64_t* w = map_word(fd);
  Error e = w == nullptr ? sys_error("mmap") : Error{};
  ::close(fd);  // the mapping is enough
  if (w == nullptr) return Unexpected<Error>{e};
  return Heartbeat(w);
}

Heartbeat::Heartbeat(Heartbeat&& o) noexcept : word_(std::exchange(o.word_, nullptr)) {}

Heartbeat& Heartbeat::operator=(Heartbeat&& o) noexcept {
  if (this != &o) {
    unmap_word(word_);
    word_ = std::exchange(o.word_, nullptr);
  }
  return *this;
}

Heartbeat::~Heartbeat() { unmap_word(word_); }

LoopWatch::Verdict LoopWatch::observe(LoopState s, Clock::time_point now, std::chrono::milliseconds timeout) noexcept {
  if (s.turns != turns_) {
    turns_ = s.turns;
    last_turn_ = now;
  }
  if (silent(now) < timeout) return Verdict::fine;
  return s.parked ? Verdict::parked_long : Verdict::busy_too_long;
}

void Heartbeat::park() noexcept {
  if (word_ == nullptr) return;
  std::atomic_ref<uint64_t> w(*word_);
  w.store(w.load(std::memory_order_relaxed) | 1u, std::memory_order_relaxed);
}

void Heartbeat::wake() noexcept {
  if (word_ == nullptr) return;
  std::atomic_ref<uint64_t> w(*word_);
  // (w | 1) + 1: bit 0 cleared, the count above it one higher.
  w.store((w.load(std::memory_order_relaxed) | 1u) + 1u, std::memory_order_relaxed);
}

void WatchedLoop::run() {
  const int fd = uv_backend_fd(loop_);
  heartbeat_.wake();
  while (!stopped_ && uv_run(loop_, UV_RUN_NOWAIT) != 0 && !stopped_) {
    // 0: something is due now (a pending callback, an idle handle); -1:
    // nothing timed, wait for I/O alone.
    const int timeout = uv_backend_timeout(loop_);
    if (timeout != 0) {
      pollfd p{fd, POLLIN, 0};
      heartbeat_.park();
      (void)::poll(&p, 1, timeout);  // EINTR (a signal, SIGCONT): just another turn
    }
    heartbeat_.wake();
  }
}

}  // namespace wa::ipc
