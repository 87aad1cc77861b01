// One account's link to WhatsApp: websocket + Noise session + IQ layer +
// keepalive, driven through registration/pairing or login, with the close
// policy deciding between a socket-level retry (inside this worker, with
// jittered backoff) and staying down (logged out, replaced, outdated: the
// worker exits with kExitNoRestart so the supervisor does not restart it).
//
// Client is the core that owns the socket and the stanza table
// (dispatch.hpp); its protocol steps live in one file each, like the rest of
// this folder: client.cpp (connect, the table, requests, closing),
// pairing.cpp (QR and phone-number pairing), login.cpp (success, passive,
// open, offline queue), prekeys.cpp (count, upload, refill) and
// routing_info.cpp (edge routing kept for the next intro).
//
// Everything runs on the worker's loop thread.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "close_policy.hpp"
#include "credentials.hpp"
#include "dispatch.hpp"
#include "handshake.hpp"
#include "iq.hpp"
#include "keepalive.hpp"
#include "pair_code.hpp"
#include "routing_info.hpp"
#include "settings.hpp"
#include "socket.hpp"
#include "wa/binary/jid.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

// The server's own JID: the address of our requests and their answers.
inline constexpr const char* kServerJid = "@s.whatsapp.net";
// Prekey policy: the first upload gives the server a large stock; later the
// server's count is topped up when it falls to the low-water mark.
inline constexpr size_t kInitialPreKeys = 812;
inline constexpr size_t kPreKeyLowWater = 5;
inline constexpr size_t kPreKeyRefill = 50;
// Offline stanzas asked for per batch after <ib><offline_preview> (Baileys' number).
inline constexpr size_t kOfflineBatch = 100;

class Client {
 public:
  struct Hooks {
    std::function<void(nlohmann::json)> event;     // public event {"type": ...}
    std::function<void(int exit_code)> terminate;  // the account must stay down
  };

  Client(uv_loop_t* loop, std::string profile, ClientSettings settings, Hooks hooks);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens the profile's store (<data_dir>/<profile>/store.db), loads or
  // creates the credentials and starts connecting.
  Status start();
  // Closes the connection and fails every waiter; no reconnect afterwards.
  void stop();

  bool logged_in() const noexcept { return phase_ == Phase::open; }
  // The profile's store as this client opened it (set once start() succeeded).
  store::Store& store() noexcept { return *store_; }
  // The server unlinked this device at our request (logout): the same end
  // as a server-side logout (credentials and Signal state wiped, events
  // `connection` closed and `logged_out` with `reason`, exit kExitNoRestart).
  void logout(const std::string& reason) {
    expect_logout(reason);
    drop(CloseDecision{CloseAction::logged_out, reason});
  }
  // The server agreed to unlink us: its device_removed close that may
  // follow before logout() is our logout, reported with `reason`.
  void expect_logout(std::string reason) { logout_reason_ = std::move(reason); }
  const Credentials& credentials() const noexcept { return creds_; }

  // Sends an <iq> (its id is assigned here when absent) and waits for the
  // answer; fails at once with not_connected when not logged in.
  void query(binary::Node iq, IqTracker::Handler handler, uint64_t timeout_ms = 0, bool raw_errors = false);
  // Sends a stanza that the server acknowledges with <ack id=ID> (a message)
  // and waits for that ack: ack-on-send.
  void relay(binary::Node stanza, IqTracker::Handler handler, uint64_t timeout_ms = 0);
  Status send_node(const binary::Node& node);
  // tctoken.cpp: issues our privacy token to `peer` when one is due (once
  // per token bucket, docs/PROTOCOL.md §12.2), in the background: one iq in
  // flight per contact, none on a connection whose server said it does not
  // implement them. Sends never wait for it.
  void issue_privacy_token(const binary::Jid& peer);

  // Phone-number pairing: answers with the 8-character code once the server
  // accepted it. Only for a profile that is not linked yet.
  void request_pair_code(const std::string& phone_digits, std::function<void(Result<std::string>)> done);

  // The one table of incoming stanzas. The client registers its own
  // handlers at construction; the worker adds the receive path's (message,
  // receipt, notification, chatstate, ...). A stanza nobody takes is acked
  // when it is a notification and otherwise ignored.
  StanzaDispatch& stanzas() noexcept { return stanzas_; }

  // The profile's store failed while receiving: this connection must not
  // answer anything more. It is closed (the server keeps every unreceipted
  // message queued) and reconnected after the store backoff (about 1, 2, 5,
  // 10, 20 s; reset by store_ok(), not by a login - a login works without
  // the store, the next message would fail again). Returns the delay.
  uint64_t store_failed(const std::string& code);
  void store_ok() noexcept { store_backoff_.reset(); }

  // Observability for tests and benchmarks.
  unsigned reconnects() const noexcept { return reconnects_; }

 private:
  enum class Phase { idle, connecting, handshaking, awaiting_login, pairing, logging_in, open, stopped };

  // client.cpp: the socket, the table, closing.
  void connect();
  void on_ws_open(uint64_t gen);
  void on_ws_data(uint64_t gen, ByteView data);
  void on_ws_closed(uint64_t gen, const Error& e);
  void on_session_fail(uint64_t gen, const Error& e);
  void on_node(uint64_t gen, binary::Node node);
  void register_handlers();
  void ack(const binary::Node& node);
  // Ends the current connection and applies the policy.
  void drop(CloseDecision decision);
  void schedule_reconnect(uint64_t delay_ms, const std::string& reason);
  void bury_connection();
  void emit(nlohmann::json ev);
  void emit_closed(const std::string& reason, std::optional<uint64_t> retry_ms);
  uint64_t iq_timeout(uint64_t requested) const;

  // pairing.cpp
  bool on_pair_iq(const binary::Node& node);
  void on_pair_device(const binary::Node& node);
  void on_pair_success(const binary::Node& node);
  void on_link_code_notification(const binary::Node& node);
  void show_next_qr();
  void send_pair_code_hello();
  void fail_pair_code_waiters(const Error& e);

  // login.cpp
  void on_success(const binary::Node& node);
  bool on_offline_preview(const binary::Node& ib);
  void set_passive_active();
  void become_open();

  // prekeys.cpp
  void check_prekeys();
  // login.cpp: the AB props; `lid_one_on_one_migration_enabled` (9435)
  // marks the account's chats LID-migrated when the server turns it on
  // after pairing (docs/PROTOCOL.md §12.1).
  void refresh_ab_props();
  void upload_prekeys(size_t count, std::function<void()> then);
  bool on_encrypt_notification(const binary::Node& node);

  uv_loop_t* loop_;
  std::string profile_;
  ClientSettings settings_;
  Hooks hooks_;
  std::unique_ptr<store::Store> store_;
  Credentials creds_;
  std::unique_ptr<WsContext> ws_ctx_;
  std::unique_ptr<WsConnection> ws_;
  std::unique_ptr<NoiseSession> session_;
  // Connections dropped from inside their own callbacks die on the next turn.
  std::vector<std::unique_ptr<WsConnection>> dead_ws_;
  std::vector<std::unique_ptr<NoiseSession>> dead_sessions_;
  IqTracker iq_;
  Keepalive keepalive_;
  Backoff backoff_;
  Backoff store_backoff_;
  ipc::Timer reconnect_timer_;
  ipc::Timer connect_timer_;
  ipc::Timer reaper_;
  ipc::Timer exit_timer_;
  Phase phase_ = Phase::idle;
  // tctoken.cpp
  std::set<std::string> tokens_issuing_;
  bool token_issue_unsupported_ = false;  // this connection's server answered 501
  uint64_t gen_ = 0;  // connection generation: callbacks of older ones are ignored
  unsigned attempt_ = 0;
  uint64_t connect_started_ms_ = 0;  // uv_now when this attempt's socket was opened
  unsigned reconnects_ = 0;
  bool retrying_ = false;
  StanzaDispatch stanzas_;
  // Pairing of a profile that is not linked yet (pairing.cpp).
  struct Pairing {
    explicit Pairing(uv_loop_t* loop) : qr_timer(loop) {}
    std::deque<std::string> qr_refs;  // refs of the QR codes still to show
    ipc::Timer qr_timer;               // the shown code's lifetime
    bool qr_shown = false;
    std::optional<PairCodeRequest> code;  // phone-number pairing asked for
    std::vector<std::function<void(Result<std::string>)>> code_waiters;
    bool code_sent = false;  // its companion_hello went out on this connection
  } pairing_;
  RoutingInfo routing_;
  std::string logout_reason_;  // set: a logged_out close is our own logout
};

}  // namespace wa::connection
