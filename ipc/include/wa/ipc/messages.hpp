// The internal links' messages. Each is a CBOR-encoded JSON object with a
// type field. This header is the one place their names are spelled.
//
// supervisor <-> connection worker (PAIR1, field "t"):
//   worker -> sup   hello{pid}                 first message after dialing
//   sup -> worker   init{profile, settings}    everything the worker needs
//   worker -> sup   ready{}                    senders socket bound; worker serves
//   sup -> worker   request{rid, cmd, ...}     a control command routed to the account
//   worker -> sup   reply{rid, reply}          reply = the control reply envelope
//   worker -> sup   event{event}               public event; the supervisor stamps it
//   worker -> sup   events{events: [event...]} a committed receive batch's events, in order
//   worker -> sup   spawn_sender{conversation}
//   sup -> worker   sender_started{conversation, pid}
//   sup -> worker   sender_refused{conversation, code, message}
//   sup -> worker   sender_exited{conversation, pid, code, signal}
//   (liveness is not a message: the worker beats a shared page, heartbeat.hpp)
//   worker -> sup   kill_sender{conversation, pid}  that sender holds a job or an exit
//                                              order and has not come back for
//                                              liveness.timeout_ms: SIGKILL it
//
// sender -> connection worker (REQ/REP, field "op"; the sender is REQ):
//   next{conversation, pid}           -> job{job} | exit{}   (held until work or idle)
//   query{conversation, job, what, ...} -> result{...} | error{code, message}
//   done{conversation, job, ok, result?|code+message+id?} -> as for next
//                                     (id: a message that left without its ack: unknown_outcome;
//                                      issue_token: a contact our privacy token is due to, which
//                                      the connection worker issues after answering, so the send
//                                      never waits for that iq - docs/PROTOCOL.md §12.2)
//   done{..., ok: true, result, relay{node, id, dm?, phash, stale[], group?, skd[]}}
//                                     the job's message is not sent yet: the worker relays
//                                     `node` and the job's outcome is the ack as
//                                     message::settle_ack settles it (result on success,
//                                     issue_token only then); the sender is parked at once,
//                                     so a send costs one round trip with its sender, not two
//
// Sender queries (`what`), answered by the connection worker through its
// socket; nodes travel as CBOR byte strings holding an encoded binary node
// (wa::binary::encode, no frame flag byte):
//   iq{node, timeout_ms?}   -> result{node}: the response iq (type result or
//                              error; the sender inspects it) | error{not_connected|timeout}
//   relay{node, id}         -> result{ack}: the server's <ack class=message id>
//                              node | error{not_connected|timeout|rejected:<code>}
//                              (ack-on-send: the worker answers on the ack)
#pragma once

namespace wa::ipc::msg {

inline constexpr const char* kType = "t";
inline constexpr const char* kHello = "hello";
inline constexpr const char* kInit = "init";
inline constexpr const char* kReady = "ready";
inline constexpr const char* kRequest = "request";
inline constexpr const char* kReply = "reply";
inline constexpr const char* kEvent = "event";
inline constexpr const char* kEvents = "events";  // worker -> supervisor: {"events": [event, ...]}, in order
inline constexpr const char* kSpawnSender = "spawn_sender";
inline constexpr const char* kSenderStarted = "sender_started";
inline constexpr const char* kSenderRefused = "sender_refused";
inline constexpr const char* kSenderExited = "sender_exited";
inline constexpr const char* kKillSender = "kill_sender";
inline constexpr const char* kLogLevel = "log_level";  // supervisor -> worker: {"level"}

inline constexpr const char* kOp = "op";
inline constexpr const char* kNext = "next";
inline constexpr const char* kJob = "job";
inline constexpr const char* kExit = "exit";
inline constexpr const char* kQuery = "query";
inline constexpr const char* kResult = "result";
inline constexpr const char* kError = "error";
inline constexpr const char* kDone = "done";
inline constexpr const char* kIssueToken = "issue_token";  // in done: the contact's JID
inline constexpr const char* kRelay = "relay";              // in done: relay on the job's behalf

// Worker exit codes the supervisor understands.
inline constexpr int kExitUsage = 64;      // started wrongly (never restarted in a loop: counts)
inline constexpr int kExitNoRestart = 75;  // the account must stay down (logged out, replaced)
// The profile's database is damaged (SQLITE_CORRUPT / NOTADB): the instance
// goes to `failed` with reason store_corrupt and is not restarted.
inline constexpr int kExitStoreCorrupt = 74;
// Store on PostgreSQL: the worker could not prove its lease in time (another
// host claimed the account, or our supervisor stopped renewing it): it left
// the account's socket before the lease could lapse. The instance goes to
// `failed` with reason lease_lost and is not restarted here.
inline constexpr int kExitLeaseLost = 73;

}  // namespace wa::ipc::msg
