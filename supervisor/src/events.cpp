#include "events.hpp"

#include <algorithm>

#include "wa/fs.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"
#include "wa/store/event_log.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/open.hpp"

namespace wa::supervisor {

using json = nlohmann::json;

int64_t now_ms() { return store::event_clock_ms(); }

namespace {
constexpr size_t kOpenLogs = 8;

// What the event socket carries: "<profile> {...}" (SUB filters on the prefix).
template <class Json>
std::string line_of(const std::string& profile, const Json& event) {
  return profile + " " + event.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

Result<store::Store*> EventBus::log_of(const std::string& profile) {
  const std::string locator = locate_ ? locate_(profile) : data_dir_ + "/" + profile + "/store.db";
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (it->profile == profile) {
      if (it->locator != locator) {
        open_.erase(it);
        break;
      }
      open_.splice(open_.begin(), open_, it);
      return open_.front().store.get();
    }
  }
  Result<std::unique_ptr<store::Store>> st = fail("db_error", "not opened");
  if (store::is_pg_locator(locator)) {
    if (std::chrono::steady_clock::now() < db_down_until_)
      return fail("db_unavailable", "the database was unreachable a moment ago");
    st = store::open(locator);
    if (!st && st.error().code == "db_unavailable") db_down_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  } else {
    // The profile name was validated (it is a single safe path component).
    WA_TRY(fs::ensure_private_dir(data_dir_ + "/" + profile));
    // A worker mid-write holds the lock for well under a millisecond; waiting
    // longer than this would stall every other profile's control requests.
    store::SqliteOptions opt;
    opt.busy_timeout_ms = 250;
    opt.max_busy_retries = 2;
    st = store::open_sqlite(locator, opt);
  }
  if (!st) return Unexpected<Error>{st.error()};
  open_.push_front(Open{profile, locator, std::move(*st)});
  // Bounded: 200 idle profiles must not each hold a connection and its page
  // cache in the supervisor.
  if (open_.size() > kOpenLogs) open_.pop_back();
  return open_.front().store.get();
}

void EventBus::release(const std::string& profile) {
  open_.remove_if([&](const auto& entry) { return entry.profile == profile; });
}

void EventBus::emit(const std::string& profile, json event) {
  int64_t seq = event.value("seq", int64_t{0});
  int64_t ts = event.value("ts", int64_t{0});
  if (store::live_only(event)) {
    seq = 0;
    if (ts <= 0) ts = now_ms();
  } else if (seq <= 0) {
    auto logged = [&]() -> Result<store::LoggedEvent> {
      auto st = log_of(profile);
      if (!st) return Unexpected<Error>{st.error()};
      return store::append_event(**st, event);
    }();
    if (logged) {
      seq = logged->seq;
      ts = logged->ts;
    } else {
      // Still announce it live; seq 0 tells consumers it cannot be replayed.
      WA_WARN("[%s] event %s not logged: %s", profile.c_str(), event.value("type", "?").c_str(),
              logged.error().message.c_str());
      seq = 0;
      ts = now_ms();
    }
  }
  const std::string line = line_of(profile, store::envelope(profile, seq, ts, event));
  relay(profile, line, seq);
  if (mirror_) mirror_(profile, line);
}

void EventBus::relay(const std::string& profile, std::string_view line, int64_t seq) {
  if (seq > 0) {
    int64_t& h = heads_[profile];
    h = std::max(h, seq);
  }
  pub_->publish(as_bytes(line));
}

void EventBus::relay(const std::string& profile, const json& event) {
  relay(profile, line_of(profile, event), event.value("seq", int64_t{0}));
}

int64_t EventBus::head(const std::string& profile) const {
  auto it = heads_.find(profile);
  return it == heads_.end() ? 0 : it->second;
}

Result<json> EventBus::replay(const std::string& profile, int64_t since, size_t limit) {
  auto st = log_of(profile);
  if (!st) return Unexpected<Error>{st.error()};
  auto rows = (*st)->inbox_since(since, std::min(limit, kMaxReplayBatch));
  if (!rows) return Unexpected<Error>{rows.error()};
  auto last = (*st)->inbox_last_seq();
  if (!last) return Unexpected<Error>{last.error()};
  heads_[profile] = std::max(heads_[profile], *last);
  json events = json::array();
  for (const auto& r : *rows) {
    auto ev = store::replayed(profile, r);
    if (!ev) return Unexpected<Error>{ev.error()};
    events.push_back(json(*ev));
  }
  return json{{"events", std::move(events)}, {"last_seq", *last}};
}

}  // namespace wa::supervisor
