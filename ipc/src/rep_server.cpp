#include "wa/ipc/rep_server.hpp"

#include "wa/log.hpp"

namespace wa::ipc {

namespace {
// Keep at least this many contexts waiting for new requests; beyond it a
// context is created on demand, up to kMaxSlots in-flight requests.
constexpr int kSpareReceivers = 2;
constexpr size_t kMaxSlots = 4096;
}  // namespace

struct RepServer::Slot {
  RepServer* owner = nullptr;
  nng_ctx ctx{};
  nng_aio* aio = nullptr;
  bool sending = false;
  std::function<void()> on_sent;
  ~Slot() {
    if (aio != nullptr) {
      nng_aio_stop(aio);
      nng_aio_free(aio);
    }
    nng_ctx_close(ctx);
  }
};

RepServer::RepServer(LoopBridge& bridge, Socket sock, Handler handler)
    : bridge_(bridge), sock_(std::move(sock)), handler_(std::move(handler)) {}

RepServer::~RepServer() {
  // Every aio stops before the socket closes: a callback running during the
  // close would re-arm a receive on the closing socket, and nng_close then
  // never returned (seen under load, NNG 1.5).
  for (auto& s : slots_)
    if (s->aio != nullptr) nng_aio_stop(s->aio);
  sock_.close();
  slots_.clear();  // frees them
}

Result<std::unique_ptr<RepServer>> RepServer::listen(LoopBridge& bridge, Socket sock,
                                                     const std::string& url, Handler handler,
                                                     const PeerAccess& access) {
  std::unique_ptr<RepServer> s(new RepServer(bridge, std::move(sock), std::move(handler)));
  if (auto st = listen_restricted(s->sock_, url, access); !st) return Unexpected<Error>{st.error()};
  for (int i = 0; i < kSpareReceivers + 2; ++i) {
    if (auto st = s->add_slot(); !st) return Unexpected<Error>{st.error()};
  }
  return s;
}

Status RepServer::add_slot() {
  auto slot = std::make_unique<Slot>();
  slot->owner = this;
  int rv = nng_ctx_open(&slot->ctx, sock_.get());
  if (rv != 0) return fail("ipc_error", "cannot open context: " + nng_error_text(rv));
  rv = nng_aio_alloc(&slot->aio, &RepServer::on_aio, slot.get());
  if (rv != 0) return fail("ipc_error", "cannot allocate aio: " + nng_error_text(rv));
  Slot* raw = slot.get();
  slots_.push_back(std::move(slot));
  receiving_.fetch_add(1);
  nng_ctx_recv(raw->ctx, raw->aio);
  return {};
}

void RepServer::on_aio(void* arg) {
  auto* slot = static_cast<Slot*>(arg);
  RepServer* self = slot->owner;
  int rv = nng_aio_result(slot->aio);
  if (slot->sending) {
    slot->sending = false;
    if (rv != 0) {
      // The requester went away: the reply cannot be delivered. Free it.
      Msg dropped{nng_aio_get_msg(slot->aio)};
    }
    nng_aio_set_msg(slot->aio, nullptr);
    if (auto cb = std::exchange(slot->on_sent, nullptr)) self->bridge_.post(std::move(cb));
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;  // closing, or stopped by ~RepServer
    self->receiving_.fetch_add(1);
    nng_ctx_recv(slot->ctx, slot->aio);
    return;
  }
  if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;  // never re-armed while the server goes
  if (rv != 0) {
    nng_ctx_recv(slot->ctx, slot->aio);
    return;
  }
  self->receiving_.fetch_sub(1);
  Msg msg{nng_aio_get_msg(slot->aio)};
  nng_aio_set_msg(slot->aio, nullptr);
  self->bridge_.post([self, slot, alive = std::weak_ptr<const bool>(self->alive_),
                      m = std::make_shared<Msg>(std::move(msg))]() mutable {
    if (alive.expired()) return;  // the server was destroyed while this waited in the loop's queue
    self->on_received(slot, std::move(*m));
  });
}

void RepServer::on_received(Slot* slot, Msg msg) {
  if (receiving_.load() < kSpareReceivers && slots_.size() < kMaxSlots) {
    if (auto st = add_slot(); !st) WA_WARN("control: %s", st.error().message.c_str());
  }
  auto req = std::make_shared<PendingRequest>();
  req->slot_ = slot;
  req->server_ = alive_;
  auto b = msg.body();
  req->body_.assign(b.begin(), b.end());
  handler_(std::move(req));
}

PendingRequest::~PendingRequest() {
  if (slot_ != nullptr && !server_.expired()) {
    WA_WARN("control: request dropped without a reply");
    reply({});
  }
}

void PendingRequest::reply(ByteView body, std::function<void()> on_sent) {
  if (slot_ == nullptr) return;
  auto* slot = static_cast<RepServer::Slot*>(slot_);
  slot_ = nullptr;
  if (server_.expired()) return;  // the slot was freed with its server
  Msg m = Msg::from(body);
  slot->sending = true;
  slot->on_sent = std::move(on_sent);
  nng_aio_set_msg(slot->aio, m.release());
  nng_ctx_send(slot->ctx, slot->aio);
}

}  // namespace wa::ipc
