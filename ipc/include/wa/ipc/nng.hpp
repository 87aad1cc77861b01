// RAII around NNG handles. Each wrapper owns exactly one handle and closes
// it in its destructor; moves transfer ownership.
#pragma once

#include <nng/nng.h>

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::ipc {

std::string nng_error_text(int rv);

// An owned nng_msg*.
class Msg {
 public:
  Msg() = default;
  explicit Msg(nng_msg* m) noexcept : m_(m) {}
  static Msg from(ByteView body);
  Msg(Msg&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Msg& operator=(Msg&& o) noexcept {
    if (this != &o) {
      reset();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  Msg(const Msg&) = delete;
  Msg& operator=(const Msg&) = delete;
  ~Msg() { reset(); }

  nng_msg* get() const noexcept { return m_; }
  nng_msg* release() noexcept { return std::exchange(m_, nullptr); }
  void reset() noexcept {
    if (m_ != nullptr) nng_msg_free(std::exchange(m_, nullptr));
  }
  ByteView body() const noexcept {
    return {static_cast<const uint8_t*>(nng_msg_body(m_)), nng_msg_len(m_)};
  }
  nng_pipe pipe() const noexcept { return nng_msg_get_pipe(m_); }

 private:
  nng_msg* m_ = nullptr;
};

// An owned nng_socket.
class Socket {
 public:
  Socket() = default;
  explicit Socket(nng_socket s) noexcept : s_(s), open_(true) {}
  Socket(Socket&& o) noexcept
      : s_(o.s_), open_(std::exchange(o.open_, false)), send_aio_(std::move(o.send_aio_)),
        recv_aio_(std::move(o.recv_aio_)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      close();
      s_ = o.s_;
      open_ = std::exchange(o.open_, false);
      send_aio_ = std::move(o.send_aio_);
      recv_aio_ = std::move(o.recv_aio_);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  nng_socket get() const noexcept { return s_; }
  bool is_open() const noexcept { return open_; }
  void close() noexcept {
    if (open_) {
      nng_close(s_);
      open_ = false;
    }
    send_aio_.reset();
    recv_aio_.reset();
  }
  // Forgets the socket unclosed: the process's exit closes its descriptors.
  void leave_open() noexcept { open_ = false; }

  // The aio of the blocking send_bytes (recv_bytes), made on first use and
  // kept: nng_sendmsg / nng_recvmsg allocate one per call, and NNG 1.5 draws
  // a random number for each (a getrandom(2) per message). So a Socket's
  // blocking sends are for one thread at a time, and so are its receives.
  nng_aio* send_aio() const noexcept { return reusable(send_aio_); }
  nng_aio* recv_aio() const noexcept { return reusable(recv_aio_); }

 private:
  struct AioFree {
    void operator()(nng_aio* a) const noexcept { nng_aio_free(a); }
  };
  using AioPtr = std::unique_ptr<nng_aio, AioFree>;
  static nng_aio* reusable(AioPtr& slot) noexcept;

  nng_socket s_ = NNG_SOCKET_INITIALIZER;
  bool open_ = false;
  mutable AioPtr send_aio_;
  mutable AioPtr recv_aio_;
};

enum class Protocol { rep, req, pub, sub, pair1 };
Result<Socket> open_socket(Protocol p);

// Listen on an ipc:// URL with the socket file created at `mode` (0600):
// NNG_OPT_IPC_PERMISSIONS only takes effect through listener_create/start.
Status listen_private(const Socket& s, const std::string& url, int mode = 0600);
// Reject every pipe whose peer runs under another uid (checked before the
// pipe is added, so no message from it is ever read).
Status require_same_uid(const Socket& s);

// Who may use a public socket (control, events). By default only our own
// uid (socket file 0600). With an operator group, the file is 0660 in that
// group, and a peer is accepted when it is our uid, root, or a member of
// the group (its primary group or the group database) — so operators in
// the group use wactl without root, and nobody else.
struct PeerAccess {
  std::optional<gid_t> group;
};
Status listen_restricted(const Socket& s, const std::string& url, const PeerAccess& access);
Status dial(const Socket& s, const std::string& url, bool blocking);
Status set_ms(const Socket& s, const char* opt, int ms);
Status set_size(const Socket& s, const char* opt, size_t v);
Status set_int(const Socket& s, const char* opt, int v);

// Blocking helpers for simple clients (wactl, tests, senders): through the
// socket's kept aios, so one thread at a time per direction.
Status send_bytes(const Socket& s, ByteView body);
Result<Bytes> recv_bytes(const Socket& s);

}  // namespace wa::ipc
