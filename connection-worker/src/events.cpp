#include "events.hpp"

#include <algorithm>

#include "wa/store/open.hpp"
#include "wa/log.hpp"
#include "wa/store/event_log.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::connection {

using json = nlohmann::json;

namespace {
constexpr uint64_t kPruneEveryMs = 3600 * 1000;
}

Retention retention_from_settings(const contract::EventRetention& events) {
  Retention r;
  r.max_age_ms = std::max<int64_t>(1, events.retention_days) * 24 * 3600 * 1000;
  r.max_events = std::max<int64_t>(1, events.max_per_profile);
  return r;
}

EventSink::EventSink(uv_loop_t* loop, std::string store_path, Retention retention)
    : path_(std::move(store_path)), retention_(retention), timer_(loop) {}

store::Store* EventSink::store() {
  if (!store_) {
    // Lazily: the first events (connecting) may come before the client has
    // created the profile's directory and database.
    auto st = store::open(path_);
    if (!st) return nullptr;
    store_ = std::move(*st);
  }
  return store_.get();
}

Result<std::optional<store::Store::LeaseState>> EventSink::lease_state() {
  store::Store* st = store();
  if (st == nullptr) return fail("db_unavailable", "the profile's store cannot be opened");
  return st->lease_state();
}

json EventSink::log(json event) {
  if (event.value("seq", int64_t{0}) > 0) return event;
  if (store::live_only(event)) {
    event["seq"] = 0;
    event["ts"] = store::event_clock_ms();
    return event;
  }
  if (auto* st = store()) {
    if (auto logged = store::append_event(*st, event)) {
      event["seq"] = logged->seq;
      event["ts"] = logged->ts;
    } else {
      WA_WARN("event %s not logged: %s", event.value("type", "?").c_str(), logged.error().message.c_str());
    }
  }
  return event;
}

void EventSink::start_retention() {
  prune();
  timer_.start_repeat(kPruneEveryMs, [this] { prune(); });
}

void EventSink::prune() {
  auto* st = store();
  if (st == nullptr) return;
  auto n = st->inbox_retain(store::event_clock_ms() - retention_.max_age_ms, retention_.max_events);
  if (!n) {
    WA_WARN("event log retention failed: %s", n.error().message.c_str());
  } else if (*n > 0) {
    WA_INFO("event log retention removed %zu events", *n);
  }
}

}  // namespace wa::connection
