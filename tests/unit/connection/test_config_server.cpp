// The supervisor config's server settings as the connection worker sees
// them: wa_version / browser validation, per-instance overrides, and the
// worker settings that carry them.
#include <doctest/doctest.h>

#include "config.hpp"
#include "settings.hpp"

using namespace wa::supervisor;

namespace {
std::string error_of(const char* text) {
  auto c = parse_config(text);
  return c ? std::string() : c.error().message;
}
}  // namespace

TEST_CASE("server wa_version and browser: defaults and validation") {
  auto c = parse_config(R"({"instances": []})");
  REQUIRE(c);
  CHECK(c->server.wa_version == wa::contract::WaVersion{2, 3000, 1043857760});
  CHECK(c->server.browser.os == "Mac OS");
  CHECK(c->server.browser.name == "Chrome");
  CHECK(error_of(R"({"instances": [], "server": {"wa_version": "2.3000"}})").find("server.wa_version") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"wa_version": 5}})").find("server.wa_version") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"browser": ["a", "b"]}})").find("server.browser") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"browser": ["a", "", "c"]}})").find("server.browser") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"colour": 1}})").find("server.colour") != std::string::npos);
  CHECK(wa::contract::parse_version("2.3000.1043857760"));
  CHECK_FALSE(wa::contract::parse_version("2.3000.4294967296"));
  CHECK_FALSE(wa::contract::parse_version("2..1"));
}

TEST_CASE("per-instance server settings override the top level, and reach that worker only") {
  auto c = parse_config(R"({
    "server": {"url": "ws://127.0.0.1:1/ws/chat", "wa_version": "2.3000.7", "browser": ["Ubuntu", "Firefox", "120"]},
    "instances": [{"profile": "a"},
                  {"profile": "b", "server": {"url": "ws://127.0.0.1:2/ws/chat", "root_public_key": "%KEY%"}}]})");
  // (the key placeholder is not hex: rejected with the instance's path)
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("instances[1].server.root_public_key") != std::string::npos);

  std::string text = R"({
    "server": {"url": "ws://127.0.0.1:1/ws/chat", "wa_version": "2.3000.7", "browser": ["Ubuntu", "Firefox", "120"]},
    "instances": [{"profile": "a"},
                  {"profile": "b", "server": {"url": "ws://127.0.0.1:2/ws/chat", "root_public_key": ")" +
                     std::string(64, 'b') + R"("}}]})";
  auto ok = parse_config(text);
  REQUIRE(ok);
  CHECK(ok->instances[1].server.wa_version == wa::contract::WaVersion{2, 3000, 7});  // inherited
  CHECK(ok->instances[1].server.url == "ws://127.0.0.1:2/ws/chat");
  // Each worker gets its own merged server settings, through the link's encoding.
  auto wa_ = wa::contract::worker_settings_from_json(wa::contract::to_json(ok->worker_settings("a")));
  auto wb = wa::contract::worker_settings_from_json(wa::contract::to_json(ok->worker_settings("b")));
  REQUIRE(wa_);
  REQUIRE(wb);
  auto a = wa::connection::client_settings(*wa_);
  auto b = wa::connection::client_settings(*wb);
  CHECK(a.url == "ws://127.0.0.1:1/ws/chat");
  CHECK(a.browser_name == "Firefox");
  CHECK(a.version == std::array<uint32_t, 3>{2, 3000, 7});
  CHECK(b.url == "ws://127.0.0.1:2/ws/chat");
  CHECK(b.root_public[0] == 0xbb);
  CHECK(b.browser_os == "Ubuntu");
  CHECK(a.root_public != b.root_public);
}
