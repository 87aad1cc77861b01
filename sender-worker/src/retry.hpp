// Answering a retry receipt: a device could not decrypt a message we sent
// and asks for it again. The sender re-encrypts the cached plaintext for
// that one device (a fresh session from the keys in the receipt, or from a
// fetched bundle when we hold none) and relays it under the original id.
#pragma once

#include <cstdint>
#include <string>

#include "job.hpp"

namespace wa::sender {

// How long a sent message stays answerable: a recipient that was offline
// asks only when it comes back, which may take a while.
inline constexpr int64_t kSentMessageTtlS = 24 * 3600;
// Received media stay downloadable this long (the phone can upload an
// expired file again for weeks; the event log keeps 30 days by default).
inline constexpr int64_t kMediaRefTtlS = 90 * 24 * 3600;

// payload: {kind:"retry", receipt:<encoded <receipt type="retry"> node>}.
// Returns the "done" message like run_job ({id, device, count} on success);
// codes: bad_request, retry_exhausted, not_found (not cached or expired),
// session_failed and the transport's not_connected / timeout / rejected:<code>.
json run_retry_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                   const std::string& conversation, uint64_t job, const json& payload);

}  // namespace wa::sender
