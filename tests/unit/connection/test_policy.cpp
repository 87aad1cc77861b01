#include <doctest/doctest.h>

#include <set>

#include "close_policy.hpp"
#include "settings.hpp"
#include "wa/noise/cert.hpp"

using namespace wa;
using namespace wa::connection;
using wa::binary::Node;


TEST_CASE("stream errors map to the close policy") {
  auto se = [](std::string code, std::string conflict = "") {
    Node n("stream:error");
    if (!code.empty()) n.set_attr("code", code);
    if (!conflict.empty()) n.content = wa::binary::Children{Node("conflict", {{"type", conflict}})};
    return classify_stream_error(n);
  };
  CHECK(se("515").action == CloseAction::reconnect_now);
  CHECK(se("401", "device_removed").action == CloseAction::logged_out);
  CHECK(se("401", "device_removed").reason == "device_removed");
  CHECK(se("401").action == CloseAction::logged_out);
  CHECK(se("", "replaced").action == CloseAction::replaced);
  CHECK(se("409", "replaced").action == CloseAction::replaced);
  CHECK(se("503").action == CloseAction::reconnect_backoff);
  CHECK(se("503").reason == "service_unavailable");
  CHECK(se("405").action == CloseAction::client_outdated);
  CHECK(se("").action == CloseAction::reconnect_backoff);
  CHECK(se("500").reason == "stream_error_500");
}

TEST_CASE("login failures map to the close policy") {
  auto f = [](std::string reason) { return classify_failure(Node("failure", {{"reason", reason}})); };
  CHECK(f("401").action == CloseAction::logged_out);
  CHECK(f("403").action == CloseAction::logged_out);
  CHECK(f("406").action == CloseAction::logged_out);
  CHECK(f("405").action == CloseAction::client_outdated);
  CHECK(f("503").action == CloseAction::reconnect_backoff);
  CHECK(f("409").reason == "failure_409");
}

TEST_CASE("backoff: about 1, 2, 5, 10, 20 s with +-20% jitter, capped, reset on login") {
  Backoff b;
  const uint64_t steps[] = {1000, 2000, 5000, 10000, 20000, 20000, 20000};
  for (uint64_t base : steps) {
    uint64_t d = b.next_ms();
    CHECK(d >= base - base / 5);
    CHECK(d <= base + base / 5);
  }
  b.reset();
  uint64_t d = b.next_ms();
  CHECK(d >= 800);
  CHECK(d <= 1200);
  // Jitter really varies (many accounts must not reconnect in lockstep).
  std::set<uint64_t> seen;
  for (int i = 0; i < 32; ++i) {
    Backoff x;
    seen.insert(x.next_ms());
  }
  CHECK(seen.size() > 4);
}

TEST_CASE("settings: defaults and server keys, read back by the same code that wrote them") {
  using wa::contract::worker_settings_from_json;
  auto d = worker_settings_from_json(nlohmann::json::object());
  REQUIRE(d);
  auto s = client_settings(*d);
  CHECK(s.url == "wss://web.whatsapp.com/ws/chat");
  CHECK(s.root_public == noise::kWaRootPublicKey);
  CHECK(s.version == std::array<uint32_t, 3>{2, 3000, 1043857760});
  nlohmann::json j = {
      {"data_dir", "/d"},
      {"server",
       {{"url", "ws://127.0.0.1:1/ws/chat"},
        {"wa_version", "2.3000.5"},
        {"browser", {"Ubuntu", "Firefox", "1"}},
        {"root_public_key", std::string(64, 'a')}}}};
  auto w = worker_settings_from_json(j);
  REQUIRE(w);
  auto a = client_settings(*w);
  CHECK(a.url == "ws://127.0.0.1:1/ws/chat");
  CHECK(a.version == std::array<uint32_t, 3>{2, 3000, 5});
  CHECK(a.browser_name == "Firefox");
  CHECK(a.root_public[0] == 0xaa);
  CHECK(a.data_dir == "/d");
  // Written and read by the same pair of functions: nothing lost on the way.
  auto back = worker_settings_from_json(wa::contract::to_json(*w));
  REQUIRE(back);
  CHECK(wa::contract::to_json(*back) == wa::contract::to_json(*w));
  j["server"]["wa_version"] = "2.x.1";
  CHECK_FALSE(worker_settings_from_json(j));
  j["server"]["wa_version"] = "2.1.1";
  j["server"]["root_public_key"] = "abcd";
  CHECK_FALSE(worker_settings_from_json(j));
  j["server"].erase("root_public_key");
  j["senders"] = 5;
  CHECK_FALSE(worker_settings_from_json(j));
  using wa::contract::parse_version;
  CHECK_FALSE(parse_version("1.2"));
  CHECK_FALSE(parse_version("1.2.3.4"));
  CHECK_FALSE(parse_version("1..3"));
  CHECK_FALSE(parse_version("1.2.99999999999"));
}
