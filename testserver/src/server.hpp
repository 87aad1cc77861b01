// The stand-in WhatsApp server: libwebsockets on a libuv loop, one Conn per
// websocket, the Noise responder, registration/pairing with the emulated
// phone, login, IQs, routing, offline queues and injected faults. Everything
// runs on the loop thread; admin requests arrive through ipc::LoopBridge.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "admin.hpp"
#include "routing.hpp"
#include "state.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/rep_server.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/result.hpp"

struct lws_context;
struct lws;

namespace wa::testserver {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string state_dir;
  unsigned fd_limit = 4096;  // lws per-thread fd table (and our connection cap)
};

struct Conn;

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(uv_loop_t* loop, ServeOptions opts, State state);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // Loop thread: close every connection and the listener; run the loop
  // afterwards so libuv can finish closing handles.
  void stop();

  // lws entry point (public for the C callback table).
  int on_lws(lws* wsi, int reason, void* user, void* in, size_t len);

 private:
  Server(uv_loop_t* loop, ServeOptions opts, State state);

  // transport
  void on_receive(Conn& c, const uint8_t* data, size_t len);
  Status on_frame(Conn& c, Bytes frame);
  void send_frame(Conn& c, ByteView payload);  // already encrypted / handshake bytes
  void send_node(Conn& c, const binary::Node& n);
  void close_after_flush(Conn& c);
  void stream_error(Conn& c, const std::string& kind);

  // protocol
  Status on_client_payload(Conn& c, ByteView payload);
  void on_node(Conn& c, const binary::Node& n);
  void on_iq(Conn& c, const binary::Node& iq);
  void on_message(Conn& c, const binary::Node& msg);
  void on_receipt(Conn& c, const binary::Node& r);
  void on_chatstate(Conn& c, const binary::Node& cs);
  void deliver(Delivery d);
  void login_success(Conn& c);
  // Offline backlog and held stanzas (see Conn::Held).
  void on_offline_batch(Conn& c, const binary::Node& batch);
  void next_batch(Conn& c);
  void answered(Conn& c, std::string_view cls, std::string_view id);
  void persist_unacked(Conn& c);
  void send_ack(Conn& c, binary::Node ack);

  // iq handlers: return the reply (type=result/error)
  binary::Node iq_encrypt(Conn& c, const binary::Node& iq);
  binary::Node iq_usync(Conn& c, const binary::Node& iq);
  binary::Node iq_groups(Conn& c, const binary::Node& iq);
  binary::Node iq_md(Conn& c, const binary::Node& iq);
  void on_pair_device_sign(Conn& c, const binary::Node& iq);
  binary::Node group_node(const Group& g);
  void notify_group(const Group& g, const std::string& type_child, const std::vector<std::string>& phones,
                    const DeviceAddr& author);

  // admin
  void on_admin(std::shared_ptr<ipc::PendingRequest> req);
  admin::json admin_scan(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_link_code(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_status();
  admin::json admin_fault(const admin::json& req);
  admin::json admin_drain_prekeys(const admin::json& req);
  admin::json admin_reset_identity(const admin::json& req);
  // <notification type="encrypt"><count value=N/> once a device's one-time
  // prekeys run low (again after each upload).
  void check_prekey_stock(const DeviceAddr& dev);
  void start_pairing(Conn& c, const std::string& phone, ByteView adv_secret, std::shared_ptr<ipc::PendingRequest> pending);

  std::string next_id();
  std::vector<Conn*> conns_for(const admin::Fault& f);

  uv_loop_t* loop_;
  ServeOptions opts_;
  State state_;
  lws_context* ctx_ = nullptr;
  int port_ = 0;
  std::unique_ptr<ipc::LoopBridge> bridge_;
  std::unique_ptr<ipc::RepServer> admin_;
  Bytes cert_chain_;
  std::map<lws*, std::unique_ptr<Conn>> conns_;
  std::map<DeviceAddr, Conn*> online_;
  std::map<std::string, Conn*> refs_;
  std::map<std::string, std::string> refused_;  // phone -> failure reason
  std::set<DeviceAddr> prekeys_low_;             // notified, no upload since
  // Who has exchanged messages with whom (this run only): they are told when
  // the other's identity changes.
  std::map<std::string, std::set<std::string>> contacts_;
  struct Counters {
    uint64_t messages = 0, deliveries = 0, queued = 0, receipts = 0, retry_receipts = 0, logins = 0, pairings = 0,
             bad_frames = 0;
  } counters_;
  std::map<uint64_t, std::unique_ptr<ipc::Timer>> ack_timers_;  // delay-acks in flight
  uint64_t next_timer_id_ = 1;
  uint64_t id_counter_ = 0;
  uint64_t next_conn_id_ = 1;
  bool stopping_ = false;
};

}  // namespace wa::testserver
