#include <doctest/doctest.h>

#include "config.hpp"
#include "wa/contract/cluster.hpp"
#include "wa/contract/commands.hpp"

using namespace wa::supervisor;
using wa::contract::validate_request;

namespace {
std::string error_of(std::string_view text) {
  auto c = parse_config(text);
  REQUIRE_FALSE(c.has_value());
  return c.error().message;
}
}  // namespace

TEST_CASE("config defaults apply to every key but instances") {
  auto c = parse_config(R"({"instances": [{"profile": "a"}]})");
  REQUIRE(c.has_value());
  CHECK(c->server.url == "wss://web.whatsapp.com/ws/chat");
  CHECK(c->server.root_public_key == wa::noise::kWaRootPublicKey);
  CHECK(c->restart.intensity == 5);
  CHECK(c->senders.max_per_instance == 8);
  CHECK(c->instances.size() == 1);
  CHECK(c->instances[0].autostart);
  CHECK_FALSE(c->run_dir.empty());
}

TEST_CASE("config errors name the field") {
  CHECK(error_of(R"({})").find("instances") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "bogus": 1})").find("'bogus'") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "restart": {"intensity": -1}})").find("restart.intensity") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "restart": {"backoff_min_ms": 10, "backoff_max_ms": 5}})").find("backoff_max_ms") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "senders": {"max_per_instance": "8"}})").find("senders.max_per_instance") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"root_public_key": "abc"}})").find("root_public_key") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"url": "http://x"}})").find("server.url") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "run_dir": "relative"})").find("run_dir") != std::string::npos);
  CHECK(error_of(R"({"instances": [{"profile": "../x"}]})").find("instances[0].profile") != std::string::npos);
  CHECK(error_of(R"({"instances": [{"profile": "a"}, {"profile": "a"}]})").find("duplicate") != std::string::npos);
  CHECK(error_of(R"({"instances": [{"profile": "a", "auto": true}]})").find("instances[0].auto") != std::string::npos);
  CHECK(error_of("not json").find("JSON") != std::string::npos);
}

TEST_CASE("liveness settings: defaults, validation, and the sender deadline reaches the worker") {
  auto c = parse_config(R"({"instances": []})");
  REQUIRE(c.has_value());
  CHECK(c->liveness.interval_ms == 5000);
  CHECK(c->liveness.timeout_ms == 30000);
  CHECK(c->liveness.ready_timeout_ms == 30000);
  CHECK(wa::contract::to_json(c->worker_settings("x"))["liveness"]["timeout_ms"] == 30000);
  auto l = parse_config(R"({"instances": [], "liveness": {"interval_ms": 100, "timeout_ms": 500, "ready_timeout_ms": 900}})");
  REQUIRE(l.has_value());
  CHECK(l->liveness.interval_ms == 100);
  CHECK(l->liveness.timeout_ms == 500);
  CHECK(l->liveness.ready_timeout_ms == 900);
  CHECK(error_of(R"({"instances": [], "liveness": {"interval_ms": 1000, "timeout_ms": 1500}})").find("liveness.timeout_ms") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "liveness": {"interval_ms": 0}})").find("liveness.interval_ms") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "liveness": {"deadline": 5}})").find("liveness.deadline") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "liveness": 5})").find("liveness") != std::string::npos);
}

TEST_CASE("control requests are validated field by field") {
  using nlohmann::json;
  CHECK(validate_request(json{{"cmd", "ping"}}).value()->name == "ping");
  CHECK(validate_request(json::array()).error().code == "bad_request");
  CHECK(validate_request(json{{"cmd", "nope"}}).error().code == "unknown_command");
  CHECK(validate_request(json{{"cmd", "stop"}}).error().code == "bad_request");
  CHECK(validate_request(json{{"cmd", "stop"}, {"profile", "a/b"}}).error().code == "invalid_profile");
  CHECK(validate_request(json{{"cmd", "ping"}, {"x", 1}}).error().code == "bad_request");
  json send{{"cmd", "send_text"}, {"profile", "a"}, {"to", "123@s.whatsapp.net"}, {"text", "hi"}};
  CHECK(validate_request(send).has_value());
  send["to"] = "123:4@s.whatsapp.net";
  CHECK(validate_request(send).error().code == "invalid_jid");
  send["to"] = "abc@s.whatsapp.net";
  CHECK(validate_request(send).error().code == "invalid_jid");
  send["to"] = "123@example.com";
  CHECK(validate_request(send).error().code == "invalid_jid");
  send["to"] = "120363000000000001@g.us";
  CHECK(validate_request(send).has_value());
  send["text"] = std::string(wa::contract::kMaxTextBytes + 1, 'x');
  CHECK(validate_request(send).error().code == "too_large");
}

TEST_CASE("config text: NUL bytes, numbers out of range and deep nesting are clear errors") {
  using namespace std::string_view_literals;
  // nlohmann alone would stop at the NUL and accept the config before it.
  CHECK(error_of("{\"instances\": []}\0{\"run_dir\": 5}"sv).find("NUL") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "shutdown_timeout_ms": 1e400})").find("out of range") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "shutdown_timeout_ms": 1e300})").find("shutdown_timeout_ms") != std::string::npos);
  CHECK(error_of(std::string(10000, '[') + std::string(10000, ']')).find("nested") != std::string::npos);
}

TEST_CASE("control validation: numbers of every shape get bad_request") {
  auto code = [](const char* text) {
    auto r = validate_request(nlohmann::json::parse(text));
    return r ? std::string("ok") : r.error().code;
  };
  CHECK(code(R"({"cmd":"events","profile":"a","since":0})") == "ok");
  CHECK(code(R"({"cmd":"events","profile":"a","since":-1})") == "bad_request");
  CHECK(code(R"({"cmd":"events","profile":"a","since":1e300})") == "bad_request");
  CHECK(code(R"({"cmd":"events","profile":"a","since":18446744073709551615})") == "bad_request");
  CHECK(code(R"({"cmd":"events","profile":"a","since":-9223372036854775808})") == "bad_request");
  CHECK(code(R"({"cmd":"events","profile":"a","since":"3"})") == "bad_request");
  CHECK(code(R"({"cmd":"events","profile":"a","since":1,"limit":1001})") == "bad_request");
}

TEST_CASE("media settings: roots, auto-download per instance, the transfer budget, the media CA, all reach the worker") {
  auto c = parse_config(R"({"server": {"media_ca_file": "/etc/wa/ca.pem"},
    "senders": {"transfer_timeout_ms": 120000},
    "media": {"allowed_roots": ["/srv/out"], "auto_download": ["image", "voice"], "auto_download_max_bytes": 1000},
    "instances": [{"profile": "a"}, {"profile": "b", "media": {"auto_download": ["document"]}}]})");
  REQUIRE(c.has_value());
  auto a = wa::contract::to_json(c->worker_settings("a"));
  CHECK(a["server"]["media_ca_file"] == "/etc/wa/ca.pem");
  CHECK(a["senders"]["transfer_timeout_ms"] == 120000);
  CHECK(a["media"]["allowed_roots"] == nlohmann::json::array({"/srv/out"}));
  CHECK(a["media"]["auto_download"] == nlohmann::json::array({"image", "voice"}));
  CHECK(a["media"]["auto_download_max_bytes"] == 1000);
  // An instance's own media object replaces the top level's.
  auto b = wa::contract::worker_settings_from_json(wa::contract::to_json(c->worker_settings("b")));
  REQUIRE(b.has_value());
  CHECK(b->media.auto_download == std::vector<std::string>{"document"});
  CHECK(b->media.allowed_roots.empty());
  CHECK(b->senders.transfer_timeout_ms == 120000);

  CHECK(error_of(R"({"instances": [], "media": {"allowed_roots": ["rel"]}})").find("media.allowed_roots") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "media": {"auto_download": ["hologram"]}})").find("media.auto_download") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [{"profile": "a", "media": {"x": 1}}]})").find("instances[0].media") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "server": {"media_ca_file": "rel.pem"}})").find("media_ca_file") !=
        std::string::npos);
  // A transfer budget past what any client waits is refused.
  CHECK(error_of(R"({"instances": [], "senders": {"transfer_timeout_ms": 3600000}})").find("transfer_timeout_ms") !=
        std::string::npos);
}

TEST_CASE("config: the http section is wa-http's, accepted and not read by the supervisor") {
  auto c = parse_config(R"({"instances": [], "http": {"listen": "127.0.0.1:0", "anything": [1, 2]}})");
  CHECK(c.has_value());
}

TEST_CASE("config: start settings, their defaults and their bounds") {
  auto d = parse_config(R"({"instances": []})");
  REQUIRE(d.has_value());
  CHECK(d->start.max_connecting == 32);
  CHECK(d->start.jitter_ms == 2000);
  CHECK(d->start.connect_timeout_ms == 20000);
  CHECK(d->start.zygote_wait_ms == 250);
  auto c = parse_config(
      R"({"instances": [], "start": {"max_connecting": 3, "jitter_ms": 0, "connect_timeout_ms": 500, "zygote_wait_ms": 0}})");
  REQUIRE(c.has_value());
  CHECK(c->start.max_connecting == 3);
  CHECK(c->start.jitter_ms == 0);
  CHECK(c->start.connect_timeout_ms == 500);
  CHECK(c->start.zygote_wait_ms == 0);
  // Never longer than the zygote's own reply deadline.
  CHECK(error_of(R"({"instances": [], "start": {"zygote_wait_ms": 5001}})").find("start.zygote_wait_ms") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "start": {"max_connecting": 0}})").find("start.max_connecting") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "start": {"jitter_ms": -1}})").find("start.jitter_ms") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "start": {"connect_timeout_ms": 10}})").find("start.connect_timeout_ms") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "start": {"bogus": 1}})").find("bogus") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "start": 5})").find("start") != std::string::npos);
}

TEST_CASE("config: store and cluster sections, NATS only with PostgreSQL, names safe in a NATS subject") {
  auto d = parse_config(R"({"instances": []})");
  REQUIRE(d.has_value());
  CHECK(d->store.engine == "sqlite");
  CHECK(d->cluster.nats_url.empty());
  CHECK(d->cluster.subject_prefix == "wa");
  CHECK(d->cluster.lease_ttl_ms == 15000);
  CHECK_FALSE(d->cluster.host_id.empty());
  auto c = parse_config(R"({"instances": [], "store": {"engine": "postgres", "conninfo_file": "/etc/pg"},
      "cluster": {"host_id": "wa-1.dc2", "nats_url": "nats://a:4222,nats://b:4222", "subject_prefix": "prod_wa",
                  "capacity": 400, "scan_ms": 1000, "claim_jitter_ms": 0, "lease_ttl_ms": 5000}})");
  REQUIRE(c.has_value());
  CHECK(c->store.engine == "postgres");
  CHECK(c->cluster.host_id == "wa-1.dc2");
  CHECK(c->cluster.nats_url == "nats://a:4222,nats://b:4222");
  CHECK(c->cluster.subject_prefix == "prod_wa");
  CHECK(c->cluster.capacity == 400);
  CHECK(error_of(R"({"instances": [], "cluster": {"nats_url": "nats://a:4222"}})").find("cluster.nats_url") !=
        std::string::npos);
  // A wildcard or a space in a subject token would subscribe to other hosts' commands.
  CHECK(error_of(R"({"instances": [], "cluster": {"host_id": "a*"}})").find("cluster.host_id") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "cluster": {"host_id": "a b"}})").find("cluster.host_id") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "cluster": {"host_id": ">"}})").find("cluster.host_id") != std::string::npos);
  CHECK(error_of(R"({"instances": [], "cluster": {"subject_prefix": "a.b"}})").find("cluster.subject_prefix") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "cluster": {"subject_prefix": ""}})").find("cluster.subject_prefix") !=
        std::string::npos);
  CHECK(error_of(R"({"instances": [], "store": {"engine": "mysql"}})").find("store.engine") != std::string::npos);
}

TEST_CASE("cluster subjects: one token per host and profile, '.' written '~'") {
  using namespace wa::contract;
  CHECK(cluster_command_subject("wa", "wa-1.dc2") == "wa.host.wa-1~dc2.cmd");
  CHECK(cluster_event_subject("wa", "shop.main") == "wa.ev.shop~main");
  CHECK(cluster_event_wildcard("prod") == "prod.ev.>");
  // Distinct names, distinct subjects ('~' is in neither alphabet).
  CHECK(subject_token("a.b") != subject_token("a-b"));
}
