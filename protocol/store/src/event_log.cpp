#include "wa/store/event_log.hpp"

#include <chrono>

namespace wa::store {

using json = nlohmann::json;

namespace {

bool envelope_key(const std::string& k) { return k == "profile" || k == "seq" || k == "ts"; }

// Only useful for the seconds they are valid, and they grant access.
bool secret_field(const std::string& type, const std::string& key) {
  return (type == "qr" && key == "qr") || (type == "pairing_code" && key == "code");
}

std::string stored_payload(const json& event) {
  const std::string type = event.value("type", "");
  auto dropped = [&](const std::string& key) { return envelope_key(key) || secret_field(type, key); };
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  // Usually nothing is left out: written as it is, without a copy (a copy of
  // every field was a tenth of the inbox write on the receive path).
  bool drops = false;
  for (auto it = event.begin(); it != event.end() && !drops; ++it) drops = dropped(it.key());
  if (!drops) return dump(event);
  json out = json::object();
  for (auto it = event.begin(); it != event.end(); ++it)
    if (!dropped(it.key())) out[it.key()] = it.value();
  return dump(out);
}

}  // namespace

int64_t event_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Chat states and presence say what is true now: worth nothing on replay, and
// frequent enough to crowd the log.
bool live_only(const json& event) {
  if (!event.is_object()) return false;
  const std::string type = event.value("type", "");
  return type == "chatstate" || type == "presence";
}

Result<LoggedEvent> append_event(Store& st, const json& event) {
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string())
    return fail("bad_event", "an event needs a string type");
  InboxEntry e;
  e.ts = event_clock_ms();
  e.type = event["type"].get<std::string>();
  e.payload = stored_payload(event);
  LoggedEvent out{0, e.ts};
  auto s = st.transaction(Durability::normal, [&]() -> Status {
    auto put = st.inbox_put(e);
    if (!put) return Unexpected<Error>{put.error()};
    out.seq = put->seq;
    return {};
  });
  if (!s) return Unexpected<Error>{s.error()};
  return out;
}

InboxEntry message_entry(const json& event, int64_t ts) {
  InboxEntry e;
  e.msg_id = event.value("id", "");
  e.chat = event.value("chat", "");
  e.sender = event.value("sender", "");
  e.ts = ts;
  e.type = event.value("type", "message");
  e.payload = stored_payload(event);
  return e;
}

nlohmann::ordered_json envelope(const std::string& profile, int64_t seq, int64_t ts, const json& event) {
  nlohmann::ordered_json out;
  out["profile"] = profile;
  out["seq"] = seq;
  out["ts"] = ts;
  for (auto it = event.begin(); it != event.end(); ++it)
    if (!envelope_key(it.key())) out[it.key()] = it.value();
  return out;
}

Result<nlohmann::ordered_json> replayed(const std::string& profile, const InboxEntry& entry) {
  auto payload = json::parse(entry.payload, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) return fail("db_corrupt", "stored event is not a JSON object");
  payload["type"] = entry.type;
  return envelope(profile, entry.seq, entry.ts, payload);
}

}  // namespace wa::store
