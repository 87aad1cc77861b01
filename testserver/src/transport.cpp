#include "transport.hpp"

#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

#include "wa/binary/codec.hpp"
#include "wa/log.hpp"

namespace wa::testserver {

namespace {

constexpr size_t kMaxQueuedOut = 64u << 20;  // per connection, before we drop the client
constexpr int kHandshakeTimeoutS = 20;       // what both reference clients allow themselves
constexpr size_t kMaxWrite = 256u << 10;     // queued frames joined into one websocket message

int lws_trampoline(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* ctx = lws_get_context(wsi);
  auto* self = ctx ? static_cast<Transport*>(lws_context_user(ctx)) : nullptr;
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return self->on_lws(wsi, static_cast<int>(reason), user, in, len);
}

const lws_protocols kProtocols[] = {
    {"wa-chat", lws_trampoline, 0, 64 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

Transport::Transport(uv_loop_t* loop, const crypto::KeyPair& static_key, Bytes cert_chain, TransportEvents& events)
    : loop_(loop), static_(static_key), cert_chain_(std::move(cert_chain)), events_(events) {}

Transport::~Transport() { stop(); }

Result<std::unique_ptr<Transport>> Transport::listen(uv_loop_t* loop, const ListenOptions& opts,
                                                     const crypto::KeyPair& static_key, Bytes cert_chain,
                                                     TransportEvents& events) {
  std::unique_ptr<Transport> t(new Transport(loop, static_key, std::move(cert_chain), events));
  lws_set_log_level(LLL_ERR, nullptr);
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  void* loops[1] = {loop};
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.foreign_loops = loops;
  info.port = opts.port;
  info.iface = opts.host.c_str();
  info.protocols = kProtocols;
  info.user = t.get();
  info.fd_limit_per_thread = opts.fd_limit;
  info.count_threads = 1;
  info.vhost_name = "default";
  if (!opts.tls_cert.empty() && !opts.tls_key.empty()) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = opts.tls_cert.c_str();
    info.ssl_private_key_filepath = opts.tls_key.c_str();
  }
  t->ctx_ = lws_create_context(&info);
  if (!t->ctx_) return fail("listen_failed", "cannot listen on " + opts.host + ":" + std::to_string(opts.port));
  auto* vh = lws_get_vhost_by_name(t->ctx_, "default");
  t->port_ = vh ? lws_get_vhost_listen_port(vh) : opts.port;
  return t;
}

void Transport::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (ctx_) {
    lws_context_destroy(ctx_);
    ctx_ = nullptr;
  }
  conns_.clear();
}

Conn* Transport::find(lws* wsi, uint64_t conn_id) {
  auto it = conns_.find(wsi);
  return it == conns_.end() || it->second->id != conn_id ? nullptr : it->second.get();
}

int Transport::on_lws(lws* wsi, int reason, void* user, void* in, size_t len) {
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
      c->link.wsi = wsi;
      c->link.hs.emplace(static_, cert_chain_);
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
      if (c.link.closing) return 0;
      on_receive(c, static_cast<const uint8_t*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      auto it = conns_.find(wsi);
      if (it == conns_.end()) return -1;
      return on_writeable(wsi, *it->second);
    }
    case LWS_CALLBACK_CLOSED: {
      auto it = conns_.find(wsi);
      if (it == conns_.end()) return 0;
      events_.on_closed(*it->second);
      conns_.erase(it);
      return 0;
    }
    default:
      break;
  }
  (void)user;
  return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
}

int Transport::on_writeable(lws* wsi, Conn& c) {
  Link& l = c.link;
  if (l.out.empty()) {
    if (!l.closing) return 0;
    if (l.linger) {
      if (!l.linger_timer) {
        l.linger_timer = std::make_unique<ipc::Timer>(loop_);
        l.linger_timer->start(1000, [this, wsi]() {
          auto lit = conns_.find(wsi);
          if (lit == conns_.end()) return;
          lit->second->link.linger = false;
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
  Bytes buf = std::move(l.out.front());
  l.out.pop_front();
  while (!l.out.empty() && buf.size() < kMaxWrite) {
    const Bytes& next = l.out.front();
    buf.insert(buf.end(), next.begin() + LWS_PRE, next.end());
    l.out.pop_front();
  }
  l.out_bytes = 0;
  for (const auto& b : l.out) l.out_bytes += b.size();
  size_t n = buf.size() - LWS_PRE;
  if (lws_write(wsi, buf.data() + LWS_PRE, n, LWS_WRITE_BINARY) < static_cast<int>(n)) return -1;
  if (!l.out.empty() || l.closing) lws_callback_on_writable(wsi);
  return 0;
}

void Transport::on_receive(Conn& c, const uint8_t* data, size_t len) {
  c.link.splitter.feed(ByteView(data, len));
  while (!c.link.closing) {
    auto f = c.link.splitter.next();
    if (!f) {
      ++bad_frames_;
      WA_INFO("connection %llu: bad framing (%s), closing", static_cast<unsigned long long>(c.id), f.error().code.c_str());
      close_after_flush(c);
      return;
    }
    if (!f->has_value()) return;
    if (auto st = on_frame(c, std::move(**f)); !st) {
      ++bad_frames_;
      WA_INFO("connection %llu: %s (%s), closing", static_cast<unsigned long long>(c.id), st.error().code.c_str(),
              st.error().message.c_str());
      close_after_flush(c);
      return;
    }
  }
}

Status Transport::on_frame(Conn& c, Bytes frame) {
  Link& l = c.link;
  if (l.hs_step == 0) {
    WA_TRY(l.hs->read_client_hello(frame));
    auto hello = l.hs->write_server_hello();
    if (!hello) return Unexpected<Error>{hello.error()};
    send_frame(c, *hello);
    l.hs_step = 1;
    return {};
  }
  if (l.hs_step == 1) {
    auto payload = l.hs->read_client_finish(frame);
    if (!payload) return Unexpected<Error>{payload.error()};
    auto tc = l.hs->split();
    if (!tc) return Unexpected<Error>{tc.error()};
    l.tc.emplace(std::move(*tc));
    l.hs_step = 2;
    return events_.on_client_payload(c, *payload);
  }
  auto plain = l.tc->decrypt(frame);
  if (!plain) return Unexpected<Error>{plain.error()};
  auto node = binary::decode_frame_payload(*plain);
  if (!node) return Unexpected<Error>{node.error()};
  events_.on_node(c, *node);
  return {};
}

void Transport::send_frame(Conn& c, ByteView payload) {
  Link& l = c.link;
  if (l.closing && l.out.empty()) return;
  Bytes buf(LWS_PRE);
  buf.reserve(LWS_PRE + 3 + payload.size());
  if (!binary::append_frame(buf, payload)) return;
  const bool was_empty = l.out.empty();
  l.out_bytes += buf.size();
  l.out.push_back(std::move(buf));
  if (l.out_bytes > kMaxQueuedOut) {
    // A client that stops reading must not make us buffer without limit.
    l.out.clear();
    l.out_bytes = 0;
    close_after_flush(c);
    return;
  }
  // A non-empty queue always has a writeable callback asked for (asked
  // here, or again by on_writeable while frames remain). Asking once per
  // frame re-armed the socket's uv_poll each time: an epoll_ctl pair per
  // frame (libuv's uv_poll_start deletes and re-adds the fd).
  if (was_empty) lws_callback_on_writable(l.wsi);
}

void Transport::send_payload(Conn& c, ByteView plain) {
  if (!c.link.tc) return;
  auto enc = c.link.tc->encrypt(plain);
  if (!enc) return;
  send_frame(c, *enc);
}

void Transport::send_node(Conn& c, const binary::Node& n) {
  if (!c.link.tc || c.link.closing) return;
  auto payload = binary::encode_frame_payload(n);
  if (!payload) return;
  send_payload(c, *payload);
}

void Transport::close_after_flush(Conn& c) {
  c.link.closing = true;
  lws_callback_on_writable(c.link.wsi);
}

void Transport::stream_error(Conn& c, const std::string& kind) {
  binary::Node e("stream:error");
  if (kind == "515" || kind == "503") {
    e.set_attr("code", kind);
  } else if (kind == "device_removed") {
    e.set_attr("code", "401");
    e.content = binary::Children{binary::Node("conflict", {{"type", "device_removed"}})};
  } else if (kind == "replaced") {
    e.content = binary::Children{binary::Node("conflict", {{"type", "replaced"}})};
  }
  send_node(c, e);
  c.link.linger = true;
  close_after_flush(c);
}

void Transport::set_deadline(Conn& c, int seconds) {
  if (seconds > 0) lws_set_timeout(c.link.wsi, PENDING_TIMEOUT_USER_OK, seconds);
  else lws_set_timeout(c.link.wsi, NO_PENDING_TIMEOUT, 0);
}

}  // namespace wa::testserver
