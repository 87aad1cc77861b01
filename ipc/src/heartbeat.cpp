#include "wa/ipc/heartbeat.hpp"

#include <fcntl.h>
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

uint64_t HeartbeatPage::beats() const noexcept {
  return word_ == nullptr ? 0 : std::atomic_ref<uint64_t>(*word_).load(std::memory_order_relaxed);
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

void Heartbeat::beat() noexcept {
  if (word_ != nullptr) std::atomic_ref<uint64_t>(*word_).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace wa::ipc
