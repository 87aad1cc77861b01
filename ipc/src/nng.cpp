#include "wa/ipc/nng.hpp"

#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/transport/ipc/ipc.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wa::ipc {

std::string nng_error_text(int rv) { return nng_strerror(rv); }

Msg Msg::from(ByteView body) {
  nng_msg* m = nullptr;
  if (nng_msg_alloc(&m, body.size()) != 0) return Msg{};
  if (!body.empty()) std::memcpy(nng_msg_body(m), body.data(), body.size());
  return Msg{m};
}

Result<Socket> open_socket(Protocol p) {
  nng_socket s = NNG_SOCKET_INITIALIZER;
  int rv = 0;
  switch (p) {
    case Protocol::rep: rv = nng_rep0_open(&s); break;
    case Protocol::req: rv = nng_req0_open(&s); break;
    case Protocol::pub: rv = nng_pub0_open(&s); break;
    case Protocol::sub: rv = nng_sub0_open(&s); break;
    case Protocol::pair1: rv = nng_pair1_open(&s); break;
  }
  if (rv != 0) return fail("ipc_error", "cannot open socket: " + nng_error_text(rv));
  return Socket{s};
}

Status listen_private(const Socket& s, const std::string& url, int mode) {
  nng_listener l;
  int rv = nng_listener_create(&l, s.get(), url.c_str());
  if (rv != 0) return fail("ipc_error", "cannot listen on " + url + ": " + nng_error_text(rv));
  if (url.rfind("ipc://", 0) == 0) {
    rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, mode);
    if (rv != 0) return fail("ipc_error", "cannot set permissions on " + url + ": " + nng_error_text(rv));
  }
  rv = nng_listener_start(l, 0);
  if (rv != 0) return fail("ipc_error", "cannot listen on " + url + ": " + nng_error_text(rv));
  return {};
}

namespace {
void reject_other_uids(nng_pipe p, nng_pipe_ev, void*) {
  uint64_t uid = 0;
  if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0 || uid != ::geteuid()) {
    nng_pipe_close(p);
  }
}
}  // namespace

Status require_same_uid(const Socket& s) {
  int rv = nng_pipe_notify(s.get(), NNG_PIPE_EV_ADD_PRE, reject_other_uids, nullptr);
  if (rv != 0) return fail("ipc_error", "cannot install peer check: " + nng_error_text(rv));
  return {};
}

namespace {

// Membership by the group database: the peer's credentials carry only its
// primary group, so supplementary membership is read from /etc/group (NSS).
bool user_in_group(uid_t uid, gid_t gid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return false;
  if (pw.pw_gid == gid) return true;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) == -1) {
    if (n <= static_cast<int>(groups.size()) || n > 65536) return false;
    groups.resize(static_cast<size_t>(n));
  }
  return std::find(groups.begin(), groups.begin() + n, gid) != groups.begin() + n;
}

// The group travels in the callback's argument (gid + 1, so 0 stays "none").
void reject_non_operators(nng_pipe p, nng_pipe_ev, void* arg) {
  const auto gid = static_cast<gid_t>(reinterpret_cast<uintptr_t>(arg) - 1);
  uint64_t uid = 0, pgid = 0;
  if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0) {
    nng_pipe_close(p);
    return;
  }
  if (uid == ::geteuid() || uid == 0) return;
  if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_GID, &pgid) == 0 && pgid == gid) return;
  if (user_in_group(static_cast<uid_t>(uid), gid)) return;
  nng_pipe_close(p);
}

}  // namespace

Status listen_restricted(const Socket& s, const std::string& url, const PeerAccess& access) {
  if (!access.group) {
    WA_TRY(require_same_uid(s));
    return listen_private(s, url);
  }
  void* arg = reinterpret_cast<void*>(static_cast<uintptr_t>(*access.group) + 1);
  int rv = nng_pipe_notify(s.get(), NNG_PIPE_EV_ADD_PRE, reject_non_operators, arg);
  if (rv != 0) return fail("ipc_error", "cannot install peer check: " + nng_error_text(rv));
  WA_TRY(listen_private(s, url, 0660));
  const std::string path = url.rfind("ipc://", 0) == 0 ? url.substr(6) : url;
  if (::chown(path.c_str(), static_cast<uid_t>(-1), *access.group) != 0)
    return fail("ipc_error", "cannot give " + path + " to the operator group: " + std::strerror(errno));
  return {};
}

Status dial(const Socket& s, const std::string& url, bool blocking) {
  int rv = nng_dial(s.get(), url.c_str(), nullptr, blocking ? 0 : NNG_FLAG_NONBLOCK);
  if (rv != 0) return fail("ipc_error", "cannot connect to " + url + ": " + nng_error_text(rv));
  return {};
}

Status set_ms(const Socket& s, const char* opt, int ms) {
  int rv = nng_socket_set_ms(s.get(), opt, ms);
  if (rv != 0) return fail("ipc_error", std::string("cannot set ") + opt + ": " + nng_error_text(rv));
  return {};
}

Status set_size(const Socket& s, const char* opt, size_t v) {
  int rv = nng_socket_set_size(s.get(), opt, v);
  if (rv != 0) return fail("ipc_error", std::string("cannot set ") + opt + ": " + nng_error_text(rv));
  return {};
}

Status set_int(const Socket& s, const char* opt, int v) {
  int rv = nng_socket_set_int(s.get(), opt, v);
  if (rv != 0) return fail("ipc_error", std::string("cannot set ") + opt + ": " + nng_error_text(rv));
  return {};
}

nng_aio* Socket::reusable(AioPtr& slot) noexcept {
  if (!slot) {
    nng_aio* a = nullptr;
    if (nng_aio_alloc(&a, nullptr, nullptr) != 0) return nullptr;
    slot.reset(a);
  }
  // The socket's send / receive timeout as it is now, as nng_sendmsg would
  // use: NNG replaces "default" with the socket's value on the aio itself,
  // so it is asked for again before every operation.
  nng_aio_set_timeout(slot.get(), NNG_DURATION_DEFAULT);
  return slot.get();
}

Status send_bytes(const Socket& s, ByteView body) {
  nng_aio* aio = s.send_aio();
  Msg m = Msg::from(body);
  if (aio == nullptr || m.get() == nullptr) return fail("ipc_error", "out of memory");
  nng_aio_set_msg(aio, m.get());
  nng_send_aio(s.get(), aio);
  nng_aio_wait(aio);
  int rv = nng_aio_result(aio);
  // A failed send leaves the message ours (freed by m).
  nng_aio_set_msg(aio, nullptr);
  if (rv != 0) return fail(rv == NNG_ETIMEDOUT ? "timeout" : "ipc_error", nng_error_text(rv));
  m.release();
  return {};
}

Result<Bytes> recv_bytes(const Socket& s) {
  nng_aio* aio = s.recv_aio();
  if (aio == nullptr) return fail("ipc_error", "out of memory");
  nng_recv_aio(s.get(), aio);
  nng_aio_wait(aio);
  int rv = nng_aio_result(aio);
  if (rv != 0) return fail(rv == NNG_ETIMEDOUT ? "timeout" : "ipc_error", nng_error_text(rv));
  Msg m{nng_aio_get_msg(aio)};
  nng_aio_set_msg(aio, nullptr);
  auto b = m.body();
  return Bytes(b.begin(), b.end());
}

}  // namespace wa::ipc
