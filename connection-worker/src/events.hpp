// The worker's side of the profile's event log (wa/store/event_log.hpp):
// every event this worker produces is appended to the profile's store before
// it goes to the supervisor, so it carries its durable seq. Messages are the
// exception — the receive path logs them inside their decrypt transaction.
// Retention runs here too: the worker is the process that owns the profile
// while it is up.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/contract/settings.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

struct Retention {
  int64_t max_age_ms = 30LL * 24 * 3600 * 1000;
  int64_t max_events = 100000;
};

Retention retention_from_settings(const contract::EventRetention& events);

class EventSink {
 public:
  EventSink(uv_loop_t* loop, std::string store_path, Retention retention);
  // Stamps `event` with seq and ts (appending it to the log unless it is
  // already logged). When the store cannot be written the event still goes
  // out without a seq, and the supervisor tries to log it.
  nlohmann::json log(nlohmann::json event);
  // Prunes now and then every hour.
  void start_retention();
  // The account's lease, read on this sink's connection (Store::lease_state).
  Result<std::optional<store::Store::LeaseState>> lease_state();

 private:
  store::Store* store();
  void prune();

  std::string path_;
  Retention retention_;
  std::unique_ptr<store::Store> store_;
  ipc::Timer timer_;
};

}  // namespace wa::connection
