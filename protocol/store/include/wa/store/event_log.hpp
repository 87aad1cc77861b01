// The profile's public event log: every event of a profile (lifecycle,
// connection, messages, receipts, ...) is appended to the profile's inbox
// table and takes its `seq` from there, so one durable sequence orders them
// all and `wactl events --since SEQ` can replay any of them after a crash.
// Whoever produces an event appends it: the connection worker for its own
// events (messages inside their decrypt transaction), the supervisor for
// lifecycle events it alone sees (a worker's death, restarts).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::store {

int64_t event_clock_ms();

// Events that are only news while they happen (someone typing): published
// live with seq 0, never logged, so a replay does not show stale state and
// a chatty contact does not push real events out of retention.
bool live_only(const nlohmann::json& event);

struct LoggedEvent {
  int64_t seq = 0;
  int64_t ts = 0;
};

// Stores `event` (must carry "type"; envelope keys profile/seq/ts are not
// stored) with normal durability: these events are not acknowledged to any
// server, a power cut may lose the newest few. Fields that are secrets and
// useless later (a QR string, a pairing code) are left out of the stored copy.
Result<LoggedEvent> append_event(Store& st, const nlohmann::json& event);

// The inbox entry for a message event (msg_id, chat, sender de-duplicate it);
// the caller puts it inside its decrypt transaction.
InboxEntry message_entry(const nlohmann::json& event, int64_t ts);

// The public JSON object for a stored entry: {"profile","seq","ts",...payload}.
nlohmann::ordered_json envelope(const std::string& profile, int64_t seq, int64_t ts, const nlohmann::json& event);
Result<nlohmann::ordered_json> replayed(const std::string& profile, const InboxEntry& entry);

}  // namespace wa::store
