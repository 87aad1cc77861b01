// The public event stream: one JSON object per event, stamped with the
// profile, a per-profile sequence number and a timestamp, published on the
// PUB socket as "<profile> <json>" (SUB filters on the "<profile> " prefix).
#pragma once

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/ipc/pair_link.hpp"

namespace wa::supervisor {

class EventBus {
 public:
  explicit EventBus(std::unique_ptr<ipc::Publisher> pub) : pub_(std::move(pub)) {}
  // `event` must carry "type"; profile, seq and ts are added here.
  void emit(const std::string& profile, nlohmann::json event);

 private:
  std::unique_ptr<ipc::Publisher> pub_;
  std::map<std::string, uint64_t> seq_;
};

int64_t now_ms();

}  // namespace wa::supervisor
