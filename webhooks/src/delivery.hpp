// What one webhook delivery is, as pure functions: the request (body and
// headers, signed), which events a webhook takes, and the retry delay.
// docs/CONTROL.md, "Webhooks", is the receiver's side of the same facts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wa::webhooks {

// "sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>": the timestamp is
// signed with the body, so a captured request cannot be replayed later
// under a new timestamp.
std::string signature(const std::string& secret, int64_t timestamp_s, const std::string& body);
// The receiver's check (constant time), `tolerance_s` around `now_s`.
bool verify_signature(const std::string& secret, int64_t timestamp_s, const std::string& body,
                      const std::string& header, int64_t now_s, int64_t tolerance_s = 300);

// "<profile>:<seq>": the same for an event in every delivery of it, so a
// receiver drops the duplicates at-least-once delivery implies.
std::string idempotency_key(const std::string& profile, int64_t seq);

// Whether a webhook with these event types (empty = all) takes the event.
bool wants(const std::vector<std::string>& types, const nlohmann::json& event);

struct Request {
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  int64_t first_seq = 0;
  int64_t last_seq = 0;
};
// The POST of `events` (logged events with "seq", oldest first, at least
// one) of `profile` to webhook `name`.
Request build_request(const std::string& name, const std::string& secret, const std::string& profile,
                      const std::vector<nlohmann::json>& events, int64_t timestamp_s);

// The wait before retry `failures` (1 = after the first failure): jittered
// exponential, uniform in [d/2, d] with d = min_ms * 2^(failures-1) capped
// at max_ms. `random` picks the point (any 64-bit value). Jitter keeps many
// webhooks that failed together (one receiver down) from retrying in
// lockstep.
int64_t backoff_ms(int failures, int64_t min_ms, int64_t max_ms, uint64_t random);

}  // namespace wa::webhooks
