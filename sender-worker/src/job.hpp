// One send job, independent of the socket: the payload from the connection
// worker in, the "done" message out, with every network step asked through
// `query` (the sender-query protocol of wa/ipc/messages.hpp: iq / relay,
// nodes as CBOR byte strings). Split from Pipeline so tests can drive it
// with a fake worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/message/pipeline.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::sender {

using json = nlohmann::json;

// Sends {what, ...} and returns the worker's result object, or its error.
using QueryFn = std::function<Result<json>(const json& what)>;

// `conversation` is the JID this sender serves; a job for another one is
// refused. Returns {op:"done", job, ok:true, result:{id, devices[,
// identity_changed]}} or {op:"done", job, ok:false, code, message}.
json run_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
             uint64_t job, const json& payload);

// The message layer's transport over `query`: iq round trips (deadline
// contract::kSenderIqTimeoutMs) and relays answered on the server's ack.
message::Transport query_transport(const QueryFn& query);

}  // namespace wa::sender
