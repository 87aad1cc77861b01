// The deliverer: one state machine per (webhook, profile) pair, all on one
// libuv loop. A pair reads its profile's log from its cursor (`events`),
// POSTs what its webhook takes, and moves the cursor (`webhook_ack`) only
// after a 2xx; at most one batch per pair is in flight, so a profile's
// events arrive in seq order. It keeps nothing on disk: the cursors are the
// supervisor's, so a restarted deliverer goes on from them.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http.hpp"
#include "wa/contract/settings.hpp"
#include "wa/ipc/async_client.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/timer.hpp"

namespace wa::webhooks {


class Deliverer {
 public:
  Deliverer(uv_loop_t* loop, ipc::LoopBridge& bridge, std::string run_dir, int scan_ms);
  ~Deliverer();
  Status start();
  // The program exits next: the NNG sockets are left to it (see
  // AsyncControlClient::leave_socket_to_exit).
  void leave_sockets_to_exit();

 private:
  struct Webhook {
    std::string url, secret;
    std::vector<std::string> events;
  };
  struct Pair {
    std::string webhook, profile;
    int64_t cursor = 0;
    bool paused = false;
    bool busy = false;   // a page, a POST or an ack in flight
    bool again = false;  // woken while busy: look again when done
    int failures = 0;
    // Events per page; halved when a page is too large to carry (the
    // supervisor's reply, a receiver's 413), doubled again (up to batch_max)
    // after each ack.
    int page = 0;
    int64_t first_failure_ms = 0;
    std::unique_ptr<ipc::Timer> retry;
    // The newest scan already asked for when this pair last changed state
    // here (paused, acked): an older list must not undo that change.
    uint64_t changed_at_scan = 0;
  };
  using Key = std::pair<std::string, std::string>;  // (webhook, profile)

  void scan();
  void apply_list(const nlohmann::json& result, uint64_t scan_id);
  void on_event(const std::string& profile, const nlohmann::json& event);
  void pump(const std::shared_ptr<Pair>& p);
  void deliver(const std::shared_ptr<Pair>& p, std::vector<nlohmann::json> page);
  void ack(const std::shared_ptr<Pair>& p, int64_t seq);
  void failed(const std::shared_ptr<Pair>& p, const std::string& why);
  void retry_later(const std::shared_ptr<Pair>& p, int64_t delay_ms);
  void done(const std::shared_ptr<Pair>& p);
  bool live(const std::shared_ptr<Pair>& p) const;

  uv_loop_t* loop_;
  ipc::LoopBridge& bridge_;
  std::string run_dir_;
  int scan_ms_;
  contract::WebhookDelivery policy_;  // from webhook_list
  std::unique_ptr<ipc::AsyncControlClient> control_;
  std::unique_ptr<ipc::AsyncEventSubscriber> events_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<ipc::Timer> scan_timer_;
  bool scanning_ = false;
  bool scan_again_ = false;
  uint64_t scans_started_ = 0;
  bool reachable_ = true;  // for logging the supervisor's absence once
  std::map<std::string, Webhook> webhooks_;
  std::map<Key, std::shared_ptr<Pair>> pairs_;
  std::mt19937_64 rng_;
};

}  // namespace wa::webhooks
