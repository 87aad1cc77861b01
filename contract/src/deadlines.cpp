#include "wa/contract/deadlines.hpp"

#include <string>

namespace wa::contract {

uint64_t send_job_budget_ms(const SenderPolicy& s) {
  return kSendIqRounds * kSenderIqTimeoutMs + static_cast<uint64_t>(s.ack_timeout_ms);
}

uint64_t transfer_job_budget_ms(const SenderPolicy& s) {
  return kSenderIqTimeoutMs + static_cast<uint64_t>(s.transfer_timeout_ms) + send_job_budget_ms(s);
}

uint64_t route_deadline_ms(Deadline d, const SenderPolicy& s) {
  switch (d) {
    case Deadline::transfer:
      return static_cast<uint64_t>(s.queue_timeout_ms) + transfer_job_budget_ms(s) + kLinkMarginMs;
    case Deadline::send: return static_cast<uint64_t>(s.queue_timeout_ms) + send_job_budget_ms(s) + kLinkMarginMs;
    case Deadline::iq: return kAccountIqTimeoutMs + kLinkMarginMs;
    case Deadline::local: return kLinkMarginMs;
  }
  return kLinkMarginMs;
}

Status check_budget(const SenderPolicy& s) {
  if (const uint64_t t = route_deadline_ms(Deadline::transfer, s); t > kMaxRouteDeadlineMs)
    return fail("bad_config", "config fields 'senders.queue_timeout_ms' + 'senders.ack_timeout_ms' + "
                              "'senders.transfer_timeout_ms': a media send could take " +
                                  std::to_string(t / 1000) + " s, over the " +
                                  std::to_string(kMaxRouteDeadlineMs / 1000) + " s any client waits");
  const uint64_t need = route_deadline_ms(Deadline::send, s);
  if (need > kMaxRouteDeadlineMs)
    return fail("bad_config", "config fields 'senders.queue_timeout_ms' + 'senders.ack_timeout_ms': a send could take " +
                                  std::to_string(need / 1000) + " s (with " +
                                  std::to_string((kSendIqRounds * kSenderIqTimeoutMs + kLinkMarginMs) / 1000) +
                                  " s for lookups and the links), over the " +
                                  std::to_string(kMaxRouteDeadlineMs / 1000) + " s any client waits");
  return {};
}

}  // namespace wa::contract
