#include "wa/ipc/async_client.hpp"

#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <unordered_map>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "wa/log.hpp"

namespace wa::ipc {

namespace {

Error nng_failure(int rv, int timeout_ms) {
  if (rv == NNG_ETIMEDOUT)
    return Error{"timeout", "the supervisor did not answer within " + std::to_string(timeout_ms) +
                                " ms (is it running?)"};
  return Error{"ipc_error", "control socket: " + nng_error_text(rv)};
}

}  // namespace

// One request: its own context (REQ matches the reply to it) and aio. Owned
// by Impl::reqs on the loop thread; the aio callback only reads it and posts.
struct AsyncControlClient::Impl {
  struct Req {
    Impl* owner = nullptr;
    uint64_t id = 0;
    nng_ctx ctx{};
    bool ctx_open = false;
    nng_aio* aio = nullptr;
    bool sending = true;
    int timeout_ms = 0;
    std::chrono::steady_clock::time_point deadline;
    RawCallback cb;
    ~Req() {
      if (aio != nullptr) {
        nng_aio_stop(aio);  // waits for a callback still running
        Msg left{nng_aio_get_msg(aio)};  // a request never taken by the socket
        nng_aio_set_msg(aio, nullptr);
        nng_aio_free(aio);
      }
      if (ctx_open) nng_ctx_close(ctx);
    }
  };

  explicit Impl(LoopBridge& b) : bridge(b) {}
  ~Impl() {
    // Stop the aios before closing the socket: a callback running during the
    // close could otherwise start another operation on the closing socket,
    // and nng_close (NNG 1.5) then waited forever (seen under load).
    for (auto& [id, r] : reqs)
      if (r->aio != nullptr) nng_aio_stop(r->aio);
    if (leave_open)
      sock.leave_open();
    else
      sock.close();
    reqs.clear();  // frees them
  }

  static void on_aio(void* arg);
  void finish(Req* r, Result<std::string> res);

  LoopBridge& bridge;
  std::weak_ptr<Impl> self;
  Socket sock;
  bool leave_open = false;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Req>> reqs;
};

void AsyncControlClient::Impl::finish(Req* r, Result<std::string> res) {
  bridge.post([w = self, id = r->id, res = std::move(res)]() mutable {
    auto s = w.lock();
    if (!s) return;
    auto it = s->reqs.find(id);
    if (it == s->reqs.end()) return;
    RawCallback cb = std::move(it->second->cb);
    s->reqs.erase(it);
    if (cb) cb(std::move(res));
  });
}

// NNG thread.
void AsyncControlClient::Impl::on_aio(void* arg) {
  auto* r = static_cast<Req*>(arg);
  int rv = nng_aio_result(r->aio);
  if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
    if (r->sending) {
      Msg left{nng_aio_get_msg(r->aio)};
      nng_aio_set_msg(r->aio, nullptr);
    }
    return;  // the client is going away; nobody waits for this answer
  }
  if (r->sending) {
    r->sending = false;
    if (rv != 0) {
      Msg left{nng_aio_get_msg(r->aio)};
      nng_aio_set_msg(r->aio, nullptr);
      r->owner->finish(r, Unexpected<Error>{nng_failure(rv, r->timeout_ms)});
      return;
    }
    nng_aio_set_msg(r->aio, nullptr);  // the socket owns the request now
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        r->deadline - std::chrono::steady_clock::now()).count();
    nng_aio_set_timeout(r->aio, static_cast<nng_duration>(std::max<int64_t>(1, left)));
    nng_ctx_recv(r->ctx, r->aio);
    return;
  }
  if (rv != 0) {
    r->owner->finish(r, Unexpected<Error>{nng_failure(rv, r->timeout_ms)});
    return;
  }
  Msg m{nng_aio_get_msg(r->aio)};
  nng_aio_set_msg(r->aio, nullptr);
  r->owner->finish(r, std::string(as_chars(m.body())));
}

Result<std::unique_ptr<AsyncControlClient>> AsyncControlClient::connect(LoopBridge& bridge,
                                                                        const std::string& url) {
  auto impl = std::make_shared<Impl>(bridge);
  impl->self = impl;
  auto s = open_socket(Protocol::req);
  if (!s) return Unexpected<Error>{s.error()};
  impl->sock = std::move(*s);
  WA_TRY(set_size(impl->sock, NNG_OPT_RECVMAXSZ, 64u << 20));
  WA_TRY(dial(impl->sock, url, false));
  return std::unique_ptr<AsyncControlClient>(new AsyncControlClient(std::move(impl)));
}

AsyncControlClient::~AsyncControlClient() = default;

size_t AsyncControlClient::in_flight() const { return impl_->reqs.size(); }

void AsyncControlClient::leave_socket_to_exit() { impl_->leave_open = true; }

void AsyncControlClient::request_raw(std::string text, int timeout_ms, RawCallback cb) {
  auto fail_later = [this, &cb](Error e) {
    impl_->bridge.post([cb = std::move(cb), e = std::move(e)] { cb(Unexpected<Error>{e}); });
  };
  // NNG would drop it with the connection, and we would wait for an answer
  // that cannot come.
  if (text.size() > kControlTransportMax) {
    fail_later(Error{"too_large", "request is larger than " + std::to_string(kControlRequestMax) +
                                      " bytes (not sent)"});
    return;
  }
  auto r = std::make_unique<Impl::Req>();
  r->owner = impl_.get();
  r->id = impl_->next_id++;
  r->timeout_ms = std::max(1, timeout_ms);
  r->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(r->timeout_ms);
  r->cb = std::move(cb);
  int rv = nng_ctx_open(&r->ctx, impl_->sock.get());
  if (rv == 0) {
    r->ctx_open = true;
    rv = nng_aio_alloc(&r->aio, &Impl::on_aio, r.get());
  }
  Msg m = rv == 0 ? Msg::from(as_bytes(text)) : Msg{};
  if (rv != 0 || m.get() == nullptr) {
    RawCallback c = std::move(r->cb);
    cb = std::move(c);
    fail_later(Error{"ipc_error", "cannot start a control request: " + nng_error_text(rv != 0 ? rv : NNG_ENOMEM)});
    return;
  }
  Impl::Req* raw = r.get();
  impl_->reqs.emplace(raw->id, std::move(r));
  nng_aio_set_timeout(raw->aio, raw->timeout_ms);
  nng_aio_set_msg(raw->aio, m.release());
  nng_ctx_send(raw->ctx, raw->aio);
}

void AsyncControlClient::request(const json& req, int timeout_ms, Callback cb) {
  request_raw(dump_json(req), timeout_ms, [cb = std::move(cb)](Result<std::string> r) {
    if (!r) return cb(Unexpected<Error>{r.error()});
    auto j = parse_json_text(as_bytes(*r), "reply");
    if (!j) return cb(fail("bad_reply", "the supervisor sent a reply that is not JSON"));
    if (auto st = check_reply(*j); !st) return cb(Unexpected<Error>{st.error()});
    cb(std::move(*j));
  });
}

// The subscriber: one aio receiving in a loop on NNG's threads; each message
// is handed to the loop thread as bytes and parsed there.
struct AsyncEventSubscriber::Impl {
  explicit Impl(LoopBridge& b, Callback c) : bridge(b), cb(std::move(c)) {}
  ~Impl() {
    // The receive loop first (it re-arms itself), then the socket: closing
    // first let a callback in flight re-arm on the closing socket, and
    // nng_close then never returned (seen under load, NNG 1.5).
    if (aio != nullptr) nng_aio_stop(aio);
    if (leave_open)
      sock.leave_open();
    else
      sock.close();
    if (aio != nullptr) nng_aio_free(aio);
  }
  static void on_aio(void* arg);
  void deliver(std::string text);

  LoopBridge& bridge;
  Callback cb;
  std::weak_ptr<Impl> self;
  Socket sock;
  bool leave_open = false;
  nng_aio* aio = nullptr;
  std::atomic<uint64_t> dropped{0};
};

void AsyncEventSubscriber::Impl::on_aio(void* arg) {
  auto* s = static_cast<Impl*>(arg);
  int rv = nng_aio_result(s->aio);
  if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;
  if (rv == 0) {
    Msg m{nng_aio_get_msg(s->aio)};
    nng_aio_set_msg(s->aio, nullptr);
    s->bridge.post([w = s->self, text = std::string(as_chars(m.body()))]() mutable {
      if (auto p = w.lock()) p->deliver(std::move(text));
    });
  }
  nng_recv_aio(s->sock.get(), s->aio);
}

void AsyncEventSubscriber::Impl::deliver(std::string text) {
  auto sp = text.find(' ');
  if (sp == std::string::npos || sp == 0) {
    dropped.fetch_add(1);
    return;
  }
  auto j = parse_json_text(as_bytes(std::string_view(text).substr(sp + 1)), "event");
  if (!j || !j->is_object()) {
    dropped.fetch_add(1);
    return;
  }
  cb(text.substr(0, sp), std::move(*j));
}

Result<std::unique_ptr<AsyncEventSubscriber>> AsyncEventSubscriber::connect(LoopBridge& bridge,
                                                                            const std::string& url,
                                                                            const std::string& profile,
                                                                            Callback cb) {
  auto impl = std::make_shared<Impl>(bridge, std::move(cb));
  impl->self = impl;
  auto s = open_socket(Protocol::sub);
  if (!s) return Unexpected<Error>{s.error()};
  impl->sock = std::move(*s);
  std::string topic = profile.empty() ? std::string() : profile + " ";
  int rv = nng_socket_set(impl->sock.get(), NNG_OPT_SUB_SUBSCRIBE, topic.data(), topic.size());
  if (rv != 0) return fail("ipc_error", "cannot subscribe: " + nng_error_text(rv));
  WA_TRY(set_size(impl->sock, NNG_OPT_RECVMAXSZ, 64u << 20));
  rv = nng_aio_alloc(&impl->aio, &Impl::on_aio, impl.get());
  if (rv != 0) return fail("ipc_error", "cannot allocate aio: " + nng_error_text(rv));
  WA_TRY(dial(impl->sock, url, false));
  nng_recv_aio(impl->sock.get(), impl->aio);
  return std::unique_ptr<AsyncEventSubscriber>(new AsyncEventSubscriber(std::move(impl)));
}

AsyncEventSubscriber::~AsyncEventSubscriber() = default;

uint64_t AsyncEventSubscriber::dropped() const { return impl_->dropped.load(); }

void AsyncEventSubscriber::leave_socket_to_exit() { impl_->leave_open = true; }

}  // namespace wa::ipc
