// The public event stream: one JSON object per event, stamped with the
// profile, the profile's durable sequence number and a timestamp, published
// on the PUB socket as "<profile> <json>" (SUB filters on the "<profile> "
// prefix).
//
// The seq comes from the profile's event log in its store (wa/store/
// event_log.hpp), not from memory: events a connection worker produced
// arrive already logged (they carry seq and ts); lifecycle events the
// supervisor produces are appended here. PUB/SUB is only the live wake-up —
// a consumer that was away replays from the log (`events` command).
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "wa/ipc/pair_link.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::supervisor {

inline constexpr size_t kMaxReplayBatch = 1000;

class EventBus {
 public:
  // `locate` names a profile's store (wa/store/open.hpp); empty: the SQLite
  // file under data_dir.
  using Locate = std::function<std::string(const std::string& profile)>;
  EventBus(std::unique_ptr<ipc::Publisher> pub, std::string data_dir, Locate locate = {})
      : pub_(std::move(pub)), data_dir_(std::move(data_dir)), locate_(std::move(locate)) {}
  // `event` must carry "type". With "seq" (> 0) and "ts" it is already
  // logged; otherwise it is appended to the profile's log first.
  void emit(const std::string& profile, nlohmann::json event);
  // Up to `limit` logged events with seq > `since`, oldest first.
  Result<nlohmann::json> replay(const std::string& profile, int64_t since, size_t limit);
  // Every line this host publishes is also handed here (the cluster's
  // NATS subject of the profile); relayed lines are not.
  void set_mirror(std::function<void(const std::string& profile, std::string_view line)> mirror) {
    mirror_ = std::move(mirror);
  }
  // Another host's event, already logged there: to the local event socket
  // only. `line` is "<profile> {...}".
  void relay(const std::string& profile, std::string_view line, int64_t seq);
  // A logged event (replay's shape) to the local event socket only.
  void relay(const std::string& profile, const nlohmann::json& event);
  // Closes this process's connection to the profile's store (before the
  // file is replaced); the next event opens it again.
  void release(const std::string& profile);
  // The newest seq this process has seen logged for the profile (0: none
  // since it started): the event-log head `metrics` reports, kept in memory
  // because a scrape must not open thousands of databases.
  int64_t head(const std::string& profile) const;

 private:
  Result<store::Store*> log_of(const std::string& profile);

  std::unique_ptr<ipc::Publisher> pub_;
  std::function<void(const std::string&, std::string_view)> mirror_;
  std::string data_dir_;
  Locate locate_;
  // PostgreSQL unreachable: events are published live (seq 0) without
  // trying again until then, so the loop does not wait out a connect
  // timeout per event.
  std::chrono::steady_clock::time_point db_down_until_{};
  // The few profiles with recent events keep their connection (senders
  // starting and exiting come in bursts); the rest are opened per use.
  struct Open {
    std::string profile;
    std::string locator;  // a new lease token is a new locator: reopened
    std::unique_ptr<store::Store> store;
  };
  std::list<Open> open_;
  std::unordered_map<std::string, int64_t> heads_;
};

int64_t now_ms();

}  // namespace wa::supervisor
