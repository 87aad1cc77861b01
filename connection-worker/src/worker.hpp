// wa-connection: THE socket of one account (websocket + noise + IQ + login
// + receive) and the dispatcher of its sends. It talks to the supervisor
// over one PAIR1 link and to its senders over a REP socket.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "addons.hpp"
#include "chat_commands.hpp"
#include "client.hpp"
#include "contacts.hpp"
#include "events.hpp"
#include "media.hpp"
#include "receive.hpp"
#include "senders.hpp"
#include "wa/contract/settings.hpp"
#include "wa/ipc/links.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/pair_link.hpp"
#include "wa/ipc/timer.hpp"

namespace wa::connection {

class Worker {
 public:
  // `stop_loop`: ends the loop's run once this turn is over (shutdown()).
  Worker(uv_loop_t* loop, std::string profile, std::string link_url, std::function<void()> stop_loop);
  ~Worker();
  Status start();
  // SIGTERM: fail what is pending, close the link, leave the loop.
  void shutdown();
  // What main() returns: 0; kExitNoRestart when the account must stay down;
  // 1 when start-up failed (settings, store, sockets).
  int exit_code() const noexcept { return exit_code_; }
  // Registry commands that run in the account without a handler here (or
  // the reverse): empty, or main() refuses to run.
  static std::vector<std::string> missing_handlers();

 private:
  void on_link(Bytes body);
  void on_init(const ipc::link::FromSupervisor& m);
  void on_request(const ipc::link::FromSupervisor& req);
  using Reply = std::function<void(json)>;
  // An account command's handler; `args` are its validated fields.
  using Command = void (*)(Worker& w, const json& args, Reply reply);
  static const std::map<std::string_view, Command>& command_handlers();
  void send_text(const json& args, Reply reply);
  void pair_code(const json& args, Reply reply);
  // A sending command whose validated arguments are its sender job's
  // payload as they are: {kind, to = args[chat_key], the other fields}.
  void submit_job(std::string_view kind, const char* chat_key, const json& args, Reply reply);
  ChatCommands* logged_in_chat(const Reply& reply);
  bool ready_addons(const Reply& reply);
  ContactCommands* logged_in_contacts(const Reply& reply);
  void to_supervisor(const json& m);
  void emit(json event);  // logged in the profile's event log, then to the supervisor
  // Runs fn with the events it emits gathered into one link message (see
  // flush_events); the receive path wraps each committed batch in it.
  void batch_events(const std::function<void()>& fn);
  void flush_events();
  void answer_query(const ipc::link::FromSender& q, std::function<void(json)> reply);
  // Relays a sender's stanza (its relay query, or the stanza its done
  // carries). A failure after the stanza was written and before its ack is
  // unknown_outcome: the server may have taken it.
  void relay_stanza(binary::Node stanza, uint64_t timeout_ms, std::function<void(Result<binary::Node>)> done);
  // A done carrying its job's stanza: relay, settle the ack
  // (message::settle_ack), answer the job through `finish`.
  void relay_for_sender(const ipc::link::FromSender& done, std::function<void(json)> finish);
  // Our privacy token to `peer` (a user JID as text; anything else, or no
  // connection, is ignored: the issue is best effort).
  void issue_token_to(const std::string& peer);
  // The receive path's store failed: no receipts, the socket closed and
  // reconnected with backoff, a store_unavailable event.
  void set_log_level(const json& m);
  void on_store_failed(const Error& e);
  // The profile's database is damaged: stop sending and receiving at once
  // and exit with kExitStoreCorrupt (the supervisor marks the instance
  // failed, reason store_corrupt, and does not restart it).
  void on_store_corrupt(const Error& e);

  uv_loop_t* loop_;
  std::string profile_;
  std::string link_url_;
  ipc::LoopBridge bridge_;
  std::unique_ptr<ipc::PairLink> link_;
  std::unique_ptr<SenderPool> senders_;
  contract::WorkerSettings settings_;
  // Before client_: answers the client still owes (failed in its destructor) may reach it.
  std::unique_ptr<ChatCommands> chat_;  // groups, read receipts, chat state
  std::unique_ptr<ContactCommands> contacts_;  // numbers, pictures, presence, block list, about, logout
  std::unique_ptr<Client> client_;  // the WhatsApp connection
  std::unique_ptr<Receiver> receiver_;  // decrypt -> inbox -> receipt
  std::unique_ptr<EventSink> events_;   // seq for every event this worker emits
  // After the client and the receive path: gone before them.
  std::unique_ptr<AddonCommands> addons_;  // poll_results (addons.hpp)
  std::unique_ptr<MediaCommands> media_;  // uploads and downloads through the senders
  // Events of the current batch_events() scope, each already CBOR.
  std::vector<Bytes> event_batch_;
  size_t event_batch_bytes_ = 0;
  bool batching_events_ = false;
  int exit_code_ = 0;
  bool corrupt_ = false;
  ipc::Timer corrupt_timer_;  // the corruption observer fires inside store calls: act on the next turn
  // Ends the loop (ipc::WatchedLoop::stop: liveness is the loop's own
  // business, wa/ipc/heartbeat.hpp).
  std::function<void()> stop_loop_;
  // Store on PostgreSQL: this worker's own look at its lease (check_lease).
  void check_lease();
  void on_lease_lost(const std::string& why);
  ipc::Timer lease_timer_;
  std::chrono::steady_clock::time_point lease_valid_until_{};  // local estimate, a third of the ttl early
  bool lease_lost_ = false;
};

}  // namespace wa::connection
