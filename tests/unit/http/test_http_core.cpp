// wa-http's pure parts: its config section, route matching from the
// registry, the control request a call becomes, what a token may see, and
// the /metrics text.
#include <doctest/doctest.h>

#include "api.hpp"
#include "config.hpp"
#include "metrics.hpp"
#include "wa/contract/http.hpp"

using namespace wa::http;
using nlohmann::json;

namespace {
const std::string kHash(64, 'a');
std::string cfg_with(const json& http) { return json{{"run_dir", "/tmp/r"}, {"http", http}}.dump(); }
std::string error_of(const json& http) {
  auto c = parse_http_config(cfg_with(http));
  REQUIRE_FALSE(c);
  return c.error().message;
}
Token token(wa::contract::Access a, std::set<std::string> profiles) {
  Token t;
  t.name = "t";
  t.scope = a;
  t.all_profiles = profiles.count("*") != 0;
  t.profiles = profiles;
  return t;
}
}  // namespace

TEST_CASE("http config: defaults, tokens, and errors that name the field") {
  auto c = parse_http_config(R"({"instances": []})");
  REQUIRE(c);
  CHECK(c->host == "127.0.0.1");  // loopback by default
  CHECK(c->port == 8080);
  CHECK(c->tokens.empty());
  c = parse_http_config(cfg_with({{"listen", "0.0.0.0:9000"},
                                  {"tokens", {{{"name", "crm"}, {"sha256", kHash}, {"scopes", {"read", "send"}},
                                               {"profiles", {"sales"}}}}},
                                  {"rate_per_s", 5}}));
  REQUIRE(c);
  CHECK(c->port == 9000);
  REQUIRE(c->tokens.size() == 1);
  CHECK(c->tokens[0].scope == wa::contract::Access::send);
  CHECK(c->tokens[0].may_see("sales"));
  CHECK_FALSE(c->tokens[0].may_see("support"));
  CHECK(c->rate_per_s == 5);
  CHECK(error_of({{"listen", "8080"}}).find("http.listen") != std::string::npos);
  CHECK(error_of({{"bogus", 1}}).find("http.bogus") != std::string::npos);
  CHECK(error_of({{"tokens", {{{"name", "a"}, {"sha256", "xyz"}, {"scopes", {"read"}}, {"profiles", {"*"}}}}}})
            .find("sha256") != std::string::npos);
  CHECK(error_of({{"tokens", {{{"name", "a"}, {"sha256", kHash}, {"scopes", {"root"}}, {"profiles", {"*"}}}}}})
            .find("scopes") != std::string::npos);
  CHECK(error_of({{"tokens", {{{"name", "a"}, {"sha256", kHash}, {"scopes", {"read"}}, {"profiles", {"../x"}}}}}})
            .find("profiles") != std::string::npos);
  CHECK(error_of({{"tls", {{"cert", "/c.pem"}}}}).find("http.tls") != std::string::npos);
  CHECK(error_of({{"upload_dir", "/srv/up"}}).find("allowed_roots") != std::string::npos);
  auto up = parse_http_config(json{{"media", {{"allowed_roots", {"/srv"}}}}, {"http", {{"upload_dir", "/srv/up"}}}}.dump());
  CHECK(up);
  CHECK_FALSE(parse_http_config("{\"http\": 1e400}"));
}

TEST_CASE("http routes come from the registry") {
  auto r = match_route(Method::post, "/v1/profiles/sales/send_text");
  REQUIRE(r);
  CHECK(r->kind == Route::Kind::command);
  CHECK(r->spec->name == "send_text");
  CHECK(r->profile == "sales");
  CHECK(match_route(Method::get, "/v1/profiles/sales/send_text").error().code == "method_not_allowed");
  CHECK(match_route(Method::get, "/v1/profiles/sales/status"));
  CHECK(match_route(Method::get, "/v1/status"));
  CHECK(match_route(Method::get, "/v1/send_text").error().code == "not_found");  // needs a profile
  CHECK(match_route(Method::post, "/v1/profiles/sales/nope").error().code == "unknown_command");
  CHECK(match_route(Method::get, "/v1/profiles/..%2f/status").error().code == "invalid_profile");
  CHECK(match_route(Method::get, "/v1/events")->kind == Route::Kind::events_ws);
  CHECK(match_route(Method::get, "/v1/profiles/sales/qr.svg")->kind == Route::Kind::qr_svg);
  CHECK(match_route(Method::post, "/v1/profiles/sales/media")->kind == Route::Kind::upload);
  CHECK(match_route(Method::get, "/")->file == "index.html");
  CHECK(match_route(Method::get, "/dashboard/app.js")->file == "app.js");
  CHECK(match_route(Method::get, "/dashboard/../config.json").error().code == "not_found");
  CHECK(match_route(Method::get, "/dashboard/.hidden").error().code == "not_found");
  CHECK(match_route(Method::get, "/etc/passwd").error().code == "not_found");
}

TEST_CASE("http calls become control requests typed by the registry") {
  auto route = match_route(Method::get, "/v1/profiles/sales/events");
  REQUIRE(route);
  auto req = build_request(*route, Method::get, {{"since", "41"}, {"limit", "100"}, {"wait_ms", "5"}}, "");
  REQUIRE(req);
  CHECK((*req)["cmd"] == "events");
  CHECK((*req)["profile"] == "sales");
  CHECK((*req)["since"] == 41);
  CHECK_FALSE(req->contains("wait_ms"));
  CHECK(build_request(*route, Method::get, {{"since", "-1"}}, "").error().code == "bad_request");
  CHECK(build_request(*route, Method::get, {{"bogus", "1"}}, "").error().code == "bad_request");
  // Only a command route builds a request (found by the fuzzer: a file route has no command).
  auto file = match_route(Method::get, "/dashboard/app.js");
  REQUIRE(file);
  CHECK(build_request(*file, Method::get, {}, "").error().code == "not_found");

  auto send = match_route(Method::post, "/v1/profiles/sales/send_text");
  auto s = build_request(*send, Method::post, {}, R"({"to": "+15551234567", "text": "hi"})");
  REQUIRE(s);
  CHECK((*s)["client_id"].is_string());  // a send is de-duplicated even when the client gave no id
  auto s2 = build_request(*send, Method::post, {}, R"({"to": "x", "text": "hi", "client_id": "mine"})");
  CHECK((*s2)["client_id"] == "mine");
  CHECK(build_request(*send, Method::post, {}, R"({"profile": "other"})").error().code == "bad_request");
  CHECK(build_request(*send, Method::post, {}, R"({"cmd": "stop"})").error().code == "bad_request");
  CHECK(build_request(*send, Method::post, {}, "[]").error().code == "bad_request");
  const std::string nul("{\"a\": \"x\0\"}", 11);  // a raw NUL byte
  CHECK(build_request(*send, Method::post, {}, nul).error().code == "bad_request");
  CHECK(build_request(*send, Method::post, {}, "{\"a\": 1e400}").error().code == "bad_request");
}

TEST_CASE("http tokens: scopes include the lower ones, profiles limit, profile-less actions need all") {
  auto read_sales = token(wa::contract::Access::read, {"sales"});
  auto send_sales = token(wa::contract::Access::send, {"sales"});
  auto admin_all = token(wa::contract::Access::admin, {"*"});
  auto admin_sales = token(wa::contract::Access::admin, {"sales"});
  auto status = *match_route(Method::get, "/v1/profiles/sales/status");
  auto send = *match_route(Method::post, "/v1/profiles/sales/send_text");
  auto send_other = *match_route(Method::post, "/v1/profiles/support/send_text");
  auto qr = *match_route(Method::get, "/v1/profiles/sales/qr.svg");
  CHECK(authorize(read_sales, status));
  CHECK(authorize(send_sales, status));
  CHECK(authorize(read_sales, send).error().code == "forbidden");
  CHECK(authorize(send_sales, send));
  CHECK(authorize(send_sales, send_other).error().code == "forbidden");
  CHECK(authorize(send_sales, qr).error().code == "forbidden");
  CHECK(authorize(admin_sales, qr));
  // A global admin command (no profile field) reaches every profile.
  for (const auto& c : wa::contract::commands())
    if (!wa::contract::has_profile_route(c) && c.access == wa::contract::Access::admin) {
      auto g = *match_route(Method::post, "/v1/" + std::string(c.name));
      CHECK(authorize(admin_sales, g).error().code == "forbidden");
      CHECK(authorize(admin_all, g));
      break;
    }

  json qr_event{{"type", "qr"}, {"qr", "2@secret"}, {"seq", 0}};
  CHECK_FALSE(event_view(read_sales, qr_event).contains("qr"));
  CHECK(event_view(admin_sales, qr_event)["qr"] == "2@secret");
  CHECK_FALSE(event_view(send_sales, json{{"type", "pairing_code"}, {"code", "ABCD"}}).contains("code"));
  json st{{"instances", {{{"profile", "sales"}}, {{"profile", "support"}}}}};
  CHECK(filter_status(read_sales, st)["instances"].size() == 1);
  CHECK(filter_status(admin_all, st)["instances"].size() == 2);
}

TEST_CASE("/metrics text from the metrics and webhook_list results") {
  json m = json::parse(R"({"supervisor": {"uptime_ms": 1500, "instances": 2, "sender_processes": 1, "restarts_total": 3},
    "profiles": [{"profile": "sales", "state": "running", "connection": "open", "restarts": 2, "reconnects": 1,
                  "messages_in": 10, "messages_out": 7, "sends_failed": {"timeout": 2}, "senders": 1, "log_head": 41},
                 {"profile": "sup\"port", "state": "stopped", "connection": null, "restarts": 0, "reconnects": 0,
                  "messages_in": 0, "messages_out": 0, "sends_failed": {}, "senders": 0, "log_head": "bad"}]})");
  json hooks = json::parse(R"({"webhooks": [{"name": "crm", "deliveries": [{"profile": "sales", "cursor": 30, "state": "paused"}]},
    {"name": "erp", "deliveries": [{"profile": "sales", "cursor": 40, "head": 45, "lag": 5, "state": "active"}]}]})");
  std::string t = render_metrics(m, hooks);
  CHECK(t.find("wa_supervisor_uptime_seconds 1.5\n") != std::string::npos);
  CHECK(t.find("wa_supervisor_restarts_total 3\n") != std::string::npos);
  CHECK(t.find("wa_instance_up{profile=\"sales\"} 1\n") != std::string::npos);
  CHECK(t.find("wa_instance_state{profile=\"sales\",state=\"running\"} 1\n") != std::string::npos);
  CHECK(t.find("wa_instance_state{profile=\"sales\",state=\"failed\"} 0\n") != std::string::npos);
  CHECK(t.find("wa_connection_open{profile=\"sales\"} 1\n") != std::string::npos);
  CHECK(t.find("wa_sends_failed_total{profile=\"sales\",code=\"timeout\"} 2\n") != std::string::npos);
  CHECK(t.find("wa_messages_out_total{profile=\"sales\"} 7\n") != std::string::npos);
  CHECK(t.find("wa_event_log_head{profile=\"sales\"} 41\n") != std::string::npos);
  CHECK(t.find("wa_instance_up{profile=\"sup\\\"port\"} 0\n") != std::string::npos);  // label escaped
  CHECK(t.find("wa_event_log_head{profile=\"sup") == std::string::npos);             // a mistyped value is skipped
  CHECK(t.find("wa_webhook_cursor{webhook=\"crm\",profile=\"sales\"} 30\n") != std::string::npos);
  CHECK(t.find("wa_webhook_lag{webhook=\"crm\",profile=\"sales\"} 11\n") != std::string::npos);
  CHECK(t.find("wa_webhook_paused{webhook=\"crm\",profile=\"sales\"} 1\n") != std::string::npos);
  // webhook_list's own lag (measured against the log) wins over the supervisor's head.
  CHECK(t.find("wa_webhook_lag{webhook=\"erp\",profile=\"sales\"} 5\n") != std::string::npos);
  CHECK(t.find("wa_webhook_paused{webhook=\"erp\",profile=\"sales\"} 0\n") != std::string::npos);
  // One HELP/TYPE per family.
  size_t n = 0;
  for (size_t p = t.find("# TYPE wa_instance_up "); p != std::string::npos; p = t.find("# TYPE wa_instance_up ", p + 1)) ++n;
  CHECK(n == 1);
  CHECK(render_metrics(json("garbage"), json()).empty());
  // A cluster host: its lease and NATS counters; SQLite's null adds nothing.
  CHECK(t.find("wa_cluster_") == std::string::npos);
  json c = json::parse(R"({"cluster": {"host_id": "wa-1", "draining": true, "leases_lost": 2, "nats_connected": false,
    "requests_out": 9, "request_failures": 4, "events_dropped": 1}})");
  const std::string ct = render_metrics(c, json());
  CHECK(ct.find("wa_cluster_leases_lost_total 2\n") != std::string::npos);
  CHECK(ct.find("wa_cluster_draining 1\n") != std::string::npos);
  CHECK(ct.find("wa_cluster_nats_connected 0\n") != std::string::npos);
  CHECK(ct.find("wa_cluster_request_failures_total 4\n") != std::string::npos);
  CHECK(render_metrics(json::parse(R"({"cluster": {"host_id": "wa-1", "draining": false, "leases_lost": 0}})"), json())
            .find("nats") == std::string::npos);
}
