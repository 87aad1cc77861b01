#include "wa/ipc/links.hpp"

#include <utility>
#include <vector>

#include "wa/ipc/fields.hpp"
#include "wa/ipc/messages.hpp"

namespace wa::ipc::link {

namespace {

// Assigns a required field, or returns its error from the decoder.
#define WA_FIELD(out, expr)                          \
  do {                                               \
    auto wa_field_ = (expr);                         \
    if (!wa_field_) return Unexpected<Error>{wa_field_.error()}; \
    (out) = std::move(*wa_field_);                   \
  } while (0)

Result<json> decode_object(ByteView bytes, const char* type_key, std::string& type) {
  auto m = from_cbor(bytes);
  if (!m) return m;
  if (!m->is_object()) return fail("bad_message", "message is not an object");
  auto t = field<std::string>(*m, type_key);
  if (!t) return Unexpected<Error>{t.error()};
  type = std::move(*t);
  return m;
}

Result<std::string> conversation_of(const json& m) {
  auto c = field<std::string>(m, "conversation");
  if (!c) return c;
  if (c->empty() || c->size() > kMaxConversation || c->find('\0') != std::string::npos)
    return fail("bad_message", "field 'conversation' is empty, too long or holds a NUL");
  return c;
}

Result<std::optional<json::binary_t>> optional_binary(const json& m, const char* key) {
  if (!m.contains(key) || m[key].is_null()) return std::optional<json::binary_t>{};
  auto b = field<json::binary_t>(m, key);
  if (!b) return Unexpected<Error>{b.error()};
  return std::optional<json::binary_t>{std::move(*b)};
}

// A list of short strings (JIDs), bounded.
Result<std::vector<std::string>> string_list(const json& m, const char* key) {
  std::vector<std::string> out;
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > kMaxRelayList)
    return fail("bad_message", std::string("field '") + key + "' is not a list of at most " +
                                   std::to_string(kMaxRelayList) + " strings");
  for (const auto& e : *it) {
    if (!e.is_string() || e.get_ref<const std::string&>().size() > kMaxConversation)
      return fail("bad_message", std::string("field '") + key + "' holds something other than a JID");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<RelayOnAck> relay_on_ack(const json& r) {
  if (!r.is_object()) return fail("bad_message", "field 'relay' is not an object");
  RelayOnAck out;
  AfterAck& a = out.after;
  WA_FIELD(out.node, field<json::binary_t>(r, "node"));
  WA_FIELD(a.id, field<std::string>(r, "id"));
  if (a.id.empty() || a.id.size() > kMaxConversation) return fail("bad_message", "field 'id' is empty or too long");
  WA_FIELD(a.dm_peer, field_or<std::string>(r, "dm", ""));
  WA_FIELD(a.phash, field_or<std::string>(r, "phash", ""));
  WA_FIELD(a.stale_users, string_list(r, "stale"));
  WA_FIELD(a.group, field_or<std::string>(r, "group", ""));
  WA_FIELD(a.sender_key_recipients, string_list(r, "skd"));
  return out;
}

// The worker settings the worker reads as integers (the config allows only
// values that fit 32 bits); other keys are the worker's to check.
Status check_settings(const json& s) {
  static const std::pair<const char*, std::vector<const char*>> kIntegers[] = {
      {"senders", {"max_per_instance", "idle_ms", "ack_timeout_ms"}},
      {"events", {"retention_days", "max_per_profile"}}};
  for (const auto& [section, keys] : kIntegers) {
    auto sub = object_field(s, section, false);
    if (!sub) return Unexpected<Error>{sub.error()};
    for (const char* key : keys)
      if (auto n = field_or<int32_t>(*sub, key, 0); !n) return Unexpected<Error>{n.error()};
  }
  return {};
}

// What the supervisor relies on in an event from a worker.
Status check_event(const json& ev) {
  if (auto t = field<std::string>(ev, "type"); !t) return fail("bad_message", "event without a string 'type'");
  if (auto s = field_or<int64_t>(ev, "seq", 0); !s) return Unexpected<Error>{s.error()};
  if (auto s = field_or<int64_t>(ev, "ts", 0); !s) return Unexpected<Error>{s.error()};
  return {};
}

}  // namespace

Result<FromWorker> decode_from_worker(ByteView bytes) {
  FromWorker out;
  auto m = decode_object(bytes, msg::kType, out.type);
  if (!m) return Unexpected<Error>{m.error()};
  const json& j = *m;
  if (out.type == msg::kHello) {
    WA_FIELD(out.pid, field_or<int64_t>(j, "pid", 0));
  } else if (out.type == msg::kReply) {
    WA_FIELD(out.rid, field<uint64_t>(j, "rid"));
    WA_FIELD(out.reply, object_field(j, "reply"));
    if (auto ok = field<bool>(out.reply, "ok"); !ok) return fail("bad_message", "reply without a boolean 'ok'");
  } else if (out.type == msg::kEvent) {
    WA_FIELD(out.event, object_field(j, "event"));
    WA_TRY(check_event(out.event));
  } else if (out.type == msg::kEvents) {
    auto it = m->find("events");
    if (it == m->end() || !it->is_array() || it->empty()) return fail("bad_message", "'events' must be a non-empty array");
    for (const auto& e : *it) {
      if (!e.is_object()) return fail("bad_message", "an entry of 'events' is not an object");
      WA_TRY(check_event(e));
    }
    // Moved out, not copied (a flood's batches are large): `raw` keeps the
    // array with those entries left null.
    out.events.reserve(it->size());
    for (auto& e : *it) out.events.push_back(std::move(e));
  } else if (out.type == msg::kSpawnSender) {
    WA_FIELD(out.conversation, conversation_of(j));
  }
  out.raw = std::move(*m);
  return out;
}

namespace {

// CBOR heads (RFC 8949 §3.1): the major type in the top three bits, then the length.
void cbor_head(Bytes& out, uint8_t major, uint64_t n) {
  const auto m = static_cast<uint8_t>(major << 5);
  if (n < 24) {
    out.push_back(static_cast<uint8_t>(m | n));
    return;
  }
  const int bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x100000000ULL ? 4 : 8;
  out.push_back(static_cast<uint8_t>(m | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27)));
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
}

void cbor_text(Bytes& out, std::string_view s) {
  cbor_head(out, 3, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

Bytes encode_events(const std::vector<Bytes>& cbor_events) {
  size_t size = 32;
  for (const auto& b : cbor_events) size += b.size();
  Bytes out;
  out.reserve(size);
  const bool one = cbor_events.size() == 1;
  cbor_head(out, 5, 2);  // a map of two entries
  cbor_text(out, msg::kType);
  cbor_text(out, one ? msg::kEvent : msg::kEvents);
  cbor_text(out, one ? "event" : "events");
  if (!one) cbor_head(out, 4, cbor_events.size());
  for (const auto& b : cbor_events) out.insert(out.end(), b.begin(), b.end());
  return out;
}

Result<FromSupervisor> decode_from_supervisor(ByteView bytes) {
  FromSupervisor out;
  auto m = decode_object(bytes, msg::kType, out.type);
  if (!m) return Unexpected<Error>{m.error()};
  const json& j = *m;
  if (out.type == msg::kInit) {
    WA_FIELD(out.instance_dir, field<std::string>(j, "instance_dir"));
    WA_FIELD(out.settings, object_field(j, "settings", false));
    WA_TRY(check_settings(out.settings));
  } else if (out.type == msg::kRequest) {
    WA_FIELD(out.rid, field<uint64_t>(j, "rid"));
    WA_FIELD(out.cmd, field<std::string>(j, "cmd"));
  } else if (out.type == msg::kSenderStarted) {
    WA_FIELD(out.conversation, conversation_of(j));
    WA_FIELD(out.pid, field<int64_t>(j, "pid"));
  } else if (out.type == msg::kSenderRefused) {
    WA_FIELD(out.conversation, conversation_of(j));
    WA_FIELD(out.code, field_or<std::string>(j, "code", "sender_failed"));
    WA_FIELD(out.message, field_or<std::string>(j, "message", ""));
  } else if (out.type == msg::kSenderExited) {
    WA_FIELD(out.conversation, conversation_of(j));
    WA_FIELD(out.pid, field_or<int64_t>(j, "pid", 0));
    WA_FIELD(out.exit_code, field_or<int64_t>(j, "exit_code", 0));
    WA_FIELD(out.signal, field_or<int64_t>(j, "signal", 0));
  }
  out.raw = std::move(*m);
  return out;
}

Result<FromSender> decode_from_sender(ByteView bytes) {
  FromSender out;
  auto m = decode_object(bytes, msg::kOp, out.op);
  if (!m) return Unexpected<Error>{m.error()};
  const json& j = *m;
  WA_FIELD(out.conversation, conversation_of(j));
  WA_FIELD(out.pid, field_or<int64_t>(j, "pid", 0));
  if (out.op == msg::kDone) {
    WA_FIELD(out.job, field<uint64_t>(j, "job"));
    WA_FIELD(out.ok, field_or<bool>(j, "ok", false));
    WA_FIELD(out.result, object_field(j, "result", false));
    WA_FIELD(out.code, field_or<std::string>(j, "code", "send_failed"));
    WA_FIELD(out.message, field_or<std::string>(j, "message", "the send failed"));
    WA_FIELD(out.id, field_or<std::string>(j, "id", ""));
    WA_FIELD(out.issue_token, field_or<std::string>(j, msg::kIssueToken, ""));
    if (auto r = j.find(msg::kRelay); r != j.end() && !r->is_null()) {
      if (!out.ok) return fail("bad_message", "a failed done cannot carry a relay");
      WA_FIELD(out.relay, relay_on_ack(*r));
    }
  } else if (out.op == msg::kQuery) {
    WA_FIELD(out.job, field_or<uint64_t>(j, "job", 0));
    WA_FIELD(out.what, field<std::string>(j, "what"));
    WA_FIELD(out.node, optional_binary(j, "node"));
    WA_FIELD(out.timeout_ms, field_or<uint64_t>(j, "timeout_ms", 0));
    WA_FIELD(out.id, field_or<std::string>(j, "id", ""));
  }
  out.raw = std::move(*m);
  return out;
}

json to_json(const RelayOnAck& r) {
  const AfterAck& a = r.after;
  json j{{"node", r.node}, {"id", a.id}, {"phash", a.phash}, {"stale", a.stale_users}, {"skd", a.sender_key_recipients}};
  if (!a.dm_peer.empty()) j["dm"] = a.dm_peer;
  if (!a.group.empty()) j["group"] = a.group;
  return j;
}

Result<FromConnection> decode_from_connection(ByteView bytes) {
  FromConnection out;
  auto m = decode_object(bytes, msg::kOp, out.op);
  if (!m) return Unexpected<Error>{m.error()};
  const json& j = *m;
  if (out.op == msg::kJob) {
    WA_FIELD(out.job, field<uint64_t>(j, "job"));
    WA_FIELD(out.payload, object_field(j, "payload"));
  } else if (out.op == msg::kError) {
    WA_FIELD(out.code, field_or<std::string>(j, "code", "query_failed"));
    WA_FIELD(out.message, field_or<std::string>(j, "message", ""));
  } else if (out.op == msg::kResult) {
    WA_FIELD(out.node, optional_binary(j, "node"));
    WA_FIELD(out.ack, optional_binary(j, "ack"));
  }
  out.raw = std::move(*m);
  return out;
}

#undef WA_FIELD

}  // namespace wa::ipc::link
