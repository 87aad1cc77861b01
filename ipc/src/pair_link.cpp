#include "wa/ipc/pair_link.hpp"

#include "wa/log.hpp"

namespace wa::ipc {

PairLink::PairLink(LoopBridge& bridge, Socket sock, OnMessage on_message)
    : bridge_(bridge), sock_(std::move(sock)), on_message_(std::move(on_message)),
      alive_(std::make_shared<PairLink*>(this)) {}

PairLink::~PairLink() {
  {
    std::lock_guard lk(mu_);
    closing_ = true;
    outbox_.clear();
  }
  *alive_ = nullptr;
  // The aios stop before the socket closes: the receive callback re-arms
  // itself, and one running during the close could start a receive on the
  // closing socket, after which nng_close (NNG 1.5) may never return.
  for (nng_aio* a : {recv_aio_, send_aio_})
    if (a != nullptr) nng_aio_stop(a);
  sock_.close();
  for (nng_aio* a : {recv_aio_, send_aio_}) {
    if (a != nullptr) {
      Msg leftover{nng_aio_get_msg(a)};
      nng_aio_free(a);
    }
  }
}

Status PairLink::start() {
  int rv = nng_aio_alloc(&recv_aio_, &PairLink::on_recv, this);
  if (rv == 0) rv = nng_aio_alloc(&send_aio_, &PairLink::on_sent, this);
  if (rv != 0) return fail("ipc_error", "cannot allocate aio: " + nng_error_text(rv));
  nng_aio_set_msg(send_aio_, nullptr);
  nng_recv_aio(sock_.get(), recv_aio_);
  return {};
}

Result<std::unique_ptr<PairLink>> PairLink::listen(LoopBridge& bridge, const std::string& url,
                                                   OnMessage on_message) {
  auto s = open_socket(Protocol::pair1);
  if (!s) return Unexpected<Error>{s.error()};
  std::unique_ptr<PairLink> link(new PairLink(bridge, std::move(*s), std::move(on_message)));
  if (auto st = require_same_uid(link->sock_); !st) return Unexpected<Error>{st.error()};
  if (auto st = listen_private(link->sock_, url); !st) return Unexpected<Error>{st.error()};
  if (auto st = link->start(); !st) return Unexpected<Error>{st.error()};
  return link;
}

Result<std::unique_ptr<PairLink>> PairLink::dial(LoopBridge& bridge, const std::string& url,
                                                 OnMessage on_message) {
  auto s = open_socket(Protocol::pair1);
  if (!s) return Unexpected<Error>{s.error()};
  std::unique_ptr<PairLink> link(new PairLink(bridge, std::move(*s), std::move(on_message)));
  if (auto st = ipc::dial(link->sock_, url, true); !st) return Unexpected<Error>{st.error()};
  if (auto st = link->start(); !st) return Unexpected<Error>{st.error()};
  return link;
}

void PairLink::on_recv(void* arg) {
  auto* self = static_cast<PairLink*>(arg);
  int rv = nng_aio_result(self->recv_aio_);
  if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;
  if (rv == 0) {
    // Take ownership and clear the aio's pointer, so nothing frees it twice.
    Msg m{nng_aio_get_msg(self->recv_aio_)};
    nng_aio_set_msg(self->recv_aio_, nullptr);
    auto b = m.body();
    self->bridge_.post([alive = self->alive_, body = Bytes(b.begin(), b.end())]() mutable {
      if (PairLink* link = *alive) link->on_message_(std::move(body));
    });
  }
  nng_recv_aio(self->sock_.get(), self->recv_aio_);
}

void PairLink::send(Bytes body) {
  std::lock_guard lk(mu_);
  if (closing_) return;
  outbox_.push_back(std::move(body));
  if (!sending_) send_next_locked();
}

void PairLink::flush(std::function<void()> done) {
  std::lock_guard lk(mu_);
  flush_waiters_.push_back(std::move(done));
  if (!sending_ && outbox_.empty()) release_flush_waiters_locked();
}

void PairLink::release_flush_waiters_locked() {
  for (auto& w : std::exchange(flush_waiters_, {})) bridge_.post(std::move(w));
}

void PairLink::send_next_locked() {
  if (outbox_.empty()) {
    sending_ = false;
    release_flush_waiters_locked();
    return;
  }
  Msg m = Msg::from(outbox_.front());
  outbox_.pop_front();
  sending_ = true;
  nng_aio_set_msg(send_aio_, m.release());
  nng_send_aio(sock_.get(), send_aio_);
}

void PairLink::on_sent(void* arg) {
  auto* self = static_cast<PairLink*>(arg);
  int rv = nng_aio_result(self->send_aio_);
  // On success NNG owns (and frees) the message; on failure it is still ours.
  Msg unsent{rv != 0 ? nng_aio_get_msg(self->send_aio_) : nullptr};
  nng_aio_set_msg(self->send_aio_, nullptr);
  if (rv != 0) {
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
      std::lock_guard lk(self->mu_);
      self->release_flush_waiters_locked();  // nothing more will leave
      return;
    }
    WA_WARN("link: send failed: %s", nng_error_text(rv).c_str());
  }
  std::lock_guard lk(self->mu_);
  if (self->closing_) return;
  self->send_next_locked();
}

Result<std::unique_ptr<Publisher>> Publisher::listen(const std::string& url, const PeerAccess& access) {
  auto s = open_socket(Protocol::pub);
  if (!s) return Unexpected<Error>{s.error()};
  if (auto st = listen_restricted(*s, url, access); !st) return Unexpected<Error>{st.error()};
  return std::unique_ptr<Publisher>(new Publisher(std::move(*s)));
}

void Publisher::publish(ByteView body) {
  Msg m = Msg::from(body);
  if (m.get() == nullptr) return;
  if (nng_sendmsg(sock_.get(), m.get(), NNG_FLAG_NONBLOCK) == 0) m.release();
}

}  // namespace wa::ipc
