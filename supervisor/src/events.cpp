#include "events.hpp"

#include <chrono>

#include "wa/ipc/codec.hpp"

namespace wa::supervisor {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void EventBus::emit(const std::string& profile, nlohmann::json event) {
  nlohmann::ordered_json out;
  out["profile"] = profile;
  out["seq"] = ++seq_[profile];
  out["ts"] = now_ms();
  for (auto it = event.begin(); it != event.end(); ++it) {
    if (it.key() != "profile" && it.key() != "seq" && it.key() != "ts") out[it.key()] = it.value();
  }
  std::string line = profile + " " + out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  pub_->publish(as_bytes(line));
}

}  // namespace wa::supervisor
