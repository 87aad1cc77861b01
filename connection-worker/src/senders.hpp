// The connection worker's side of the send pipeline: one queue per
// conversation, at most one sender process per conversation (serial within
// a conversation, parallel across them), at most `max_senders` at once.
// Sends beyond the cap wait here, never dropped. The supervisor forks the
// senders; this class only asks for them and hands them work.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/ipc/links.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/rep_server.hpp"
#include "wa/ipc/timer.hpp"

namespace wa::connection {

using json = nlohmann::json;

struct Job {
  uint64_t id = 0;
  std::string conversation;
  json payload;  // what the sender needs: to, text, quoted_id ...
  std::function<void(json reply)> done;  // control reply envelope
  std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();
};

class SenderPool {
 public:
  struct Hooks {
    std::function<void(const std::string& conversation)> request_sender;  // ask the supervisor
    // Answers a sender's query (devices, bundles, relay). `reply` may run later.
    std::function<void(const ipc::link::FromSender& query, std::function<void(json)> reply)> query;
    // A sender that stopped answering: ask the supervisor to kill it (its
    // exit then comes back as on_sender_exited).
    std::function<void(const std::string& conversation, pid_t pid)> kill_sender;
    // A done named a contact our privacy token is due to: issued after the
    // send was answered (may be unset).
    std::function<void(const std::string& peer)> issue_token;
    // A done that carries the job's stanza (`relay`, ipc/messages.hpp):
    // relay it, settle the ack and answer the job through `finish`, which
    // may run later. The sender is parked meanwhile. Unset: such a done
    // fails the job (the sender expected its message to leave).
    std::function<void(const ipc::link::FromSender& done, std::function<void(json reply)> finish)> relay;
  };

  SenderPool(uv_loop_t* loop, ipc::LoopBridge& bridge, int max_senders, int idle_ms, Hooks hooks);
  ~SenderPool();
  Status listen(const std::string& url);
  // Liveness: whenever it is a sender's turn (it was handed a job, a query's
  // answer or an exit order, or was just forked), it must come back within
  // `ms` or it is reported through Hooks::kill_sender. 0 disables.
  void set_silence_timeout(uint64_t ms) { silence_ms_ = ms; }
  // A job not handed to a sender within `ms` (every slot busy, or behind
  // earlier sends of its conversation) fails `timeout`: it was never sent.
  // Part of the timeout budget (wa/contract/deadlines.hpp). 0 disables.
  void set_queue_timeout(uint64_t ms) { queue_timeout_ms_ = ms; }

  void submit(std::string conversation, json payload, std::function<void(json)> done);

  // Re-sends per (message, device) before a device's retry receipts are
  // ignored (both reference clients stop at 5).
  static constexpr int kMaxRetryRounds = 5;
  // A retry receipt (the encoded <receipt type="retry"> node) for a message
  // sent in `conversation`: queued as a {kind:"retry"} job behind that
  // conversation's sends, so the re-encryption is serial with them. Nobody
  // waits for the answer; it is logged. False when the rounds are used up.
  bool submit_retry(const std::string& conversation, const std::string& message_id, const std::string& device,
                    std::vector<uint8_t> receipt);

  // Supervisor notices.
  void on_sender_started(const std::string& conversation, pid_t pid);
  void on_sender_refused(const std::string& conversation, const std::string& code, const std::string& message);
  void on_sender_exited(const std::string& conversation, pid_t pid, bool abnormal);

  // Fails every queued and in-flight send (the connection is going away).
  void fail_all(const std::string& code, const std::string& message);
  size_t live_senders() const { return live_; }

 private:
  enum class SenderState { none, requested, alive, exiting };
  struct Conversation {
    std::deque<Job> queue;
    std::optional<Job> in_flight;
    SenderState state = SenderState::none;
    pid_t pid = 0;
    std::shared_ptr<ipc::PendingRequest> waiting;  // the sender's parked "next"
    std::unique_ptr<ipc::Timer> idle;
    std::unique_ptr<ipc::Timer> silence;  // armed while it is the sender's turn
    bool heard = false;                   // its sender has made a request
  };

  void on_request(std::shared_ptr<ipc::PendingRequest> req);
  void pump(const std::string& name);
  void want_sender(const std::string& name, Conversation& c);
  void release_slot();
  void tell(const std::shared_ptr<ipc::PendingRequest>& req, const json& m);
  void fail_queue(Conversation& c, const std::string& code, const std::string& message);
  // The sender of `name` owes us its next request: start its silence deadline.
  void await_sender(const std::string& name, Conversation& c);
  void expire_queued();

  uv_loop_t* loop_;
  ipc::LoopBridge& bridge_;
  int max_;
  int idle_ms_;
  Hooks hooks_;
  std::unique_ptr<ipc::RepServer> server_;
  std::map<std::string, Conversation> convs_;
  std::deque<std::string> waiting_for_slot_;
  size_t live_ = 0;  // requested + alive + exiting senders
  // Retry rounds per "message-id|device", oldest first forgotten: a bounded
  // memory is enough because a message leaves the sent cache anyway.
  std::map<std::string, int> retry_rounds_;
  std::deque<std::string> retry_order_;
  uint64_t next_job_ = 1;
  uint64_t silence_ms_ = 0;
  uint64_t queue_timeout_ms_ = 0;
  std::unique_ptr<ipc::Timer> expiry_;  // runs while jobs are queued
};

}  // namespace wa::connection
