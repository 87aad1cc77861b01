// One timeout budget. Every limit a control command meets on its way
// (supervisor -> connection worker -> sender -> server and back) is derived
// here from the command's own deadline, so an outer deadline is never
// shorter than the inner ones it waits on: a client is told `timeout` only
// when nothing was sent, and `unknown_outcome` when the message left but its
// ack did not come.
//
//   send_text:  queue (senders.queue_timeout_ms: waiting for a sender slot)
//             + pipeline (kSendIqRounds iq round trips of kSenderIqTimeoutMs:
//               group info, device list, prekeys)
//             + ack (senders.ack_timeout_ms)
//             + kLinkMarginMs (link hops, process start)
//   send_media / download:  as send_text, plus one media_conn iq and
//             senders.transfer_timeout_ms for the upload or the download
//             (with its media retry) of the file
//   iq-bound commands (groups, read, pair code):  kAccountIqTimeoutMs + margin
//   supervisor-local commands: no routed deadline
//
// The supervisor gives up on a routed request only after route_deadline_ms;
// by then the worker has answered unless it is dead or hung (liveness). A
// config whose send budget exceeds kMaxRouteDeadlineMs is refused: wactl and
// other clients wait that long at most.
#pragma once

#include <cstdint>

#include "wa/contract/settings.hpp"

namespace wa::contract {

enum class Deadline {
  local,  // answered by the supervisor itself
  iq,     // one request to the server on the account's socket
  send,   // a message: sender slot, pipeline, server ack
  transfer,  // a media file up or down, and for a send the message after it
};

inline constexpr uint64_t kSenderIqTimeoutMs = 20000;   // one iq of a sender's pipeline
inline constexpr uint64_t kSendIqRounds = 3;            // group info, usync, prekey fetch
inline constexpr uint64_t kAccountIqTimeoutMs = 60000;  // the connection worker's own iqs
inline constexpr uint64_t kLinkMarginMs = 10000;
inline constexpr uint64_t kMaxRouteDeadlineMs = 15 * 60 * 1000;
// What a client should wait for any reply: the longest routed deadline plus
// the local socket's own slack.
inline constexpr uint64_t kClientWaitMs = kMaxRouteDeadlineMs + 30000;

// From the moment a sender takes the job to its done.
uint64_t send_job_budget_ms(const SenderPolicy& s);
// The same for a job that moves a media file first.
uint64_t transfer_job_budget_ms(const SenderPolicy& s);
// The supervisor's deadline for a routed request of this kind.
uint64_t route_deadline_ms(Deadline d, const SenderPolicy& s);
// The senders section fits the budget (bad_config naming the fields if not).
Status check_budget(const SenderPolicy& s);

}  // namespace wa::contract
