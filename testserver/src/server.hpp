// The stand-in WhatsApp server. Its parts, by protocol concern:
//   transport.cpp   websocket, framing, Noise (class Transport)
//   dispatch.cpp    the one tag / xmlns -> handler table
//   login.cpp       ClientPayload: companion registration or login, <success>
//                   (who is online where: class Sessions)
//   relay.cpp       messages, receipts, chat states, acks; offline queue and batches
//   iq_keys.cpp     encrypt (prekeys) and usync IQs
//   iq_groups.cpp   w:g2 IQs and group notifications
//   iq_abt.cpp      AB props (the account's LID migration flag)
//   contacts.cpp    profile pictures, block list, about texts, presence
//   pairing.cpp     the emulated phone's side: QR and link-code pairing, md IQs
//   admin_commands.cpp  the admin socket's commands
//   faults.cpp      injected faults (class Faults)
//   media_phone.cpp media_conn IQ, media admin commands, the phone's side of
//                   media retry (the HTTPS host itself: media_host.cpp)
// Everything runs on the loop thread; admin requests arrive through
// ipc::LoopBridge.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "admin.hpp"
#include "conn.hpp"
#include "faults.hpp"
#include "media.hpp"
#include "media_host.hpp"
#include "routing.hpp"
#include "sessions.hpp"
#include "state.hpp"
#include "transport.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/rep_server.hpp"
#include "wa/result.hpp"

namespace wa::testserver {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string state_dir;
  unsigned fd_limit = 4096;  // lws per-thread fd table (and our connection cap)
  // wss:// instead of ws://, as the real server: the chat listener serves
  // TLS with the media host's certificate (issued by DIR/media-ca.pem).
  bool chat_tls = false;
  // The HTTPS media host (same host as the chat listener).
  int media_port = 0;  // 0: any free port
  uint64_t media_max_bytes = 2ull << 30;
  uint64_t media_auth_ttl = 3600;     // media_conn auth (and ttl) in seconds
  std::string media_fallback_host;    // HOST:PORT listed as type="fallback" (may point nowhere)
  bool media_fallback_first = false;  // list the fallback before our host
};

class Server final : private TransportEvents {
 public:
  static Result<std::unique_ptr<Server>> start(uv_loop_t* loop, ServeOptions opts, State state);
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return transport_ ? transport_->port() : 0; }
  int media_port() const { return media_ ? media_->port() : 0; }
  // Loop thread: close every connection and the listener; run the loop
  // afterwards so libuv can finish closing handles.
  void stop();

 private:
  Server(uv_loop_t* loop, ServeOptions opts, State state);

  // TransportEvents
  Status on_client_payload(Conn& c, ByteView payload) override;  // login.cpp
  void on_node(Conn& c, const binary::Node& n) override;          // server.cpp: the dispatch
  void on_closed(Conn& c) override;                               // login.cpp

  void send(Conn& c, const binary::Node& n) { transport_->send_node(c, n); }
  std::string next_id();

  // login.cpp
  void login_success(Conn& c);

  // relay.cpp
  void on_message(Conn& c, const binary::Node& msg);
  void on_receipt(Conn& c, const binary::Node& r);
  void on_chatstate(Conn& c, const binary::Node& cs);
  void on_offline_batch(Conn& c, const binary::Node& batch);
  void deliver(Delivery d);
  void next_batch(Conn& c);
  // The client answered (ack or receipt) a stanza we handed out.
  void answered(Conn& c, std::string_view cls, std::string_view id);
  // Its connection ends: what it left unanswered goes back to the queue.
  void persist_unacked(Conn& c);
  // Its identity is gone: what was held for it is never delivered.
  void drop_held(Conn& c);
  // At login: the offline preview, then the queue in the batches the client asks for.
  void start_offline_delivery(Conn& c);

  void on_iq(Conn& c, const binary::Node& iq);  // server.cpp: the xmlns dispatch
  // IQ handlers: return the reply (type=result/error); an empty Node when
  // the handler answered already.
  binary::Node iq_encrypt(Conn& c, const binary::Node& iq);  // iq_keys.cpp
  binary::Node iq_usync(Conn& c, const binary::Node& iq);    // iq_keys.cpp
  // xmlns=privacy <tokens>: mint privacy tokens, push them to the holders.
  binary::Node iq_privacy(Conn& c, const binary::Node& iq);  // iq_keys.cpp
  binary::Node iq_abt(Conn& c, const binary::Node& iq);      // iq_abt.cpp
  binary::Node iq_media_conn(Conn& c, const binary::Node& iq);  // media_phone.cpp
  // <receipt type="server-error"> (media retry): the phone's answer.
  void on_media_retry(Conn& c, const binary::Node& r);          // media_phone.cpp
  // <notification type="encrypt"><count value=N/> once a device's one-time
  // prekeys run low (again after each upload).
  void check_prekey_stock(const DeviceAddr& dev);            // iq_keys.cpp
  binary::Node iq_groups(Conn& c, const binary::Node& iq);   // iq_groups.cpp
  binary::Node group_node(const Group& g);
  // <participant> of a group's metadata or notification, in the group's mode.
  binary::Node group_participant(const Group& g, const std::string& phone);
  // A participant change (`action` add/remove/promote/demote) to every
  // member device and to `phones`' devices; `child_attrs` on the change
  // (e.g. reason="invite").
  void notify_group(const Group& g, const std::string& action, const std::vector<std::string>& phones,
                    const DeviceAddr& author, binary::Attrs child_attrs = {});
  // Any change node (subject, description, settings, ...) to every member
  // device and to `extra`'s devices.
  void notify_group_change(const Group& g, const binary::Node& change, const std::set<std::string>& extra,
                           const DeviceAddr& author);
  // The JID a group names a member by (LID in lid groups, else PN).
  std::string author_jid(const Group& g, const std::string& phone);
  binary::Node iq_md(Conn& c, const binary::Node& iq);       // pairing.cpp
  void on_pair_device_sign(Conn& c, const binary::Node& iq);
  void start_pairing(Conn& c, const std::string& phone, ByteView adv_secret, std::shared_ptr<ipc::PendingRequest> pending);
  // <notification type="devices"> with <add>/<remove> of `device` to the
  // account's other devices and to every device of its contacts.
  void notify_devices(const std::string& phone, const std::string& change, uint16_t device);

  // contacts.cpp: profile pictures, block list, about texts, presence (this run only).
  binary::Node iq_picture(Conn& c, const binary::Node& iq);
  binary::Node iq_blocklist(Conn& c, const binary::Node& iq);
  binary::Node iq_status(Conn& c, const binary::Node& iq);
  binary::Node iq_mex(Conn& c, const binary::Node& iq);
  binary::Node blocklist_node(const std::string& phone);
  // A usync <status/> answer about `phone` for the asking connection.
  binary::Node about_node(const Conn& c, const std::string& phone);
  void set_about(Conn& c, std::string text);
  void on_presence(Conn& c, const binary::Node& p);
  void presence_gone(const Conn& c);
  void presence_changed(const std::string& phone);
  binary::Node presence_of(const std::string& phone, const std::string& as_jid);
  std::string public_jid(const std::string& phone);
  // Whether `blocker` blocks `other` (phones).
  bool blocks(const std::string& blocker, const std::string& other) const;
  // `n` (a fresh id each) to every device of `phone` but `except`, and with
  // others_too to its contacts and presence subscribers.
  void notify_contacts(const std::string& phone, const DeviceAddr& except, const binary::Node& n, bool others_too);
  admin::json admin_contacts(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);

  // admin_commands.cpp (scan and link-code: pairing.cpp; fault: faults.cpp).
  // A handler that keeps `pending` answers it later (pairing in flight).
  using AdminCommand = admin::json (Server::*)(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  void on_admin(std::shared_ptr<ipc::PendingRequest> req);
  admin::json admin_scan(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_link_code(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_status(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_fault(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_drain_prekeys(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_reset_identity(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_migrate(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_new_lid(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_receipts(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  // media_phone.cpp
  admin::json admin_media_expire(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_media_corrupt(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_media_refuse_uploads(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_media_slow(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_media_list(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json admin_media_retry_key(const admin::json& req, std::shared_ptr<ipc::PendingRequest>& pending);
  admin::json media_status() const;
  Status start_media();
  std::vector<Conn*> conns_for(const admin::Fault& f);

  uv_loop_t* loop_;
  ServeOptions opts_;
  State state_;
  std::unique_ptr<Transport> transport_;
  Faults faults_;
  std::unique_ptr<ipc::LoopBridge> bridge_;
  std::unique_ptr<ipc::RepServer> admin_;
  std::unique_ptr<media::Store> media_store_;
  std::unique_ptr<media::MediaHost> media_;
  Sessions sessions_;
  std::set<DeviceAddr> prekeys_low_;  // notified, no upload since
  // Who has exchanged messages with whom (this run only): they are told when
  // the other's identity changes or it links or unlinks a device.
  std::map<std::string, std::set<std::string>> contacts_;
  // contacts.cpp (by account phone; pictures also by group "ID@g.us").
  struct Picture {
    std::string id, url, direct_path;
  };
  struct About {
    std::string text;
    uint64_t t = 0;
  };
  struct Presence {
    bool available = false;
    uint64_t last = 0;
    std::string name;
  };
  struct Directory {
    std::map<std::string, Picture> pictures;
    std::map<std::string, std::set<std::string>> blocked;  // blocker -> blocked
    std::map<std::string, About> about;
    std::map<std::string, Presence> presence;
    std::set<DeviceAddr> available_devices;
    // contact phone -> subscriber device -> the JID it subscribed with
    std::map<std::string, std::map<DeviceAddr, std::string>> subscribers;
  } directory_;
  struct Counters {
    uint64_t messages = 0, deliveries = 0, queued = 0, receipts = 0, retry_receipts = 0, logins = 0, pairings = 0,
             device_notifications = 0, privacy_tokens = 0;
    // every privacy-token iq a client sent, taken or refused (a client that
    // asks on every message shows here)
    uint64_t privacy_token_iqs = 0;
    // Logins that found the device logged in on another connection (which
    // then got `replaced`): two processes running one device at once.
    uint64_t replaced = 0;
    // media retry requests (server-error receipts): all, answered with a
    // new direct path, answered with an error
    uint64_t media_retries = 0, media_retries_served = 0, media_retries_failed = 0;
    std::map<int, uint64_t> refused;  // messages refused, by ack error code (400, 463, ...)
  } counters_;
  // Every receipt a device sent this run, in arrival order (admin
  // `receipts`): the message ids it answered and when, so a test can prove
  // that an id was answered only after the client had stored it. The
  // oldest go first beyond kMaxReceiptLog.
  struct ReceiptRecord {
    DeviceAddr from;
    std::string type;  // the receipt's type attribute; "" for a delivery receipt
    std::vector<std::string> ids;
    int64_t at_us = 0;  // wall clock (CLOCK_REALTIME), microseconds
  };
  static constexpr size_t kMaxReceiptLog = 200000;
  std::deque<ReceiptRecord> receipt_log_;
  uint64_t receipt_log_dropped_ = 0;
  uint64_t id_counter_ = 0;
  bool stopping_ = false;
};

}  // namespace wa::testserver
