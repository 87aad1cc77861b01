// The config's `webhooks` section: defaults, every field checked with an
// error that names it.
#include <doctest/doctest.h>

#include "config.hpp"

using namespace wa::supervisor;

namespace {
std::string webhooks_error(const std::string& webhooks) {
  auto c = parse_config(R"({"instances": [], "webhooks": )" + webhooks + "}");
  REQUIRE_FALSE(c.has_value());
  return c.error().message;
}
}  // namespace

TEST_CASE("config webhooks - endpoints and delivery with defaults") {
  auto c = parse_config(R"({"instances": [], "webhooks": {"endpoints": [
      {"name": "crm", "url": "http://127.0.0.1:9000/hook", "secret": "s", "events": ["message"]},
      {"name": "ops", "url": "https://ops.example/h", "secret": "t", "profiles": ["sales", "support"]}],
      "delivery": {"batch_max": 10, "pause_after_failures": 5}}})");
  REQUIRE(c.has_value());
  REQUIRE(c->webhooks.endpoints.size() == 2);
  CHECK(c->webhooks.endpoints[0].profiles == std::vector<std::string>{"*"});
  CHECK(c->webhooks.endpoints[0].events == std::vector<std::string>{"message"});
  CHECK(c->webhooks.endpoints[0].from_config);
  CHECK(c->webhooks.endpoints[1].profiles.size() == 2);
  CHECK(c->webhooks.delivery.batch_max == 10);
  CHECK(c->webhooks.delivery.pause_after_failures == 5);
  CHECK(c->webhooks.delivery.timeout_ms == 10000);
  CHECK(c->webhooks.delivery.backoff_min_ms == 500);
  CHECK(c->webhooks.delivery.backoff_max_ms == 60000);
  CHECK(c->webhooks.delivery.pause_after_ms == 3600000);
  auto none = parse_config(R"({"instances": []})");
  REQUIRE(none.has_value());
  CHECK(none->webhooks.endpoints.empty());
}

TEST_CASE("config webhooks - errors name the field") {
  CHECK(webhooks_error(R"([])").find("'webhooks'") != std::string::npos);
  CHECK(webhooks_error(R"({"retries": 1})").find("webhooks.retries") != std::string::npos);
  CHECK(webhooks_error(R"({"delivery": {"batch_max": 0}})").find("webhooks.delivery.batch_max") != std::string::npos);
  CHECK(webhooks_error(R"({"delivery": {"backoff_min_ms": 5000, "backoff_max_ms": 100}})").find("backoff_max_ms") !=
        std::string::npos);
  CHECK(webhooks_error(R"({"delivery": {"jitter": 1}})").find("webhooks.delivery.jitter") != std::string::npos);
  CHECK(webhooks_error(R"({"endpoints": [{"name": "a", "url": "ftp://x/y", "secret": "s"}]})").find("url") !=
        std::string::npos);
  CHECK(webhooks_error(R"({"endpoints": [{"name": "a b", "url": "http://x/y", "secret": "s"}]})").find("name") !=
        std::string::npos);
  CHECK(webhooks_error(R"({"endpoints": [{"name": "a", "url": "http://x/y"}]})").find("secret") != std::string::npos);
  CHECK(webhooks_error(R"({"endpoints": [{"name": "a", "url": "http://x/y", "secret": "s", "profiles": []}]})")
            .find("profiles") != std::string::npos);
  CHECK(webhooks_error(R"({"endpoints": [{"name": "a", "url": "http://x/y", "secret": "s", "token": 1}]})")
            .find("webhooks.endpoints[0].token") != std::string::npos);
  CHECK(webhooks_error(R"({"endpoints": [{"name": "a", "url": "http://x/y", "secret": "s"},
                                          {"name": "a", "url": "http://x/z", "secret": "t"}]})")
            .find("duplicate") != std::string::npos);
}
