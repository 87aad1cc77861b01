// One account's process tree: its connection worker and its senders, under
// OTP's rest_for_one with child order [connection, senders]:
//   - the connection worker dies (any cause) -> every sender is terminated
//     and reaped, then the connection worker is re-forked (subject to the
//     restart intensity and backoff); senders come back on demand;
//   - a sender dies -> only that sender is gone; the connection worker is
//     told (pid, conversation, status) and fails that conversation's sends.
//   - a worker that stops answering is killed and then handled as above:
//     the connection worker must say `ready` within liveness.ready_timeout_ms
//     of its fork, and then its loop must not stay in its callbacks (or
//     stopped) for liveness.timeout_ms - its page says (wa/ipc/heartbeat.hpp);
//     a sender is killed when its
//     connection worker reports it silent (kill_sender).
// Every method runs on the supervisor's loop thread.
#pragma once

#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "wa/contract/commands.hpp"
#include "events.hpp"
#include "leases.hpp"
#include "start_gate.hpp"
#include "wa/ipc/child.hpp"
#include "wa/ipc/zygote.hpp"
#include "wa/ipc/heartbeat.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/pair_link.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/log.hpp"

namespace wa::supervisor {

enum class State { stopped, starting, running, restarting, failed, stopping };
const char* to_string(State s);

using json = nlohmann::json;
using ReplyFn = std::function<void(json reply)>;  // a control reply envelope

struct Environment {
  uv_loop_t* loop;
  ipc::LoopBridge* bridge;
  EventBus* events;
  StartGate* gate;  // connects in progress, shared by every instance
  // This host's leases (store.engine "postgres"); nullptr with SQLite,
  // where the run dir's lock alone keeps a profile to one supervisor.
  LeaseKeeper* leases;
  // Forks the connection workers (start.zygote); nullptr: each is exec'd.
  ipc::Zygote* zygote;
  const Config* config;
  std::string bin_dir;
};

class Instance {
 public:
  Instance(Environment env, std::string profile, bool autostart);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::string& profile() const { return profile_; }
  bool autostart() const { return autostart_; }
  State state() const { return state_; }
  const std::string& failed_reason() const { return failed_reason_; }
  json status() const;
  // This instance's row of `metrics` (without the log head, the EventBus's).
  json metrics() const;
  // Tells the running worker the new log level (senders started from now on
  // get it on their command line; running ones keep theirs until they exit).
  void set_log_level(log::Level level);
  // Another host claimed the profile (or our lease could not be renewed in
  // time): the account's processes stop and the instance fails with
  // `lease_lost`; its writes are refused by the fencing token meanwhile.
  void lease_lost();
  // The profile's store as this instance's processes name it now.
  std::string store_locator() const;

  // stopped/failed -> starting. The worker is forked when the start gate
  // grants a slot, after a uniform delay in [0, jitter_ms] (autostart).
  Status start(uint64_t jitter_ms = 0);
  // Orderly stop: senders, then the connection worker; `done` runs once
  // everything is reaped (at once if nothing runs).
  void stop(std::function<void()> done);
  // Routes a command to the connection worker; replies instance_down at
  // once when it is not running. `client_id` de-duplicates resends.
  // The supervisor's deadline comes from the command's (contract::route_deadline_ms).
  void route(const contract::CommandSpec& cmd, json args, const std::string& client_id, ReplyFn reply);
  // One liveness look at the connection worker, from the supervisor's sweep
  // every liveness.interval_ms. `stalled`: the sweep itself came late (our
  // own loop was blocked), so nobody is judged on this one.
  void check_liveness(std::chrono::steady_clock::time_point now, bool stalled);

 private:
  struct Sender {
    std::unique_ptr<ipc::Child> child;
  };
  struct Parked {
    ReplyFn reply;
    std::string client_id;
    std::chrono::steady_clock::time_point deadline;
    bool sends = false;  // a lost answer is unknown_outcome, not timeout
  };
  struct DedupEntry {
    std::vector<ReplyFn> waiters;  // in flight
    std::optional<json> reply;     // done
    std::chrono::steady_clock::time_point at;
  };

  // Joins the start gate's queue; spawn_connection runs on the grant.
  void request_spawn();
  // Gives back the start slot (or leaves the queue); a no-op without one.
  void release_slot();
  void spawn_connection();
  void on_link_message(uint64_t incarnation, Bytes body);
  void on_connection_exit(uint64_t incarnation, ipc::ExitStatus st);
  void spawn_sender(const std::string& conversation);
  void on_sender_exit(const std::string& conversation, pid_t pid, ipc::ExitStatus st);
  void send_to_worker(const json& m);
  void fail_parked(const std::string& code, const std::string& message);
  void finish_request(uint64_t rid, json reply);
  void complete_dedup(const std::string& client_id, const json& reply);
  // Terminate every sender (SIGTERM, SIGKILL after the timeout), then `done`.
  void stop_senders(std::function<void()> done);
  void stop_connection(std::function<void()> done);
  void schedule_restart();
  // -> failed (no more restarts until `start`), with the reason in status
  // and in the instance_failed event.
  void enter_failed(const std::string& reason, json detail);
  void sweep_parked();
  void declare_unresponsive(const char* phase, std::chrono::milliseconds silent);
  void kill_sender(const json& m);

  Environment env_;
  std::string profile_;
  bool autostart_;
  std::string dir_;
  State state_ = State::stopped;

  std::unique_ptr<ipc::Child> conn_;
  std::unique_ptr<ipc::PairLink> link_;
  uint64_t incarnation_ = 0;
  bool worker_ready_ = false;
  std::map<std::string, Sender> senders_;
  std::map<uint64_t, Parked> parked_;
  uint64_t next_rid_ = 1;
  std::map<std::string, DedupEntry> dedup_;

  uint64_t restarts_ = 0;
  uint64_t sends_routed_ = 0;
  // Counters for `metrics`, since the supervisor started (Prometheus
  // counters: a scraper handles the reset at a restart).
  struct Counters {
    uint64_t reconnects = 0;    // the socket opened again after closing, within one worker's life
    uint64_t messages_in = 0;   // messages of others (any kind) the account logged
    uint64_t messages_out = 0;  // sending commands answered ok
    std::map<std::string, uint64_t> sends_failed;  // sending commands answered with an error, by code
  } counters_;
  bool closed_since_open_ = false;  // this worker's socket closed after it had opened
  void count_send(const json& reply);
  std::deque<std::chrono::steady_clock::time_point> restart_window_;
  json last_exit_ = nullptr;
  std::string failed_reason_;  // restart_intensity | store_corrupt, while failed
  // What the operator asks first — linked? connected? — learnt from the
  // worker's own events as they pass (see note_account_event), so `status`
  // never has to ask a worker that may be busy or down.
  json linked_ = nullptr;        // {"jid","lid"}; false: waiting to be paired; null: not known yet
  json connection_ = nullptr;    // {"state", "reason"?, "since"}: the socket's last state
  void note_account_event(const json& ev);
  json worker_settings() const;
  bool store_corrupt_ = false;  // a sender exited with kExitStoreCorrupt: fail on the worker's exit
  bool lease_lost_ = false;     // another host owns the account now: fail on the worker's exit
  uint64_t claims_ = 0;         // the newest lease claim asked for (older answers are stale)
  std::chrono::steady_clock::time_point spawned_at_{};
  // Liveness of the current connection worker (see check_liveness): its
  // page and the reading of it (the turn count last seen, when it moved).
  std::optional<ipc::HeartbeatPage> heartbeat_;
  ipc::LoopWatch watch_;
  bool unresponsive_ = false;  // this incarnation was killed by us for silence

  // Teardown bookkeeping: what to run once the awaited children are reaped.
  std::function<void()> on_senders_gone_;
  std::function<void()> on_connection_gone_;
  std::vector<std::function<void()>> stop_waiters_;

  uint64_t slot_ = 0;  // start gate ticket, waiting or holding; 0: none
  ipc::Timer slot_timer_;  // start.connect_timeout_ms of the held slot
  ipc::Timer restart_timer_;
  ipc::Timer kill_senders_timer_;
  ipc::Timer kill_conn_timer_;
  ipc::Timer sweep_timer_;
};

}  // namespace wa::supervisor
