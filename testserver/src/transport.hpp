// The transport: libwebsockets on the libuv loop, one Conn per websocket on
// /ws/chat, the framing, the Noise responder and the encrypted node stream.
// It knows nothing of accounts: the ClientPayload, every decoded node and
// each connection's end go to the TransportEvents (the server).
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "conn.hpp"
#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"

struct lws_context;
struct lws;

namespace wa::testserver {

class TransportEvents {
 public:
  virtual ~TransportEvents() = default;
  // The ClientPayload the handshake carried; an error closes the connection.
  virtual Status on_client_payload(Conn& c, ByteView payload) = 0;
  virtual void on_node(Conn& c, const binary::Node& n) = 0;
  // The socket is gone; c is destroyed right after.
  virtual void on_closed(Conn& c) = 0;
};

struct ListenOptions {
  std::string host;
  int port = 0;  // 0: any free port
  unsigned fd_limit = 4096;  // lws per-thread fd table (and our connection cap)
  // Both set: TLS (wss://) with this certificate chain (PEM) and key.
  std::string tls_cert, tls_key;
};

class Transport {
 public:
  // static_key must outlive the transport; cert_chain's leaf is its public key.
  static Result<std::unique_ptr<Transport>> listen(uv_loop_t* loop, const ListenOptions& opts,
                                                   const crypto::KeyPair& static_key, Bytes cert_chain,
                                                   TransportEvents& events);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int port() const { return port_; }
  // Closes every connection (their on_closed still runs) and the listener.
  void stop();

  void send_node(Conn& c, const binary::Node& n);
  // Encrypts and frames bytes that need not be a node (a malformed-frame fault).
  void send_payload(Conn& c, ByteView plain);
  void close_after_flush(Conn& c);
  // <stream:error> of kind "515" | "503" | "device_removed" | "replaced",
  // then close once the client had a moment to read it.
  void stream_error(Conn& c, const std::string& kind);
  // How long a connection may stay in its current phase (handshake,
  // pairing) before lws drops it; 0: as long as it likes.
  void set_deadline(Conn& c, int seconds);

  // A connection by what timers capture: the socket and the Conn's id (lws
  // reuses socket pointers).
  Conn* find(lws* wsi, uint64_t conn_id);
  const std::map<lws*, std::unique_ptr<Conn>>& conns() const { return conns_; }
  uv_loop_t* loop() const { return loop_; }
  uint64_t bad_frames() const { return bad_frames_; }

  // lws entry point (public for the C callback table).
  int on_lws(lws* wsi, int reason, void* user, void* in, size_t len);

 private:
  Transport(uv_loop_t* loop, const crypto::KeyPair& static_key, Bytes cert_chain, TransportEvents& events);
  void on_receive(Conn& c, const uint8_t* data, size_t len);
  Status on_frame(Conn& c, Bytes frame);
  void send_frame(Conn& c, ByteView payload);  // already encrypted / handshake bytes
  int on_writeable(lws* wsi, Conn& c);

  uv_loop_t* loop_;
  const crypto::KeyPair& static_;
  Bytes cert_chain_;
  TransportEvents& events_;
  lws_context* ctx_ = nullptr;
  int port_ = 0;
  std::map<lws*, std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_id_ = 1;
  uint64_t bad_frames_ = 0;
  bool stopping_ = false;
};

}  // namespace wa::testserver
