// The supervisor's link to the other hosts of a cluster, over NATS
// (docs/ARCHITECTURE.md, "Cluster"; subjects in wa/contract/cluster.hpp).
//
// Two jobs, nothing else:
//  - commands: a control request for a profile another host owns travels to
//    that host's command subject and its control reply comes back; requests
//    for our own profiles arrive the same way and are answered here;
//  - live events: every event this host logs or announces is published on
//    the profile's subject, and other hosts' events are handed to the local
//    event socket (the PostgreSQL log stays the source of truth; a consumer
//    that missed some replays them from there).
//
// NATS's client runs its own threads: every callback only posts to the
// supervisor's loop. While NATS is away nothing waits on it: a request
// fails at once with cluster_unavailable and events are dropped (replayed
// from the log after the reconnect).
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wa/contract/settings.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/result.hpp"

namespace wa::supervisor {

class ClusterLink {
 public:
  using ReplyFn = std::function<void(nlohmann::json)>;
  struct Handlers {
    // A control request from another host for a profile it believes we own.
    std::function<void(nlohmann::json request, ReplyFn reply)> request;
    // Another host's event line ("<profile> {...}").
    std::function<void(const std::string& profile, std::string_view line)> event;
    // Back after an outage: events published meanwhile were missed.
    std::function<void()> reconnected;
  };

  // Connects in the background (a NATS server that is not up yet is tried
  // again, forever): the supervisor starts without it.
  static Result<std::unique_ptr<ClusterLink>> open(uv_loop_t* loop, ipc::LoopBridge& bridge,
                                                   const contract::ClusterSettings& settings, Handlers handlers);
  ~ClusterLink();
  ClusterLink(const ClusterLink&) = delete;
  ClusterLink& operator=(const ClusterLink&) = delete;

  bool connected() const;
  // Loop thread. Dropped while NATS is away.
  void publish_event(const std::string& profile, std::string_view line);
  // Loop thread. `done` gets the owner's control reply, or
  // cluster_unavailable (NATS away, nobody listening for that host, no
  // answer within timeout_ms); for a command that sends, a missing answer
  // is unknown_outcome: the owner may have sent it.
  void request(const std::string& host, const nlohmann::json& req, uint64_t timeout_ms, bool sends, ReplyFn done);

  struct Counters {
    uint64_t requests_out = 0, requests_in = 0, request_failures = 0;
    uint64_t events_out = 0, events_in = 0, events_dropped = 0;
  };
  const Counters& counters() const { return counters_; }
  nlohmann::json metrics() const;

 private:
  ClusterLink(uv_loop_t* loop, ipc::LoopBridge& bridge, contract::ClusterSettings settings, Handlers handlers);
  Status connect();
  static void on_command(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void on_event(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void on_reply(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void on_disconnected(natsConnection* nc, void* closure);
  static void on_reconnected(natsConnection* nc, void* closure);
  void finish(uint64_t id, nlohmann::json reply);

  uv_loop_t* loop_;
  ipc::LoopBridge& bridge_;
  const contract::ClusterSettings settings_;
  Handlers handlers_;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  natsSubscription* commands_ = nullptr;
  natsSubscription* events_ = nullptr;
  natsSubscription* replies_ = nullptr;
  std::string inbox_;  // "<_INBOX.x>": replies come to <inbox>.<request id>
  // Loop thread: requests waiting for their reply.
  struct Outstanding {
    ReplyFn done;
    bool sends = false;
    std::unique_ptr<ipc::Timer> deadline;
  };
  std::map<uint64_t, Outstanding> outstanding_;
  uint64_t next_id_ = 1;
  Counters counters_;
  std::atomic<bool> up_{false};
  // Callbacks already posted to the loop may run after this object is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace wa::supervisor
