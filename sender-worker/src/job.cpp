#include "job.hpp"

#include "wa/binary/codec.hpp"
#include "wa/binary/jid.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/proto/message.pb.h"

namespace wa::sender {

namespace msg = ipc::msg;

namespace {

// The server answers an iq within seconds or not at all.
constexpr int kIqTimeoutMs = 20000;
// Node bytes we accept back from the worker (the link caps messages at 4 MB).
constexpr size_t kMaxNodeBytes = 4u << 20;

Result<binary::Node> node_query(const QueryFn& query, json what, const binary::Node& node, const char* answer_field) {
  auto bytes = binary::encode(node);
  if (!bytes) return Unexpected<Error>{bytes.error()};
  what["node"] = json::binary(std::move(*bytes));
  auto r = query(what);
  if (!r) return Unexpected<Error>{r.error()};
  const json* field = r->is_object() && r->contains(answer_field) ? &(*r)[answer_field] : nullptr;
  if (!field || !field->is_binary() || field->get_binary().size() > kMaxNodeBytes)
    return fail("bad_message", std::string("worker answer without a node in '") + answer_field + "'");
  const auto& bin = field->get_binary();
  return binary::decode(ByteView(bin.data(), bin.size()));
}

}  // namespace

json run_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
             uint64_t job, const json& payload) {
  auto failed = [job](const Error& e) {
    return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", false}, {"code", e.code}, {"message", e.message}};
  };
  if (!payload.is_object()) return failed(Error{"bad_request", "job payload is not an object"});
  std::string to_text = conversation;
  if (payload.contains("to") && payload["to"].is_string()) to_text = payload["to"].get<std::string>();
  auto to = binary::Jid::parse(to_text);
  if (!to) return failed(Error{"bad_request", "invalid recipient jid"});
  if (to->to_non_ad().str() != conversation && to_text != conversation)
    return failed(Error{"bad_request", "job is for another conversation"});
  if (!payload.contains("text") || !payload["text"].is_string())
    return failed(Error{"bad_request", "job without text"});

  // Baileys sends typed text as extendedTextMessage; receivers read both.
  proto::Message m;
  m.mutable_extendedtextmessage()->set_text(payload["text"].get<std::string>());
  std::string serialized = m.SerializeAsString();

  message::Transport net;
  net.iq = [&](const binary::Node& iq) {
    return node_query(query, {{"what", "iq"}, {"timeout_ms", kIqTimeoutMs}}, iq, "node");
  };
  net.relay = [&](const binary::Node& stanza, const std::string& id) {
    return node_query(query, {{"what", "relay"}, {"id", id}}, stanza, "ack");
  };
  auto r = message::send_message(st, sig, net, *to, as_bytes(serialized));
  secure_wipe(serialized.data(), serialized.size());
  if (!r) {
    // An unpaired profile cannot be connected: the code callers already handle.
    if (r.error().code == "not_paired") return failed(Error{"not_connected", "the account is not paired"});
    WA_WARN("job %llu failed: %s", static_cast<unsigned long long>(job), r.error().code.c_str());
    return failed(r.error());
  }
  json result{{"id", r->id}, {"devices", r->devices}};
  if (!r->identity_changed.empty()) {
    json changed = json::array();
    for (const auto& j : r->identity_changed) changed.push_back(j.str());
    result["identity_changed"] = std::move(changed);
  }
  return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", true}, {"result", std::move(result)}};
}

}  // namespace wa::sender
