// wa-supervisor: owns the control and event sockets and one Instance per
// account. It never blocks on a worker: commands routed to an account are
// answered when the worker answers, or at once when it is down.
#pragma once

#include <uv.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <chrono>
#include <map>
#include <string_view>

#include "cluster_link.hpp"
#include "config.hpp"
#include "wa/contract/commands.hpp"
#include "events.hpp"
#include "leases.hpp"
#include "runtime_profiles.hpp"
#include "webhooks.hpp"
#include "instance.hpp"
#include "start_gate.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/rep_server.hpp"
#include "wa/ipc/timer.hpp"

namespace wa::supervisor {

class Supervisor {
 public:
  explicit Supervisor(Config config);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Binds the sockets, starts autostart instances, notifies systemd, and
  // runs until shutdown. Returns the process exit code.
  int run();

  // Registry commands that run here without a handler, or with a handler
  // but registered elsewhere: empty, or the supervisor refuses to start.
  static std::vector<std::string> missing_handlers();

 private:
  // One control request on its way through a handler.
  struct Call {
    const json& req;
    const contract::CommandSpec& spec;
    Instance* inst;  // the named profile's, for commands that name one
    ReplyFn reply;
    std::shared_ptr<ipc::PendingRequest> pending;
  };
  using Handler = void (Supervisor::*)(Call&);
  static const std::map<std::string_view, Handler>& handlers();

  void on_request(std::shared_ptr<ipc::PendingRequest> req);
  // Where a request comes from. `cluster`: another host sent it here as the
  // profile's owner; `resolved`: the lease table said nobody else runs it.
  // Either is answered here, never sent on (no loops while ownership moves).
  enum class Origin { control, cluster, resolved };
  void dispatch(const json& req, ReplyFn reply, std::shared_ptr<ipc::PendingRequest> pending,
                Origin origin = Origin::control);
  // A request for a profile this host does not run: asks the lease table
  // who does and sends it there over NATS; answered here when nobody holds
  // it (unknown profile, or `create`).
  void route_to_owner(const std::string& profile, const json& req, const contract::CommandSpec& spec, ReplyFn reply);
  // Another host's event: to the local event socket, after the events it
  // skipped (read from the shared log) so local consumers see no gap.
  void relay_remote_event(const std::string& profile, std::string_view line);
  void catch_up_remote(const std::string& profile, int64_t until);
  void cmd_drain(Call& call);
  json cluster_metrics() const;
  void cmd_ping(Call& call);
  void cmd_status(Call& call);
  void cmd_metrics(Call& call);
  void cmd_log_level(Call& call);
  void cmd_shutdown(Call& call);
  void cmd_events(Call& call);
  void cmd_start(Call& call);
  void cmd_stop(Call& call);
  void cmd_restart(Call& call);
  void cmd_remove(Call& call);
  void cmd_logs(Call& call);
  void cmd_maintain(Call& call);
  void cmd_webhook(Call& call);  // webhook_* (webhooks.cpp)
  bool refuse_in_maintenance(Call& call);
  Instance* find(const std::string& profile);
  Instance& add_instance(const std::string& profile, bool autostart);
  // An autostart at boot: after a uniform delay in [0, start.jitter_ms]
  // when `spread` (more accounts autostart than start.max_connecting).
  void autostart(Instance& inst, bool spread);
  void begin_shutdown(std::shared_ptr<ipc::PendingRequest> pending);
  void finish_shutdown();
  void start_watchdog();
  // Every liveness.interval_ms: each instance looks at its worker's liveness page
  // (Instance::check_liveness). One timer for all: thousands of accounts
  // cost one wakeup per interval, not one each.
  void start_liveness();
  // Placement on PostgreSQL (docs/ARCHITECTURE.md, "Cluster"): claims the
  // profiles no host holds, within cluster.capacity.
  void start_cluster_scan();
  void scan_cluster(std::vector<store::Lease> leases);
  void claim_and_run(const std::string& profile);
  // `remove`: stop the instance, forget it (and with `purge` delete its data).
  void remove(Instance& inst, bool purge, ReplyFn reply);
  // `check` / `recover`: the profile's database, while its instance is
  // stopped or failed, on libuv's thread pool (the loop never waits on disk).
  void maintain(const std::string& cmd, Instance& inst, ReplyFn reply);

  Config config_;
  RuntimeProfiles runtime_profiles_;
  uv_loop_t loop_{};
  std::unique_ptr<ipc::LoopBridge> bridge_;
  std::unique_ptr<LeaseKeeper> leases_;  // store.engine "postgres" only
  std::unique_ptr<ClusterLink> cluster_;  // cluster.nats_url set only
  // Other hosts' profiles: the last seq relayed to the local event socket.
  std::map<std::string, int64_t> remote_seen_;
  // `drain`: this host runs nothing and claims nothing until `drain --cancel`.
  bool draining_ = false;
  std::unique_ptr<EventBus> events_;
  std::unique_ptr<Webhooks> webhooks_;
  std::unique_ptr<ipc::RepServer> control_;
  std::unique_ptr<ipc::Timer> watchdog_;
  std::unique_ptr<ipc::Timer> liveness_;
  std::unique_ptr<ipc::Timer> cluster_scan_;
  std::map<std::string, std::unique_ptr<ipc::Timer>> pending_claims_;  // profile -> its jittered claim
  std::chrono::steady_clock::time_point last_liveness_{};
  std::unique_ptr<ipc::Zygote> zygote_;  // before instances_: their workers' records point into it
  StartGate gate_;  // before instances_: they release their tickets into it
  std::vector<std::unique_ptr<Instance>> instances_;
  int lock_fd_ = -1;
  bool shutting_down_ = false;
  std::vector<std::shared_ptr<ipc::PendingRequest>> shutdown_waiters_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  std::string bin_dir_;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::set<std::string> maintenance_;  // profiles whose store is being checked or recovered
};

}  // namespace wa::supervisor
