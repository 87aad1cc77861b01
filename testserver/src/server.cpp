#include "server.hpp"

#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <list>

#include "phone.hpp"
#include "wa/binary/codec.hpp"
#include "wa/binary/frame.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/log.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/proto/client_payload.pb.h"
#include "wa/proto/adv.pb.h"

namespace wa::testserver {

using binary::Jid;
using binary::Node;
using json = admin::json;

namespace {

constexpr const char* kServerJid = "@s.whatsapp.net";
constexpr size_t kMaxClientFrame = 4u << 20;  // a client stanza past 4 MB is abuse
constexpr size_t kMaxQueuedOut = 64u << 20;   // per connection, before we drop the client
constexpr int kHandshakeTimeoutS = 20;        // what both reference clients allow themselves
constexpr int kPairingTimeoutS = 160;         // 6 refs: 60 s + 5 x 20 s, as the real server
// Offline delivery: batch sizes a client may ask for, how long to wait for
// its first request, and how long an unanswered batch may hold the next one.
constexpr size_t kDefaultOfflineBatch = 100;
constexpr size_t kMaxOfflineBatch = 1000;
constexpr uint64_t kOfflineBatchWaitMs = 1000;
constexpr uint64_t kOfflineBatchStallMs = 2000;
// Below this many one-time prekeys a device is told to upload more (the
// reference clients' MIN_PREKEY_COUNT).
constexpr size_t kPreKeyLowMark = 5;

uint64_t now_unix() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

Bytes be(uint32_t v, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

std::optional<uint32_t> from_be(const Bytes* b, size_t max_len) {
  if (!b || b->empty() || b->size() > max_len) return std::nullopt;
  uint32_t v = 0;
  for (uint8_t x : *b) v = (v << 8) | x;
  return v;
}

Node result_for(const Node& iq) {
  Node r("iq", {{"id", std::string(iq.attr_or("id", ""))}, {"type", "result"},
                {"from", std::string(iq.attr_or("to", kServerJid))}});
  return r;
}

Node error_for(const Node& iq, int code, const std::string& text) {
  Node r("iq", {{"id", std::string(iq.attr_or("id", ""))}, {"type", "error"},
                {"from", std::string(iq.attr_or("to", kServerJid))}});
  r.content = binary::Children{Node("error", {{"code", std::to_string(code)}, {"text", text}})};
  return r;
}

Node bytes_node(std::string tag, Bytes b) { return Node(std::move(tag), {}, std::move(b)); }

}  // namespace

struct Conn {
  uint64_t id = 0;
  lws* wsi = nullptr;
  binary::FrameSplitter splitter{binary::SplitterOptions{kMaxClientFrame, true, 4096}};
  std::optional<noise::NoiseResponder> hs;
  int hs_step = 0;
  std::optional<noise::TransportCipher> tc;
  std::deque<Bytes> out;  // each with LWS_PRE headroom
  size_t out_bytes = 0;
  bool closing = false;
  // After a stream error the client gets a moment to read it and close
  // itself: a client that processes frames asynchronously (Baileys) may see
  // the socket close first and lose the reason.
  bool linger = false;
  std::unique_ptr<ipc::Timer> linger_timer;
  bool authed = false;
  DeviceAddr addr;
  // registration (new companion)
  bool registering = false;
  Bytes reg_identity, reg_skey_pub, reg_skey_sig;
  uint32_t reg_regid = 0, reg_skey_id = 0;
  std::string push_name;
  std::vector<std::string> refs;
  // pairing in flight
  std::string pair_iq_id;
  Bytes issued_details;
  std::string pair_phone;
  uint16_t pair_device = 0;
  uint32_t pair_key_index = 0;
  std::shared_ptr<ipc::PendingRequest> pair_admin;
  // link-code pairing
  std::string link_phone;
  Bytes link_companion_eph;
  std::string link_ref;
  crypto::KeyPair link_primary_eph;
  std::string link_code;
  // Stanzas that wait for the client's answer (receipt or ack): held in
  // memory while the device is online and written to its offline queue when
  // the connection ends, so a client that dies before answering gets them
  // again at its next login (as the real server redelivers what was never
  // acknowledged). seq != 0: the stanza is still in the offline queue.
  struct Held {
    std::string cls, id;
    Node node;
    int64_t seq = 0;
    bool in_batch = false;
  };
  std::list<Held> unacked;
  // The offline backlog: loaded at login, sent in the batches the client
  // asks for with <ib><offline_batch count=N/>; live stanzas that arrive
  // meanwhile wait behind it.
  bool draining = false;
  size_t batch_size = 0;  // 0: the client has not asked yet
  size_t batch_unacked = 0;
  size_t offline_total = 0;
  std::deque<Held> backlog;
  std::deque<Held> held_live;
  std::unique_ptr<ipc::Timer> batch_timer;
  // faults
  uint32_t drop_acks = 0;
  uint32_t delay_acks = 0;
  uint32_t delay_ms = 0;
};

static int lws_trampoline(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* ctx = lws_get_context(wsi);
  auto* self = ctx ? static_cast<Server*>(lws_context_user(ctx)) : nullptr;
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return self->on_lws(wsi, static_cast<int>(reason), user, in, len);
}

static const lws_protocols kProtocols[] = {
    {"wa-chat", lws_trampoline, 0, 64 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

Server::Server(uv_loop_t* loop, ServeOptions opts, State state)
    : loop_(loop), opts_(std::move(opts)), state_(std::move(state)) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::start(uv_loop_t* loop, ServeOptions opts, State state) {
  std::unique_ptr<Server> s(new Server(loop, std::move(opts), std::move(state)));
  s->cert_chain_ = s->state_.ca().issue_chain(s->state_.server_static().pub, 2);

  lws_set_log_level(LLL_ERR, nullptr);
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  void* loops[1] = {loop};
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.foreign_loops = loops;
  info.port = s->opts_.port;
  info.iface = s->opts_.host.c_str();
  info.protocols = kProtocols;
  info.user = s.get();
  info.fd_limit_per_thread = s->opts_.fd_limit;
  info.count_threads = 1;
  info.vhost_name = "default";
  s->ctx_ = lws_create_context(&info);
  if (!s->ctx_) return fail("listen_failed", "cannot listen on " + s->opts_.host + ":" + std::to_string(s->opts_.port));
  auto* vh = lws_get_vhost_by_name(s->ctx_, "default");
  s->port_ = vh ? lws_get_vhost_listen_port(vh) : s->opts_.port;

  s->bridge_ = std::make_unique<ipc::LoopBridge>(loop);
  auto sock = ipc::open_socket(ipc::Protocol::rep);
  if (!sock) return Unexpected<Error>{sock.error()};
  WA_TRY(ipc::require_same_uid(*sock));
  Server* raw = s.get();
  auto rep = ipc::RepServer::listen(*s->bridge_, std::move(*sock), admin::socket_url(s->opts_.state_dir),
                                    [raw](std::shared_ptr<ipc::PendingRequest> r) { raw->on_admin(std::move(r)); });
  if (!rep) return Unexpected<Error>{rep.error()};
  s->admin_ = std::move(*rep);
  return s;
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  ack_timers_.clear();
  // Connections first (their CLOSED callbacks answer pending admin requests),
  // then the admin socket those answers need.
  if (ctx_) {
    lws_context_destroy(ctx_);
    ctx_ = nullptr;
  }
  conns_.clear();
  online_.clear();
  refs_.clear();
  admin_.reset();
  if (bridge_) bridge_->close();
}

std::string Server::next_id() { return "s." + std::to_string(++id_counter_); }

// ---------------------------------------------------------------- transport

int Server::on_lws(lws* wsi, int reason, void* user, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
      char uri[64] = {0};
      if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0) return -1;
      if (std::strcmp(uri, "/ws/chat") != 0) return -1;
      if (stopping_) return -1;
      return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
      auto c = std::make_unique<Conn>();
      c->id = next_conn_id_++;
      c->wsi = wsi;
      c->hs.emplace(state_.server_static(), cert_chain_);
      conns_[wsi] = std::move(c);
      int one = 1;
      (void)setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // A peer that never finishes the handshake must not hold a slot forever.
      lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, kHandshakeTimeoutS);
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      auto it = conns_.find(wsi);
      if (it == conns_.end()) return -1;
      Conn& c = *it->second;
      if (c.closing) return 0;
      on_receive(c, static_cast<const uint8_t*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      auto it = conns_.find(wsi);
      if (it == conns_.end()) return -1;
      Conn& c = *it->second;
      if (c.out.empty()) {
        if (!c.closing) return 0;
        if (c.linger) {
          if (!c.linger_timer) {
            c.linger_timer = std::make_unique<ipc::Timer>(loop_);
            c.linger_timer->start(1000, [this, wsi]() {
              auto lit = conns_.find(wsi);
              if (lit == conns_.end()) return;
              lit->second->linger = false;
              lws_callback_on_writable(wsi);
            });
          }
          return 0;
        }
        return -1;
      }
      // Everything queued goes out as one websocket message: clients split
      // frames themselves, and one write per stanza would cost a syscall and
      // (with Nagle's algorithm) a delayed-ACK stall per frame.
      Bytes buf = std::move(c.out.front());
      c.out.pop_front();
      while (!c.out.empty() && buf.size() < (256u << 10)) {
        const Bytes& next = c.out.front();
        buf.insert(buf.end(), next.begin() + LWS_PRE, next.end());
        c.out.pop_front();
      }
      c.out_bytes = 0;
      for (const auto& b : c.out) c.out_bytes += b.size();
      size_t n = buf.size() - LWS_PRE;
      if (lws_write(wsi, buf.data() + LWS_PRE, n, LWS_WRITE_BINARY) < static_cast<int>(n)) return -1;
      if (!c.out.empty() || c.closing) lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_CLOSED: {
      auto it = conns_.find(wsi);
      if (it == conns_.end()) return 0;
      Conn& c = *it->second;
      if (c.authed) {
        auto o = online_.find(c.addr);
        if (o != online_.end() && o->second == &c) online_.erase(o);
        persist_unacked(c);
      }
      for (const auto& r : c.refs) refs_.erase(r);
      if (c.pair_admin) {
        c.pair_admin->reply(as_bytes(ipc::dump_json(ipc::error_reply("closed", "companion disconnected before pairing finished"))));
      }
      conns_.erase(it);
      return 0;
    }
    default:
      break;
  }
  (void)user;
  return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
}

void Server::on_receive(Conn& c, const uint8_t* data, size_t len) {
  c.splitter.feed(ByteView(data, len));
  while (!c.closing) {
    auto f = c.splitter.next();
    if (!f) {
      ++counters_.bad_frames;
      WA_INFO("connection %llu: bad framing (%s), closing", static_cast<unsigned long long>(c.id), f.error().code.c_str());
      close_after_flush(c);
      return;
    }
    if (!f->has_value()) return;
    if (auto st = on_frame(c, std::move(**f)); !st) {
      ++counters_.bad_frames;
      WA_INFO("connection %llu: %s (%s), closing", static_cast<unsigned long long>(c.id), st.error().code.c_str(),
              st.error().message.c_str());
      close_after_flush(c);
      return;
    }
  }
}

Status Server::on_frame(Conn& c, Bytes frame) {
  if (c.hs_step == 0) {
    WA_TRY(c.hs->read_client_hello(frame));
    auto hello = c.hs->write_server_hello();
    if (!hello) return Unexpected<Error>{hello.error()};
    send_frame(c, *hello);
    c.hs_step = 1;
    return {};
  }
  if (c.hs_step == 1) {
    auto payload = c.hs->read_client_finish(frame);
    if (!payload) return Unexpected<Error>{payload.error()};
    auto tc = c.hs->split();
    if (!tc) return Unexpected<Error>{tc.error()};
    c.tc.emplace(std::move(*tc));
    c.hs_step = 2;
    return on_client_payload(c, *payload);
  }
  auto plain = c.tc->decrypt(frame);
  if (!plain) return Unexpected<Error>{plain.error()};
  auto node = binary::decode_frame_payload(*plain);
  if (!node) return Unexpected<Error>{node.error()};
  on_node(c, *node);
  return {};
}

void Server::send_frame(Conn& c, ByteView payload) {
  if (c.closing && c.out.empty()) return;
  Bytes buf(LWS_PRE);
  buf.reserve(LWS_PRE + 3 + payload.size());
  if (!binary::append_frame(buf, payload)) return;
  c.out_bytes += buf.size();
  c.out.push_back(std::move(buf));
  if (c.out_bytes > kMaxQueuedOut) {
    // A client that stops reading must not make us buffer without limit.
    c.out.clear();
    c.out_bytes = 0;
    c.closing = true;
  }
  lws_callback_on_writable(c.wsi);
}

void Server::send_node(Conn& c, const Node& n) {
  if (!c.tc || c.closing) return;
  auto payload = binary::encode_frame_payload(n);
  if (!payload) return;
  auto enc = c.tc->encrypt(*payload);
  if (!enc) return;
  send_frame(c, *enc);
}

void Server::close_after_flush(Conn& c) {
  c.closing = true;
  lws_callback_on_writable(c.wsi);
}

void Server::stream_error(Conn& c, const std::string& kind) {
  Node e("stream:error");
  if (kind == "515" || kind == "503") {
    e.set_attr("code", kind);
  } else if (kind == "device_removed") {
    e.set_attr("code", "401");
    e.content = binary::Children{Node("conflict", {{"type", "device_removed"}})};
  } else if (kind == "replaced") {
    e.content = binary::Children{Node("conflict", {{"type", "replaced"}})};
  }
  send_node(c, e);
  c.linger = true;
  close_after_flush(c);
}

// ---------------------------------------------------------------- login / registration

Status Server::on_client_payload(Conn& c, ByteView payload) {
  proto::ClientPayload p;
  if (!p.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return fail("bad_payload", "ClientPayload does not parse");
  c.push_name = p.pushname().substr(0, 64);
  if (p.has_devicepairingdata()) {
    const auto& d = p.devicepairingdata();
    if (d.eident().size() != 32 || d.eskeyval().size() != 32 || d.eskeysig().size() != 64 || d.eregid().size() != 4 ||
        d.eskeyid().size() != 3)
      return fail("bad_payload", "devicePairingData has wrong field sizes");
    Bytes signed_msg{0x05};
    signed_msg.insert(signed_msg.end(), d.eskeyval().begin(), d.eskeyval().end());
    if (!crypto::xeddsa_verify(as_bytes(d.eident()), signed_msg, as_bytes(d.eskeysig())))
      return fail("bad_payload", "signed prekey signature does not verify");
    c.registering = true;
    c.reg_identity = to_bytes(d.eident());
    c.reg_skey_pub = to_bytes(d.eskeyval());
    c.reg_skey_sig = to_bytes(d.eskeysig());
    Bytes rid = to_bytes(d.eregid()), sid = to_bytes(d.eskeyid());
    c.reg_regid = *from_be(&rid, 4);
    c.reg_skey_id = *from_be(&sid, 3);
    binary::Children refs;
    for (int i = 0; i < 6; ++i) {
      std::string ref = "2@" + to_base64(crypto::random_bytes(33));
      refs_[ref] = &c;
      c.refs.push_back(ref);
      refs.push_back(Node("ref", {}, to_bytes(ref)));
    }
    Node iq("iq", {{"from", kServerJid}, {"type", "set"}, {"id", next_id()}, {"xmlns", "md"}});
    iq.content = binary::Children{Node("pair-device", {}, std::move(refs))};
    send_node(c, iq);
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kPairingTimeoutS);
    return {};
  }
  // Login of a paired companion.
  std::string phone = std::to_string(p.username());
  auto refused = refused_.find(phone);
  if (refused != refused_.end()) {
    send_node(c, Node("failure", {{"reason", refused->second}}));
    close_after_flush(c);
    return {};
  }
  auto* acc = state_.account(phone);
  const Device* dev = nullptr;
  if (acc) {
    auto it = acc->devices.find(static_cast<uint16_t>(p.device()));
    if (it != acc->devices.end() && p.device() <= 0xFFFF) dev = &it->second;
  }
  if (!dev || !crypto::equal_ct(dev->noise_pub, c.hs->client_static())) {
    send_node(c, Node("failure", {{"reason", "401"}}));
    close_after_flush(c);
    return {};
  }
  c.addr = DeviceAddr{phone, dev->id};
  c.authed = true;
  lws_set_timeout(c.wsi, NO_PENDING_TIMEOUT, 0);
  ++counters_.logins;
  if (!c.push_name.empty() && c.push_name != dev->push_name) {
    Device copy = *dev;
    copy.push_name = c.push_name;
    acc->devices[dev->id].push_name = c.push_name;
    (void)state_.save_device(phone, copy);
  }
  login_success(c);
  return {};
}

void Server::login_success(Conn& c) {
  auto old = online_.find(c.addr);
  if (old != online_.end() && old->second != &c) {
    // What the old connection left unanswered belongs to this login now.
    persist_unacked(*old->second);
    stream_error(*old->second, "replaced");
  }
  online_[c.addr] = &c;
  auto* acc = state_.account(c.addr.phone);
  uint64_t now = now_unix();
  send_node(c, Node("success", {{"t", std::to_string(now)}, {"lid", lid_jid(acc->lid, c.addr.device)},
                                {"props", "1"}, {"abprops", "1"}, {"location", "local"}}));
  auto queued = state_.queued(c.addr.phone, c.addr.device);
  size_t messages = 0, receipts = 0, notifications = 0;
  std::vector<int64_t> junk;
  for (auto& q : queued) {
    auto n = binary::decode(q.node);
    if (!n) {
      junk.push_back(q.seq);
      continue;
    }
    if (n->tag == "message") ++messages;
    else if (n->tag == "receipt") ++receipts;
    else ++notifications;
    std::string id(n->attr_or("id", ""));
    std::string cls = n->tag;
    c.backlog.push_back(Conn::Held{std::move(cls), std::move(id), std::move(*n), q.seq, true});
  }
  (void)state_.dequeue(junk);
  Node preview("offline_preview", {{"count", std::to_string(c.backlog.size())}, {"message", std::to_string(messages)},
                                   {"notification", std::to_string(notifications)},
                                   {"receipt", std::to_string(receipts)}, {"appdata", "0"}, {"call", "0"}});
  send_node(c, Node("ib", {}, binary::Children{preview}));
  if (c.backlog.empty()) {
    send_node(c, Node("ib", {}, binary::Children{Node("offline", {{"count", "0"}})}));
    return;
  }
  // The queued stanzas stay in the offline queue until the client answers
  // each one; they go out in the batches the client asks for. A client that
  // never asks (whatsmeow only records the preview) gets them all after a
  // short wait.
  c.draining = true;
  c.batch_timer = std::make_unique<ipc::Timer>(loop_);
  lws* wsi = c.wsi;
  uint64_t conn_id = c.id;
  c.batch_timer->start(kOfflineBatchWaitMs, [this, wsi, conn_id] {
    auto it = conns_.find(wsi);
    if (it == conns_.end() || it->second->id != conn_id) return;
    Conn& cc = *it->second;
    if (cc.draining && cc.batch_size == 0) {
      cc.batch_size = cc.backlog.size();
      next_batch(cc);
    }
  });
}

void Server::on_offline_batch(Conn& c, const Node& batch) {
  if (!c.draining) return;
  size_t n = std::strtoul(std::string(batch.attr_or("count", "0")).c_str(), nullptr, 10);
  if (n == 0) n = kDefaultOfflineBatch;
  bool first = c.batch_size == 0;
  c.batch_size = std::min(n, kMaxOfflineBatch);
  if (first || c.batch_unacked == 0) next_batch(c);
}

void Server::next_batch(Conn& c) {
  if (!c.draining || c.closing) return;
  size_t n = std::min(c.batch_size, c.backlog.size());
  c.batch_unacked = 0;
  for (size_t i = 0; i < n; ++i) {
    Conn::Held h = std::move(c.backlog.front());
    c.backlog.pop_front();
    h.in_batch = true;
    send_node(c, h.node);
    c.unacked.push_back(std::move(h));
    ++c.batch_unacked;
    ++c.offline_total;
  }
  if (!c.backlog.empty()) {
    // A client that leaves a stanza unanswered must not stall its backlog.
    lws* wsi = c.wsi;
    uint64_t conn_id = c.id;
    size_t sent_before = c.offline_total;
    c.batch_timer->start(kOfflineBatchStallMs, [this, wsi, conn_id, sent_before] {
      auto it = conns_.find(wsi);
      if (it == conns_.end() || it->second->id != conn_id) return;
      if (it->second->offline_total == sent_before) next_batch(*it->second);
    });
    return;
  }
  c.batch_timer->stop();
  c.draining = false;
  send_node(c, Node("ib", {}, binary::Children{Node("offline", {{"count", std::to_string(c.offline_total)}})}));
  // What arrived while the backlog drained follows it, in order.
  for (auto& h : std::exchange(c.held_live, {})) {
    send_node(c, h.node);
    c.unacked.push_back(std::move(h));
  }
}

void Server::answered(Conn& c, std::string_view cls, std::string_view id) {
  for (auto it = c.unacked.begin(); it != c.unacked.end(); ++it) {
    if (it->cls != cls || it->id != id) continue;
    if (it->seq != 0) (void)state_.dequeue({it->seq});
    bool batch = it->in_batch;
    c.unacked.erase(it);
    if (batch && c.batch_unacked > 0 && --c.batch_unacked == 0 && c.draining) next_batch(c);
    return;
  }
}

void Server::persist_unacked(Conn& c) {
  // A device unlinked meanwhile gets nothing any more.
  const auto* acc = state_.account(c.addr.phone);
  const bool linked = acc != nullptr && acc->devices.count(c.addr.device) > 0;
  // Order kept: what was handed out first is redelivered first.
  auto keep = [&](Conn::Held& h) {
    if (!linked) return;
    if (h.seq != 0) return;  // still in the offline queue
    h.node.set_attr("offline", "1");
    if (auto bytes = binary::encode(h.node)) (void)state_.enqueue(c.addr.phone, c.addr.device, *bytes);
  };
  for (auto& h : c.unacked) keep(h);
  for (auto& h : c.backlog) keep(h);
  for (auto& h : c.held_live) keep(h);
  c.unacked.clear();
  c.backlog.clear();
  c.held_live.clear();
  c.draining = false;
  if (c.batch_timer) c.batch_timer->stop();
}

// ---------------------------------------------------------------- stanzas

void Server::on_node(Conn& c, const Node& n) {
  // Tags and ids only: never contents (keys, message bodies).
  WA_DEBUG("conn %llu <- %s id=%s type=%s xmlns=%s child=%s", static_cast<unsigned long long>(c.id), n.tag.c_str(),
           std::string(n.attr_or("id", "")).c_str(), std::string(n.attr_or("type", "")).c_str(),
           std::string(n.attr_or("xmlns", "")).c_str(), n.children().empty() ? "" : n.children()[0].tag.c_str());
  if (!c.authed) {
    // Before login only the pairing conversation is allowed.
    if (n.tag == "iq") on_iq(c, n);
    return;
  }
  if (n.tag == "iq") on_iq(c, n);
  else if (n.tag == "message") on_message(c, n);
  else if (n.tag == "receipt") {
    // A receipt (delivery, retry, read...) answers the message it names.
    answered(c, "message", n.attr_or("id", ""));
    if (const Node* list = n.child("list"))
      for (const auto* item : list->children("item")) answered(c, "message", item->attr_or("id", ""));
    on_receipt(c, n);
  } else if (n.tag == "chatstate") {
    on_chatstate(c, n);
  } else if (n.tag == "ack") {
    answered(c, n.attr_or("class", ""), n.attr_or("id", ""));
  } else if (n.tag == "ib") {
    if (const Node* b = n.child("offline_batch")) on_offline_batch(c, *b);
  } else if (n.tag == "call" || n.tag == "notification") {
    Node ack("ack", {{"class", n.tag}, {"id", std::string(n.attr_or("id", ""))}});
    send_node(c, ack);
  }
  // ack, presence, chatstate, ib: nothing to answer
}

void Server::send_ack(Conn& c, Node ack) {
  if (c.drop_acks > 0) {
    --c.drop_acks;
    return;
  }
  if (c.delay_acks > 0) {
    --c.delay_acks;
    uint64_t conn_id = c.id;
    lws* wsi = c.wsi;
    uint64_t timer_id = next_timer_id_++;
    auto& timer = ack_timers_[timer_id] = std::make_unique<ipc::Timer>(loop_);
    timer->start(c.delay_ms, [this, timer_id, conn_id, wsi, ack = std::move(ack)]() {
      auto it = conns_.find(wsi);
      if (it != conns_.end() && it->second->id == conn_id) send_node(*it->second, ack);
      ack_timers_.erase(timer_id);  // destroys this Timer from its own callback (allowed)
    });
    return;
  }
  send_node(c, ack);
}

void Server::on_message(Conn& c, const Node& msg) {
  ++counters_.messages;
  auto plan = plan_message(state_, c.addr, msg, now_unix());
  if (!plan) {
    int code = plan.error().code == "not_member" ? 403 : plan.error().code == "unknown_group" ? 404 : 400;
    Node ack("ack", {{"class", "message"}, {"id", std::string(msg.attr_or("id", ""))},
                     {"from", std::string(msg.attr_or("to", kServerJid))}, {"error", std::to_string(code)}});
    send_ack(c, std::move(ack));
    return;
  }
  for (auto& d : plan->deliveries) {
    if (d.to.phone != c.addr.phone) {
      contacts_[c.addr.phone].insert(d.to.phone);
      contacts_[d.to.phone].insert(c.addr.phone);
    }
    deliver(std::move(d));
  }
  send_ack(c, std::move(plan->ack));
}

void Server::on_receipt(Conn& c, const Node& r) {
  ++counters_.receipts;
  if (r.attr_or("type", "") == "retry") ++counters_.retry_receipts;
  auto plan = plan_receipt(state_, c.addr, r, now_unix());
  if (!plan) return;
  for (auto& d : plan->deliveries) deliver(std::move(d));
  send_node(c, plan->ack);
}

void Server::on_chatstate(Conn& c, const Node& cs) {
  // Chat state is only worth something now: online devices get it, nothing
  // is queued (as the real server does).
  for (auto& d : plan_chatstate(state_, c.addr, cs)) {
    auto it = online_.find(d.to);
    if (it != online_.end() && !it->second->closing) send_node(*it->second, d.node);
  }
}

void Server::deliver(Delivery d) {
  ++counters_.deliveries;
  auto it = online_.find(d.to);
  if (it != online_.end() && !it->second->closing) {
    Conn& c = *it->second;
    std::string id(d.node.attr_or("id", ""));
    Conn::Held h{d.node.tag, std::move(id), std::move(d.node), 0, false};
    if (c.draining) {
      c.held_live.push_back(std::move(h));
      return;
    }
    send_node(c, h.node);
    c.unacked.push_back(std::move(h));
    return;
  }
  ++counters_.queued;
  d.node.set_attr("offline", "1");
  auto bytes = binary::encode(d.node);
  if (bytes) (void)state_.enqueue(d.to.phone, d.to.device, *bytes);
}

// ---------------------------------------------------------------- iqs

void Server::on_iq(Conn& c, const Node& iq) {
  auto type = iq.attr_or("type", "");
  if (type == "result" || type == "error") {
    if (!c.pair_iq_id.empty() && iq.attr_or("id", "") == c.pair_iq_id) on_pair_device_sign(c, iq);
    return;
  }
  auto xmlns = iq.attr_or("xmlns", "");
  Node reply;
  if (!c.authed) {
    if (xmlns == "md" && iq.child("link_code_companion_reg") && c.registering)
      reply = iq_md(c, iq);
    else if (xmlns == "w:p")
      reply = result_for(iq);
    else
      reply = error_for(iq, 401, "not-authorized");
  } else if (xmlns == "w:p" || xmlns == "passive" || xmlns == "urn:xmpp:ping") {
    reply = result_for(iq);
  } else if (xmlns == "encrypt") {
    reply = iq_encrypt(c, iq);
  } else if (xmlns == "usync") {
    reply = iq_usync(c, iq);
  } else if (xmlns == "w:g2") {
    reply = iq_groups(c, iq);
  } else if (xmlns == "md") {
    reply = iq_md(c, iq);
  } else {
    reply = error_for(iq, 501, "feature-not-implemented");
  }
  if (!reply.tag.empty()) send_node(c, reply);  // empty: answered already
}

Node Server::iq_encrypt(Conn& c, const Node& iq) {
  auto* acc = state_.account(c.addr.phone);
  auto dit = acc->devices.find(c.addr.device);
  if (dit == acc->devices.end()) return error_for(iq, 404, "item-not-found");
  Device& dev = dit->second;
  if (iq.child("count")) {
    Node r = result_for(iq);
    r.content = binary::Children{Node("count", {{"value", std::to_string(dev.prekeys.size())}})};
    return r;
  }
  if (iq.child("digest")) {
    Node r = result_for(iq);
    binary::Children list;
    for (const auto& [id, pub] : dev.prekeys) {
      (void)pub;
      list.push_back(bytes_node("id", be(id, 3)));
    }
    r.content = binary::Children{Node("digest", {}, binary::Children{
        bytes_node("type", Bytes{5}), bytes_node("registration", be(dev.regid, 4)), bytes_node("identity", dev.identity_pub),
        Node("skey", {}, binary::Children{bytes_node("id", be(dev.skey_id, 3)), bytes_node("value", dev.skey_pub),
                                        bytes_node("signature", dev.skey_sig)}),
        Node("list", {}, std::move(list))})};
    return r;
  }
  auto read_skey = [&](const Node* sk, uint32_t& id, Bytes& pub, Bytes& sig) -> bool {
    if (!sk) return false;
    const Node* i = sk->child("id");
    const Node* v = sk->child("value");
    const Node* s = sk->child("signature");
    auto idv = from_be(i ? i->bytes() : nullptr, 3);
    if (!idv || !v || !v->bytes() || v->bytes()->size() != 32 || !s || !s->bytes() || s->bytes()->size() != 64) return false;
    Bytes msg{0x05};
    msg.insert(msg.end(), v->bytes()->begin(), v->bytes()->end());
    if (!crypto::xeddsa_verify(dev.identity_pub, msg, *s->bytes())) return false;
    id = *idv;
    pub = *v->bytes();
    sig = *s->bytes();
    return true;
  };
  if (const Node* rot = iq.child("rotate")) {
    if (!read_skey(rot->child("skey"), dev.skey_id, dev.skey_pub, dev.skey_sig)) return error_for(iq, 400, "bad-request");
    (void)state_.save_signed_prekey(c.addr.phone, dev);
    return result_for(iq);
  }
  if (const Node* key = iq.child("key")) {
    // Prekey bundle fetch.
    binary::Children users;
    for (const auto& u : key->children()) {
      if (u.tag != "user") continue;
      std::string jid_s(u.attr_or("jid", ""));
      auto j = Jid::parse(jid_s);
      auto addr = j ? resolve(state_, *j) : std::nullopt;
      Account* a = addr ? state_.account(addr->phone) : nullptr;
      Node un("user", {{"jid", jid_s}});
      if (a && addr->device == 0) {
        un.content = binary::Children{
            bytes_node("registration", be(a->regid, 4)), bytes_node("type", Bytes{5}),
            bytes_node("identity", Bytes(a->identity.pub.begin(), a->identity.pub.end())),
            Node("skey", {}, binary::Children{bytes_node("id", be(1, 3)),
                                            bytes_node("value", Bytes(a->spk.pub.begin(), a->spk.pub.end())),
                                            bytes_node("signature", a->spk_sig)})};
      } else if (a && a->devices.count(addr->device)) {
        const Device& d = a->devices.at(addr->device);
        binary::Children kids{bytes_node("registration", be(d.regid, 4)), bytes_node("type", Bytes{5}),
                              bytes_node("identity", d.identity_pub),
                              Node("skey", {}, binary::Children{bytes_node("id", be(d.skey_id, 3)), bytes_node("value", d.skey_pub),
                                                              bytes_node("signature", d.skey_sig)})};
        if (auto pk = state_.take_prekey(addr->phone, addr->device))
          kids.push_back(Node("key", {}, binary::Children{bytes_node("id", be(pk->first, 3)), bytes_node("value", pk->second)}));
        un.content = std::move(kids);
        check_prekey_stock(*addr);
      } else {
        un.content = binary::Children{Node("error", {{"code", "404"}, {"text", "item-not-found"}})};
      }
      users.push_back(std::move(un));
    }
    Node r = result_for(iq);
    r.content = binary::Children{Node("list", {}, std::move(users))};
    return r;
  }
  if (iq.child("list") || iq.child("skey")) {
    // Prekey upload.
    const Node* ident = iq.child("identity");
    if (ident && ident->bytes() && !crypto::equal_ct(*ident->bytes(), dev.identity_pub))
      return error_for(iq, 409, "identity-mismatch");
    if (auto rid = from_be(iq.child("registration") ? iq.child("registration")->bytes() : nullptr, 4)) dev.regid = *rid;
    std::map<uint32_t, Bytes> keys;
    if (const Node* list = iq.child("list")) {
      for (const auto& k : list->children()) {
        if (k.tag != "key") continue;
        auto id = from_be(k.child("id") ? k.child("id")->bytes() : nullptr, 3);
        const Node* v = k.child("value");
        if (!id || !v || !v->bytes() || v->bytes()->size() != 32) return error_for(iq, 400, "bad-request");
        keys[*id] = *v->bytes();
      }
    }
    if (keys.size() > 5000 || dev.prekeys.size() + keys.size() > 20000) return error_for(iq, 406, "too-many-keys");
    uint32_t sid = 0;
    Bytes spub, ssig;
    if (iq.child("skey")) {
      if (!read_skey(iq.child("skey"), sid, spub, ssig)) return error_for(iq, 400, "bad-request");
      dev.skey_id = sid;
      dev.skey_pub = spub;
      dev.skey_sig = ssig;
      (void)state_.save_signed_prekey(c.addr.phone, dev);
    }
    (void)state_.add_prekeys(c.addr.phone, c.addr.device, keys);
    prekeys_low_.erase(c.addr);
    return result_for(iq);
  }
  return error_for(iq, 501, "feature-not-implemented");
}

Node Server::iq_usync(Conn& c, const Node& iq) {
  (void)c;
  const Node* us = iq.child("usync");
  if (!us) return error_for(iq, 400, "bad-request");
  const Node* query = us->child("query");
  const Node* list = us->child("list");
  if (!query || !list) return error_for(iq, 400, "bad-request");
  bool want_devices = query->child("devices") != nullptr;
  bool want_lid = query->child("lid") != nullptr;
  bool want_contact = query->child("contact") != nullptr;
  uint64_t now = now_unix();
  binary::Children users;
  for (const auto& u : list->children()) {
    if (u.tag != "user") continue;
    std::string jid_s(u.attr_or("jid", ""));
    std::string contact;
    if (const Node* ct = u.child("contact")) {
      if (auto cc = ct->content_chars()) contact = std::string(*cc);
    }
    if (jid_s.empty() && !contact.empty()) {
      std::string digits;
      for (char ch : contact)
        if (ch >= '0' && ch <= '9') digits += ch;
      jid_s = digits + "@s.whatsapp.net";
    }
    auto j = Jid::parse(jid_s);
    auto addr = j ? resolve(state_, *j) : std::nullopt;
    Account* a = addr ? state_.account(addr->phone) : nullptr;
    Node un("user", {{"jid", jid_s}});
    binary::Children kids;
    if (want_devices) {
      binary::Children devs;
      if (a) {
        devs.push_back(Node("device", {{"id", "0"}}));
        for (const auto& [id, d] : a->devices)
          devs.push_back(Node("device", {{"id", std::to_string(id)}, {"key-index", std::to_string(d.key_index)}}));
      }
      kids.push_back(Node("devices", {}, binary::Children{Node("device-list", {}, std::move(devs)),
                                                          Node("key-index-list", {{"ts", std::to_string(now)}})}));
    }
    if (want_lid && a) kids.push_back(Node("lid", {{"val", a->lid + "@lid"}}));
    if (want_contact) kids.push_back(Node("contact", {{"type", a ? "in" : "out"}}));
    un.content = std::move(kids);
    users.push_back(std::move(un));
  }
  Node r = result_for(iq);
  Node out_us("usync", {{"sid", std::string(us->attr_or("sid", ""))}, {"mode", std::string(us->attr_or("mode", "query"))},
                        {"last", "true"}, {"index", "0"}, {"context", std::string(us->attr_or("context", "interactive"))}});
  out_us.content = binary::Children{Node("list", {}, std::move(users))};
  r.content = binary::Children{std::move(out_us)};
  return r;
}

Node Server::group_node(const Group& g) {
  binary::Children parts;
  for (const auto& [phone, admin] : g.members) {
    Node p("participant", {{"jid", pn_jid(phone, 0)}});
    if (auto* a = state_.account(phone)) p.set_attr("lid", a->lid + "@lid");
    if (phone == g.creator) p.set_attr("type", "superadmin");
    else if (admin) p.set_attr("type", "admin");
    parts.push_back(std::move(p));
  }
  Node n("group", {{"id", g.id}, {"subject", g.subject}, {"s_t", std::to_string(g.creation)},
                   {"s_o", pn_jid(g.creator, 0)}, {"creation", std::to_string(g.creation)},
                   {"creator", pn_jid(g.creator, 0)}, {"size", std::to_string(g.members.size())},
                   {"addressing_mode", "pn"}});
  n.content = std::move(parts);
  return n;
}

void Server::notify_group(const Group& g, const std::string& action, const std::vector<std::string>& phones,
                          const DeviceAddr& author) {
  binary::Children parts;
  for (const auto& p : phones) parts.push_back(Node("participant", {{"jid", pn_jid(p, 0)}}));
  uint64_t now = now_unix();
  std::set<std::string> audience;
  for (const auto& m : g.members) audience.insert(m.first);
  for (const auto& p : phones) audience.insert(p);
  for (const auto& phone : audience) {
    auto* a = state_.account(phone);
    if (!a) continue;
    for (const auto& [dev_id, d] : a->devices) {
      (void)d;
      Node n("notification", {{"from", g.id + "@g.us"}, {"type", "w:gp2"}, {"id", next_id()},
                              {"participant", pn_jid(author.phone, 0)}, {"t", std::to_string(now)}});
      n.content = binary::Children{Node(action, {}, parts)};
      deliver({DeviceAddr{phone, dev_id}, std::move(n)});
    }
  }
}

Node Server::iq_groups(Conn& c, const Node& iq) {
  uint64_t now = now_unix();
  auto to = Jid::parse(iq.attr_or("to", ""));
  if (!to || !to->is_group()) return error_for(iq, 400, "bad-request");
  auto member_phones = [&](const Node& action, std::vector<std::string>& out) {
    for (const auto& p : action.children()) {
      if (p.tag != "participant") continue;
      auto j = Jid::parse(p.attr_or("jid", ""));
      auto addr = j ? resolve(state_, *j) : std::nullopt;
      if (addr) out.push_back(addr->phone);
    }
  };
  if (const Node* create = iq.child("create")) {
    Group g;
    g.id = state_.new_group_id(c.addr.phone, now);
    g.subject = std::string(create->attr_or("subject", "")).substr(0, 100);
    g.creator = c.addr.phone;
    g.creation = now;
    g.members.emplace_back(c.addr.phone, true);
    std::vector<std::string> add;
    member_phones(*create, add);
    for (const auto& p : add)
      if (!g.has(p)) g.members.emplace_back(p, false);
    if (!state_.save_group(g)) return error_for(iq, 500, "internal-server-error");
    Node r = result_for(iq);
    r.content = binary::Children{group_node(g)};
    std::vector<std::string> others;
    for (const auto& m : g.members)
      if (m.first != c.addr.phone) others.push_back(m.first);
    notify_group(g, "add", others, c.addr);
    return r;
  }
  if (const Node* leave = iq.child("leave")) {
    for (const auto& gn : leave->children()) {
      std::string gid(gn.attr_or("id", ""));
      if (auto pos = gid.find('@'); pos != std::string::npos) gid.resize(pos);
      Group* g = state_.group(gid);
      if (!g || !g->has(c.addr.phone)) continue;
      std::erase_if(g->members, [&](const auto& m) { return m.first == c.addr.phone; });
      Group copy = *g;
      (void)state_.save_group(copy);
      notify_group(copy, "leave", {c.addr.phone}, c.addr);
    }
    return result_for(iq);
  }
  if (iq.child("participating")) {
    binary::Children gs;
    for (const auto& [id, g] : state_.groups())
      if (g.has(c.addr.phone)) gs.push_back(group_node(g));
    Node r = result_for(iq);
    r.content = binary::Children{Node("groups", {}, std::move(gs))};
    return r;
  }
  Group* g = state_.group(to->user);
  if (!g) return error_for(iq, 404, "item-not-found");
  if (!g->has(c.addr.phone)) return error_for(iq, 403, "forbidden");
  if (iq.child("query")) {
    Node r = result_for(iq);
    r.content = binary::Children{group_node(*g)};
    return r;
  }
  for (const char* action : {"add", "remove", "promote", "demote"}) {
    const Node* a = iq.child(action);
    if (!a) continue;
    // Per participant, as the real server answers: an `error` attribute on
    // the ones that could not be changed (404 unknown account / not a
    // member, 409 already a member); only the changed ones are notified.
    std::vector<std::string> phones;
    binary::Children result_parts;
    const std::string act(action);
    for (const auto& pn : a->children()) {
      if (pn.tag != "participant") continue;
      auto j = Jid::parse(pn.attr_or("jid", ""));
      auto addr = j ? resolve(state_, *j) : std::nullopt;
      Node part("participant", {{"jid", addr ? pn_jid(addr->phone, 0) : std::string(pn.attr_or("jid", ""))}});
      if (!addr) {
        part.set_attr("error", "404");
      } else if (act == "add") {
        if (g->has(addr->phone)) part.set_attr("error", "409");
        else g->members.emplace_back(addr->phone, false);
      } else if (!g->has(addr->phone)) {
        part.set_attr("error", "404");
      } else if (act == "remove") {
        std::erase_if(g->members, [&](const auto& m) { return m.first == addr->phone; });
      } else {
        for (auto& m : g->members)
          if (m.first == addr->phone) m.second = act == "promote";
      }
      if (!part.has_attr("error")) phones.push_back(addr->phone);
      result_parts.push_back(std::move(part));
    }
    Group copy = *g;
    (void)state_.save_group(copy);
    if (!phones.empty()) notify_group(copy, action, phones, c.addr);
    Node r = result_for(iq);
    r.content = binary::Children{Node(action, {}, std::move(result_parts))};
    return r;
  }
  if (const Node* subj = iq.child("subject")) {
    if (auto s = subj->content_chars()) g->subject = std::string(*s).substr(0, 100);
    Group copy = *g;
    (void)state_.save_group(copy);
    return result_for(iq);
  }
  return error_for(iq, 501, "feature-not-implemented");
}

Node Server::iq_md(Conn& c, const Node& iq) {
  if (const Node* rm = iq.child("remove-companion-device")) {
    auto j = Jid::parse(rm->attr_or("jid", ""));
    auto addr = j ? resolve(state_, *j) : std::nullopt;
    if (!addr || addr->phone != c.addr.phone || addr->device == 0) return error_for(iq, 400, "bad-request");
    (void)state_.remove_device(addr->phone, addr->device);
    auto o = online_.find(*addr);
    if (o != online_.end()) stream_error(*o->second, "device_removed");
    return result_for(iq);
  }
  if (const Node* reg = iq.child("link_code_companion_reg")) {
    auto stage = reg->attr_or("stage", "");
    auto child_bytes = [&](const char* tag) -> Bytes {
      const Node* n = reg->child(tag);
      if (!n) return {};
      if (auto b = n->bytes()) return *b;
      if (auto t = n->text()) return to_bytes(*t);
      return {};
    };
    if (stage == "companion_hello") {
      auto j = Jid::parse(reg->attr_or("jid", ""));
      if (!j || !j->is_pn() || !admin::check_phone(j->user)) return error_for(iq, 400, "bad-request");
      Bytes wrapped = child_bytes("link_code_pairing_wrapped_companion_ephemeral_pub");
      if (wrapped.size() != 80) return error_for(iq, 400, "bad-request");
      c.link_phone = j->user;
      c.link_companion_eph = std::move(wrapped);
      c.link_ref = "lc." + to_hex(crypto::random_bytes(8));
      Node r = result_for(iq);
      r.content = binary::Children{Node("link_code_companion_reg", {},
                                        binary::Children{bytes_node("link_code_pairing_ref", to_bytes(c.link_ref))})};
      return r;
    }
    if (stage == "companion_finish") {
      if (c.link_code.empty()) return error_for(iq, 400, "bad-request");
      Bytes bundle = child_bytes("link_code_pairing_wrapped_key_bundle");
      Bytes ident = child_bytes("companion_identity_public");
      auto* acc = state_.account(c.link_phone);
      auto companion_eph = phone::unwrap_link_code_key(c.link_code, c.link_companion_eph);
      if (!acc || !companion_eph || ident.size() != 32 || !crypto::equal_ct(ident, c.reg_identity))
        return error_for(iq, 400, "bad-request");
      auto adv = phone::link_code_adv_secret(c.link_primary_eph, *companion_eph, acc->identity, ident, bundle);
      if (!adv) return error_for(iq, 400, "bad-request");
      Node r = result_for(iq);
      send_node(c, r);
      auto pending = std::move(c.pair_admin);
      start_pairing(c, c.link_phone, *adv, std::move(pending));
      Bytes wipe = std::move(*adv);
      secure_wipe(wipe);
      return Node();  // already answered
    }
    return error_for(iq, 400, "bad-request");
  }
  return error_for(iq, 501, "feature-not-implemented");
}

void Server::start_pairing(Conn& c, const std::string& phone, ByteView adv_secret,
                           std::shared_ptr<ipc::PendingRequest> pending) {
  Account& acc = state_.ensure_account(phone);
  uint16_t device = acc.next_device++;
  uint32_t key_index = acc.next_key_index++;
  (void)state_.save_account_counters(acc);
  auto ps = phone::make_pair_success(acc.identity, c.reg_identity, adv_secret, key_index, now_unix());
  c.pair_iq_id = next_id();
  c.issued_details = ps.device_details;
  c.pair_phone = phone;
  c.pair_device = device;
  c.pair_key_index = key_index;
  c.pair_admin = std::move(pending);
  Node iq("iq", {{"from", kServerJid}, {"type", "set"}, {"id", c.pair_iq_id}, {"t", std::to_string(now_unix())}});
  iq.content = binary::Children{Node("pair-success", {}, binary::Children{
      Node("device-identity", {}, ps.container),
      Node("device", {{"jid", pn_jid(phone, device)}, {"lid", lid_jid(acc.lid, device)}}),
      Node("platform", {{"name", "android"}})})};
  send_node(c, iq);
}

void Server::on_pair_device_sign(Conn& c, const Node& iq) {
  c.pair_iq_id.clear();
  auto answer = [&](const json& j) {
    if (c.pair_admin) c.pair_admin->reply(as_bytes(ipc::dump_json(j)));
    c.pair_admin.reset();
  };
  const Node* sign = iq.child("pair-device-sign");
  const Node* di = sign ? sign->child("device-identity") : nullptr;
  auto* acc = state_.account(c.pair_phone);
  if (iq.attr_or("type", "") == "error" || !di || !di->bytes() || !acc) {
    answer(ipc::error_reply("pairing_refused", "companion refused the pairing"));
    close_after_flush(c);
    return;
  }
  Bytes acc_pub(acc->identity.pub.begin(), acc->identity.pub.end());
  auto ok = phone::verify_pair_device_sign(*di->bytes(), c.issued_details, c.reg_identity, acc_pub);
  if (!ok) {
    answer(ipc::error_reply(ok.error().code, ok.error().message));
    close_after_flush(c);
    return;
  }
  Device d;
  d.id = c.pair_device;
  auto cs = c.hs->client_static();
  d.noise_pub.assign(cs.begin(), cs.end());
  d.identity_pub = c.reg_identity;
  d.regid = c.reg_regid;
  d.skey_id = c.reg_skey_id;
  d.skey_pub = c.reg_skey_pub;
  d.skey_sig = c.reg_skey_sig;
  d.key_index = c.pair_key_index;
  d.push_name = c.push_name;
  acc->devices[d.id] = d;
  (void)state_.save_device(c.pair_phone, d);
  ++counters_.pairings;
  WA_INFO("paired device %s:%u", c.pair_phone.c_str(), static_cast<unsigned>(d.id));
  answer(ipc::ok_reply(json{{"jid", pn_jid(c.pair_phone, d.id)}, {"lid", lid_jid(acc->lid, d.id)}}));
  stream_error(c, "515");
}

// ---------------------------------------------------------------- admin

void Server::on_admin(std::shared_ptr<ipc::PendingRequest> req) {
  json reply;
  auto parsed = ipc::parse_json_text(req->body());
  if (!parsed || !parsed->is_object() || !(*parsed)["cmd"].is_string()) {
    reply = ipc::error_reply("bad_request", parsed ? "request must be an object with cmd" : parsed.error().message);
  } else {
    const json& r = *parsed;
    std::string cmd = r["cmd"];
    std::shared_ptr<ipc::PendingRequest> keep = req;
    try {
      if (cmd == "scan") reply = admin_scan(r, keep);
      else if (cmd == "link-code") reply = admin_link_code(r, keep);
      else if (cmd == "status") reply = admin_status();
      else if (cmd == "fault") reply = admin_fault(r);
      else if (cmd == "drain-prekeys") reply = admin_drain_prekeys(r);
      else if (cmd == "reset-identity") reply = admin_reset_identity(r);
      else reply = ipc::error_reply("bad_request", "unknown cmd");
    } catch (const json::exception&) {
      // A field of the wrong type (the handlers read with value()/get<>).
      if (!keep) return;
      reply = ipc::error_reply("bad_request", "a field has the wrong type or is missing");
    }
    if (!keep) return;  // answered later (pairing in flight)
  }
  req->reply(as_bytes(ipc::dump_json(reply)));
}

json Server::admin_scan(const json& req, std::shared_ptr<ipc::PendingRequest>& pending) {
  std::string phone = req.value("phone", "");
  std::string qr = req.value("qr", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  auto info = phone::parse_qr(qr);
  if (!info) return ipc::error_reply(info.error().code, info.error().message);
  auto it = refs_.find(info->ref);
  if (it == refs_.end()) return ipc::error_reply("unknown_ref", "no connected companion shows this QR (expired?)");
  Conn& c = *it->second;
  if (c.closing || !c.pair_iq_id.empty() || c.pair_admin)
    return ipc::error_reply("busy", "this companion is already pairing");
  if (!crypto::equal_ct(info->identity_pub, c.reg_identity) || !crypto::equal_ct(info->noise_pub, c.hs->client_static()))
    return ipc::error_reply("qr_mismatch", "QR keys do not match the connected companion");
  start_pairing(c, phone, info->adv_secret, std::move(pending));
  secure_wipe(info->adv_secret);
  pending.reset();
  return {};
}

json Server::admin_link_code(const json& req, std::shared_ptr<ipc::PendingRequest>& pending) {
  std::string phone = req.value("phone", "");
  std::string code = req.value("code", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  std::string clean;
  for (char ch : code)
    if (ch != '-') clean += ch;
  if (clean.size() != 8) return ipc::error_reply("bad_code", "a link code has 8 characters");
  for (auto& [wsi, cp] : conns_) {
    (void)wsi;
    Conn& c = *cp;
    if (c.closing || c.link_phone != phone || !c.link_code.empty()) continue;
    if (!phone::unwrap_link_code_key(clean, c.link_companion_eph)) continue;
    Account& acc = state_.ensure_account(phone);
    c.link_code = clean;
    c.link_primary_eph = crypto::generate_keypair();
    Node n("notification", {{"from", kServerJid}, {"type", "link_code_companion_reg"}, {"id", next_id()},
                            {"t", std::to_string(now_unix())}});
    n.content = binary::Children{Node("link_code_companion_reg", {}, binary::Children{
        bytes_node("link_code_pairing_ref", to_bytes(c.link_ref)),
        bytes_node("primary_identity_pub", Bytes(acc.identity.pub.begin(), acc.identity.pub.end())),
        bytes_node("link_code_pairing_wrapped_primary_ephemeral_pub",
                   phone::wrap_link_code_key(clean, c.link_primary_eph.pub))})};
    send_node(c, n);
    c.pair_admin = std::move(pending);
    pending.reset();
    return {};
  }
  return ipc::error_reply("unknown_code", "no connected companion asked for a code for this number");
}

json Server::admin_status() {
  json accounts = json::array();
  for (const auto& [phone, a] : state_.accounts()) {
    json devices = json::array();
    for (const auto& [id, d] : a.devices) {
      DeviceAddr addr{phone, id};
      devices.push_back({{"jid", pn_jid(phone, id)}, {"lid", lid_jid(a.lid, id)}, {"online", online_.count(addr) > 0},
                         {"prekeys", d.prekeys.size()}, {"queued", state_.queued_count(phone, id)},
                         {"push_name", d.push_name}});
    }
    accounts.push_back({{"phone", phone}, {"lid", a.lid + "@lid"}, {"devices", devices},
                        {"refuse_login", refused_.count(phone) ? refused_.at(phone) : ""}});
  }
  json groups = json::array();
  for (const auto& [id, g] : state_.groups()) {
    json members = json::array();
    for (const auto& m : g.members) members.push_back(m.first);
    groups.push_back({{"id", id + "@g.us"}, {"subject", g.subject}, {"members", members}});
  }
  size_t pending = 0;
  for (const auto& [w, c] : conns_) {
    (void)w;
    if (!c->authed) ++pending;
  }
  return ipc::ok_reply({{"port", port_}, {"connections", conns_.size()}, {"online", online_.size()},
                        {"unauthenticated", pending}, {"accounts", accounts}, {"groups", groups},
                        {"counters", {{"messages", counters_.messages}, {"deliveries", counters_.deliveries},
                                      {"queued", counters_.queued}, {"receipts", counters_.receipts},
                                      {"retry_receipts", counters_.retry_receipts}, {"logins", counters_.logins},
                                      {"pairings", counters_.pairings}, {"bad_frames", counters_.bad_frames}}}});
}

std::vector<Conn*> Server::conns_for(const admin::Fault& f) {
  std::vector<Conn*> out;
  std::optional<DeviceAddr> exact;
  if (!f.jid.empty()) {
    auto j = Jid::parse(f.jid);
    if (j) {
      auto a = resolve(state_, *j);
      if (a && j->device != 0) exact = a;
      else if (a) {
        for (auto& [addr, c] : online_)
          if (addr.phone == a->phone) out.push_back(c);
        return out;
      }
    }
    if (exact) {
      auto it = online_.find(*exact);
      if (it != online_.end()) out.push_back(it->second);
    }
    return out;
  }
  for (auto& [addr, c] : online_)
    if (addr.phone == f.phone) out.push_back(c);
  return out;
}

json Server::admin_fault(const json& req) {
  auto f = admin::parse_fault(req);
  if (!f) return ipc::error_reply(f.error().code, f.error().message);
  if (f->action == admin::FaultAction::refuse_login) {
    refused_[f->phone] = f->reason;
    return ipc::ok_reply({{"refusing", f->phone}});
  }
  if (f->action == admin::FaultAction::clear) {
    if (!f->phone.empty()) refused_.erase(f->phone);
  }
  auto targets = conns_for(*f);
  if (targets.empty() && f->action != admin::FaultAction::clear)
    return ipc::error_reply("not_online", "no online connection matches");
  for (Conn* c : targets) {
    switch (f->action) {
      case admin::FaultAction::close: close_after_flush(*c); break;
      case admin::FaultAction::stream_error: stream_error(*c, f->stream_error); break;
      case admin::FaultAction::malformed_frame: {
        // Valid Noise, invalid node: the client's decoder must cope.
        Bytes junk{0x00, 0xF8, 0x05, 0xFF, 0xFF, 0xFF};
        if (auto enc = c->tc->encrypt(junk)) send_frame(*c, *enc);
        break;
      }
      case admin::FaultAction::drop_acks: c->drop_acks = f->n; break;
      case admin::FaultAction::delay_acks:
        c->delay_acks = f->n;
        c->delay_ms = f->ms;
        break;
      case admin::FaultAction::clear:
        c->drop_acks = c->delay_acks = 0;
        break;
      case admin::FaultAction::refuse_login: break;
    }
  }
  return ipc::ok_reply({{"connections", targets.size()}});
}

void Server::check_prekey_stock(const DeviceAddr& dev) {
  auto* a = state_.account(dev.phone);
  if (!a) return;
  auto it = a->devices.find(dev.device);
  if (it == a->devices.end() || it->second.prekeys.size() >= kPreKeyLowMark || prekeys_low_.count(dev)) return;
  prekeys_low_.insert(dev);
  Node n("notification", {{"from", kServerJid}, {"type", "encrypt"}, {"id", next_id()}, {"t", std::to_string(now_unix())}});
  n.content = binary::Children{Node("count", {{"value", std::to_string(it->second.prekeys.size())}})};
  deliver({dev, std::move(n)});
}

json Server::admin_drain_prekeys(const json& req) {
  auto j = Jid::parse(req.value("jid", ""));
  auto addr = j ? resolve(state_, *j) : std::nullopt;
  Account* a = addr ? state_.account(addr->phone) : nullptr;
  if (!a || addr->device == 0 || !a->devices.count(addr->device))
    return ipc::error_reply("unknown_device", "no linked device with this JID");
  if (!req.contains("leave") || !req["leave"].is_number_unsigned()) return ipc::error_reply("bad_request", "leave must be a number");
  size_t leave = req["leave"].get<size_t>();
  size_t taken = 0;
  while (a->devices.at(addr->device).prekeys.size() > leave && state_.take_prekey(addr->phone, addr->device)) ++taken;
  check_prekey_stock(*addr);
  return ipc::ok_reply({{"taken", taken}, {"left", a->devices.at(addr->device).prekeys.size()}});
}

json Server::admin_reset_identity(const json& req) {
  std::string phone = req.value("phone", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  if (!state_.account(phone)) return ipc::error_reply("unknown_account", "no account with this number");
  // The old devices are gone: nothing held for them is delivered any more.
  for (auto& [addr, c] : online_) {
    if (addr.phone != phone) continue;
    c->unacked.clear();
    c->backlog.clear();
    c->held_live.clear();
    c->draining = false;
    stream_error(*c, "device_removed");
  }
  if (auto st = state_.reset_identity(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  for (auto it = prekeys_low_.begin(); it != prekeys_low_.end();) it = it->phone == phone ? prekeys_low_.erase(it) : std::next(it);
  size_t notified = 0;
  for (const auto& peer : contacts_[phone]) {
    auto* pa = state_.account(peer);
    if (!pa) continue;
    for (const auto& [dev_id, d] : pa->devices) {
      (void)d;
      Node n("notification", {{"from", pn_jid(phone, 0)}, {"type", "encrypt"}, {"id", next_id()},
                              {"t", std::to_string(now_unix())}});
      n.content = binary::Children{Node("identity")};
      deliver({DeviceAddr{peer, dev_id}, std::move(n)});
      ++notified;
    }
  }
  return ipc::ok_reply({{"notified", notified}});
}

}  // namespace wa::testserver
