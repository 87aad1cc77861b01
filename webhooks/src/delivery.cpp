#include "delivery.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/codec.hpp"

namespace wa::webhooks {

using json = nlohmann::json;

std::string signature(const std::string& secret, int64_t timestamp_s, const std::string& body) {
  const std::string signed_text = std::to_string(timestamp_s) + "." + body;
  auto mac = crypto::hmac_sha256(as_bytes(secret), as_bytes(signed_text));
  return "sha256=" + to_hex(ByteView(mac.data(), mac.size()));
}

bool verify_signature(const std::string& secret, int64_t timestamp_s, const std::string& body,
                      const std::string& header, int64_t now_s, int64_t tolerance_s) {
  if (timestamp_s < now_s - tolerance_s || timestamp_s > now_s + tolerance_s) return false;
  const std::string want = signature(secret, timestamp_s, body);
  return header.size() == want.size() && CRYPTO_memcmp(header.data(), want.data(), want.size()) == 0;
}

std::string idempotency_key(const std::string& profile, int64_t seq) { return profile + ":" + std::to_string(seq); }

bool wants(const std::vector<std::string>& types, const json& event) {
  if (types.empty()) return true;
  auto t = event.find("type");
  if (t == event.end() || !t->is_string()) return false;
  return std::find(types.begin(), types.end(), t->get_ref<const std::string&>()) != types.end();
}

Request build_request(const std::string& name, const std::string& secret, const std::string& profile,
                      const std::vector<json>& events, int64_t timestamp_s) {
  Request r;
  json list = json::array();
  for (const auto& e : events) {
    json one = e;
    const int64_t seq = e.value("seq", int64_t{0});
    one["idempotency_key"] = idempotency_key(profile, seq);
    list.push_back(std::move(one));
  }
  r.first_seq = events.empty() ? 0 : events.front().value("seq", int64_t{0});
  r.last_seq = events.empty() ? 0 : events.back().value("seq", int64_t{0});
  r.body = ipc::dump_json(json{{"webhook", name}, {"profile", profile}, {"events", std::move(list)}});
  r.headers = {
      "Content-Type: application/json",
      "X-WA-Webhook: " + name,
      "X-WA-Delivery: " + profile + ":" + std::to_string(r.first_seq) + "-" + std::to_string(r.last_seq),
      "X-WA-Idempotency-Key: " + idempotency_key(profile, r.first_seq),
      "X-WA-Timestamp: " + std::to_string(timestamp_s),
      "X-WA-Signature: " + signature(secret, timestamp_s, r.body),
  };
  return r;
}

int64_t backoff_ms(int failures, int64_t min_ms, int64_t max_ms, uint64_t random) {
  if (failures < 1) failures = 1;
  int64_t d = std::max<int64_t>(min_ms, 1);
  for (int i = 1; i < failures && d < max_ms; ++i) d *= 2;
  d = std::min(d, std::max(max_ms, min_ms));
  const int64_t lo = d / 2;
  return lo + static_cast<int64_t>(random % static_cast<uint64_t>(d - lo + 1));
}

}  // namespace wa::webhooks
