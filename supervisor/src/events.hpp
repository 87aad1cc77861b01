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
  EventBus(std::unique_ptr<ipc::Publisher> pub, std::string data_dir)
      : pub_(std::move(pub)), data_dir_(std::move(data_dir)) {}
  // `event` must carry "type". With "seq" (> 0) and "ts" it is already
  // logged; otherwise it is appended to the profile's log first.
  void emit(const std::string& profile, nlohmann::json event);
  // Up to `limit` logged events with seq > `since`, oldest first.
  Result<nlohmann::json> replay(const std::string& profile, int64_t since, size_t limit);
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
  std::string data_dir_;
  // The few profiles with recent events keep their connection (senders
  // starting and exiting come in bursts); the rest are opened per use.
  std::list<std::pair<std::string, std::unique_ptr<store::Store>>> open_;
  std::unordered_map<std::string, int64_t> heads_;
};

int64_t now_ms();

}  // namespace wa::supervisor
