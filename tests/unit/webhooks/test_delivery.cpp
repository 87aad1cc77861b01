// What one webhook delivery is: the signature (checked against values
// computed with Python's hmac, the receiver's side), the headers and
// idempotency keys, the event-type filter and the retry delays.
#include <doctest/doctest.h>

#include <set>

#include "delivery.hpp"
#include "wa/ipc/codec.hpp"

using namespace wa::webhooks;
using json = nlohmann::json;

TEST_CASE("signature - HMAC-SHA256 of timestamp.body, as a receiver computes it") {
  // python3: hmac.new(b'key', b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
  CHECK(signature("key", 1700000000, R"({"a":1})") ==
        "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03");
  CHECK(verify_signature("key", 1700000000, R"({"a":1})",
                         "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03", 1700000100));
}

TEST_CASE("signature - a changed body, timestamp, secret or an old timestamp fails") {
  const std::string body = R"({"webhook":"crm"})";
  const std::string sig = signature("s", 1000, body);
  CHECK(verify_signature("s", 1000, body, sig, 1000));
  CHECK_FALSE(verify_signature("s", 1000, body + " ", sig, 1000));
  CHECK_FALSE(verify_signature("s", 1001, body, sig, 1000));
  CHECK_FALSE(verify_signature("t", 1000, body, sig, 1000));
  CHECK_FALSE(verify_signature("s", 1000, body, sig.substr(0, sig.size() - 1), 1000));
  CHECK_FALSE(verify_signature("s", 1000, body, "", 1000));
  // Replayed later than the tolerance, or from the future.
  CHECK(verify_signature("s", 1000, body, sig, 1300));
  CHECK_FALSE(verify_signature("s", 1000, body, sig, 1301));
  CHECK_FALSE(verify_signature("s", 1000, body, sig, 699));
}

TEST_CASE("request - body, headers and an idempotency key per event") {
  std::vector<json> events{{{"profile", "sales"}, {"seq", 41}, {"type", "message"}, {"text", "hi"}},
                           {{"profile", "sales"}, {"seq", 43}, {"type", "receipt"}}};
  Request r = build_request("crm", "k", "sales", events, 1700000000);
  CHECK(r.first_seq == 41);
  CHECK(r.last_seq == 43);
  auto body = wa::ipc::parse_json_text(wa::as_bytes(r.body));
  REQUIRE(body.has_value());
  CHECK((*body)["webhook"] == "crm");
  CHECK((*body)["profile"] == "sales");
  REQUIRE((*body)["events"].size() == 2);
  CHECK((*body)["events"][0]["idempotency_key"] == "sales:41");
  CHECK((*body)["events"][0]["text"] == "hi");
  CHECK((*body)["events"][1]["idempotency_key"] == "sales:43");
  std::set<std::string> h(r.headers.begin(), r.headers.end());
  CHECK(h.count("Content-Type: application/json") == 1);
  CHECK(h.count("X-WA-Webhook: crm") == 1);
  CHECK(h.count("X-WA-Delivery: sales:41-43") == 1);
  CHECK(h.count("X-WA-Idempotency-Key: sales:41") == 1);
  CHECK(h.count("X-WA-Timestamp: 1700000000") == 1);
  CHECK(h.count("X-WA-Signature: " + signature("k", 1700000000, r.body)) == 1);
}

TEST_CASE("request - invalid UTF-8 in an event is replaced, never thrown") {
  std::vector<json> events{{{"seq", 1}, {"type", "message"}, {"text", std::string("\xff\xfe bad")}}};
  Request r = build_request("crm", "k", "p", events, 1);
  CHECK(wa::ipc::parse_json_text(wa::as_bytes(r.body)).has_value());
}

TEST_CASE("filter - a webhook takes the listed event types, or all") {
  json msg{{"type", "message"}}, rec{{"type", "receipt"}}, none = json::object();
  CHECK(wants({}, msg));
  CHECK(wants({}, none));
  CHECK(wants({"message"}, msg));
  CHECK_FALSE(wants({"message"}, rec));
  CHECK_FALSE(wants({"message"}, none));
}

TEST_CASE("backoff - jittered exponential within [d/2, d], capped") {
  // d = 500, 1000, 2000, ... capped at 60000.
  for (int failures = 1; failures <= 20; ++failures) {
    int64_t d = 500;
    for (int i = 1; i < failures; ++i) d = std::min<int64_t>(d * 2, 60000);
    for (uint64_t r : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, ~uint64_t{0}}) {
      const int64_t b = backoff_ms(failures, 500, 60000, r);
      CHECK(b >= d / 2);
      CHECK(b <= d);
    }
  }
  CHECK(backoff_ms(1, 500, 60000, 0) == 250);
  CHECK(backoff_ms(1, 500, 60000, 250) == 500);
  CHECK(backoff_ms(40, 500, 60000, 0) == 30000);  // no overflow far past the cap
  CHECK(backoff_ms(0, 500, 60000, 0) == 250);     // treated as the first
  // Jitter spreads retries: many random values give many different delays.
  std::set<int64_t> seen;
  for (uint64_t r = 0; r < 1000; r += 7) seen.insert(backoff_ms(5, 500, 60000, r * 2654435761u));
  CHECK(seen.size() > 50);
}
