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

#include "wa/binary/jid.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/reaction.hpp"
#include "wa/proto/message.pb.h"
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

// The parts every kind of send job shares (job.cpp, media_job.cpp):
// the failed "done", the job's recipient (refused when it is for another
// conversation), a quote's contextInfo, and the send of a built message
// with its "done" (extra: more fields of the result).
json failed_done(uint64_t job, const Error& e);
// How a built message's stanza leaves (send_built): with the job's `done`,
// relayed by the connection worker, whose ack then settles the job (one
// round trip with the worker instead of two); or relayed here and waited
// for, when the job must act on the outcome itself (a vote is recorded only
// once it went out).
enum class Relay { with_done, wait };
Result<binary::Jid> job_recipient(const std::string& conversation, const json& payload);
Status add_quote(store::Store& st, const binary::Jid& chat, const json& payload, proto::ContextInfo& ci);
json send_built(store::Store& st, signal::SignalSession& sig, const QueryFn& query, uint64_t job,
                const binary::Jid& to, Bytes serialized, json extra, Relay how = Relay::with_done);

// A media send ({kind:"media", to, path, roots, type?, caption?, filename?,
// quoted_id?, ca_file, transfer_timeout_ms}): probe, upload, then the
// message; and a download ({kind:"download", id, chat, out, ca_file,
// transfer_timeout_ms}) into `out` (media_job.cpp).
json run_media_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                   uint64_t job, const json& payload);
json run_download_job(store::Store& st, const QueryFn& query, uint64_t job, const json& payload);

// A reaction ({kind:"react", to, id, emoji, sender?}): whether the target is
// ours comes from the sent-message cache; a group message of someone else
// needs its author (`sender`).
json run_react_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                   uint64_t job, const json& payload);

// The message a reaction or revoke refers to ({id, sender?} of the payload):
// whether it is ours comes from the sent-message cache unless `sender` says;
// someone else's group message needs its author. `what` names the add-on in
// the error ("a reaction to").
Result<message::TargetKey> job_target(store::Store& st, const binary::Jid& to, const json& payload,
                                      std::string_view what);
int64_t now_ms();

// The skeleton of a job that sends one message built from its payload: the
// payload checked, its recipient, `build` for the Message, the send.
using BuildFn = std::function<Result<Bytes>(const binary::Jid& to)>;
json run_built_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                   const std::string& conversation, uint64_t job, const json& payload, const BuildFn& build);

// The plain content kinds (content_job.cpp): a location ({kind:"location",
// to, latitude, longitude, name?, address?, url?, quoted_id?}), contact
// cards ({kind:"contact", to, name, phone? | vcard?, quoted_id?}) and a
// revoke ({kind:"revoke", to, id, sender?}: "delete for everyone", or an
// admin's delete of someone else's group message).
json run_location_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                      const std::string& conversation, uint64_t job, const json& payload);
json run_contact_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                     const std::string& conversation, uint64_t job, const json& payload);
json run_revoke_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                    const std::string& conversation, uint64_t job, const json& payload);

// Polls and edits (docs/PROTOCOL.md §12.4): {kind:"poll", to, name,
// options, multiple}; {kind:"vote", to, id, options} on a poll we know
// (ours or received); {kind:"edit", to, id, text} on a message of ours
// still in the sent-message cache and less than 20 minutes old.
json run_poll_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                  uint64_t job, const json& payload);
json run_vote_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                  uint64_t job, const json& payload);
json run_edit_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                  uint64_t job, const json& payload);

// The message layer's transport over `query`: iq round trips (deadline
// contract::kSenderIqTimeoutMs) and relays answered on the server's ack.
message::Transport query_transport(const QueryFn& query);

}  // namespace wa::sender
